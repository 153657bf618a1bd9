"""Datasets by name: any TFDS image-classification dataset with its class names and shape from its metadata
(`tfds.testing.mock_data` examples), the catalogue's entries unchanged, and one-line errors for the rest."""

import numpy as np
import pytest
from tfds_mock import mock_data

from jaxcnn import errors
from jaxcnn.data import get_dataset_spec, sources, stats


def test_any_tfds_image_classification_dataset_is_described_by_its_metadata(tmp_path):
    with mock_data(num_examples=24, data_dir=tmp_path):
        spec = sources.dataset_spec("svhn_cropped", str(tmp_path))
        x, y = sources.load_split(spec, "test", str(tmp_path))
        train_stats = stats.compute_colour_stats(sources.load_split(spec, "train", str(tmp_path))[0])
        small = sources.dataset_spec("svhn_cropped", str(tmp_path), image_size=8, channels=1)
        x_small, y_small = sources.load_split(small, "train", str(tmp_path))
    assert spec.image_shape == (32, 32, 3) and spec.num_classes == 10 and spec.class_names[:2] == ("0", "1")
    assert x.shape == (24, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int32 and y.max() < 10
    assert (spec.mean, spec.std) == (train_stats.mean, train_stats.std)  # computed from the training split
    assert (tmp_path / "jaxcnn_stats" / "svhn_cropped.json").is_file()  # computed once, then read
    assert small.image_shape == (8, 8, 1) and x_small.shape == (24, 8, 8, 1) and len(y_small) == 24
    assert (tmp_path / "jaxcnn_stats" / "svhn_cropped_8x8x1.json").is_file()


def test_catalogued_datasets_keep_their_table_and_gain_class_names():
    spec = sources.dataset_spec("fashion_mnist")
    table = get_dataset_spec("fashion_mnist")
    assert (spec.image_shape, spec.mean, spec.std, spec.crop_padding) == (
        table.image_shape, table.mean, table.std, table.crop_padding)
    assert spec.class_names[0] == "T-shirt/top" and len(spec.class_names) == 10


@pytest.mark.parametrize("name, message", [
    ("glue/cola", "dataset 'glue/cola' is not image classification: jaxcnn needs one Image and one ClassLabel "
                  "feature, it has sentence (Text), label (ClassLabel), idx (Tensor)"),
    ("no_such_dataset", "unknown dataset 'no_such_dataset' (Dataset no_such_dataset not found.); use any TFDS"),
    ("tf_flowers", "the images of tf_flowers differ in size; set --image_size"),
])
def test_datasets_it_cannot_train_on_are_one_line_errors(tmp_path, name, message):
    with pytest.raises(errors.ConfigError) as raised:
        sources.dataset_spec(name, str(tmp_path))
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
