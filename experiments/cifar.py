"""Train on CIFAR-10 or CIFAR-100 (TFDS downloads them once; offline, point --data_dir at a prepared copy).

    python -m experiments.cifar --flagfile=launch/flags/cifar10_resnet18.flags --workdir=workdirs/cifar10_resnet18
"""

import sys

from experiments import common


def main(argv: list[str] | None = None) -> None:
    common.main(sys.argv if argv is None else argv, dataset="cifar10", datasets=["cifar10", "cifar100"], model="resnet18_cifar")


if __name__ == "__main__":
    main()
