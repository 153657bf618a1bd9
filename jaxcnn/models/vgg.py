"""VGG networks (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks") and the small tiny_vgg.

Stacks of 3x3 'same' convolutions with 2x2 max-pools between stages, widths doubling 64 -> 512 (note
004's "number of feature maps increases"). Three variants:
  - ImageNet (`vgg11` ... `vgg19`, `vgg11_bn` ... `vgg19_bn`): torchvision's layout, conv with bias [+BN] + ReLU, adaptive
    average pool to 7x7, classifier 25088 -> 4096 -> 4096 -> classes with dropout 0.5;
  - CIFAR (`vgg11_cifar`, `vgg16_cifar`): conv+BN+ReLU stages, global average pool, one Dense layer;
  - `tiny_vgg`: one conv3x3(no bias)-BN-ReLU + max-pool per stage, widths (32, 64, 128), Dense 128, a fast
    Fashion-MNIST / CIFAR baseline.
"""

from __future__ import annotations

import flax.linen as nn

from jaxcnn.layers import Conv2d, ConvBNAct, Dropout, MaxPool2d, adaptive_avg_pool, flatten, global_avg_pool
from jaxcnn.models.common import NormalizedClassifier, dense
from jaxcnn.models.registry import register

# Convolution widths per stage (configurations A, B, D, E of the paper); a max-pool follows each stage.
VGG_STAGES = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}

_vgg_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class VGG(NormalizedClassifier):
    """VGG (Simonyan & Zisserman 2015). `head='imagenet'`: 7x7 adaptive pool + 4096-4096 MLP (torchvision);
    `head='cifar'`: global average pool + one Dense layer. `batch_norm` adds a `norm` layer (BatchNorm by
    default, called with `bn_momentum`) after every conv."""

    num_classes: int = 1000
    depth: int = 16
    batch_norm: bool = False
    head: str = "imagenet"
    dropout_rate: float = 0.5

    @nn.compact
    def forward(self, x, train: bool):
        for s, widths in enumerate(VGG_STAGES[self.depth], start=1):
            for c, width in enumerate(widths, start=1):
                x = Conv2d(width, 3, padding=1, dtype=self.dtype, kernel_init=_vgg_init, name=f"conv{s}_{c}")(x)
                if self.batch_norm:
                    x = self.bn(train, f"bn{s}_{c}")(x)
                x = nn.relu(x).astype(self.dtype)
            x = MaxPool2d(2, name=f"pool{s}")(x)
        if self.head == "cifar":
            return dense(self, self.num_classes, "classifier")(global_avg_pool(x))
        x = flatten(adaptive_avg_pool(x, 7))
        for i in (1, 2):
            x = nn.relu(dense(self, 4096, f"fc{i}")(x))
            x = Dropout(self.dropout_rate)(x, deterministic=not train)
        return dense(self, self.num_classes, "fc3")(x)


class TinyVGG(NormalizedClassifier):
    """tiny_vgg: per stage conv3x3 (no bias)-BN-ReLU then 2x2 max-pool, widths (32, 64, 128); flatten,
    Dense 128, ReLU, Dense classes. A VGG-style net (Simonyan & Zisserman 2015) sized for 28x28 Fashion-MNIST;
    `norm` builds its BatchNorms, called with `bn_momentum`."""

    widths: tuple[int, ...] = (32, 64, 128)
    hidden: int = 128

    @nn.compact
    def forward(self, x, train: bool):
        for i, width in enumerate(self.widths, start=1):
            x = ConvBNAct(width, 3, bn_momentum=self.bn_momentum, norm=self.norm, dtype=self.dtype,
                          name=f"block{i}")(x, train)
            x = MaxPool2d(2, name=f"pool{i}")(x)
        x = nn.relu(dense(self, self.hidden, "fc1")(flatten(x)))
        return dense(self, self.num_classes, "fc2")(x)


for _depth in (11, 13, 16, 19):
    register(f"vgg{_depth}", VGG, input_shape=(224, 224, 3), depth=_depth,
             description=f"VGG-{_depth} (Simonyan & Zisserman 2015), ImageNet layout as torchvision")
    register(f"vgg{_depth}_bn", VGG, input_shape=(224, 224, 3), depth=_depth, batch_norm=True,
             description=f"VGG-{_depth} with BatchNorm after every conv, ImageNet layout as torchvision")
for _depth in (11, 16):
    register(f"vgg{_depth}_cifar", VGG, input_shape=(32, 32, 3), depth=_depth, batch_norm=True, head="cifar",
             description=f"VGG-{_depth} with BN for CIFAR: conv stages, global average pool, one Dense")
register("tiny_vgg", TinyVGG, input_shape=(28, 28, 1),
         description="3x[conv3-BN-ReLU, maxpool 2] widths 32/64/128, Dense 128: fast Fashion-MNIST net")
