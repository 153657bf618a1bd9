"""Every dataset a run can name, resolved to one `DatasetSpec` and read as arrays by that spec.

    mnist, fashion_mnist, cifar10, cifar100   the catalogue (statistics known; offline routes in tfds_source)
    any other TFDS name (svhn_cropped, ...)   an image-classification dataset: shape and class names from its
                                              metadata, mean and std computed from its training split (cached)
    folder:PATH                               a folder of images, one subfolder per class (`jaxcnn.data.folder`)

`image_size` (square, pixels) and `channels` (1 or 3) bring the images to another shape; 0 keeps the
dataset's own. A dataset whose images differ in size needs an `image_size`.
"""

import dataclasses
import functools

import numpy as np

from jaxcnn import errors
from jaxcnn.data import folder, stats, tfds_source
from jaxcnn.data.catalog import DatasetSpec


def _target_shape(name: str, native: tuple, image_size: int, channels: int) -> tuple[int, int, int]:
    if channels not in (0, 1, 3):
        raise errors.ConfigError(f"--channels={channels}: use 1 (grayscale), 3 (RGB) or 0 (the dataset's own)")
    height, width, depth = native
    if image_size:
        height = width = image_size
    if height is None or width is None:
        raise errors.ConfigError(f"the images of {name} differ in size; set --image_size to the square size "
                                 "(pixels) they should be resized to")
    return height, width, channels or depth


def _folder_spec(name: str, image_size: int, channels: int) -> DatasetSpec:
    root = folder.folder_root(name)
    layout = folder.layout(root)
    size, depth = folder.native_shape(root)
    shape = _target_shape(name, (*(size or (None, None)), depth), image_size, channels)
    train_images, _ = folder.load_split(root, "train", shape[:2], shape[2])
    colour = stats.compute_colour_stats(train_images)
    return DatasetSpec(name, shape, len(layout.class_names), len(layout.files["train"]), len(layout.files["test"]),
                       colour.mean, colour.std, flip_by_default=False, crop_padding=max(1, shape[0] // 8),
                       class_names=layout.class_names)


def _tfds_spec(name: str, data_dir: str | None, image_size: int, channels: int) -> DatasetSpec:
    native = tfds_source.native_spec(name, data_dir)
    shape = _target_shape(name, native.image_shape, image_size, channels)
    if native.mean and shape == native.image_shape:
        return native
    spec = dataclasses.replace(native, image_shape=shape, crop_padding=max(1, shape[0] // 8)
                               if not native.mean else native.crop_padding)
    colour = stats.colour_stats(name, data_dir, spec)
    return dataclasses.replace(spec, mean=colour.mean, std=colour.std)


@functools.lru_cache(maxsize=32)
def dataset_spec(name: str, data_dir: str | None = None, image_size: int = 0, channels: int = 0) -> DatasetSpec:
    """The spec of dataset `name` read at `image_size` x `image_size` x `channels` (0: its own); one-line
    errors for unknown names, datasets that are not image classification and unreadable folders."""
    if folder.is_folder_name(name):
        return _folder_spec(name, image_size, channels)
    return _tfds_spec(name, data_dir, image_size, channels)


def load_split(spec: DatasetSpec | str, split: str, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, H, W, C], int32 [N]) of a split ('train', 'test', 'test[:500]', ...) of the dataset `spec`
    describes (a name: that dataset at its own shape), its images brought to the spec's shape."""
    if isinstance(spec, str):
        spec = dataset_spec(spec, data_dir)
    if folder.is_folder_name(spec.tfds_name):
        return folder.load_split(folder.folder_root(spec.tfds_name), split, spec.image_shape[:2], spec.image_shape[2])
    return tfds_source.load_split(spec.tfds_name, split, data_dir, spec)
