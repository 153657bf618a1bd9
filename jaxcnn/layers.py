"""Convolution, pooling and normalisation layers (NHWC) and the output-size arithmetic behind them.

Every layer here works on channels-last batches `(N, H, W, C)`, JAX/XLA's native layout. The shape
arithmetic is the formula of lecture note 004 (the PyTorch `Conv2d` documentation), per spatial axis:

    out = floor((n + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1

`conv_output_shape` / `pool_output_shape` compute it, and the layers check it before they run: an input
too small for a layer raises `jaxcnn.errors.ShapeError` naming the layer and showing this arithmetic.
Padding may be `'valid'` (none), `'same'` (output = ceil(n / stride), the extra pixel, if any, at the
bottom/right as in TensorFlow and XLA), an int (the same on every side, as PyTorch's `padding=p`), a pair
`(ph, pw)` (per axis, both sides) or per-side pairs `((top, bottom), (left, right))`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn import conv_ops, errors, norm_ops, pooling_ops

Padding = Union[str, int, Sequence[int], Sequence[Sequence[int]]]
IntPair = Union[int, Sequence[int]]
PadPairs = tuple[tuple[int, int], tuple[int, int]]

# ----------------------------------------------------------------------------------------------
# Output-size arithmetic (note 004)
# ----------------------------------------------------------------------------------------------


def _pair(value: IntPair, what: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a 2-sequence of ints -> (height, width) pair, each at least `minimum`."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (isinstance(value, Sequence) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise errors.ConfigError(f"{what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise errors.ConfigError(f"{what} must be at least {minimum}, got {value!r}")
    return pair


def conv_output_size(n: int, kernel: int, stride: int = 1, pad_lo: int = 0, pad_hi: int = 0,
                     dilation: int = 1) -> int:
    """One spatial axis of note 004's formula: floor((n + lo + hi - d*(k-1) - 1) / s) + 1 (may be <= 0)."""
    return (n + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def resolve_padding(padding: Padding, spatial_shape: Sequence[int], kernel_size: IntPair,
                    stride: IntPair = 1, dilation: IntPair = 1) -> PadPairs:
    """Any accepted padding spelling -> explicit `((top, bottom), (left, right))` in pixels."""
    kernel, strides, dil = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            pads = []
            for n, k, s, d in zip(spatial_shape, kernel, strides, dil):
                out = -(-n // s)  # ceil(n / s)
                total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise errors.ConfigError(f"padding {padding!r} is not understood; use 'valid', 'same', an int, "
                                 "(ph, pw) or ((top, bottom), (left, right))")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        p = _pair(padding, "padding", minimum=0)
        return ((p[0], p[0]), (p[1], p[1]))
    if isinstance(padding, Sequence) and len(padding) == 2:
        if all(isinstance(p, (int, np.integer)) for p in padding):
            ph, pw = _pair(tuple(padding), "padding", minimum=0)
            return ((ph, ph), (pw, pw))
        if all(isinstance(p, Sequence) and len(p) == 2 for p in padding):
            (a, b), (c, d) = padding
            _pair((a, b), "padding (top, bottom)", minimum=0)
            _pair((c, d), "padding (left, right)", minimum=0)
            return ((int(a), int(b)), (int(c), int(d)))
    raise errors.ConfigError(f"padding {padding!r} is not understood; use 'valid', 'same', an int, "
                             "(ph, pw) or ((top, bottom), (left, right))")


def _spatial(shape: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape), int(shape))
    if len(shape) != 2:
        raise errors.ConfigError(f"spatial shape must be (height, width), got {tuple(shape)!r}")
    return (int(shape[0]), int(shape[1]))


def conv_output_shape(spatial_shape: int | Sequence[int], kernel_size: IntPair, stride: IntPair = 1,
                      padding: Padding = "valid", dilation: IntPair = 1) -> tuple[int, int]:
    """(H_out, W_out) of a convolution on an (H, W) input, by note 004's formula.

    >>> conv_output_shape((32, 32), 5)                    # note 001: 32x32 conv 5x5 -> 28x28
    (28, 28)
    >>> conv_output_shape((224, 224), 7, stride=2, padding=3)
    (112, 112)
    """
    hw = _spatial(spatial_shape)
    k, s, d = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, hw, k, s, d)
    return tuple(conv_output_size(n, kk, ss, lo, hi, dd) for n, kk, ss, (lo, hi), dd in zip(hw, k, s, pads, d))


