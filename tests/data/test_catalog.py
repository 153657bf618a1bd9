import numpy as np
import pytest

from jaxcnn import errors
from jaxcnn.data import get_dataset_spec, list_datasets


def test_catalogue_lists_the_four_datasets():
    assert list_datasets() == ["cifar10", "cifar100", "fashion_mnist", "mnist"]
    assert get_dataset_spec("cifar100").num_classes == 100
    assert not get_dataset_spec("mnist").flip_by_default  # a mirrored digit is another digit


def test_unknown_dataset_names_the_choices():
    with pytest.raises(errors.ConfigError, match="unknown dataset 'imagenet'; choose one of: cifar10, cifar100"):
        get_dataset_spec("imagenet")


def test_fashion_mnist_statistics_match_the_real_data(fashion_mnist):
    train_images, train_labels, test_images, test_labels = fashion_mnist
    spec = get_dataset_spec("fashion_mnist")
    assert train_images.shape == (spec.num_train, *spec.image_shape) and train_images.dtype == np.uint8
    assert test_images.shape == (spec.num_test, *spec.image_shape)
    assert np.bincount(train_labels).tolist() == [6000] * 10 and np.bincount(test_labels).tolist() == [1000] * 10
    pixels = train_images.astype(np.float64) / 255.0
    assert pixels.mean() == pytest.approx(spec.mean[0], abs=1e-4)
    assert pixels.std() == pytest.approx(spec.std[0], abs=1e-4)
