"""CIFAR's own file formats, written here from real pictures, read back exactly; hostile pickles refused."""

import os
import pickle

import numpy as np
import pytest

from jaxcnn import errors
from jaxcnn.data import local_files


@pytest.fixture(scope="module")
def pictures(fashion_mnist):
    """60 real 32x32x3 uint8 pictures (Fashion-MNIST, padded and coloured per channel) and labels 0..9."""
    gray = np.pad(fashion_mnist[0][:60, ..., 0], ((0, 0), (2, 2), (2, 2)))
    rgb = np.stack([gray, 255 - gray, gray // 2], axis=-1).astype(np.uint8)
    return rgb, fashion_mnist[1][:60].astype(np.int32)


def _records(images):  # NHWC -> CIFAR's channel planes, row-major
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def test_cifar10_binary_round_trip(tmp_path, pictures):
    images, labels = pictures
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        part = slice(10 * i, 10 * i + 10)
        (tmp_path / f"{name}.bin").write_bytes(np.concatenate([labels[part, None].astype(np.uint8), _records(images[part])], 1).tobytes())
    train_x, train_y = local_files.load_cifar_dir(tmp_path, "train")
    np.testing.assert_array_equal(train_x, images[:50])
    np.testing.assert_array_equal(train_y, labels[:50])
    test_x, _ = local_files.load_cifar_dir(tmp_path, "test")
    np.testing.assert_array_equal(test_x, images[50:])
    assert train_x[0, 10, 10, 1] == 255 - train_x[0, 10, 10, 0]  # channels land in the right place


def test_cifar100_binary_uses_fine_labels(tmp_path, pictures):
    images, labels = pictures
    coarse, fine = (labels // 2).astype(np.uint8), (labels + 90).astype(np.uint8)
    (tmp_path / "train.bin").write_bytes(np.concatenate([coarse[:, None], fine[:, None], _records(images)], 1).tobytes())
    x, y = local_files.load_cifar_dir(tmp_path, "train")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels + 90)


def test_python_version_through_the_restricted_unpickler(tmp_path, pictures):
    images, labels = pictures
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": labels[:10].tolist(), b"data": _records(images[:10]),
             b"filenames": [b"x.png"] * 10}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    x, y = local_files.load_cifar_dir(tmp_path, "test")
    np.testing.assert_array_equal(x, images[:10])
    np.testing.assert_array_equal(y, labels[:10])


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_hostile_pickle_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": _Exploit()}, protocol=2))
    with pytest.raises(errors.DatasetUnavailableError, match=r"global (posix|os)\.system is not allowed"):
        local_files.load_cifar_dir(tmp_path, "test")
    assert not (tmp_path / "pwned").exists()


def test_bad_files_get_one_line_errors(tmp_path):
    with pytest.raises(errors.DatasetUnavailableError, match="holds no CIFAR train files"):
        local_files.load_cifar_dir(tmp_path, "train")
    (tmp_path / "test_batch.bin").write_bytes(b"\0" * 3000)
    with pytest.raises(errors.DatasetUnavailableError, match="not a whole number of 3073-byte CIFAR records"):
        local_files.load_cifar_dir(tmp_path, "test")
    with pytest.raises(errors.ConfigError, match="unknown split 'val'"):
        local_files.load_cifar_dir(tmp_path, "val")
