"""Input data: the dataset catalogue, sources (any TFDS image-classification dataset, image folders, offline
Fashion-MNIST, CIFAR's own files) and device-resident batches."""

from jaxcnn.data.catalog import DatasetSpec, get_dataset_spec, list_datasets
from jaxcnn.data.device_dataset import DeviceDataset, eval_batch_indices, train_batch_indices
from jaxcnn.data.sources import dataset_spec, load_split

__all__ = [
    "DatasetSpec",
    "DeviceDataset",
    "dataset_spec",
    "eval_batch_indices",
    "get_dataset_spec",
    "list_datasets",
    "load_split",
    "train_batch_indices",
]
