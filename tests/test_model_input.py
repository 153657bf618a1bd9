"""The model's input on the device: exactly `augment.normalize` by default; grey to RGB, ImageNet statistics
and a resize (bilinear, antialiased) when a pretrained network needs them."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import augment
from jaxcnn.model_input import IMAGENET_MEAN, IMAGENET_STD, model_input, model_input_shape

IMAGES = jnp.asarray(np.random.default_rng(0).integers(0, 256, size=(2, 28, 28, 1)), jnp.uint8)


def test_by_default_it_is_exactly_normalize():
    ours = jax.jit(lambda x: model_input(x, (0.286,), (0.353,)))(IMAGES)
    theirs = jax.jit(lambda x: augment.normalize(x, (0.286,), (0.353,)))(IMAGES)
    assert np.array_equal(ours, theirs)


def test_grey_becomes_three_equal_channels_standardised_with_imagenets_statistics():
    x = model_input(IMAGES, IMAGENET_MEAN, IMAGENET_STD, to_rgb=True)
    assert x.shape == (2, 28, 28, 3)
    grey = np.asarray(IMAGES, np.float32)[..., 0] / 255
    for c in range(3):
        np.testing.assert_allclose(x[..., c], (grey - IMAGENET_MEAN[c]) / IMAGENET_STD[c], rtol=1e-6, atol=1e-6)


def test_resizing_up_keeps_a_flat_image_flat_and_follows_jax_image_resize():
    x = model_input(IMAGES, (0.5,), (0.25,), size=64)
    assert x.shape == (2, 64, 64, 1)
    expected = jax.image.resize(augment.normalize(IMAGES, (0.5,), (0.25,)), (2, 64, 64, 1), "linear")
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)
    flat = model_input(jnp.full((1, 28, 28, 1), 200, jnp.uint8), (0.5,), (0.25,), size=64)
    np.testing.assert_allclose(flat, (200 / 255 - 0.5) / 0.25, rtol=1e-5)


def test_the_shape_the_model_sees():
    assert model_input_shape((28, 28, 1)) == (28, 28, 1)
    assert model_input_shape((28, 28, 1), 64, True) == (64, 64, 3)
    assert model_input_shape((32, 32, 3), 0, True) == (32, 32, 3)  # colour stays colour
