"""CIFAR-10 / CIFAR-100 from the files on the dataset's own page, read without executing anything.

CIFAR cannot be downloaded on an offline machine, but its Toronto archive is often already extracted.
`jaxcnn.data.load_split("cifar10" | "cifar100", split, data_dir)` reads these files instead of TFDS
when `data_dir` is, or holds, one of the extracted folders (`find_cifar_dir`):
  binary  cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin: records of 1 label byte + 3072 pixel
          bytes (1024 red, 1024 green, 1024 blue, rows in order); cifar-100-binary/{train,test}.bin:
          2 label bytes (coarse, fine) + 3072.
  python  cifar-10-batches-py/{data_batch_1..5,test_batch}, cifar-100-python/{train,test}: pickled dicts.
          They are read with a restricted unpickler that can build only dicts, lists, strings, numbers
          and NumPy arrays: a file that asks for any other global (os.system, ...) is refused, so an
          untrusted download cannot run code.
Splits are 'train' or 'test', whole or with TFDS's integer slices ('train[:1000]', 'test[-500:]').
Images come back as uint8 NHWC, labels as int32 (CIFAR-100: the fine labels); a file whose size,
contents or labels are not CIFAR's gets a one-line error naming it. TFDS's streaming pipeline cannot
read these files: `--input_pipeline=device` reads them.
"""

import io
import pathlib
import pickle
import re

import numpy as np

from jaxcnn import errors
from jaxcnn.data.catalog import get_dataset_spec

_PIXELS = 32 * 32 * 3
_FOLDERS = {"cifar10": ("cifar-10-batches-bin", "cifar-10-batches-py"), "cifar100": ("cifar-100-binary", "cifar-100-python")}
_FILES = {  # per split, without the binary version's .bin
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"train": ["train"], "test": ["test"]},
}
_LABEL_BYTES = {"cifar10": 1, "cifar100": 2}  # per binary record: CIFAR-100 stores coarse, then fine
_SPLIT = re.compile(r"(?P<name>\w+)(?:\[(?P<start>-?\d+)?:(?P<stop>-?\d+)?\])?")  # TFDS's integer slices
# The only globals a CIFAR pickle needs: NumPy's array reconstruction (numpy 1 and 2 spellings), and
# _codecs.encode, which protocol-2 pickles written by Python 3 use to rebuild bytes (it only encodes text).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def safe_unpickle(data: bytes, source: str = "data"):
    """Unpickle bytes that may only contain plain containers and NumPy arrays; one-line error otherwise."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise errors.DatasetUnavailableError(f"{source} is not a CIFAR python batch ({err}); refusing to load it")


def _records_to_nhwc(pixels: np.ndarray) -> np.ndarray:
    return pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def find_cifar_dir(dataset: str, data_dir) -> pathlib.Path | None:
    """The extracted archive folder of `dataset` that `data_dir` is or holds, by its official name; None if none."""
    root = pathlib.Path(data_dir)
    for folder in _FOLDERS.get(dataset, ()):
        for candidate in (root, root / folder):
            if candidate.name == folder and candidate.is_dir():
                return candidate
    return None


def read_binary_batch(path: pathlib.Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR binary file: label_bytes (1: CIFAR-10, 2: CIFAR-100 coarse+fine) + 3072 pixels per record."""
    raw = np.frombuffer(pathlib.Path(path).read_bytes(), np.uint8)
    record = label_bytes + _PIXELS
    if raw.size == 0 or raw.size % record:
        raise errors.DatasetUnavailableError(f"{path}: {raw.size} bytes is not a whole number of {record}-byte CIFAR records")
    raw = raw.reshape(-1, record)
    return _records_to_nhwc(raw[:, label_bytes:]), raw[:, label_bytes - 1].astype(np.int32)


