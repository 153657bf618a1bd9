"""The TFDS streaming pipeline on real Fashion-MNIST: reproducible epochs, process shards, exact evaluation."""

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import augment, errors
from jaxcnn.data import streaming

_SPLIT = "test[:1200]"


@pytest.fixture(scope="module")
def reference(fashion_mnist):
    """The first 1200 test images and labels in TFDS order, from the in-memory loader."""
    return fashion_mnist[2][:1200], fashion_mnist[3][:1200]


def _hashes(images):
    return [hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest() for image in images]


def _epoch(seed, epoch, spec=None, batch_size=100, **kwargs):
    spec = spec or streaming.StreamSpec("fashion_mnist", _SPLIT)
    return list(streaming.host_train_batches(spec, batch_size=batch_size, seed=seed, epoch=epoch, shuffle_buffer=2000, **kwargs))


def test_an_epoch_is_a_permutation_reproducible_from_seed_and_epoch(reference):
    first, again, next_epoch, other_seed = _epoch(0, 0), _epoch(0, 0), _epoch(0, 1), _epoch(1, 0)
    assert len(first) == 12 and first[0]["image"].shape == (100, 28, 28, 1) and first[0]["image"].dtype == np.uint8
    order = np.concatenate([b["label"] for b in first])
    np.testing.assert_array_equal(order, np.concatenate([b["label"] for b in again]))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["image"], b["image"])
    images = np.concatenate([b["image"] for b in first])
    assert sorted(_hashes(images)) == sorted(_hashes(reference[0]))  # every example exactly once
    assert not np.array_equal(images, reference[0])  # shuffled
    assert not np.array_equal(images, np.concatenate([b["image"] for b in next_epoch]))
    assert not np.array_equal(images, np.concatenate([b["image"] for b in other_seed]))
    # labels travel with their images
    label_of = dict(zip(_hashes(reference[0]), reference[1]))
    np.testing.assert_array_equal(order, [label_of[h] for h in _hashes(images)])


def test_resuming_mid_epoch_continues_the_same_batches():
    full = _epoch(3, 2)
    resumed = _epoch(3, 2, start_step=7)
    assert len(resumed) == len(full) - 7
    for a, b in zip(full[7:], resumed):
        np.testing.assert_array_equal(a["image"], b["image"])


def test_processes_read_disjoint_parts_that_cover_the_split(reference):
    parts = [_epoch(0, 0, streaming.StreamSpec("fashion_mnist", _SPLIT, process_index=i, process_count=2)) for i in range(2)]
    assert all(len(p) == 12 and p[0]["image"].shape[0] == 50 for p in parts)  # global batch 100 = 2 x 50
    hashes = [set(_hashes(np.concatenate([b["image"] for b in p]))) for p in parts]
    assert not hashes[0] & hashes[1]
    assert hashes[0] | hashes[1] == set(_hashes(reference[0]))
    with pytest.raises(errors.ConfigError, match="multiple of the 2 processes"):
        _epoch(0, 0, streaming.StreamSpec("fashion_mnist", _SPLIT, process_index=0, process_count=2), batch_size=101)


@pytest.mark.parametrize("process_count", [1, 3])
def test_evaluation_counts_every_example_once(reference, process_count):
    batches = [list(streaming.host_eval_batches(
        streaming.StreamSpec("fashion_mnist", _SPLIT, process_index=i, process_count=process_count), batch_size=384))
        for i in range(process_count)]
    assert len({len(b) for b in batches}) == 1  # every process takes the same number of steps
    images = np.concatenate([b["image"][b["mask"]] for process in batches for b in process])
    labels = np.concatenate([b["label"][b["mask"]] for process in batches for b in process])
    np.testing.assert_array_equal(images, reference[0])  # in order, once each
    np.testing.assert_array_equal(labels, reference[1])
    padded = [b for process in batches for b in process if not b["mask"].all()]
    assert all(np.all(b["image"][~b["mask"]] == 0) for b in padded)


def test_device_batches_feed_the_jitted_augmentation():
    spec = streaming.StreamSpec("fashion_mnist", _SPLIT)
    sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",)),
                                          jax.sharding.PartitionSpec("data"))
    host = _epoch(0, 0)
    dataset = streaming.StreamingDataset(spec, sharding, shuffle_buffer=2000)
    device = list(dataset.train_batches(0, 0, batch_size=100))
    assert len(device) == len(host) and isinstance(device[0]["image"], jax.Array)
    np.testing.assert_array_equal(device[5]["image"], host[5]["image"])
    evaluated = list(dataset.eval_batches(batch_size=384))
    host_evaluated = list(streaming.host_eval_batches(spec, batch_size=384))
    assert len(evaluated) == len(host_evaluated) == 4
    np.testing.assert_array_equal(evaluated[3]["mask"], host_evaluated[3]["mask"])
    np.testing.assert_array_equal(evaluated[3]["image"], host_evaluated[3]["image"])
    augmenter = jax.jit(augment.make_batch_augmenter(augment.AugmentPolicy(flip=True, crop_padding=2)))
    out = augmenter(jax.random.PRNGKey(0), device[0]["image"])
    assert out.shape == (100, 28, 28, 1) and out.dtype == jnp.uint8 and not np.array_equal(out, host[0]["image"])


def test_prefetch_keeps_order_and_count():
    batches = [{"x": np.full(4, i)} for i in range(7)]
    out = list(streaming.prefetch_to_device(iter(batches), prefetch=3))
    assert [int(b["x"][0]) for b in out] == list(range(7))
