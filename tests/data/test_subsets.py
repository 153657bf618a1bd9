"""--classes and --train_examples: which examples they keep, how they relabel, and their one-line errors."""

import numpy as np
import pytest

from jaxcnn import errors
from jaxcnn.data import subsets


@pytest.mark.parametrize("text, expected", [
    ("5-9", (5, 6, 7, 8, 9)), ("0,2,4", (0, 2, 4)), ("7, 0-2", (0, 1, 2, 7)), ("3-3,4", (3, 4)), ("", ()),
])
def test_parse_classes(text, expected):
    assert subsets.parse_classes(text, 10) == expected


@pytest.mark.parametrize("text, message", [
    ("5-10", "outside the dataset's classes 0-9"), ("a-b", "is not a class id"), ("4", "needs at least 2"),
    ("9-5", "outside"), ("-1", "is not a class id"),
])
def test_bad_classes_get_one_line_errors(text, message):
    with pytest.raises(errors.ConfigError, match=message) as raised:
        subsets.parse_classes(text, 10)
    assert "\n" not in str(raised.value)


def test_select_classes_keeps_order_and_relabels_by_position(fashion_mnist):
    images, labels = fashion_mnist[0][:3000], fashion_mnist[1][:3000]
    kept_images, kept_labels = subsets.select_classes(images, labels, (2, 5, 9))
    original = np.flatnonzero(np.isin(labels, (2, 5, 9)))
    np.testing.assert_array_equal(kept_images, images[original])  # the same images, in their order
    np.testing.assert_array_equal(kept_labels, np.searchsorted([2, 5, 9], labels[original]))
    assert set(kept_labels.tolist()) == {0, 1, 2} and kept_labels.dtype == labels.dtype
    for new, old in enumerate((2, 5, 9)):
        assert (kept_labels == new).sum() == (labels == old).sum()


def test_sample_examples_is_a_fixed_subset_per_seed():
    images = np.arange(1000, dtype=np.uint8).reshape(1000, 1, 1, 1) % 251
    labels = np.arange(1000) % 10
    a_images, a_labels = subsets.sample_examples(images, labels, 100, seed=0)
    b_images, b_labels = subsets.sample_examples(images, labels, 100, seed=0)
    _, c_labels = subsets.sample_examples(np.arange(1000), np.arange(1000), 100, seed=1)
    _, d_index = subsets.sample_examples(np.arange(1000), np.arange(1000), 100, seed=0)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_labels, b_labels)
    assert len(set(d_index.tolist())) == 100 and np.all(np.diff(d_index) > 0)  # distinct, in original order
    np.testing.assert_array_equal(a_labels, labels[d_index])  # images and labels stay paired
    assert len(set(d_index.tolist()) & set(c_labels.tolist())) < 50  # another seed, another sample
    assert subsets.sample_examples(images, labels, 0, seed=0)[0] is images  # 0: everything


def test_asking_for_more_examples_than_exist_is_a_one_line_error():
    with pytest.raises(errors.ConfigError, match="--train_examples=11 but the training split holds 10"):
        subsets.sample_examples(np.zeros((10, 1, 1, 1), np.uint8), np.zeros(10), 11, seed=0)
