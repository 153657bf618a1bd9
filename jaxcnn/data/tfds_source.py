"""Load a split into host memory as uint8 NHWC images and int32 labels, the prepared TFDS builders, and what
a TFDS dataset's metadata says about it (`native_spec`: any dataset with an image and a class-label feature).

CIFAR comes from its own extracted archive where `data_dir` is or holds one (`local_files`: for offline
machines). Fashion-MNIST prepares offline from Debian's package when it is installed (see
`fashion_mnist_offline`); every other dataset is downloaded by TFDS once and read from `data_dir`.
"""

import dataclasses
import os
import pathlib
import re
import socket
import urllib.parse

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import download_manager

from jaxcnn import errors, files
from jaxcnn.data import fashion_mnist_offline, local_files
from jaxcnn.data import images as image_files
from jaxcnn.data.catalog import DatasetSpec, get_dataset_spec, is_catalogued, list_datasets


_READ_CHUNK = 10_000  # examples per tf.data batch when reading a split into memory
_PROBE_TIMEOUT_S = 10  # TFDS itself retries an unreachable host with backoff for minutes
_SPLIT_NAME = re.compile(r"(?P<name>[\w-]+)(?P<rest>.*)")


def default_data_dir() -> str:
    """TFDS's own default, so datasets prepared by other TFDS users are found too."""
    return os.environ.get("TFDS_DATA_DIR", os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))


def _unreachable_download_host(builder) -> str | None:
    """The first host of the dataset's download URLs that cannot be reached (offline), or None. Not asked
    when `download_and_prepare` is not TFDS's own (tfds.testing.mock_data's needs no network)."""
    if not type(builder).download_and_prepare.__module__.startswith("tensorflow_datasets.core"):
        return None
    for url in (builder.url_infos or {}):
        parsed = urllib.parse.urlparse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=_PROBE_TIMEOUT_S).close()
        except OSError:
            return parsed.hostname
    return None


def _unavailable(name: str, data_dir: str, why: str) -> errors.DatasetUnavailableError:
    hint = " or install Debian's dataset-fashion-mnist (bash launch/setup.sh --data)" if name == "fashion_mnist" else ""
    return errors.DatasetUnavailableError(
        f"dataset {name!r} is not prepared in {data_dir} and could not be downloaded ({why}); "
        f"connect to the internet once{hint}, or point --data_dir at a directory where TFDS already prepared it"
    )


def _prepare(builder, name: str, data_dir: str) -> None:
    download_config = None
    if name == "fashion_mnist" and fashion_mnist_offline.debian_files_present():
        manual_dir = pathlib.Path(data_dir) / "downloads" / "manual" / "fashion_mnist"
        fashion_mnist_offline.write_upstream_files(manual_dir)
        download_config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    else:
        host = _unreachable_download_host(builder)
        if host:
            raise _unavailable(name, data_dir, f"{host} is unreachable")
    try:
        builder.download_and_prepare(download_config=download_config)
    except download_manager.NonMatchingChecksumError as err:
        raise errors.DatasetUnavailableError(
            f"{name}: downloaded files do not match TFDS's registered checksums ({str(err).splitlines()[0]}); "
            f"delete {data_dir}/downloads and retry"
        ) from err
    except (OSError, ConnectionError) as err:  # requests' errors derive from OSError
        raise _unavailable(name, data_dir, type(err).__name__) from err


def builder(name: str, data_dir: str | None = None):
    """TFDS's builder of `name` (nothing downloaded); a one-line error for a name TFDS does not know."""
    try:
        return tfds.builder(name, data_dir=data_dir or default_data_dir())
    except ValueError as err:  # DatasetNotFoundError, an unknown config ('mnist/foo'), ...
        first = str(err).splitlines()[0]
        raise errors.ConfigError(
            f"unknown dataset {name!r} ({first}); use any TFDS image-classification dataset (e.g. "
            f"{', '.join(list_datasets())}, svhn_cropped) or folder:PATH for a folder of images") from None


def _feature_keys(name: str, info) -> tuple[str, str]:
    """(image feature, class-label feature): the supervised keys where they are such, else the only ones."""
    features = info.features
    kinds = {key: type(feature).__name__ for key, feature in features.items()}
    supervised = tuple(info.supervised_keys or ())[:2]
    if len(supervised) == 2 and all(isinstance(k, str) for k in supervised) and \
            (kinds.get(supervised[0]), kinds.get(supervised[1])) == ("Image", "ClassLabel"):
        return supervised
    image_keys = [k for k, kind in kinds.items() if kind == "Image"]
    label_keys = [k for k, kind in kinds.items() if kind == "ClassLabel"]
    if len(image_keys) == 1 and len(label_keys) == 1:
        return image_keys[0], label_keys[0]
    described = ", ".join(f"{k} ({kind})" for k, kind in kinds.items())
    raise errors.ConfigError(f"dataset {name!r} is not image classification: jaxcnn needs one Image and one ClassLabel "
                             f"feature, it has {described}")