def pool_output_shape(spatial_shape: int | Sequence[int], window: IntPair, stride: IntPair | None = None,
                      padding: Padding = "valid") -> tuple[int, int]:
    """(H_out, W_out) of a pooling window on an (H, W) input; `stride` defaults to the window (PyTorch).

    >>> pool_output_shape((28, 28), 2)
    (14, 14)
    """
    return conv_output_shape(spatial_shape, window, window if stride is None else stride, padding, 1)


def _layer_name(module: nn.Module | None, default: str) -> str:
    if module is None:
        return default
    path = "/".join(str(p) for p in module.path) if module.scope is not None else ""
    return f"layer '{path or module.name or default}' ({type(module).__name__})"


def _check_fits(where: str, what: str, hw: tuple[int, int], kernel, stride, pads: PadPairs, dilation) -> tuple[int, int]:
    """Output (H, W); raises ShapeError with the note-004 arithmetic if an axis would be empty."""
    out = []
    for axis, n, k, s, (lo, hi), d in zip(("height", "width"), hw, kernel, stride, pads, dilation):
        size = conv_output_size(n, k, s, lo, hi, d)
        if size < 1:
            need = d * (k - 1) + 1 - lo - hi
            raise errors.ShapeError(
                f"{where}: input {hw[0]}x{hw[1]} is too small for this {what} "
                f"(kernel {k}, stride {s}, padding ({lo}, {hi}), dilation {d}): output {axis} = "
                f"floor(({n} + {lo} + {hi} - {d}*({k}-1) - 1)/{s}) + 1 = {size}; "
                f"the {axis} must be at least {need} here, so feed a larger image or pad more")
        out.append(size)
    return tuple(out)


def _check_rank4(x, where: str) -> None:
    if x.ndim != 4:
        raise errors.ShapeError(f"{where}: expected an NHWC batch (N, H, W, C), got shape {tuple(x.shape)}")


# ----------------------------------------------------------------------------------------------
# Channel order
# ----------------------------------------------------------------------------------------------


def looks_channels_first(shape: Sequence[int]) -> bool:
    """True for a 4-D shape like (N, 3, 32, 32): axis 1 small (<= 4) while H and W axes are large (> 4)."""
    return len(shape) == 4 and shape[1] <= 4 and shape[2] > 4 and shape[3] > 4


def check_nhwc(x, where: str = "model") -> None:
    """Raise a one-line error for a non-4-D input or one that looks channels-first (NCHW)."""
    shape = tuple(x.shape)
    if len(shape) == 3:
        raise errors.ShapeError(f"{where}: expected a batch of images (N, H, W, C), got one image of shape "
                                f"{shape}; add a batch axis with x[None]")
    _check_rank4(x, where)
    if looks_channels_first(shape):
        n, c, h, w = shape
        raise errors.ChannelOrderError(
            f"{where}: input of shape {shape} looks channels-first (NCHW, PyTorch style) but jaxcnn expects "
            f"channels-last (NHWC) like ({n}, {h}, {w}, {c}); convert with jaxcnn.layers.nchw_to_nhwc(x)")


def nchw_to_nhwc(x):
    """PyTorch-style (N, C, H, W) array -> jaxcnn's (N, H, W, C) (a transpose; works on numpy and jax)."""
    if x.ndim != 4:
        raise errors.ShapeError(f"nchw_to_nhwc expects a 4-D array (N, C, H, W), got shape {tuple(x.shape)}")
    return x.transpose(0, 2, 3, 1)


def nhwc_to_nchw(x):
    """jaxcnn's (N, H, W, C) array -> PyTorch-style (N, C, H, W)."""
    if x.ndim != 4:
        raise errors.ShapeError(f"nhwc_to_nchw expects a 4-D array (N, H, W, C), got shape {tuple(x.shape)}")
    return x.transpose(0, 3, 1, 2)


def torch_conv_kernel_to_hwio(weight):
    """A PyTorch Conv2d weight (O, I/groups, kH, kW) -> the (kH, kW, I/groups, O) kernel of `Conv2d`."""
    return weight.transpose(2, 3, 1, 0)


# ----------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------

