"""A detection run's data by `--dataset`: the offline Fashion-MNIST canvases or a TFDS detection dataset, as
train / validation / test `DetectionSet`s with their class names and the run's one-line description of them."""

import dataclasses

import numpy as np

from jaxcnn import errors
from jaxcnn.detection import canvas_data, tfds_data
from jaxcnn.detection.config import CANVAS_DATASET, DetectionConfig


@dataclasses.dataclass(frozen=True)
class DetectionData:
    splits: dict  # 'train' / 'validation' / 'test' -> DetectionSet
    class_names: tuple[str, ...]
    description: str  # what the data is, for the run's first line

EXACT_STATISTICS_BYTES = 1 << 30  # NumPy's own mean / std while its float64 copy of one channel fits in this


def load(config: DetectionConfig) -> DetectionData:
    if config.dataset == CANVAS_DATASET:
        return _canvases(config)
    return _tfds(config)


def _counts(config: DetectionConfig) -> dict:
    return {"train": config.train_images, "validation": config.validation_images, "test": config.test_images}


def _canvases(config: DetectionConfig) -> DetectionData:
    spec = canvas_data.CanvasSpec(config.canvas_size, config.min_objects, config.max_objects, config.min_item_size,
                                  config.max_item_size)
    splits = {split: canvas_data.load_canvases(split, count, spec, config.seed, config.data_dir)
              for split, count in _counts(config).items()}
    return DetectionData(splits, canvas_data.CLASS_NAMES,
                         f"Fashion-MNIST canvases {config.canvas_size}x{config.canvas_size}")


def _tfds(config: DetectionConfig) -> DetectionData:
    builder = tfds_data.open_builder(config.dataset, config.data_dir)
    names = tfds_data.resolve_splits(config.dataset, builder, config)
    splits, dropped = {}, tfds_data.Dropped()
    for split, count in _counts(config).items():
        splits[split], found = tfds_data.load_split(builder, getattr(names, split), count, config.canvas_size,
                                                    config.max_objects)
        if found.total == found.crowd:
            raise errors.ConfigError(f"split {getattr(names, split)!r} of {config.dataset} has no labelled objects in "
                                     f"the {len(splits[split].images)} image(s) read; choose another --{split}_split")
        dropped = tfds_data.Dropped(*(a + b for a, b in zip(dataclasses.astuple(dropped), dataclasses.astuple(found))))
    classes = tfds_data.class_names(builder)
    description = (f"{config.dataset} ({names.train} / {names.validation} / {names.test}, {len(classes)} classes) "
                   f"letterboxed to {config.canvas_size}x{config.canvas_size}, {dropped.total} objects: dropped "
                   f"{dropped.beyond_max} beyond --max_objects={config.max_objects} (the smallest), {dropped.no_area} "
                   f"without area, {dropped.crowd} crowd boxes")
    return DetectionData(splits, classes, description)


def channel_statistics(images: np.ndarray, exact_bytes: int = EXACT_STATISTICS_BYTES) -> tuple[tuple, tuple]:
    """Per-channel mean and std of uint8 NHWC training images on the [0, 1] scale: NumPy's own where its float64
    copy of a channel fits in `exact_bytes` (the canvases' numbers), else summed in float64 over chunks of images
    (a large colour split's copy would not fit in memory)."""
    channels, pixels_per_channel = images.shape[-1], images[..., 0].size
    if pixels_per_channel * 8 <= exact_bytes:
        return (tuple(float(images[..., c].mean()) / 255 for c in range(channels)),
                tuple(float(images[..., c].std()) / 255 for c in range(channels)))
    chunk = max(1, exact_bytes // 4 // (images[0].size * 8))
    total, squares = np.zeros(channels), np.zeros(channels)
    for start in range(0, len(images), chunk):
        pixels = images[start:start + chunk].reshape(-1, channels).astype(np.float64)
        total += pixels.sum(axis=0)
        squares += np.square(pixels).sum(axis=0)
    mean = total / pixels_per_channel
    std = np.sqrt(np.maximum(squares / pixels_per_channel - mean ** 2, 0.0))
    return tuple(float(m) / 255 for m in mean), tuple(float(s) / 255 for s in std)
