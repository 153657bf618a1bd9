"""Wide residual networks (Zagoruyko & Komodakis 2016): WRN-d-k, pre-activation blocks k times wider.

Depth d = 6n+4, group widths 16k/32k/64k, a bare 1x1-conv shortcut where the shape changes, a final
BN-ReLU, global average pool and one Dense layer. WRN-28-10 has 36,479,194 parameters at 10 classes
(the paper's 36.5M). Dropout between the convolutions is `dropout_rate` (paper: 0.3; default 0).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn import errors
from jaxcnn.blocks import AuxHead, WideBlock, he_normal, run_aux_head
from jaxcnn.layers import BatchNorm, Conv2d, global_avg_pool
from jaxcnn.models.common import dense, prepare_input
from jaxcnn.models.registry import register


class WideResNet(nn.Module):
    """WRN-depth-widen_factor for 32x32 images (Zagoruyko & Komodakis 2016); `aux_heads` after groups 1, 2."""

    num_classes: int = 10
    depth: int = 28
    widen_factor: int = 10
    dropout_rate: float = 0.0
    aux_heads: bool = False
    bn_momentum: float = 0.9
    bn_axis_name: str | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        if self.depth < 10 or (self.depth - 4) % 6:
            raise errors.ConfigError(f"WideResNet depth must be 6n+4 (16, 22, 28, 40, ...), got {self.depth}")
        blocks_per_group = (self.depth - 4) // 6
        widths = [16 * self.widen_factor, 32 * self.widen_factor, 64 * self.widen_factor]
        x = prepare_input(self, x)
        x = Conv2d(16, 3, padding=1, use_bias=False, dtype=self.dtype, kernel_init=he_normal, name="conv1")(x)
        for i, width in enumerate(widths):
            for j in range(blocks_per_group):
                x = WideBlock(width, stride=2 if i > 0 and j == 0 else 1, dropout_rate=self.dropout_rate,
                              bn_momentum=self.bn_momentum, bn_axis_name=self.bn_axis_name, dtype=self.dtype,
                              name=f"group{i + 1}_{j}")(x, train)
            if self.aux_heads and i < len(widths) - 1:
                run_aux_head(self, AuxHead(self.num_classes, dtype=self.dtype, name=f"aux_head{i + 1}"), x, train)
        x = BatchNorm(use_running_average=not train, momentum=self.bn_momentum, axis_name=self.bn_axis_name,
                      name="bn_final")(x)
        x = nn.relu(x).astype(self.dtype)
        return dense(self, self.num_classes, "fc")(global_avg_pool(x)).astype(jnp.float32)


register("wrn28_10", WideResNet, input_shape=(32, 32, 3), depth=28, widen_factor=10,
         description="WideResNet-28-10 (Zagoruyko & Komodakis 2016), 36.5M params")
register("wrn16_4", WideResNet, input_shape=(32, 32, 3), depth=16, widen_factor=4,
         description="WideResNet-16-4 (Zagoruyko & Komodakis 2016), 2.7M params")
