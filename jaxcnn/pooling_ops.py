"""Max / min pooling as strided slices with an argmax-based derivative: jax.grad's numbers, a faster backward.

`lax.reduce_window(max)` differentiates through XLA's select-and-scatter, which XLA:CPU runs as a slow
scalar loop (about 40% of a TinyVGG train step on a 2-core CPU). Here a window's k*k taps are k*k strided
slices of the (padded) input; the forward pass keeps a running maximum and the index of the first tap that
holds it, and the derivative passes each output's tangent to that tap only (a `custom_jvp`, so `jax.grad`,
`jax.jvp` and higher orders all work; transposing the slices gives strided pads that XLA fuses into one loop,
and windows that tile the input, the common 2x2 stride-2 pool, take their tangents as a reshape into blocks).
Ties go to the first maximum in row-major window order, as `jax.grad` of `reduce_window` does, so the
gradients are the same numbers.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

PadPairs = tuple[tuple[int, int], tuple[int, int]]


def window_max(x: jax.Array, window: tuple[int, int], strides: tuple[int, int], pads: PadPairs) -> jax.Array:
    """Max over (kh, kw) windows of an NHWC float batch (padding counts as -inf), = reduce_window(max)."""
    return _window_max(x, tuple(window), tuple(strides), tuple(map(tuple, pads)))


def window_min(x: jax.Array, window: tuple[int, int], strides: tuple[int, int], pads: PadPairs) -> jax.Array:
    """Min over windows (padding counts as +inf): -max(-x), so ties also go to the first minimum."""
    return -window_max(-x, window, strides, pads)


def _taps(x, window, strides, pads):
    """The kh*kw strided slices of the -inf-padded input, one per window position, each the output's shape."""
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        x = lax.pad(x, np.array(-np.inf, x.dtype), ((0, 0, 0), (pt, pb, 0), (pl, pr, 0), (0, 0, 0)))
    n, h, w, c = x.shape
    out_h, out_w = (h - window[0]) // strides[0] + 1, (w - window[1]) // strides[1] + 1
    taps = []
    for i in range(window[0]):
        for j in range(window[1]):
            end = (n, i + (out_h - 1) * strides[0] + 1, j + (out_w - 1) * strides[1] + 1, c)
            taps.append(lax.slice(x, (0, i, j, 0), end, (1, strides[0], strides[1], 1)))
    return taps


def _max_and_argmax(taps):
    """The running max (lax.max, so NaN propagates as in reduce_window) and the first tap that reaches it."""
    best, index = taps[0], jnp.zeros(taps[0].shape, jnp.int32)
    for k, tap in enumerate(taps[1:], start=1):
        index = jnp.where(tap > best, k, index)
        best = lax.max(best, tap)
    return best, index


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _window_max(x, window, strides, pads):
    return _max_and_argmax(_taps(x, window, strides, pads))[0]


@_window_max.defjvp
def _window_max_jvp(window, strides, pads, primals, tangents):
    (x,), (dx,) = primals, tangents
    out, index = _max_and_argmax(_taps(x, window, strides, pads))
    # the tangent's padding is 0 (a constant has no derivative); its taps are linear, so grad transposes them
    zero_padded = lax.pad(dx, np.array(0, dx.dtype), ((0, 0, 0), (pads[0][0], pads[0][1], 0),
                                                      (pads[1][0], pads[1][1], 0), (0, 0, 0)))
    if tuple(strides) == tuple(window):
        return out, _tangent_of_blocks(zero_padded, index, window)
    return out, _tangent_of_taps(zero_padded, index, window, strides)


def _tangent_of_taps(zero_padded, index, window, strides):
    """Each output's tangent: the tangent's tap at its window's argmax, picked among the strided taps."""
    dtaps = _taps(zero_padded, window, strides, ((0, 0), (0, 0)))
    dout = dtaps[0]
    for k, dtap in enumerate(dtaps[1:], start=1):
        dout = jnp.where(index == k, dtap, dout)
    return dout


def _tangent_of_blocks(zero_padded, index, window):
    """Windows that tile the input (stride = window): each output's tangent is its block's tangent at the argmax
    tap, the blocks a reshape of the tangent to (N, out_h, kh, out_w, kw, C). Transposed for `jax.grad`, that is one
    broadcast-select-reshape loop, where strided taps transpose to kh*kw strided pads added up: the gradient of
    TinyVGG's first 2x2 pool took 2.4 instead of 5.8 ms, airbench's 31x31x64 one 5.1 instead of 38 ms (batch 128,
    2-core CPU). The same numbers: one term of each block's sum is the tangent, the others exact zeros."""
    kh, kw = window
    n, out_h, out_w, c = index.shape
    blocks = zero_padded[:, :out_h * kh, :out_w * kw].reshape(n, out_h, kh, out_w, kw, c)
    tap = (np.arange(kh)[:, None] * kw + np.arange(kw)[None, :]).reshape(1, 1, kh, 1, kw, 1)
    chosen = jnp.where(index[:, :, None, :, None, :] == tap, blocks, jnp.zeros((), blocks.dtype))
    return jnp.sum(chosen, axis=(2, 4))