def native_spec(name: str, data_dir: str | None = None) -> DatasetSpec:
    """A TFDS dataset as its metadata describes it (TFDS's code: nothing is downloaded): class names, image
    shape (height and width None where images differ in size), feature keys. Mean and std are not known yet
    (`jaxcnn.data.sources` computes them); a catalogued name keeps its table entry."""
    info = builder(name, data_dir).info
    image_key, label_key = _feature_keys(name, info)
    class_names = tuple(info.features[label_key].names)
    if is_catalogued(name):
        return dataclasses.replace(get_dataset_spec(name), class_names=class_names)
    shape = tuple(info.features[image_key].shape)
    splits = {split: info.splits[split].num_examples for split in info.splits}
    return DatasetSpec(name, shape, len(class_names), splits.get("train", 0), splits.get("test", 0), (), (),
                       flip_by_default=False, crop_padding=max(1, (shape[0] or 32) // 8), class_names=class_names,
                       image_key=image_key, label_key=label_key)


def prepared_builder(name: str, data_dir: str | None = None):
    """The TFDS builder of dataset `name` in `data_dir`, downloaded and prepared first if it is not yet."""
    data_dir = data_dir or default_data_dir()
    found = builder(name, data_dir)
    if found.is_prepared():
        return found
    # Two runs (or test workers) starting at once prepare it once: the second waits, then finds it prepared.
    with files.held_exclusively(pathlib.Path(data_dir) / f".{name.replace('/', '_')}.preparing.lock"):
        found = builder(name, data_dir)
        if not found.is_prepared():
            _prepare(found, name, data_dir)
    return found


def tfds_split(prepared, split: str) -> str:
    """The TFDS split that serves as `split`: itself where the dataset has it; 'test' is 'validation' where
    there is no test split, and without either, 'train' and 'test' are train[:80%] and train[80%:]."""
    match = _SPLIT_NAME.fullmatch(split.replace(" ", ""))
    available = set(prepared.info.splits.keys())
    if match is None or match["name"] in available or not available:
        return split
    name, rest = match["name"], match["rest"]
    if name == "test" and "validation" in available:
        return "validation" + rest
    if name in ("train", "test") and "train" in available and "validation" not in available and not rest:
        return "train[:80%]" if name == "train" else "train[80%:]"
    raise errors.ConfigError(f"{prepared.name} has no split {split!r}; it has {', '.join(sorted(available))}")


def _as_arrays(dataset, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """Every example of a tf.data (image, label) dataset as uint8 [N, *spec.image_shape], int32 [N]: batched
    where the stored images already have that shape, else one by one through `jaxcnn.data.images`."""
    height, width, channels = spec.image_shape
    stored = tuple(dataset.element_spec[0].shape)
    if stored == spec.image_shape:
        chunks = list(tfds.as_numpy(dataset.batch(_READ_CHUNK)))
        if not chunks:
            return np.zeros((0, *spec.image_shape), np.uint8), np.zeros((0,), np.int32)
        return (np.concatenate([np.asarray(im, np.uint8) for im, _ in chunks]),
                np.concatenate([np.asarray(lb, np.int32) for _, lb in chunks]))
    pairs = [(image_files.reshape_array(im, (height, width), channels), lb) for im, lb in tfds.as_numpy(dataset)]
    images = np.stack([im for im, _ in pairs]) if pairs else np.zeros((0, *spec.image_shape), np.uint8)
    return images, np.array([lb for _, lb in pairs], np.int32)


def load_split(name: str, split: str, data_dir: str | None = None, spec: DatasetSpec | None = None,
               limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, H, W, C], labels int32 [N]) for a split ('train', 'test[:1000]'): from CIFAR's own
    files where `data_dir` is or holds them, else from TFDS, preparing the dataset if needed. `spec`
    (`jaxcnn.data.sources.dataset_spec`): the feature keys and the shape to bring images to; default: the
    catalogue's entry for `name`. `limit`: the split's first examples only, at most this many."""
    spec = spec or get_dataset_spec(name)
    data_dir = data_dir or default_data_dir()
    cifar_dir = local_files.find_cifar_dir(name, data_dir)
    if cifar_dir is not None and spec.image_shape == get_dataset_spec(name).image_shape:
        images, labels = local_files.load_cifar_dir(cifar_dir, split, name)
        return images[:limit], labels[:limit]
    prepared = prepared_builder(name, data_dir)
    dataset = prepared.as_dataset(split=tfds_split(prepared, split), shuffle_files=False)
    dataset = dataset.map(lambda example: (example[spec.image_key], example[spec.label_key]))
    dataset = dataset.take(limit) if limit else dataset
    images, labels = _as_arrays(dataset, spec)
    if not len(labels):
        raise errors.DatasetUnavailableError(f"split {split!r} of {name!r} in {data_dir} is empty")
    return images, labels