_ACTIVATIONS: dict[str, Callable] = {
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "swish": nn.silu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "elu": nn.elu,
    "leaky_relu": nn.leaky_relu,
    "identity": lambda x: x,
}


def get_activation(activation: str | Callable | None) -> Callable:
    """An activation by name ('relu', 'gelu', 'tanh', ...) or a callable; None means identity."""
    if activation is None:
        return _ACTIVATIONS["identity"]
    if callable(activation):
        return activation
    try:
        return _ACTIVATIONS[activation]
    except KeyError:
        raise errors.unknown_name_error("activation", activation, _ACTIVATIONS) from None


# ----------------------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------------------


class ConvSettings(nn.Module):
    """The settings of a 2-D convolution, shared by `Conv2d` and the layers that build one (`ConvBNAct`):
    output channels, kernel size, stride, padding, dilation, groups, bias, computation and parameter dtypes,
    initialisers (`CONV_SETTINGS` names them in order)."""

    features: int
    kernel_size: IntPair = 3
    stride: IntPair = 1
    padding: Padding = "valid"
    dilation: IntPair = 1
    groups: int = 1
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()


# The convolution settings by name, in field order: what a layer built on `ConvSettings` hands its `Conv2d`.
CONV_SETTINGS = tuple(field.name for field in dataclasses.fields(ConvSettings) if field.name not in ("parent", "name"))


class Conv2d(ConvSettings):
    """2-D convolution (notes 000-004): kernel size, stride, padding, dilation, groups, optional bias.

    The kernel has shape (kH, kW, C_in / groups, features) ("HWIO"); `groups = C_in` makes a depthwise
    convolution and `kernel_size=1` the pointwise (1x1) convolution of note 001. Input channels are taken
    from the input. The output size follows note 004's formula (see `conv_output_shape`), and an input too
    small for the kernel raises `ShapeError` before anything runs. Computation runs in `dtype` (e.g.
    bfloat16) while parameters stay in `param_dtype`. Its fields (`ConvSettings`) are, in order: features,
    kernel_size, stride, padding, dilation, groups, use_bias, dtype, param_dtype, kernel_init, bias_init.
    """

    @nn.compact
    def __call__(self, x):
        where = _layer_name(self, "conv")
        _check_rank4(x, where)
        kernel, stride, dilation = (_pair(self.kernel_size, "kernel_size"), _pair(self.stride, "stride"),
                                    _pair(self.dilation, "dilation"))
        in_features = x.shape[-1]
        if self.groups < 1 or in_features % self.groups or self.features % self.groups:
            raise errors.ConfigError(f"{where}: groups={self.groups} must divide both the input channels "
                                     f"({in_features}) and the output channels ({self.features})")
        hw = tuple(x.shape[1:3])
        pads = resolve_padding(self.padding, hw, kernel, stride, dilation)
        _check_fits(where, "convolution", hw, kernel, stride, pads, dilation)
        w = self.param("kernel", self.kernel_init, (*kernel, in_features // self.groups, self.features),
                       self.param_dtype)
        y = conv_ops.conv2d(jnp.asarray(x, self.dtype), jnp.asarray(w, self.dtype), stride, pads, dilation,
                            self.groups)
        if self.use_bias:
            b = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            y = y + jnp.asarray(b, self.dtype)
        return y


# ----------------------------------------------------------------------------------------------
# Pooling (functional forms, then layer forms that show up in model summaries)
# ----------------------------------------------------------------------------------------------

POOL_KINDS = ("max", "avg", "min", "lp")


def pool2d(x, kind: str, window: IntPair, stride: IntPair | None = None, padding: Padding = "valid", *,
           count_include_pad: bool = True, p: float = 2.0, where: str = "pool"):
    """Sliding-window pooling over H and W of an NHWC batch; `stride` defaults to the window.

    kind: 'max' (padding counts as -inf), 'min' (padding +inf), 'avg' (padding counts as zeros if
    `count_include_pad`, else each window is divided by its number of real pixels) or 'lp'
    ((sum |x|^p)^(1/p), note 002's L2 pooling for p=2; padding adds zeros). Each side's padding is at
    most half the window, as in PyTorch, so no window is all padding.
    """
    if kind not in POOL_KINDS:
        raise errors.unknown_name_error("pooling kind", kind, POOL_KINDS)
    _check_rank4(x, where)
    win = _pair(window, "pooling window")
    strides = win if stride is None else _pair(stride, "pooling stride")
    hw = tuple(x.shape[1:3])
    pads = resolve_padding(padding, hw, win, strides, 1)
    for k, (lo, hi) in zip(win, pads):
        if max(lo, hi) > k // 2:
            raise errors.ConfigError(f"{where}: padding {pads} is more than half the window {win}")
    _check_fits(where, f"{kind} pooling", hw, win, strides, pads, (1, 1))
    dims, steps, full_pads = (1, *win, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0))

    if kind in ("max", "min") and jnp.issubdtype(x.dtype, jnp.floating):
        # strided slices with an argmax derivative: reduce_window's values and gradients, a much faster backward
        return (pooling_ops.window_max if kind == "max" else pooling_ops.window_min)(x, win, strides, pads)
    if kind in ("max", "min"):  # integer images: no gradient needed
        info = jnp.iinfo(x.dtype)
        init, op = (info.min, lax.max) if kind == "max" else (info.max, lax.min)
        return lax.reduce_window(x, np.array(init, x.dtype), op, dims, steps, full_pads)

    xf = jnp.asarray(x, jnp.promote_types(x.dtype, jnp.float32))
    if kind == "avg":
        sums = lax.reduce_window(xf, 0.0, lax.add, dims, steps, full_pads)
        if count_include_pad:
            out = sums / (win[0] * win[1])
        else:
            ones = jnp.ones((1, *hw, 1), xf.dtype)
            counts = lax.reduce_window(ones, 0.0, lax.add, dims, steps, full_pads)
            out = sums / counts
    else:  # lp
        if p <= 0:
            raise errors.ConfigError(f"{where}: Lp pooling needs p > 0, got {p}")
        sums = lax.reduce_window(jnp.abs(xf) ** p, 0.0, lax.add, dims, steps, full_pads)
        positive = sums > 0
        safe = jnp.where(positive, sums, 1.0)  # gradient 0, not NaN, where a window is all zeros
        out = jnp.where(positive, safe ** (1.0 / p), 0.0)
    return out.astype(x.dtype) if jnp.issubdtype(x.dtype, jnp.floating) else out


