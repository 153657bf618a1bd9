import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import augment, errors


def _images(n=16, h=8, w=8, c=3):
    return jnp.asarray(np.random.default_rng(0).integers(1, 255, (n, h, w, c), dtype=np.uint8))


def test_flip_is_either_identity_or_mirror_and_both_happen():
    images = _images(64)
    out = augment.make_batch_augmenter(augment.AugmentPolicy(flip=True))(jax.random.PRNGKey(0), images)
    same = jnp.all(out == images, axis=(1, 2, 3))
    mirrored = jnp.all(out == images[:, :, ::-1], axis=(1, 2, 3))
    assert bool(jnp.all(same | mirrored))
    assert 10 < int(mirrored.sum()) < 54  # about half, per example


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    images = _images(32, c=1)
    out = augment.make_batch_augmenter(augment.AugmentPolicy(crop_padding=2))(jax.random.PRNGKey(1), images)
    assert out.shape == images.shape and out.dtype == images.dtype
    padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = set()
    for i in range(len(images)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if np.array_equal(padded[i, dy:dy + 8, dx:dx + 8], np.asarray(out[i]))]
        assert matches, f"example {i} is not a crop of its padded image"
        offsets.update(matches)
    assert len(offsets) > 5  # offsets vary per example


def test_zero_padding_crop_keeps_the_image():
    images = _images()
    out = augment.make_batch_augmenter(augment.AugmentPolicy(crop_padding=0))(jax.random.PRNGKey(2), images)
    np.testing.assert_array_equal(out, images)


def test_same_key_same_batch_different_key_different_batch():
    fn = jax.jit(augment.make_batch_augmenter(augment.AugmentPolicy(flip=True, crop_padding=4)))
    images = _images(32)
    a, b, c = fn(jax.random.PRNGKey(7), images), fn(jax.random.PRNGKey(7), images), fn(jax.random.PRNGKey(8), images)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_policy_parsing():
    default = augment.AugmentPolicy(flip=True, crop_padding=4)
    assert augment.parse_policy("default", default=default) == default
    assert augment.parse_policy("none", default=default).is_identity
    assert augment.parse_policy("crop2, flip", default=default) == augment.AugmentPolicy(True, 2)
    assert str(augment.AugmentPolicy(True, 2)) == "flip,crop2"
    with pytest.raises(errors.ConfigError, match="unknown augmentation 'rotate'; choose one of"):
        augment.parse_policy("flip,rotate", default=default)
