"""Train on any image-classification dataset: a TFDS name (svhn_cropped, cifar10, ...) or a folder of images.

    python -m experiments.images --dataset=svhn_cropped --model=resnet20 --workdir=workdirs/svhn
    python -m experiments.images --dataset=folder:photos --image_size=64 --model=simple_cnn --workdir=workdirs/photos
    python -m experiments.images --dataset=folder:photos --model=my_package.nets:MyNet --workdir=workdirs/mine

--dataset=folder:PATH reads PATH/<class>/* (or PATH/train/<class>/* and PATH/test/<class>/*); --image_size
resizes, --channels=1|3 makes grayscale or RGB; --model=package.module:Name trains your own Flax module.
"""

import sys

from experiments import common


def main(argv: list[str] | None = None) -> None:
    common.main(sys.argv if argv is None else argv, dataset="fashion_mnist", datasets=[], model="tiny_vgg")


if __name__ == "__main__":
    main()