def max_pool(x, window: IntPair = 2, stride: IntPair | None = None, padding: Padding = "valid"):
    """Max pooling (notes 000, 001, 004): the largest value in each window."""
    return pool2d(x, "max", window, stride, padding, where="max_pool")


def min_pool(x, window: IntPair = 2, stride: IntPair | None = None, padding: Padding = "valid"):
    """Min pooling (note 002): the smallest value in each window."""
    return pool2d(x, "min", window, stride, padding, where="min_pool")


def avg_pool(x, window: IntPair = 2, stride: IntPair | None = None, padding: Padding = "valid",
             count_include_pad: bool = True):
    """Average pooling (notes 001, 004); `count_include_pad` as in PyTorch's AvgPool2d."""
    return pool2d(x, "avg", window, stride, padding, count_include_pad=count_include_pad, where="avg_pool")


def lp_pool(x, window: IntPair = 2, stride: IntPair | None = None, padding: Padding = "valid", p: float = 2.0):
    """Lp pooling, (sum |x|^p)^(1/p) over each window; p=2 is the L2 pooling of note 002."""
    return pool2d(x, "lp", window, stride, padding, p=p, where="lp_pool")


def global_avg_pool(x):
    """Global average pooling (note 004): (N, H, W, C) -> (N, C), the mean over all positions."""
    _check_rank4(x, "global_avg_pool")
    return jnp.mean(x, axis=(1, 2), dtype=jnp.promote_types(x.dtype, jnp.float32)).astype(x.dtype)


def global_max_pool(x):
    """Global max pooling (note 004): (N, H, W, C) -> (N, C), the max over all positions."""
    _check_rank4(x, "global_max_pool")
    return jnp.max(x, axis=(1, 2))


