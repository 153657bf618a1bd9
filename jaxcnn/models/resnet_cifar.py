"""The CIFAR ResNets of He et al. 2016, section 4.2: depth 6n+2, widths 16/32/64, 3x3 convs throughout.

Shortcuts are option A by default, as in the paper's CIFAR experiments: identity, or where a stage
halves the resolution, every second pixel with the new channels zero-padded (no parameters). Published
sizes: ResNet-20 0.27M, -32 0.46M, -44 0.66M, -56 0.85M, -110 1.7M (exactly 269,722 / 464,154 / 658,586 /
853,018 / 1,727,962 parameters at 10 classes). `shortcut='projection'` gives option B instead.
"""

from __future__ import annotations

import functools

import flax.linen as nn

from jaxcnn.blocks import BasicBlock, blocks_per_stage, he_normal, residual_stages
from jaxcnn.layers import Conv2d, global_avg_pool
from jaxcnn.models.common import NormalizedClassifier, dense
from jaxcnn.models.registry import register


class CifarResNet(NormalizedClassifier):
    """ResNet-(6n+2) for 32x32 images (He et al. 2016 sec. 4.2); `aux_heads` adds auxiliary classifiers after
    stages 1 and 2; `norm` builds every normalisation layer, called with `bn_momentum`."""

    depth: int = 20
    widths: tuple[int, int, int] = (16, 32, 64)
    shortcut: str = "pad"
    aux_heads: bool = False

    @nn.compact
    def forward(self, x, train: bool):
        num_blocks = blocks_per_stage(self.depth, 2, "CIFAR ResNet", "20, 32, 44, 56, 110")
        x = Conv2d(self.widths[0], 3, padding=1, use_bias=False, dtype=self.dtype, kernel_init=he_normal,
                   name="conv1")(x)
        x = nn.relu(self.bn(train, "bn1")(x)).astype(self.dtype)
        block = functools.partial(BasicBlock, shortcut=self.shortcut, bn_momentum=self.bn_momentum, norm=self.norm,
                                  dtype=self.dtype)
        x = residual_stages(self, x, train, block, [(width, num_blocks) for width in self.widths], "layer")
        return dense(self, self.num_classes, "fc")(global_avg_pool(x))


for _depth in (20, 32, 44, 56, 110):
    register(f"resnet{_depth}", CifarResNet, input_shape=(32, 32, 3), depth=_depth,
             description=f"CIFAR ResNet-{_depth} (He et al. 2016 sec. 4.2), option A shortcuts")
