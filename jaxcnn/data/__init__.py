"""Input data: the dataset catalogue, sources (TFDS, offline Fashion-MNIST, CIFAR's own files) and
device-resident batches."""

from jaxcnn.data.catalog import DatasetSpec, get_dataset_spec, list_datasets
from jaxcnn.data.device_dataset import DeviceDataset, eval_batch_indices, train_batch_indices
from jaxcnn.data.tfds_source import load_split

__all__ = [
    "DatasetSpec",
    "DeviceDataset",
    "eval_batch_indices",
    "get_dataset_spec",
    "list_datasets",
    "load_split",
    "train_batch_indices",
]
