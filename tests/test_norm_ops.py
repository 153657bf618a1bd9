"""norm_ops.normalize_batch: values and gradients equal to differentiating BatchNorm's plain formula."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxcnn import norm_ops


def plain_batch_norm(x, scale, bias, epsilon, axis_name=None):
    """The textbook formula, left to jax.grad: two-pass statistics over all axes but the last (and `axis_name`)."""
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axes)
    if axis_name is not None:
        mean = lax.pmean(mean, axis_name)
    var = jnp.square(x - mean).mean(axes)
    if axis_name is not None:
        var = lax.pmean(var, axis_name)
    return (x - mean) * lax.rsqrt(var + epsilon) * scale + bias, mean, var


def loss_of(norm):
    """A loss reaching every output: y through a nonlinearity, and the statistics themselves (as a running
    average would, if it were differentiated), so every cotangent of the custom derivative is exercised."""
    def loss(x, scale, bias, weights):
        y, mean, var = norm(x, scale, bias)[:3]
        return jnp.sum(jnp.tanh(y) * weights) + jnp.sum(jnp.sin(mean)) + 0.5 * jnp.sum(jnp.sqrt(var))
    return loss


@pytest.mark.parametrize("seed", range(6))
def test_values_and_gradients_equal_jax_grad_of_the_plain_formula_over_random_shapes(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 7, size=rng.integers(1, 4))) + (int(rng.integers(1, 9)),)
    shape = (max(shape[0], 2),) + shape[1:] if len(shape) > 1 else (3,) + shape
    offset = rng.choice([0.0, 5.0, 100.0])  # far from zero: where a one-pass variance loses its digits
    x = jnp.asarray(rng.normal(offset, rng.uniform(0.5, 3.0), shape), jnp.float32)
    scale, bias = (jnp.asarray(rng.normal(size=shape[-1]), jnp.float32) for _ in range(2))
    weights = jnp.asarray(rng.normal(size=shape), jnp.float32)
    epsilon = 1e-5
    ours = functools.partial(norm_ops.normalize_batch, epsilon=epsilon)
    plain = functools.partial(plain_batch_norm, epsilon=epsilon)
    for got, want in zip(ours(x, scale, bias)[:3], plain(x, scale, bias)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    assert ours(x, scale, bias)[3] == x.size // shape[-1]
    got = jax.grad(loss_of(ours), argnums=(0, 1, 2))(x, scale, bias, weights)
    want = jax.grad(loss_of(plain), argnums=(0, 1, 2))(x, scale, bias, weights)
    for name, g, w in zip(("x", "scale", "bias"), got, want):
        tolerance = 2e-4 * float(jnp.abs(w).max()) + 1e-6
        np.testing.assert_allclose(g, w, rtol=2e-3, atol=tolerance, err_msg=f"d loss / d {name}")


def test_statistics_and_gradients_over_a_mapped_axis_are_those_of_the_global_batch():
    """Under vmap over 'batch' (as pmap maps devices), statistics are global and x's gradient is that of the sum
    of every replica's loss; the scale's and bias's gradients stay each replica's own, as jax.grad's are."""
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.normal(2.0, 1.5, (4, 3, 5, 5, 6)), jnp.float32)  # 4 replicas of [3, 5, 5, 6]
    scale, bias = jnp.asarray(rng.normal(size=6), jnp.float32), jnp.asarray(rng.normal(size=6), jnp.float32)
    weights = jnp.asarray(rng.normal(size=x.shape), jnp.float32)

    def per_replica(norm):
        grad = jax.grad(loss_of(norm), argnums=(0, 1, 2))
        return jax.vmap(grad, in_axes=(0, None, None, 0), axis_name="batch")(x, scale, bias, weights)

    ours = per_replica(lambda x, s, b: norm_ops.normalize_batch(x, s, b, 1e-5, axis_name="batch"))
    plain = per_replica(lambda x, s, b: plain_batch_norm(x, s, b, 1e-5, axis_name="batch"))
    for name, g, w in zip(("x", "scale", "bias"), ours, plain):
        np.testing.assert_allclose(g, w, rtol=2e-3, atol=2e-4 * float(jnp.abs(w).max()), err_msg=name)
    y, mean, _, count = jax.vmap(lambda v: norm_ops.normalize_batch(v, scale, bias, 1e-5, axis_name="batch"),
                                 axis_name="batch")(x)
    np.testing.assert_allclose(mean[0], x.reshape(-1, 6).mean(0), rtol=1e-5)
    assert int(count[0]) == 4 * 3 * 5 * 5


def test_channel_sums_on_cpu_are_a_matrix_product_and_equal_the_reduction():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 7, 7, 16)), jnp.float32)
    np.testing.assert_allclose(norm_ops.channel_sums(x), x.sum((0, 1, 2)), rtol=1e-5, atol=1e-4)
    if jax.default_backend() == "cpu":
        compiled = jax.jit(norm_ops.channel_sums).lower(x).compile().as_text()
        assert " dot(" in compiled and " reduce(" not in compiled, "the CPU branch should sum with a product"
