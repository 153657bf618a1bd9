"""ImageNet-style ResNets (He et al. 2016), their CIFAR-stem variant and the pre-activation ResNet-18.

Layout and parameter names follow torchvision (conv1/bn1 stem, four stages `layer1`..`layer4`, `fc`),
with projection shortcuts (option B: 1x1 conv + BN) where a block changes shape, and the stride of a
bottleneck on its 3x3 convolution ("ResNet v1.5"). Parameter counts at 1000 classes equal torchvision's:
resnet18 11,689,512; resnet34 21,797,672; resnet50 25,557,032; resnet101 44,549,160; resnet152 60,192,808.
`stem='cifar'` swaps the 7x7/2 conv + 3x3/2 max-pool for one 3x3/1 conv (the usual CIFAR ResNet-18).
"""

from __future__ import annotations

import functools
import flax.linen as nn

from jaxcnn import errors
from jaxcnn.blocks import BasicBlock, Bottleneck, PreActBlock, he_normal, residual_stages
from jaxcnn.layers import Conv2d, MaxPool2d, global_avg_pool
from jaxcnn.models.common import NormalizedClassifier, dense
from jaxcnn.models.registry import register

BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck, "preact": PreActBlock}
STEMS = ("imagenet", "cifar")


class ResNet(NormalizedClassifier):
    """Residual network (He et al. 2016; note 001's skip connections), configurable stages and stem.

    block: 'basic', 'bottleneck' or 'preact' (He et al. 2016b, with a final BN-ReLU before pooling).
    `aux_heads=True` adds an auxiliary classifier after every stage but the last (note 001's
    intermediate losses), sown into collection 'aux' when `train=True`. `norm` builds every normalisation
    layer (stem, blocks, final), called with `bn_momentum`.
    """

    num_classes: int = 1000
    stage_sizes: tuple[int, ...] = (2, 2, 2, 2)
    block: str = "basic"
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem: str = "imagenet"
    shortcut: str = "projection"
    zero_init_residual: bool = False
    aux_heads: bool = False

    @nn.compact
    def forward(self, x, train: bool):
        if self.block not in BLOCKS:
            raise errors.unknown_name_error("residual block", self.block, BLOCKS)
        if self.stem not in STEMS:
            raise errors.unknown_name_error("stem", self.stem, STEMS)
        preact = self.block == "preact"
        if self.stem == "imagenet":
            x = Conv2d(self.widths[0], 7, 2, padding=3, use_bias=False, dtype=self.dtype, kernel_init=he_normal,
                       name="conv1")(x)
            x = nn.relu(self.bn(train, "bn1")(x)).astype(self.dtype)
            x = MaxPool2d(3, 2, padding=1, name="maxpool")(x)
        else:
            x = Conv2d(self.widths[0], 3, 1, padding=1, use_bias=False, dtype=self.dtype, kernel_init=he_normal,
                       name="conv1")(x)
            if not preact:
                x = nn.relu(self.bn(train, "bn1")(x)).astype(self.dtype)
        extra = {} if preact else {"zero_init_residual": self.zero_init_residual}
        block = functools.partial(BLOCKS[self.block], shortcut=self.shortcut, bn_momentum=self.bn_momentum,
                                  norm=self.norm, dtype=self.dtype, **extra)
        x = residual_stages(self, x, train, block, tuple(zip(self.widths, self.stage_sizes)), "layer")
        if preact:
            x = nn.relu(self.bn(train, "bn_final")(x)).astype(self.dtype)
        return dense(self, self.num_classes, "fc")(global_avg_pool(x))


_IMAGENET = {18: ((2, 2, 2, 2), "basic"), 34: ((3, 4, 6, 3), "basic"), 50: ((3, 4, 6, 3), "bottleneck"),
             101: ((3, 4, 23, 3), "bottleneck"), 152: ((3, 8, 36, 3), "bottleneck")}
for _depth, (_stages, _block) in _IMAGENET.items():
    register(f"resnet{_depth}", ResNet, input_shape=(224, 224, 3), stage_sizes=_stages, block=_block,
             description=f"ResNet-{_depth} (He et al. 2016), ImageNet stem 7x7/2 + maxpool, torchvision layout")
register("resnet18_cifar", ResNet, input_shape=(32, 32, 3), stem="cifar",
         description="ResNet-18 with a 3x3/1 stem and no max-pool: the standard CIFAR ResNet-18 (11.17M)")
register("preact_resnet18", ResNet, input_shape=(32, 32, 3), stem="cifar", block="preact",
         description="pre-activation ResNet-18 (He et al. 2016b), CIFAR stem")