def adaptive_avg_pool(x, output_size: IntPair):
    """PyTorch's AdaptiveAvgPool2d: bin i of n pixels into o covers [floor(i*n/o), ceil((i+1)*n/o)).

    Done as two small averaging matrices (no loop over pixels); torchvision's VGG uses it to reach 7x7.
    """
    _check_rank4(x, "adaptive_avg_pool")
    out_hw = _pair(output_size, "output_size")

    def bins(n: int, o: int) -> np.ndarray:
        m = np.zeros((o, n), np.float32)
        for i in range(o):
            lo, hi = (i * n) // o, -(-((i + 1) * n) // o)
            m[i, lo:hi] = 1.0 / (hi - lo)
        return m

    mh, mw = bins(x.shape[1], out_hw[0]), bins(x.shape[2], out_hw[1])
    if mh.shape[0] == mh.shape[1] and mw.shape[0] == mw.shape[1]:
        return x  # already the requested size
    y = jnp.einsum("hH,wW,nHWc->nhwc", mh, mw, jnp.asarray(x, jnp.promote_types(x.dtype, jnp.float32)))
    return y.astype(x.dtype)


class _Pool(nn.Module):
    window: IntPair = 2
    stride: IntPair | None = None
    padding: Padding = "valid"


class MaxPool2d(_Pool):
    """Max pooling layer (notes 000, 001, 004); stride defaults to the window, as `nn.MaxPool2d`."""

    def __call__(self, x):
        return pool2d(x, "max", self.window, self.stride, self.padding, where=_layer_name(self, "max_pool"))


class MinPool2d(_Pool):
    """Min pooling layer (note 002)."""

    def __call__(self, x):
        return pool2d(x, "min", self.window, self.stride, self.padding, where=_layer_name(self, "min_pool"))


class AvgPool2d(_Pool):
    """Average pooling layer (notes 001, 004); `count_include_pad` as in PyTorch's AvgPool2d."""

    count_include_pad: bool = True

    def __call__(self, x):
        return pool2d(x, "avg", self.window, self.stride, self.padding, count_include_pad=self.count_include_pad,
                      where=_layer_name(self, "avg_pool"))


class LpPool2d(_Pool):
    """Lp pooling layer, (sum |x|^p)^(1/p); p=2 is note 002's L2 pooling."""

    p: float = 2.0

    def __call__(self, x):
        return pool2d(x, "lp", self.window, self.stride, self.padding, p=self.p, where=_layer_name(self, "lp_pool"))


class GlobalAvgPool(nn.Module):
    """Global average pooling layer (note 004; Lin et al. 2014, "Network in Network"): NHWC -> NC."""

    def __call__(self, x):
        return global_avg_pool(x)


class GlobalMaxPool(nn.Module):
    """Global max pooling layer (note 004): NHWC -> NC."""

    def __call__(self, x):
        return global_max_pool(x)


# ----------------------------------------------------------------------------------------------
# Normalisation, regularisation and the conv-BN-activation block
# ----------------------------------------------------------------------------------------------


class FlaxBatchNorm(nn.BatchNorm):
    """`flax.linen.BatchNorm` with jaxcnn's defaults (`momentum=0.9`, `epsilon=1e-5`, float32 computation): the
    running variance follows the biased batch variance, computed in one pass as E[x^2] - E[x]^2. jaxcnn 0.1's
    numbers; `--batchnorm_stats=flax` trains with it."""

    momentum: float = 0.9
    epsilon: float = 1e-5
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32


