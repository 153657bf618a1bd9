"""What jaxcnn knows about a dataset: shape, classes, normalisation and default augmentation.

`DatasetSpec` describes any dataset a run trains on (`jaxcnn.data.sources.dataset_spec` builds one for every
TFDS image-classification dataset and image folder); the table here holds the four whose statistics are
known without reading them.

The mean / std are per-channel statistics of the training split on the [0, 1] scale
(`tests/data/test_catalog.py` recomputes them on real Fashion-MNIST).
"""

import dataclasses

from jaxcnn import errors


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A TFDS image-classification dataset as jaxcnn uses it."""

    tfds_name: str
    image_shape: tuple[int, int, int]  # H, W, C (NHWC without N)
    num_classes: int
    num_train: int
    num_test: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    # Mirroring changes a digit's meaning, not a T-shirt's: flip is on by default only where it is safe.
    flip_by_default: bool
    crop_padding: int = 4
    class_names: tuple[str, ...] = ()  # label i's name; () where not yet read (the table below)
    image_key: str = "image"  # the TFDS features holding the image and the class label
    label_key: str = "label"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SPECS = {
    spec.tfds_name: spec
    for spec in (
        DatasetSpec("mnist", (28, 28, 1), 10, 60_000, 10_000, (0.1307,), (0.3081,), flip_by_default=False, crop_padding=2),
        DatasetSpec("fashion_mnist", (28, 28, 1), 10, 60_000, 10_000, (0.2860,), (0.3530,), flip_by_default=True, crop_padding=2),
        DatasetSpec(
            "cifar10", (32, 32, 3), 10, 50_000, 10_000,
            (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), flip_by_default=True,
        ),
        DatasetSpec(
            "cifar100", (32, 32, 3), 100, 50_000, 10_000,
            (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), flip_by_default=True,
        ),
    )
}


def list_datasets() -> list[str]:
    """The catalogued datasets (any other TFDS image-classification dataset works too)."""
    return sorted(_SPECS)


def is_catalogued(name: str) -> bool:
    return name in _SPECS


def get_dataset_spec(name: str) -> DatasetSpec:
    """The table's spec for a catalogued name; a one-line error listing the choices otherwise."""
    if name not in _SPECS:
        raise errors.unknown_name_error("dataset", name, _SPECS)
    return _SPECS[name]
