"""Per-channel colour statistics of a training split: mean, std and the PCA of pixel colours.

PCA colour augmentation (AlexNet lighting, `augment` op `pcaF`) moves each image's colour along the
principal components of the training pixels' colour covariance; those components are computed here
from the data, on the [0, 1] scale, and stored with the dataset statistics: a table of values computed
once (and checked by `tests/data/test_stats.py` against the real data), else a JSON file that
`colour_stats` writes next to the prepared TFDS data on first use.
"""

import dataclasses
import json
import pathlib

import numpy as np

from jaxcnn import errors, files
from jaxcnn.data import folder
from jaxcnn.data.catalog import DatasetSpec, is_catalogued
from jaxcnn.data.tfds_source import default_data_dir, load_split, native_spec

_CHUNK = 4096  # images per accumulation step: bounds memory for large splits
_SAMPLE = 50_000  # a dataset outside the table: statistics of (at most) its first training examples


@dataclasses.dataclass(frozen=True)
class ColourStats:
    """Channel statistics on the [0, 1] scale; eigenvectors are columns, eigenvalues descending."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    eigenvalues: tuple[float, ...]
    eigenvectors: tuple[tuple[float, ...], ...]  # [C, C], column i is component i

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "ColourStats":
        raw = json.loads(text)
        return cls(tuple(raw["mean"]), tuple(raw["std"]), tuple(raw["eigenvalues"]), tuple(map(tuple, raw["eigenvectors"])))


def compute_colour_stats(images: np.ndarray) -> ColourStats:
    """Mean, std and colour-covariance eigenpairs of uint8 NHWC images, accumulated in float64 in chunks."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise errors.ShapeError(f"colour statistics need uint8 NHWC images, got {images.dtype} {images.shape}")
    channels = images.shape[-1]
    total = np.zeros(channels)
    outer = np.zeros((channels, channels))
    count = 0
    for start in range(0, len(images), _CHUNK):
        pixels = images[start:start + _CHUNK].reshape(-1, channels).astype(np.float64) / 255.0
        total += pixels.sum(0)
        outer += pixels.T @ pixels
        count += len(pixels)
    mean = total / count
    covariance = outer / count - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.maximum(eigenvalues[order], 0.0), eigenvectors[:, order]
    eigenvectors = eigenvectors * np.where(eigenvectors.sum(0) < 0, -1.0, 1.0)  # a fixed sign: mostly positive
    return ColourStats(
        mean=_floats(mean, 6), std=_floats(np.sqrt(np.diag(covariance)), 6),
        eigenvalues=_floats(eigenvalues, 8), eigenvectors=tuple(_floats(row, 6) for row in eigenvectors),
    )


def _floats(values, digits) -> tuple[float, ...]:
    return tuple(round(float(v), digits) for v in values)


# Computed by compute_colour_stats on the training split (tests/data/test_stats.py recomputes them).
KNOWN = {
    "fashion_mnist": ColourStats(mean=(0.286041,), std=(0.353024,), eigenvalues=(0.12462612,), eigenvectors=((1.0,),)),
}


def _folder_train_images(name: str, spec: DatasetSpec | None) -> np.ndarray:
    """An image folder's training images at the spec's shape (default: the files' own)."""
    root = folder.folder_root(name)
    if spec is None:
        size, channels = folder.native_shape(root)
        if size is None:
            raise errors.ConfigError(f"the images of {name} differ in size; set --image_size")
    else:
        size, channels = spec.image_shape[:2], spec.image_shape[2]
    return folder.load_split(root, "train", size, channels)[0]


def _cache_key(name: str, data_dir: str | None, spec: DatasetSpec | None) -> str:
    """The table / cache name: the dataset's name at its own shape, else name and shape."""
    if spec is None or spec.image_shape == native_spec(name, data_dir).image_shape:
        return name
    return f"{name.replace('/', '_')}_{'x'.join(map(str, spec.image_shape))}"


def colour_stats(name: str, data_dir: str | None = None, spec: DatasetSpec | None = None) -> ColourStats:
    """The training split's colour statistics: from the table, else the cache file, else computed and cached.
    `spec`: the TFDS dataset at the shape a run reads it (`jaxcnn.data.sources`); default: the catalogue's."""
    if folder.is_folder_name(name):  # read into memory anyway (and cached there): no file is written
        return compute_colour_stats(_folder_train_images(name, spec))
    key = _cache_key(name, data_dir, spec)
    if key in KNOWN:
        return KNOWN[key]
    cache = pathlib.Path(data_dir or default_data_dir()) / "jaxcnn_stats" / f"{key}.json"
    if cache.is_file():
        return ColourStats.from_json(cache.read_text())
    limit = None if key == name and is_catalogued(name) else _SAMPLE
    stats = compute_colour_stats(load_split(name, "train", data_dir, spec, limit)[0])
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        files.write_whole(cache, stats.to_json())  # processes sharing the dir never read half a file
    except OSError:
        pass  # a read-only data dir: recompute next time
    return stats
