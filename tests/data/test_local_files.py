"""CIFAR's own file formats, written here from real pictures, read back exactly (directly and through
`load_split`); hostile pickles refused; bad files, bad slices and streaming get one-line errors."""

import os
import pickle

import numpy as np
import pytest

from jaxcnn import errors
from jaxcnn.data import load_split, local_files, streaming

_CIFAR10_NAMES = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]


@pytest.fixture(scope="module")
def pictures(fashion_mnist):
    """60 real 32x32x3 uint8 pictures (Fashion-MNIST, padded and coloured per channel) and labels 0..9."""
    gray = np.pad(fashion_mnist[0][:60, ..., 0], ((0, 0), (2, 2), (2, 2)))
    rgb = np.stack([gray, 255 - gray, gray // 2], axis=-1).astype(np.uint8)
    return rgb, fashion_mnist[1][:60].astype(np.int32)


def _records(images):  # NHWC -> CIFAR's channel planes, row-major
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _write_cifar10_binary(directory, images, labels):
    """CIFAR-10's binary version, 10 pictures a file: data_batch_1..5.bin (train: 50), test_batch.bin (10)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(_CIFAR10_NAMES):
        part = slice(10 * i, 10 * i + 10)
        records = np.concatenate([labels[part, None].astype(np.uint8), _records(images[part])], 1)
        (directory / f"{name}.bin").write_bytes(records.tobytes())
    return directory


def _write_python_batch(path, images, labels, label_key=b"labels"):
    """One file of CIFAR's python version (CIFAR-100's label key: b'fine_labels')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {b"batch_label": b"testing batch 1 of 1", label_key: labels.tolist(), b"data": _records(images),
             b"filenames": [b"x.png"] * len(labels)}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar10_binary_round_trip(tmp_path, pictures):
    images, labels = pictures
    _write_cifar10_binary(tmp_path, images, labels)
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
    _write_python_batch(tmp_path / "test_batch", images[:10], labels[:10])
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


def test_load_split_reads_the_extracted_archive_in_or_at_data_dir(tmp_path, pictures):
    images, labels = pictures
    folder = _write_cifar10_binary(tmp_path / "cifar-10-batches-bin", images, labels)
    for data_dir in (tmp_path, folder):  # holds the folder, or is it
        train_x, train_y = load_split("cifar10", "train", data_dir=str(data_dir))
        np.testing.assert_array_equal(train_x, images[:50])
        np.testing.assert_array_equal(train_y, labels[:50])
        assert train_x.dtype == np.uint8 and train_y.dtype == np.int32
    test_x, test_y = load_split("cifar10", "test", data_dir=str(tmp_path))
    np.testing.assert_array_equal(test_x, images[50:])
    np.testing.assert_array_equal(test_y, labels[50:])
    assert local_files.find_cifar_dir("cifar100", tmp_path) is None  # CIFAR-10's files are not CIFAR-100's
    assert local_files.find_cifar_dir("mnist", tmp_path) is None


def test_load_split_reads_cifar100s_python_version(tmp_path, pictures):
    images, labels = pictures
    fine = (labels * 11) % 100
    _write_python_batch(tmp_path / "cifar-100-python" / "train", images[:40], fine[:40], b"fine_labels")
    _write_python_batch(tmp_path / "cifar-100-python" / "test", images[40:], fine[40:], b"fine_labels")
    x, y = load_split("cifar100", "test[-5:]", data_dir=str(tmp_path))
    np.testing.assert_array_equal(x, images[-5:])
    np.testing.assert_array_equal(y, fine[-5:])
    assert y.max() > 9  # fine labels, 0..99


@pytest.mark.parametrize("split, rows", [
    ("train", slice(0, 50)), ("train[:7]", slice(0, 7)), ("train[10:20]", slice(10, 20)), ("train[45:]", slice(45, 50)),
    ("train[:50]", slice(0, 50)), ("train[-50:]", slice(0, 50)), ("test[:1]", slice(50, 51)), ("test[-3:]", slice(57, 60)),
])
def test_tfds_style_slices(tmp_path, pictures, split, rows):
    images, labels = pictures
    _write_cifar10_binary(tmp_path / "cifar-10-batches-bin", images, labels)
    x, y = load_split("cifar10", split, data_dir=str(tmp_path))
    np.testing.assert_array_equal(x, images[rows])
    np.testing.assert_array_equal(y, labels[rows])


@pytest.mark.parametrize("split, message", [
    ("train[:10%]", "cannot be read from the files in"), ("train+test", "cannot be read from the files in"),
    ("train[:51]", "asks for examples beyond the 50"), ("test[-11:]", "asks for examples beyond the 10"),
    ("test[5:2]", "selects none of the 10 examples"), ("validation", "unknown split 'validation'"),
])
def test_slices_it_cannot_honour_are_one_line_errors(tmp_path, pictures, split, message):
    images, labels = pictures
    _write_cifar10_binary(tmp_path / "cifar-10-batches-bin", images, labels)
    with pytest.raises(errors.ConfigError, match=message) as raised:
        load_split("cifar10", split, data_dir=str(tmp_path))
    assert "\n" not in str(raised.value)


def test_corrupt_files_are_named_in_one_line(tmp_path, pictures):
    images, labels = pictures
    folder = _write_cifar10_binary(tmp_path / "cifar-10-batches-bin", images, labels)
    truncated = folder / "data_batch_3.bin"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(errors.DatasetUnavailableError, match=f"{truncated}: 30630 bytes is not a whole number") as raised:
        load_split("cifar10", "train", data_dir=str(tmp_path))
    assert "\n" not in str(raised.value)
    wrong_labels = labels.copy()
    wrong_labels[55] = 12  # in test_batch: a CIFAR-10 file has classes 0-9
    _write_cifar10_binary(folder, images, wrong_labels)
    with pytest.raises(errors.DatasetUnavailableError, match=f"{folder / 'test_batch.bin'}: labels .*outside cifar10's classes 0-9"):
        load_split("cifar10", "test", data_dir=str(tmp_path))
    _write_python_batch(tmp_path / "cifar-100-python" / "test", images[:10, :16], labels[:10], b"fine_labels")
    with pytest.raises(errors.DatasetUnavailableError, match="cifar-100-python/test: unexpected CIFAR batch contents"):
        load_split("cifar100", "test", data_dir=str(tmp_path))


def test_streaming_sends_cifars_own_files_to_the_device_pipeline(tmp_path, pictures):
    _write_cifar10_binary(tmp_path / "cifar-10-batches-bin", *pictures)
    with pytest.raises(errors.ConfigError, match="cannot read .*use --input_pipeline=device") as raised:
        streaming.StreamingDataset(streaming.StreamSpec("cifar10", "train", data_dir=str(tmp_path)))
    assert "\n" not in str(raised.value)
