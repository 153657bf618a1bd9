"""The small CNNs the lecture notes build, each generalised to any input size and channel count.

Dense layers infer their input width from the flattened feature map, so the notes' fixed numbers (250 in
note 001, 24*16*16 in note 003, 16384 in note 004) hold at the natural input size and adapt elsewhere.
"""

from __future__ import annotations

import flax.linen as nn

from jaxcnn.blocks import AuxHead, run_aux_head
from jaxcnn.layers import Conv2d, MaxPool2d, flatten
from jaxcnn.models.common import Classifier, dense
from jaxcnn.models.registry import register


def conv_relu_pool_stages(module: nn.Module, x, widths, kernel_size: int = 3, pool: int = 2):
    """The notes' feature extractor: per stage i, a 'same' convolution `conv{i}` with ReLU, then max-pool `pool{i}`."""
    for i, width in enumerate(widths, start=1):
        x = nn.relu(Conv2d(width, kernel_size, padding="same", dtype=module.dtype, name=f"conv{i}")(x))
        x = MaxPool2d(pool, name=f"pool{i}")(x)
    return x


class SimpleCNN(Classifier):
    """Note 001's SimpleCNN: conv 3->5 k5, ReLU, max-pool 2, conv 5->10 k5, ReLU, max-pool 2, fc 250->32->10.

    On 32x32x3 input the shapes are 28x28x5 -> 14x14x5 -> 10x10x10 -> 5x5x10 = 250, as in the note.
    `aux_heads=True` adds an auxiliary classifier after the first pooling stage (note 001's intermediate
    losses); its logits are sown into collection 'aux' when `train=True`.
    """

    aux_heads: bool = False

    @nn.compact
    def forward(self, x, train: bool):
        x = MaxPool2d(2, name="pool1")(nn.relu(Conv2d(5, 5, dtype=self.dtype, name="conv1")(x)))
        if self.aux_heads:
            run_aux_head(self, AuxHead(self.num_classes, dtype=self.dtype, name="aux_head1"), x, train)
        x = MaxPool2d(2, name="pool2")(nn.relu(Conv2d(10, 5, dtype=self.dtype, name="conv2")(x)))
        x = nn.relu(dense(self, 32, "fc1")(flatten(x)))
        return dense(self, self.num_classes, "fc2")(x)


class SequentialCNN(Classifier):
    """Note 003's "typical CNN": [conv, max-pool, conv, max-pool] then fc 24*16*16 -> 256 -> 128 -> classes.

    The note leaves the conv settings out; here both are 3x3 'same' convolutions with ReLU (12 then 24
    channels) and 2x2 max-pools, so a 64x64 input reaches the note's 16x16x24 = 6144 features.
    """

    widths: tuple[int, int] = (12, 24)

    @nn.compact
    def forward(self, x, train: bool):
        x = flatten(conv_relu_pool_stages(self, x, self.widths))
        x = nn.relu(dense(self, 256, "fc1")(x))
        x = nn.relu(dense(self, 128, "fc2")(x))
        return dense(self, self.num_classes, "fc3")(x)


class FourThreeCNN(Classifier):
    """Note 000's net: a layer of 4 filters then a layer of 3, each conv -> sum -> ReLU -> max-pool.

    Each of the 4 first-layer "neurons" holds one kernel per input channel (3 for RGB) and sums their
    outputs, which is exactly a 3->4 convolution; the second layer is 4->3. The feature maps are unrolled
    into a vector for a fully connected logistic classifier (one Dense layer; softmax lives in the loss).
    Kernels are 3x3 'same' and pools 2x2 (the note gives no sizes): 32x32x3 -> 16x16x4 -> 8x8x3 = 192.
    """

    widths: tuple[int, int] = (4, 3)

    @nn.compact
    def forward(self, x, train: bool):
        x = conv_relu_pool_stages(self, x, self.widths)
        return dense(self, self.num_classes, "classifier")(flatten(x))


class Note004CNN(Classifier):
    """Note 004's example: 256x256x3 -> 1000 classes with two 64-map conv layers and stride-4 pooling.

    conv(64, 5x5 'same') -> ReLU -> max-pool 4/4 -> conv(64, 5x5 'same') -> ReLU -> max-pool 4/4, then the
    16x16x64 = 16384 vector goes through one Dense layer to the classes (the note's softmax is in the
    loss). The note does not give the kernel size; 5x5 is used here.
    """

    num_classes: int = 1000
    width: int = 64
    kernel_size: int = 5

    @nn.compact
    def forward(self, x, train: bool):
        x = conv_relu_pool_stages(self, x, (self.width, self.width), self.kernel_size, pool=4)
        return dense(self, self.num_classes, "classifier")(flatten(x))


register("simple_cnn", SimpleCNN, input_shape=(32, 32, 3),
         description="note 001 SimpleCNN: conv5-pool-conv5-pool-fc32 (10k params), optional aux head")
register("sequential_cnn", SequentialCNN, input_shape=(64, 64, 3),
         description="note 003 Sequential CNN: 2x[conv3-pool], fc 6144-256-128")
register("cnn_4_3", FourThreeCNN, input_shape=(32, 32, 3),
         description="note 000 net: 4 filters then 3 filters, each conv-ReLU-maxpool, logistic classifier")
register("cnn256", Note004CNN, input_shape=(256, 256, 3),
         description="note 004 net: 256x256x3, 2x[conv5 64 maps, maxpool 4], 16384 -> 1000 classes")