def read_python_batch(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python-version file, through the restricted unpickler."""
    batch = safe_unpickle(pathlib.Path(path).read_bytes(), str(path))
    if not isinstance(batch, dict) or b"data" not in batch:
        raise errors.DatasetUnavailableError(f"{path}: not a CIFAR python batch (no b'data' entry)")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch.get(b"labels", batch.get(b"fine_labels", [])))
    if (data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS or not len(data)
            or labels.shape != (len(data),) or labels.dtype.kind not in "iu"):
        raise errors.DatasetUnavailableError(
            f"{path}: unexpected CIFAR batch contents (data {data.dtype} {data.shape}, labels {labels.dtype} {labels.shape})")
    return _records_to_nhwc(data), labels.astype(np.int32)


def _read_checked(path: pathlib.Path, dataset: str, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """One file of `dataset`, its labels checked against the dataset's classes (a CIFAR-100 file read as CIFAR-10...)."""
    images, labels = read_binary_batch(path, _LABEL_BYTES[dataset]) if binary else read_python_batch(path)
    num_classes = get_dataset_spec(dataset).num_classes
    if labels.min() < 0 or labels.max() >= num_classes:
        raise errors.DatasetUnavailableError(
            f"{path}: labels {labels.min()}..{labels.max()} are outside {dataset}'s classes 0-{num_classes - 1}")
    return images, labels


def _whole_split(directory: pathlib.Path, split: str, datasets) -> tuple[np.ndarray, np.ndarray]:
    for dataset in datasets:
        for binary in (True, False):
            paths = [directory / (name + (".bin" if binary else "")) for name in _FILES[dataset][split]]
            if all(p.is_file() for p in paths):
                parts = [_read_checked(p, dataset, binary) for p in paths]
                return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    raise errors.DatasetUnavailableError(
        f"{directory} holds no CIFAR {split} files (data_batch_1..5/test_batch[.bin] or train/test[.bin]); "
        "extract the archive from https://www.cs.toronto.edu/~kriz/cifar.html there"
    )


def _slice_rows(split: str, start: str | None, stop: str | None, count: int, directory: pathlib.Path) -> slice:
    """TFDS's absolute slice: Python's, except that a bound past either end is an error, as in TFDS."""
    bounds = [None if bound is None else int(bound) for bound in (start, stop)]
    if any(bound is not None and abs(bound) > count for bound in bounds):
        raise errors.ConfigError(f"split {split!r} asks for examples beyond the {count} in {directory}")
    rows = slice(*bounds)
    if not len(range(count)[rows]):
        raise errors.ConfigError(f"split {split!r} selects none of the {count} examples in {directory}")
    return rows


def parse_split(split: str, directory) -> tuple[str, object]:
    """('train' | 'test', rows(count) -> slice) for a split written as TFDS does ('train', 'test[:1000]');
    one-line errors for other names, other syntax and slices past the data read from `directory`."""
    match = _SPLIT.fullmatch(split.replace(" ", ""))
    if match is None:
        raise errors.ConfigError(f"split {split!r} cannot be read from the files in {directory}; "
                                 "use train or test, whole or with an integer slice like train[:1000]")
    if match["name"] not in ("train", "test"):
        raise errors.unknown_name_error("split", match["name"], ["train", "test"])
    return match["name"], lambda count: _slice_rows(split, match["start"], match["stop"], count, directory)


def load_cifar_dir(directory, split: str, dataset: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, 32, 32, 3], int32 [N]) for a split of an extracted CIFAR-10/100 folder: 'train' or 'test',
    whole or with an integer slice ('train[:1000]'). `dataset` ('cifar10', 'cifar100'): only its files."""
    directory = pathlib.Path(directory)
    if dataset is not None and dataset not in _FILES:
        raise errors.unknown_name_error("CIFAR dataset", dataset, _FILES)
    name, rows = parse_split(split, directory)
    images, labels = _whole_split(directory, name, _FILES if dataset is None else [dataset])
    rows = rows(len(labels))
    return images[rows], labels[rows]
