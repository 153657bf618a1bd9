"""Residual blocks and auxiliary classifier heads, the pieces of note 001's "deep networks" section.

Blocks take NHWC input and `train` (BatchNorm uses batch statistics and updates `batch_stats` when True)
and build their normalisation layers from `norm` (flax `ModuleDef` style, `layers.BatchNorm` by default),
so a model passes its own `norm` down and one partial sets, e.g., the axis to average statistics over.
Shortcuts, when the block changes the shape (stride > 1 or a different channel count):
  - 'projection' (He et al. 2016, option B): 1x1 convolution with the block's stride, then BatchNorm
    (pre-activation blocks: the 1x1 convolution alone, on the pre-activated input, as in He et al. 2016b);
  - 'pad' (option A, the CIFAR ResNets of the paper): subsample by the stride, zero-pad new channels; no
    parameters;
  - 'conv_always' (option C): a projection on every block, even where an identity would fit.
Otherwise the shortcut is the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn import errors
from jaxcnn.layers import BatchNorm, Conv2d, Dropout, ModuleDef, global_avg_pool

SHORTCUTS = ("projection", "pad", "conv_always")
he_normal = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # torchvision's ResNet init


def _check_shortcut(kind: str) -> None:
    if kind not in SHORTCUTS:
        raise errors.unknown_name_error("shortcut", kind, SHORTCUTS)


def _needs_projection(x, out_features: int, stride: int, kind: str) -> bool:
    return kind == "conv_always" or stride != 1 or x.shape[-1] != out_features


def pad_shortcut(x, out_features: int, stride: int):
    """Option A shortcut: keep every `stride`-th pixel, zero-pad channels evenly up to `out_features`."""
    if stride != 1:
        x = x[:, ::stride, ::stride, :]
    extra = out_features - x.shape[-1]
    if extra < 0:
        raise errors.ConfigError(f"the 'pad' shortcut cannot reduce channels ({x.shape[-1]} -> {out_features})")
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))


class _ResidualBase(nn.Module):
    features: int
    stride: int = 1
    shortcut: str = "projection"
    bn_momentum: float = 0.9
    norm: ModuleDef = BatchNorm
    dtype: Any = jnp.float32
    kernel_init: Callable = he_normal

    def conv(self, features, kernel, stride=1, name=None):
        """A bias-free k x k convolution with PyTorch-style padding k // 2."""
        return Conv2d(features, kernel, stride, padding=kernel // 2, use_bias=False, dtype=self.dtype,
                      kernel_init=self.kernel_init, name=name)

    def bn(self, train, name=None, zero_init=False):
        """The block's norm layer with its momentum; `zero_init` starts its scale at 0."""
        return self.norm(use_running_average=not train, momentum=self.bn_momentum,
                         scale_init=nn.initializers.zeros_init() if zero_init else nn.initializers.ones_init(),
                         name=name)

    def post_act_shortcut(self, x, out_features, train):
        """Shortcut of a post-activation block (basic, bottleneck)."""
        _check_shortcut(self.shortcut)
        if not _needs_projection(x, out_features, self.stride, self.shortcut):
            return x
        if self.shortcut == "pad":
            return pad_shortcut(x, out_features, self.stride)
        x = self.conv(out_features, 1, self.stride, name="downsample_conv")(x)
        return self.bn(train, name="downsample_bn")(x)


class BasicBlock(_ResidualBase):
    """Basic residual block (He et al. 2016, "Deep Residual Learning"; note 001's skip connections).

    conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU. Output channels = `features`.
    `zero_init_residual` starts the last BN's scale at 0, so the block begins as its shortcut (Goyal et al.).
    """

    expansion: ClassVar[int] = 1
    zero_init_residual: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        residual = self.post_act_shortcut(x, self.features, train)
        y = nn.relu(self.bn(train, "bn1")(self.conv(self.features, 3, self.stride, "conv1")(x)))
        y = self.bn(train, "bn2", self.zero_init_residual)(self.conv(self.features, 3, 1, "conv2")(y))
        return nn.relu(y + residual).astype(self.dtype)


