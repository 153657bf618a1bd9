"""The validation split: the last --validation_examples of the real training split, the same images in both
input pipelines and for every seed, never trained on. (Outside tests/train/test_inputs.py, whose module-wide
mock would serve random images.)"""

import hashlib

import numpy as np

from jaxcnn.train import parallel
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.inputs import make_datasets
from jaxcnn.train.plan import resolve


def _keys(batch):
    images, labels, mask = (np.asarray(batch[k]) for k in ("image", "label", "mask"))
    return [hashlib.sha1(image.tobytes()).hexdigest() + f":{label}" for image, label in zip(images[mask], labels[mask])]


def test_both_pipelines_hold_out_the_same_validation_images_from_the_real_training_split(fashion_mnist):
    """The last --validation_examples of the training split, whatever the pipeline or seed, and never trained on."""
    train_images, train_labels = fashion_mnist[0], fashion_mnist[1]
    mesh = parallel.make_mesh()
    held_out = _keys({"image": train_images[-500:], "label": train_labels[-500:], "mask": np.ones(500, bool)})
    loaded = {}
    for pipeline, seed in (("device", 0), ("streaming", 3)):
        config = TrainConfig(dataset="fashion_mnist", input_pipeline=pipeline, validation_examples=500, seed=seed)
        data = loaded[pipeline] = make_datasets(resolve(config), mesh)
        assert (data.train.num_examples, data.validation.num_examples) == (59_500, 500), pipeline
        assert sum((_keys(b) for b in data.validation.eval_batches(250)), []) == held_out, pipeline
        assert data.validation_source == "the last 500 examples of the training split"
    first_batch = _keys(next(loaded["device"].train.train_batches(0, 0, 128)))
    assert not set(first_batch) & set(held_out)
    assert make_datasets(resolve(TrainConfig(dataset="fashion_mnist", validation_examples=0)), mesh).validation is None
