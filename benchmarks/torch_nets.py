"""PyTorch twins of four jaxcnn nets, for benchmarks/step_vs_torch.py: same layers, same parameter counts.

tiny_vgg (28x28x1), resnet20 (option A shortcuts), resnet18_cifar (3x3 stem, projection shortcuts) and the
airbench net (whitening conv, three conv groups, global max pool, scaled linear), as jaxcnn defines them.
Only the arithmetic matters here (the benchmark times steps), so initialisations are PyTorch's defaults.
"""

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]


def tiny_vgg(num_classes: int = 10) -> nn.Module:
    layers, cin = [], 1
    for width in (32, 64, 128):
        layers += [*conv_bn(cin, width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        cin = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 3 * 3, 128), nn.ReLU(inplace=True),
                         nn.Linear(128, num_classes))


class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN + shortcut, ReLU; shortcut 'pad' (option A) or 'projection'."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, stride), nn.ReLU(inplace=True), *conv_bn(cout, cout))
        self.pad = shortcut == "pad" and (stride != 1 or cin != cout)
        self.extra_channels = cout - cin
        self.stride = stride
        needs_projection = shortcut == "projection" and (stride != 1 or cin != cout)
        self.projection = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if needs_projection else None)

    def forward(self, x):
        shortcut = x
        if self.pad:
            shortcut = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.extra_channels))
        elif self.projection is not None:
            shortcut = self.projection(x)
        return F.relu(self.body(x) + shortcut)


def _resnet(widths, blocks, shortcut: str, num_classes: int) -> nn.Module:
    layers, cin = [*conv_bn(3, widths[0]), nn.ReLU(inplace=True)], widths[0]
    for i, (width, count) in enumerate(zip(widths, blocks)):
        for j in range(count):
            layers.append(BasicBlock(cin, width, 2 if i > 0 and j == 0 else 1, shortcut))
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))


def resnet20(num_classes: int = 10) -> nn.Module:
    return _resnet((16, 32, 64), (3, 3, 3), "pad", num_classes)


def resnet18_cifar(num_classes: int = 10) -> nn.Module:
    return _resnet((64, 128, 256, 512), (2, 2, 2, 2), "projection", num_classes)


class Airbench(nn.Module):
    """airbench94's net: 2x2 whitening conv (24 maps, bias), GELU, 3 x [conv, pool, BN, GELU, conv, BN, GELU]."""

    def __init__(self, num_classes: int = 10, widths=(64, 256, 256)):
        super().__init__()
        layers, cin = [nn.Conv2d(3, 24, 2), nn.GELU()], 24
        for width in widths:
            layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.MaxPool2d(2), self._bn(width), nn.GELU(),
                       nn.Conv2d(width, width, 3, padding=1, bias=False), self._bn(width), nn.GELU()]
            cin = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes, bias=False)

    @staticmethod
    def _bn(width: int) -> nn.BatchNorm2d:
        bn = nn.BatchNorm2d(width, eps=1e-12, momentum=0.6)
        bn.weight.requires_grad = False  # a learned shift, no learned scale (jaxcnn: use_scale=False)
        return bn

    def forward(self, x):
        x = torch.amax(self.layers(x), dim=(2, 3))
        return self.fc(x) / 9


NETS = {"tiny_vgg": tiny_vgg, "resnet20": resnet20, "airbench": Airbench, "resnet18_cifar": resnet18_cifar}


def trainable_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
