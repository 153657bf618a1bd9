"""Colour statistics: the stored Fashion-MNIST table matches the real data; eigenpairs are the covariance's."""

import numpy as np

from jaxcnn.data import get_dataset_spec, stats


def test_stored_fashion_mnist_statistics_match_the_training_split(fashion_mnist):
    computed = stats.compute_colour_stats(fashion_mnist[0])
    known = stats.colour_stats("fashion_mnist")
    np.testing.assert_allclose(computed.mean, known.mean, atol=1e-6)
    np.testing.assert_allclose(computed.eigenvalues, known.eigenvalues, rtol=1e-5)
    np.testing.assert_allclose(np.square(computed.std), computed.eigenvalues, rtol=1e-5)  # one channel: variance
    np.testing.assert_allclose(computed.mean, get_dataset_spec("fashion_mnist").mean, atol=1e-4)  # as the catalogue says


def test_eigenpairs_diagonalise_the_pixel_covariance(fashion_mnist):
    gray = fashion_mnist[0][:500, ..., 0].astype(np.int32)
    rgb = np.stack([gray, (gray * 3) // 4 + 20, np.roll(gray, 5, axis=1) // 2], -1).astype(np.uint8)
    colour = stats.compute_colour_stats(rgb)
    pixels = rgb.reshape(-1, 3) / 255.0
    covariance = np.cov(pixels, rowvar=False, bias=True)
    vectors, values = np.array(colour.eigenvectors), np.array(colour.eigenvalues)
    np.testing.assert_allclose(vectors.T @ covariance @ vectors, np.diag(values), atol=1e-5)
    assert list(values) == sorted(values, reverse=True) and vectors.sum(0).min() >= 0
    np.testing.assert_allclose(colour.mean, pixels.mean(0), atol=1e-6)
    assert stats.ColourStats.from_json(colour.to_json()) == colour
