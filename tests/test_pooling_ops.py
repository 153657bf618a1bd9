"""jaxcnn.pooling_ops against lax.reduce_window and its jax.grad: the same values and the same gradients,
bit for bit, including ties (inputs drawn from a few integers), padding, strides and overlapping windows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxcnn import layers, pooling_ops


def _reduce_window(x, kind, window, strides, pads):
    init, op = (-np.inf, lax.max) if kind == "max" else (np.inf, lax.min)
    return lax.reduce_window(x, np.array(init, x.dtype), op, (1, *window, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0)))


def _case(seed, tiling: bool = False):
    """A random pooling; `tiling`: stride = window (windows that tile the input, the blocks derivative)."""
    rng = np.random.default_rng(seed)
    window = tuple(int(v) for v in rng.integers(1, 5, size=2))
    strides = window if tiling else tuple(int(v) for v in rng.integers(1, 4, size=2))
    pads = tuple((int(rng.integers(0, k // 2 + 1)), int(rng.integers(0, k // 2 + 1))) for k in window)
    shape = (2, *(int(rng.integers(k, k + 8)) for k in window), int(rng.integers(1, 4)))
    values = rng.integers(-2, 3, size=shape) if seed % 2 else rng.normal(size=shape)  # odd seeds: many ties
    return rng, jnp.asarray(values, jnp.float32), window, strides, pads


@pytest.mark.parametrize("tiling", [False, True])
@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("seed", range(10))
def test_values_and_gradients_equal_reduce_window(kind, seed, tiling):
    rng, x, window, strides, pads = _case(seed, tiling)
    ours = pooling_ops.window_max if kind == "max" else pooling_ops.window_min
    cotangent = jnp.asarray(rng.normal(size=_reduce_window(x, kind, window, strides, pads).shape), jnp.float32)
    tangent = jnp.asarray(rng.normal(size=x.shape), jnp.float32)

    @jax.jit
    def value_grad_jvp(x):
        """Each pooling's output, gradient of <output, cotangent> and forward derivative along `tangent`."""
        results = []
        for pool in (lambda v: ours(v, window, strides, pads), lambda v: _reduce_window(v, kind, window, strides, pads)):
            grad = jax.grad(lambda v: jnp.vdot(pool(v), cotangent))(x)
            results.append((pool(x), grad, jax.jvp(pool, (x,), (tangent,))[1]))
        return results

    for got, expected in zip(*value_grad_jvp(x)):
        np.testing.assert_array_equal(got, expected)


def test_layers_use_it_under_jit_with_the_same_gradients():
    """MaxPool2d (ResNet's 3x3 stride-2 padded stem pool) through jit: reduce_window's gradient."""
    x = jnp.asarray(np.random.default_rng(3).integers(0, 4, size=(2, 9, 9, 3)), jnp.float32)
    loss = jax.jit(jax.grad(lambda v: (layers.MaxPool2d(3, 2, padding=1).apply({}, v) ** 2).sum()))
    reference = jax.grad(lambda v: (_reduce_window(v, "max", (3, 3), (2, 2), ((1, 1), (1, 1))) ** 2).sum())
    np.testing.assert_array_equal(loss(x), reference(x))


def test_nan_propagates_like_reduce_window():
    x = jnp.arange(16, dtype=jnp.float32).reshape(1, 4, 4, 1).at[0, 1, 1, 0].set(jnp.nan)
    args = ((2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(pooling_ops.window_max(x, *args), _reduce_window(x, "max", *args))


def test_integer_pooling_keeps_reduce_window():
    x = jnp.asarray(np.random.default_rng(4).integers(0, 255, size=(1, 6, 6, 2)), jnp.uint8)
    out = layers.max_pool(x, 2)
    assert out.dtype == jnp.uint8
    np.testing.assert_array_equal(out, np.asarray(x).reshape(1, 3, 2, 3, 2, 2).max(axis=(2, 4)))
