"""CIFAR-10 / CIFAR-100 from the files on the dataset's own page, read without executing anything.

Two layouts are accepted, as extracted from the official archives:
  binary  cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin: records of 1 label byte + 3072 pixel
          bytes (1024 red, 1024 green, 1024 blue, rows in order); cifar-100-binary/{train,test}.bin:
          2 label bytes (coarse, fine) + 3072.
  python  cifar-10-batches-py/{data_batch_1..5,test_batch}, cifar-100-python/{train,test}: pickled dicts.
          They are read with a restricted unpickler that can build only dicts, lists, strings, numbers
          and NumPy arrays: a file that asks for any other global (os.system, ...) is refused, so an
          untrusted download cannot run code.
Images come back as uint8 NHWC, labels as int32 (CIFAR-100: the fine labels).
"""

import io
import pathlib
import pickle

import numpy as np

from jaxcnn import errors

_PIXELS = 32 * 32 * 3
_CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_CIFAR100_FILES = {"train": ["train"], "test": ["test"]}
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
    labels = batch.get(b"labels", batch.get(b"fine_labels"))
    data = np.asarray(batch[b"data"])
    if labels is None or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS or len(labels) != len(data):
        raise errors.DatasetUnavailableError(f"{path}: unexpected CIFAR batch contents (data {data.dtype} {data.shape})")
    return _records_to_nhwc(data), np.asarray(labels, np.int32)


def load_cifar_dir(directory, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, 32, 32, 3], int32 [N]) for split 'train' or 'test' from an extracted CIFAR-10/100 directory."""
    directory = pathlib.Path(directory)
    if split not in ("train", "test"):
        raise errors.unknown_name_error("split", split, ["train", "test"])
    layouts = [(_CIFAR10_FILES, ".bin", 1), (_CIFAR100_FILES, ".bin", 2), (_CIFAR10_FILES, "", None), (_CIFAR100_FILES, "", None)]
    for files, suffix, label_bytes in layouts:
        paths = [directory / f"{name}{suffix}" for name in files[split]]
        if all(p.is_file() for p in paths):
            parts = [read_binary_batch(p, label_bytes) if label_bytes else read_python_batch(p) for p in paths]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    raise errors.DatasetUnavailableError(
        f"{directory} holds no CIFAR {split} files (data_batch_1..5/test_batch[.bin] or train/test[.bin]); "
        "extract the archive from https://www.cs.toronto.edu/~kriz/cifar.html there"
    )
