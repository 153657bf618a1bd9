"""conv_ops.conv2d: the same values and gradients as `lax.conv_general_dilated`, with its input stored (behind an
optimization barrier) only where the program is compiled for CPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export, lax

from jaxcnn import conv_ops


def plain_conv(x, kernel, stride, padding, dilation, groups):
    return lax.conv_general_dilated(x, kernel, stride, padding, rhs_dilation=dilation,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)


def random_case(seed: int):
    """A random convolution: batch, size, channels, groups, kernel, stride, dilation and padding all drawn."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    stride, dilation = tuple(int(s) for s in rng.integers(1, 3, size=2)), tuple(int(d) for d in rng.integers(1, 3, size=2))
    padding = str(rng.choice(["SAME", "VALID"])) if seed % 3 else ((0, 1), (2, 1))
    size = tuple(int(n) for n in rng.integers(7, 12, size=2))
    x = jnp.asarray(rng.normal(size=(int(rng.integers(1, 4)), *size, c_in)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(*kernel, c_in // groups, c_out)), jnp.float32)
    return x, w, (stride, padding, dilation, groups), rng


@pytest.mark.parametrize("seed", range(10))
def test_values_and_gradients_equal_the_plain_convolution_over_random_shapes(seed):
    x, w, settings, rng = random_case(seed)
    y = plain_conv(x, w, *settings)
    weights = jnp.asarray(rng.normal(size=y.shape), jnp.float32)

    def loss_of(conv):
        # ReLU before the convolution: the producer that the barrier keeps out of the gradient's layout copies
        return jax.jit(lambda x, w: jnp.sum(jnp.tanh(conv(jax.nn.relu(x) * 1.5, w, *settings)) * weights))

    np.testing.assert_array_equal(jax.jit(conv_ops.conv2d, static_argnums=(2, 3, 4, 5))(x, w, *settings), y)
    got = jax.grad(loss_of(conv_ops.conv2d), argnums=(0, 1))(x, w)
    want = jax.grad(loss_of(plain_conv), argnums=(0, 1))(x, w)
    for name, g, expected in zip(("input", "kernel"), got, want):
        np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-5 * float(jnp.abs(expected).max()),
                                   err_msg=f"d loss / d {name}")


def lowered_text(platforms) -> str:
    x, w = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 4))
    step = jax.jit(lambda x, w: jax.grad(lambda w: jnp.sum(conv_ops.conv2d(jax.nn.relu(2 * x), w) ** 2))(w))
    return export.export(step, platforms=platforms)(x, w).mlir_module()


def test_the_barrier_is_in_the_cpu_program_only():
    assert "optimization_barrier" in lowered_text(["cpu"])
    for platform in ("cuda", "rocm", "tpu"):
        assert "optimization_barrier" not in lowered_text([platform]), platform


def test_stored_on_cpu_leaves_values_and_derivatives_alone():
    x = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(jax.jit(conv_ops.stored_on_cpu)(x), x)
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(conv_ops.stored_on_cpu(v) ** 2))(x), 2 * x)
