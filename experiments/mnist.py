"""Train on MNIST or Fashion-MNIST.

    python -m experiments.mnist --flagfile=launch/flags/fashion_mnist_tiny_vgg.flags --workdir=workdirs/fmnist
"""

from absl import app

from experiments import common

common.define_flags(dataset="fashion_mnist", datasets=["mnist", "fashion_mnist"], model="tiny_vgg")

if __name__ == "__main__":
    app.run(common.run)
