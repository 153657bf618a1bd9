"""The 2-D convolution every jaxcnn layer runs (NHWC input, HWIO kernel), with its input made a buffer of its own on
CPU so that XLA:CPU cannot recompute it inside the layout copies of the backward pass.

XLA:CPU computes a convolution's kernel gradient as another convolution whose batch and feature axes are the
forward input's channels and batch: it first copies the input into that layout (C, H, W, N). XLA fuses the
input's producers into that copy, and in a residual net those producers are the whole chain of BatchNorm,
ReLU and shortcut additions back to the last stored tensor: each copy recomputed up to four blocks of it,
reading in transposed order. On a 2-core CPU those copies took 160 of the 370 ms of a ResNet-20 train step
(batch 128). `lax.optimization_barrier` on the input stops the fusion (the copy reads the stored input; the
values are the same, bit for bit): the ResNet-20 step went from 312 to 224 ms, ResNet-18 (CIFAR) from 1802 to
1504 ms, TinyVGG and the airbench net within 1% (`benchmarks/step_overhead.py --section=conv_input`). On other
backends the convolution is left as it was (their convolutions read stored operands anyway; not measured).
"""

from collections.abc import Sequence

import jax
from jax import lax

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def stored_on_cpu(x: jax.Array) -> jax.Array:
    """`x` unchanged; on CPU behind an optimization barrier, so XLA stores it instead of fusing its producers
    into its consumers (differentiable: the barrier's derivative is the barrier)."""
    return lax.platform_dependent(x, cpu=lax.optimization_barrier, default=lambda value: value)


def conv2d(x: jax.Array, kernel: jax.Array, stride: Sequence[int] = (1, 1), padding="SAME",
           dilation: Sequence[int] = (1, 1), groups: int = 1) -> jax.Array:
    """`lax.conv_general_dilated` of an NHWC `x` with an HWIO `kernel` (`padding`: 'SAME', 'VALID' or per-side
    pairs), its input stored on CPU (`stored_on_cpu`)."""
    return lax.conv_general_dilated(stored_on_cpu(x), kernel, window_strides=tuple(stride), padding=padding,
                                    rhs_dilation=tuple(dilation), dimension_numbers=DIMENSION_NUMBERS,
                                    feature_group_count=groups)
