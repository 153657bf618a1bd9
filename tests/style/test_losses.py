"""Gram matrices against a direct computation; the relative distances and total variation by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.style import losses


def test_gram_matrix_equals_direct_computation():
    features = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    direct = np.zeros((2, 5, 5))
    for b in range(2):
        for c in range(5):
            for d in range(5):
                direct[b, c, d] = sum(features[b, y, x, c] * features[b, y, x, d] for y in range(3) for x in range(4)) / 12
    np.testing.assert_allclose(losses.gram_matrix(jnp.asarray(features)), direct, rtol=1e-5, atol=1e-6)


def test_relative_distances_and_total_variation_by_hand():
    target = jnp.ones((1, 2, 2, 1))
    assert float(losses.content_loss({"a": 2 * target}, {"a": target})) == pytest.approx(1.0)  # |2-1|^2*4 / 4
    grams = {"a": losses.gram_matrix(target), "b": losses.gram_matrix(target)}
    assert float(losses.style_loss({"a": target, "b": 2 * target}, grams)) == pytest.approx((0 + 9) / 2)
    image = jnp.array([[0.0, 1.0], [0.0, 1.0]])[None, :, :, None]
    assert float(losses.total_variation(image)) == pytest.approx(0 + 1.0)  # no vertical change, 1 across