class BatchNorm(FlaxBatchNorm):
    """Batch normalisation (Ioffe & Szegedy 2015; note 001) with PyTorch's meaning, statistics in `batch_stats`.

    Training normalises with the batch mean and biased variance, computed in two passes (mean, then the mean
    squared deviation), which stays precise when activations sit far from zero; the running variance follows
    the unbiased batch variance (n / (n - 1) times it, n = examples x positions), as `torch.nn.BatchNorm2d`'s
    does. `momentum=0.9` means running = 0.9 * running + 0.1 * batch (PyTorch's `momentum=0.1`; flax counts the
    other way round). Same parameters, statistics and settings as `FlaxBatchNorm` (flax's), so checkpoints move
    between the two; `functools.partial(BatchNorm, axis_name="batch")` computes the statistics over that mapped
    axis (pmap / vmap), i.e. over the global batch. Float32 computation whatever the model's dtype. Training
    goes through `norm_ops.normalize_batch`, whose written-out derivative sums as matrix products on CPU.
    """

    @nn.compact
    def __call__(self, x, use_running_average: bool | None = None, *, mask=None):
        if mask is not None:
            raise ValueError("jaxcnn's BatchNorm takes no mask; use FlaxBatchNorm for masked statistics")
        use_running_average = nn.merge_param("use_running_average", self.use_running_average, use_running_average)
        axis = self.axis % x.ndim
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((x.shape[axis],), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((x.shape[axis],), jnp.float32))
        scale = (self.param("scale", self.scale_init, (x.shape[axis],), self.param_dtype) if self.use_scale
                 else jnp.ones((x.shape[axis],), jnp.float32))
        bias = (self.param("bias", self.bias_init, (x.shape[axis],), self.param_dtype) if self.use_bias
                else jnp.zeros((x.shape[axis],), jnp.float32))
        x = jnp.moveaxis(x.astype(jnp.float32), axis, -1)
        if use_running_average:
            y = (x - ra_mean.value) * (lax.rsqrt(ra_var.value + self.epsilon) * scale) + bias
        else:
            axis_name = None if self.is_initializing() else self.axis_name
            y, mean, var, count = norm_ops.normalize_batch(x, scale, bias, self.epsilon, axis_name,
                                                           self.axis_index_groups)
            if not self.is_initializing():
                unbiased = var * (count / jnp.maximum(count - 1, 1))
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * unbiased
        return jnp.moveaxis(y, -1, axis).astype(self.dtype)


# A module factory in flax's `ModuleDef` style: a class or `functools.partial` of one, called with the
# per-use settings (e.g. `norm(use_running_average=not train, momentum=0.9, name="bn")`).
ModuleDef = Callable[..., nn.Module]


class Dropout(nn.Dropout):
    """Dropout (Srivastava et al. 2014): `Dropout(rate)(x, deterministic=not train)`, rng name 'dropout'."""


class ConvBNAct(ConvSettings):
    """Conv2d `conv` -> norm `bn` (BatchNorm by default) -> activation: the conv-BN-ReLU unit of VGG-BN and
    ResNets. The convolution settings are `Conv2d`'s, defaulting here to 'same' padding, no bias and He
    (fan-out) initialisation; `norm` is called with `bn_momentum` / `bn_epsilon`, its partial carries the rest."""

    padding: Padding = "same"
    use_bias: bool = False
    kernel_init: Callable = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
    activation: str | Callable | None = "relu"
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    norm: ModuleDef = BatchNorm

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = Conv2d(**{field: getattr(self, field) for field in CONV_SETTINGS}, name="conv")(x)
        x = self.norm(use_running_average=not train, momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                      name="bn")(x)
        return get_activation(self.activation)(x).astype(self.dtype)


# ----------------------------------------------------------------------------------------------
# Hand-made filters (notes 001 and 002): fixed kernels applied channel by channel
# ----------------------------------------------------------------------------------------------

FILTERS = {
    "box_blur": np.full((3, 3), 1 / 9),                                   # note 001's averaging/blurring filter
    "gaussian_blur": np.outer([1, 2, 1], [1, 2, 1]) / 16,
    "horizontal_lines": np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]),  # note 002's hlinekernel
    "vertical_lines": np.array([[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]]),    # note 002's vlinekernel
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
}


def filter_kernel(name: str, channels: int) -> np.ndarray:
    """A named hand-made 3x3 filter as a depthwise `Conv2d` kernel (3, 3, 1, channels), float32."""
    try:
        k = np.asarray(FILTERS[name], np.float32)
    except KeyError:
        raise errors.unknown_name_error("filter", name, FILTERS) from None
    return np.repeat(k[:, :, None, None], channels, axis=3)


def apply_filter(images, name: str, padding: Padding = "same"):
    """Convolve every channel of an NHWC batch with a named hand-made filter (cross-correlation, as in CNNs)."""
    check_nhwc(images, "apply_filter")
    channels = images.shape[-1]
    conv = Conv2d(channels, 3, padding=padding, groups=channels, use_bias=False)
    x = jnp.asarray(images, jnp.promote_types(jnp.asarray(images).dtype, jnp.float32))
    return conv.apply({"params": {"kernel": filter_kernel(name, channels)}}, x)


def flatten(x):
    """(N, ...) -> (N, features): the "unroll into a vector" step before the dense layers (note 000)."""
    return x.reshape(x.shape[0], -1)


def param_count(params) -> int:
    """Number of scalars in a params pytree (works on arrays and on `jax.eval_shape` results)."""
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)))
