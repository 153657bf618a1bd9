"""LeNet-5 (LeCun et al. 1998, "Gradient-Based Learning Applied to Document Recognition").

32x32x1 -> C1 conv 6@5x5 -> S2 avg-pool 2 -> C3 conv 16@5x5 -> S4 avg-pool 2 -> C5 120 -> F6 84 -> classes,
tanh activations. The modern reading: full C3 connections, plain average pooling, C5 as a Dense layer on
the flattened 5x5x16 map (identical to a 5x5 conv at 32x32) and a Dense output instead of RBF units:
61,706 parameters at 10 classes. For 28x28 MNIST pass `pad_input=2`, as the paper padded digits to 32x32.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.layers import AvgPool2d, Conv2d, flatten
from jaxcnn.models.common import Classifier, dense
from jaxcnn.models.registry import register


class LeNet5(Classifier):
    """LeNet-5 (LeCun et al. 1998): conv6-pool-conv16-pool-120-84-classes, tanh."""

    pad_input: int = 0

    @nn.compact
    def forward(self, x, train: bool):
        x = jnp.tanh(Conv2d(6, 5, padding=self.pad_input, dtype=self.dtype, name="c1")(x))
        x = AvgPool2d(2, name="s2")(x)
        x = jnp.tanh(Conv2d(16, 5, dtype=self.dtype, name="c3")(x))
        x = AvgPool2d(2, name="s4")(x)
        x = jnp.tanh(dense(self, 120, "c5")(flatten(x)))
        x = jnp.tanh(dense(self, 84, "f6")(x))
        return dense(self, self.num_classes, "output")(x)


register("lenet5", LeNet5, input_shape=(32, 32, 1),
         description="LeNet-5 (LeCun et al. 1998), 32x32x1, tanh + average pooling, 61.7k params")