class Bottleneck(_ResidualBase):
    """Bottleneck residual block (He et al. 2016): 1x1 reduce, 3x3 (stride here, "ResNet v1.5"), 1x1 expand.

    `features` is the bottleneck width; the block outputs `4 * features` channels (torchvision's layout).
    """

    expansion: ClassVar[int] = 4
    zero_init_residual: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        out_features = self.features * self.expansion
        residual = self.post_act_shortcut(x, out_features, train)
        y = nn.relu(self.bn(train, "bn1")(self.conv(self.features, 1, 1, "conv1")(x)))
        y = nn.relu(self.bn(train, "bn2")(self.conv(self.features, 3, self.stride, "conv2")(y)))
        y = self.bn(train, "bn3", self.zero_init_residual)(self.conv(out_features, 1, 1, "conv3")(y))
        return nn.relu(y + residual).astype(self.dtype)


class PreActBlock(_ResidualBase):
    """Pre-activation basic block (He et al. 2016b, "Identity Mappings in Deep Residual Networks").

    BN-ReLU-conv3x3(stride)-BN-ReLU-[dropout]-conv3x3, added to the shortcut with no activation after the
    sum. A projection shortcut is a bare 1x1 convolution applied to the pre-activated input.
    """

    expansion: ClassVar[int] = 1
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        _check_shortcut(self.shortcut)
        pre = nn.relu(self.bn(train, "bn1")(x)).astype(self.dtype)
        if not _needs_projection(x, self.features, self.stride, self.shortcut):
            residual = x
        elif self.shortcut == "pad":
            residual = pad_shortcut(x, self.features, self.stride)
        else:
            residual = self.conv(self.features, 1, self.stride, name="shortcut_conv")(pre)
        y = self.conv(self.features, 3, self.stride, "conv1")(pre)
        y = nn.relu(self.bn(train, "bn2")(y)).astype(self.dtype)
        if self.dropout_rate > 0:
            y = Dropout(self.dropout_rate)(y, deterministic=not train)
        y = self.conv(self.features, 3, 1, "conv2")(y)
        return (y + residual).astype(self.dtype)


class WideBlock(PreActBlock):
    """Wide residual block (Zagoruyko & Komodakis 2016, "Wide Residual Networks").

    The pre-activation basic block with dropout between the two 3x3 convolutions (`dropout_rate`, 0.3 in
    the paper's CIFAR runs; 0 here unless asked) and a 1x1-convolution shortcut when the shape changes.
    """


class AuxHead(nn.Module):
    """Auxiliary classifier head (note 001's intermediate losses; Szegedy et al. 2015, GoogLeNet).

    Global average pool -> [Dense(hidden) -> ReLU] -> Dense(num_classes). With `train=True` its float32
    logits are stored by `self.sow('aux', 'logits', ...)`, which the training code collects (apply with
    `mutable=[..., 'aux']`) and adds as `aux_weight * mean(aux losses)`.
    """

    num_classes: int
    hidden: int = 0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        y = global_avg_pool(x)
        if self.hidden:
            y = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name="hidden")(y))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(y).astype(jnp.float32)
        if train:
            self.sow("aux", "logits", logits)
        return logits


def run_aux_head(module: nn.Module, head: AuxHead, x, train: bool) -> None:
    """Call `head` where its logits are needed (training) or its parameters must be created (init)."""
    if train or module.is_initializing():
        head(x, train=train)


def blocks_per_stage(depth: int, other_layers: int, family: str, examples: str) -> int:
    """n of a three-stage network of depth 6n + `other_layers` (3 stages of n two-conv blocks, plus the stem
    and classifier layers); any other depth is a one-line ConfigError quoting `examples`."""
    if depth < 6 + other_layers or (depth - other_layers) % 6:
        raise errors.ConfigError(f"{family} depth must be 6n+{other_layers} ({examples}, ...), got {depth}")
    return (depth - other_layers) // 6


def residual_stages(model: nn.Module, x, train: bool, block: Callable[..., nn.Module],
                    stages: Sequence[tuple[int, int]], name_prefix: str):
    """Run (width, blocks) stages of `block(width, stride=..., name=...)`, ResNet-style: stride 2 at the first
    block of every stage but the first, blocks named f"{name_prefix}{stage}_{index}" (stages from 1).

    With `model.aux_heads`, an `AuxHead(model.num_classes)` named f"aux_head{stage}" follows every stage but
    the last. One loop for the ResNet families, so their layouts and parameter names cannot drift apart.
    """
    for i, (width, num_blocks) in enumerate(stages):
        for j in range(num_blocks):
            x = block(width, stride=2 if i > 0 and j == 0 else 1, name=f"{name_prefix}{i + 1}_{j}")(x, train)
        if model.aux_heads and i < len(stages) - 1:
            run_aux_head(model, AuxHead(model.num_classes, dtype=model.dtype, name=f"aux_head{i + 1}"), x, train)
    return x
