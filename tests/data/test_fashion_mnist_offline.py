import gzip
import hashlib
import io
import pathlib

import numpy as np
import pytest

from jaxcnn import errors
from jaxcnn.data import fashion_mnist_offline


def _gzip_with_header(payload: bytes, name: str, mtime: int) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer, mtime=mtime) as f:
        f.write(payload)
    return buffer.getvalue()


def _strip_header(data: bytes) -> bytes:
    """What strip-nondeterminism does to a gzip file: drop the stored name, zero the time."""
    name_end = data.index(b"\x00", 10) + 1
    return data[:3] + b"\x00" + b"\x00\x00\x00\x00" + data[8:10] + data[name_end:]


def test_restore_rebuilds_original_bytes():
    payload = np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes()
    original = _gzip_with_header(payload, "train-labels-idx1-ubyte", 1504176606)
    normalised = _strip_header(original)
    assert normalised != original and gzip.decompress(normalised) == payload
    restored = fashion_mnist_offline.restore_upstream_gzip(normalised, "train-labels-idx1-ubyte.gz", 1504176606)
    assert restored == original


def test_restore_rejects_non_gzip():
    with pytest.raises(errors.DatasetUnavailableError, match="not a gzip file"):
        fashion_mnist_offline.restore_upstream_gzip(b"PK\x03\x04 zip", "x.gz", 0)


def _tfds_registered_checksums() -> dict[str, str]:
    import tensorflow_datasets as tfds

    path = pathlib.Path(tfds.__file__).parent / "url_checksums" / "fashion_mnist.txt"
    rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
    return {row[3]: row[2] for row in rows}


@pytest.mark.skipif(not fashion_mnist_offline.debian_files_present(), reason="dataset-fashion-mnist not installed")
def test_restored_debian_files_match_tfds_registered_sha256(tmp_path):
    fashion_mnist_offline.write_upstream_files(tmp_path)
    expected = _tfds_registered_checksums()
    assert set(expected) == {p.name for p in tmp_path.iterdir()}
    for name, sha in expected.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == sha, name


def test_truncated_source_file_is_reported(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in fashion_mnist_offline._UPSTREAM_MTIMES:
        payload = b"\x00\x00\x08\x03" + b"\x00" * 12
        (source / name).write_bytes(_strip_header(_gzip_with_header(payload, name[:-3], 0))[:12])
    with pytest.raises(errors.DatasetUnavailableError, match="cannot be decompressed|IDX header"):
        fashion_mnist_offline.write_upstream_files(tmp_path / "out", source)
