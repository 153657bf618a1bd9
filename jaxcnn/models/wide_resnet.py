"""Wide residual networks (Zagoruyko & Komodakis 2016): WRN-d-k, pre-activation blocks k times wider.

Depth d = 6n+4, group widths 16k/32k/64k, a bare 1x1-conv shortcut where the shape changes, a final
BN-ReLU, global average pool and one Dense layer. WRN-28-10 has 36,479,194 parameters at 10 classes
(the paper's 36.5M). Dropout between the convolutions is `dropout_rate` (paper: 0.3; default 0).
"""

from __future__ import annotations

import functools

import flax.linen as nn

from jaxcnn.blocks import WideBlock, blocks_per_stage, he_normal, residual_stages
from jaxcnn.layers import Conv2d, global_avg_pool
from jaxcnn.models.common import NormalizedClassifier, dense
from jaxcnn.models.registry import register


class WideResNet(NormalizedClassifier):
    """WRN-depth-widen_factor for 32x32 images (Zagoruyko & Komodakis 2016); `aux_heads` adds auxiliary
    classifiers after groups 1 and 2; `norm` builds every normalisation layer, called with `bn_momentum`."""

    depth: int = 28
    widen_factor: int = 10
    dropout_rate: float = 0.0
    aux_heads: bool = False

    @nn.compact
    def forward(self, x, train: bool):
        blocks_per_group = blocks_per_stage(self.depth, 4, "WideResNet", "16, 22, 28, 40")
        widths = [16 * self.widen_factor, 32 * self.widen_factor, 64 * self.widen_factor]
        x = Conv2d(16, 3, padding=1, use_bias=False, dtype=self.dtype, kernel_init=he_normal, name="conv1")(x)
        block = functools.partial(WideBlock, dropout_rate=self.dropout_rate, bn_momentum=self.bn_momentum,
                                  norm=self.norm, dtype=self.dtype)
        x = residual_stages(self, x, train, block, [(width, blocks_per_group) for width in widths], "group")
        x = nn.relu(self.bn(train, "bn_final")(x)).astype(self.dtype)
        return dense(self, self.num_classes, "fc")(global_avg_pool(x))


register("wrn28_10", WideResNet, input_shape=(32, 32, 3), depth=28, widen_factor=10,
         description="WideResNet-28-10 (Zagoruyko & Komodakis 2016), 36.5M params")
register("wrn16_4", WideResNet, input_shape=(32, 32, 3), depth=16, widen_factor=4,
         description="WideResNet-16-4 (Zagoruyko & Komodakis 2016), 2.7M params")
