"""Train on MNIST or Fashion-MNIST.

    python -m experiments.mnist --flagfile=launch/flags/fashion_mnist_tiny_vgg.flags --workdir=workdirs/fmnist
"""

import sys

from experiments import common


def main(argv: list[str] | None = None) -> None:
    common.main(sys.argv if argv is None else argv, dataset="fashion_mnist", datasets=["mnist", "fashion_mnist"], model="tiny_vgg")


if __name__ == "__main__":
    main()
