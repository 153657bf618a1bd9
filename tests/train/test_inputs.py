"""--input_pipeline=device|streaming: the same examples per epoch, reproducible order, exact resume and evaluation.

Under tfds.testing.mock_data (64 random MNIST-shaped examples; the mock serves every split the same ones).
"""

import dataclasses
import hashlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxcnn import errors
from jaxcnn.data import load_split
from jaxcnn.train import parallel
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.inputs import make_datasets
from jaxcnn.train.plan import resolve

EXAMPLES = 64


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    """{'device': (train, test), 'streaming': (train, test)} and the reference train split, inside mock_data."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    mesh = parallel.make_mesh()
    with tfds.testing.mock_data(num_examples=EXAMPLES):
        reference = load_split("mnist", "train", data_dir)
        datasets = {name: make_datasets(resolve(TrainConfig(dataset="mnist", input_pipeline=name, data_dir=data_dir,
                                                            batch_size=8, validation_examples=0)), mesh)
                    for name in ("device", "streaming")}
        yield {name: (data.train, data.test) for name, data in datasets.items()}, reference


def _keys(batch):
    """One string per real example: its pixels and label, so an example is recognised whatever the order."""
    images, labels, mask = (np.asarray(batch[k]) for k in ("image", "label", "mask"))
    return [hashlib.sha1(image.tobytes()).hexdigest() + f":{label}" for image, label in zip(images[mask], labels[mask])]


def _epoch(dataset, seed, epoch, batch_size, start_step=0):
    steps = dataset.steps_per_epoch(batch_size)
    batches = dataset.train_batches(seed, epoch, batch_size, start_step=start_step)
    return [_keys(next(batches)) for _ in range(steps - start_step)]  # the loop takes steps_per_epoch batches


def test_both_pipelines_see_every_example_once_per_epoch_in_an_order_set_by_seed_and_epoch(pipelines):
    datasets, (images, labels) = pipelines
    everything = sorted(_keys({"image": images, "label": labels, "mask": np.ones(EXAMPLES, bool)}))
    assert len(set(everything)) == EXAMPLES  # the mock examples are distinct
    for name, (train, _) in datasets.items():
        assert train.num_examples == EXAMPLES and train.steps_per_epoch(8) == 8
        first, second = _epoch(train, 0, 0, 8), _epoch(train, 0, 1, 8)
        assert sorted(sum(first, [])) == everything == sorted(sum(second, [])), name
        assert first != second, name  # reshuffled each epoch
        assert _epoch(train, 0, 0, 8) == first and _epoch(train, 1, 0, 8) != first, name  # (seed, epoch) decide
    # With a remainder (64 = 2 x 24 + 16) each pipeline drops 16 examples and repeats none.
    for name, (train, _) in datasets.items():
        seen = sum(_epoch(train, 0, 0, 24), [])
        assert len(seen) == len(set(seen)) == 48 and set(seen) <= set(everything), name


def test_both_pipelines_resume_mid_epoch_with_the_batches_an_uninterrupted_epoch_has(pipelines):
    for name, (train, _) in pipelines[0].items():
        full = _epoch(train, 5, 2, 8)
        assert _epoch(train, 5, 2, 8, start_step=3) == full[3:], name


def test_both_pipelines_evaluate_every_test_example_once_in_order(pipelines):
    datasets, (images, labels) = pipelines  # the mock's test split holds the same examples
    expected = _keys({"image": images, "label": labels, "mask": np.ones(EXAMPLES, bool)})
    for name, (_, test) in datasets.items():
        batches = list(test.eval_batches(24))
        assert [int(np.sum(b["mask"])) for b in batches] == [24, 24, 16], name  # padded to 24, padding masked
        assert sum((_keys(b) for b in batches), []) == expected, name


@pytest.mark.parametrize("pipeline", ["device", "streaming"])
def test_too_few_classes_or_examples_are_one_line_errors(tmp_path, pipeline):
    mesh = parallel.make_mesh()
    config = TrainConfig(dataset="mnist", input_pipeline=pipeline, data_dir=str(tmp_path), batch_size=8,
                         validation_examples=0)
    with tfds.testing.mock_data(num_examples=EXAMPLES):
        with pytest.raises(errors.ConfigError, match=r"^--num_classes=5 but mnist has label [5-9]$"):
            make_datasets(resolve(dataclasses.replace(config, num_classes=5)), mesh)
        with pytest.raises(errors.ConfigError, match=r"^--batch_size=128 exceeds the 64 training examples$"):
            make_datasets(resolve(dataclasses.replace(config, batch_size=128)), mesh)

