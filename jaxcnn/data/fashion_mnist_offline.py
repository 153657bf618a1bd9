"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package, verified by TFDS's own checksums.

Debian ships the original gzip files with their headers normalised for reproducible builds
(strip-nondeterminism drops the stored file name and resets the modification time); the compressed
data and the gzip trailer (CRC-32 and length of the content) are untouched. Writing back the original
header, whose name and time are pinned below, restores the upstream files byte for byte. TFDS then
prepares the dataset from them through its `manual_dir` route and checks their SHA-256 against the
checksums it registers for the upstream URLs: nothing is skipped, a file that differs is rejected.
"""

import gzip
import io
import pathlib
import struct

from jaxcnn import errors, files

DEBIAN_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")

# Modification times in the upstream gzip headers (seconds since the epoch; 2017-08-31 UTC).
_UPSTREAM_MTIMES = {
    "train-images-idx3-ubyte.gz": 1504176606,
    "train-labels-idx1-ubyte.gz": 1504176606,
    "t10k-images-idx3-ubyte.gz": 1504176627,
    "t10k-labels-idx1-ubyte.gz": 1504176627,
}
# IDX magic numbers and shapes: a cheap content check with a clear message before TFDS hashes files.
_IDX_HEADERS = {
    "train-images-idx3-ubyte.gz": (2051, (60_000, 28, 28)),
    "train-labels-idx1-ubyte.gz": (2049, (60_000,)),
    "t10k-images-idx3-ubyte.gz": (2051, (10_000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": (2049, (10_000,)),
}
_GZIP_MAGIC = b"\x1f\x8b\x08"
_FLAG_FNAME = 0x08


def debian_files_present(source_dir: pathlib.Path = DEBIAN_DIR) -> bool:
    return all((source_dir / name).is_file() for name in _UPSTREAM_MTIMES)


def restore_upstream_gzip(normalised: bytes, filename: str, mtime: int) -> bytes:
    """Rebuild a gzip member with its original header (file name, mtime) around the same deflate data."""
    if normalised[:3] != _GZIP_MAGIC:
        raise errors.DatasetUnavailableError(f"{filename} is not a gzip file; reinstall dataset-fashion-mnist")
    flags = normalised[3]
    if flags & ~_FLAG_FNAME:
        raise errors.DatasetUnavailableError(
            f"{filename} has unexpected gzip header flags {flags:#x}; reinstall dataset-fashion-mnist"
        )
    header_end = 10
    if flags & _FLAG_FNAME:  # already carries a name: skip it, it is rewritten below
        header_end = normalised.index(b"\x00", 10) + 1
    xfl_os = normalised[8:10]
    stored_name = filename.removesuffix(".gz").encode() + b"\x00"
    return _GZIP_MAGIC + bytes([_FLAG_FNAME]) + struct.pack("<I", mtime) + xfl_os + stored_name + normalised[header_end:]


def _check_idx_header(data: bytes, filename: str) -> None:
    magic, shape = _IDX_HEADERS[filename]
    try:
        head = gzip.GzipFile(fileobj=io.BytesIO(data)).read(16)
    except (OSError, EOFError) as err:
        raise errors.DatasetUnavailableError(f"{filename} cannot be decompressed ({err}); reinstall dataset-fashion-mnist")
    ndim = len(shape)
    fields = struct.unpack(">" + "I" * (1 + ndim), head[: 4 * (1 + ndim)])
    if fields[0] != magic or tuple(fields[1:]) != shape:
        raise errors.DatasetUnavailableError(
            f"{filename}: IDX header {fields} does not describe Fashion-MNIST {shape}; reinstall dataset-fashion-mnist"
        )


def write_upstream_files(manual_dir: pathlib.Path, source_dir: pathlib.Path = DEBIAN_DIR) -> pathlib.Path:
    """Write the four upstream Fashion-MNIST gzip files into `manual_dir` for TFDS to verify and prepare."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    for filename, mtime in _UPSTREAM_MTIMES.items():
        data = (source_dir / filename).read_bytes()
        _check_idx_header(data, filename)
        files.write_whole(manual_dir / filename, restore_upstream_gzip(data, filename, mtime))
    return manual_dir
