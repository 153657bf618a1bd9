"""Load a split into host memory as uint8 NHWC images and int32 labels, and the prepared TFDS builders.

CIFAR comes from its own extracted archive where `data_dir` is or holds one (`local_files`: for offline
machines). Fashion-MNIST prepares offline from Debian's package when it is installed (see
`fashion_mnist_offline`); every other dataset is downloaded by TFDS once and read from `data_dir`.
"""

import os
import pathlib
import socket
import urllib.parse

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import download_manager

from jaxcnn import errors
from jaxcnn.data import fashion_mnist_offline, local_files
from jaxcnn.data.catalog import get_dataset_spec


_READ_CHUNK = 10_000  # examples per tf.data batch when reading a split into memory
_PROBE_TIMEOUT_S = 10  # TFDS itself retries an unreachable host with backoff for minutes


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


def prepared_builder(name: str, data_dir: str | None = None):
    """The TFDS builder of dataset `name` in `data_dir`, downloaded and prepared first if it is not yet."""
    get_dataset_spec(name)  # one-line error for unknown names
    data_dir = data_dir or default_data_dir()
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        _prepare(builder, name, data_dir)
    return builder


def load_split(name: str, split: str, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, H, W, C], labels int32 [N]) for a split ('train', 'test[:1000]'): from CIFAR's own
    files where `data_dir` is or holds them, else from TFDS, preparing the dataset if needed."""
    spec = get_dataset_spec(name)
    data_dir = data_dir or default_data_dir()
    cifar_dir = local_files.find_cifar_dir(name, data_dir)
    if cifar_dir is not None:
        return local_files.load_cifar_dir(cifar_dir, split, name)
    dataset = prepared_builder(name, data_dir).as_dataset(split=split, as_supervised=True, shuffle_files=False)
    chunks = list(tfds.as_numpy(dataset.batch(_READ_CHUNK)))
    if not chunks:
        raise errors.DatasetUnavailableError(f"split {split!r} of {name!r} in {data_dir} is empty")
    images = np.concatenate([np.asarray(im, np.uint8) for im, _ in chunks]).reshape((-1, *spec.image_shape))
    labels = np.concatenate([np.asarray(lb, np.int32) for _, lb in chunks])
    return images, labels
