import numpy as np

from jaxcnn.data import DeviceDataset, eval_batch_indices, train_batch_indices


def test_epoch_order_is_a_reproducible_permutation():
    a = train_batch_indices(seed=3, epoch=5, num_examples=1000, batch_size=64)
    assert a.shape == (15, 64)
    assert len(np.unique(a)) == a.size  # no example twice in an epoch
    np.testing.assert_array_equal(a, train_batch_indices(3, 5, 1000, 64))
    assert not np.array_equal(a, train_batch_indices(3, 6, 1000, 64))
    assert not np.array_equal(a, train_batch_indices(4, 5, 1000, 64))


def test_eval_batch_indices_cover_every_example_exactly_once():
    seen = np.zeros(1003, int)
    batches = list(eval_batch_indices(1003, 100))
    assert len(batches) == 11
    for indices, mask in batches:
        assert indices.shape == mask.shape == (100,)
        np.add.at(seen, indices[mask], 1)
    assert (seen == 1).all()
    assert batches[-1][1].sum() == 3


def test_batch_gathers_on_device():
    images = np.arange(10 * 2 * 2 * 1, dtype=np.uint8).reshape(10, 2, 2, 1)
    labels = np.arange(10) * 7
    batch = DeviceDataset(images, labels).batch(np.array([9, 0, 4]), np.array([True, True, False]))
    np.testing.assert_array_equal(batch["image"], images[[9, 0, 4]])
    np.testing.assert_array_equal(batch["label"], [63, 0, 28])
    np.testing.assert_array_equal(batch["mask"], [True, True, False])
    assert batch["image"].dtype == np.uint8
