"""An airbench-style fast CIFAR-10 net (Keller Jordan 2024, "94% on CIFAR-10 in 3.29 seconds", airbench94).

2x2 patch-whitening conv (24 maps, bias) -> GELU -> three groups [conv3x3 -> max-pool 2 -> BN -> GELU ->
conv3x3 -> BN -> GELU] of widths 64/256/256 -> global max pool -> Dense(no bias) -> logits * 1/9.
As in airbench, BatchNorm has a learned shift but no learned scale and epsilon 1e-12; `norm` (BatchNorm by
default) builds those layers, called with these settings. The defaults (running statistics 0.4 old + 0.6 batch,
tanh-approximate GELU) differ from airbench94's own (0.6 old + 0.4 batch, i.e. PyTorch momentum 0.4; exact GELU),
which `jaxcnn.recipes.airbench94` sets: `AirbenchNet(bn_momentum=0.6, gelu_approximate=False)`.

This module provides the network (registered as "airbench") and `whitening_kernel`, which computes
airbench's data-dependent whitening filters from training images. `init` draws the whitening conv like any
other conv, and training updates it like any other parameter: to start from airbench's filters, write
`whitening_kernel(images)` into `params["whiten"]["kernel"]` yourself.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxcnn.layers import Conv2d, MaxPool2d, global_max_pool
from jaxcnn.models.common import NormalizedClassifier, dense
from jaxcnn.models.registry import register


def whitening_kernel(images, kernel_size: int = 2, eps: float = 5e-4) -> np.ndarray:
    """airbench's patch-whitening filters from NHWC `images`: kernel (k, k, C, 2*C*k*k), HWIO.

    The eigenvectors of the k x k patch covariance, each scaled by 1/sqrt(eigenvalue + eps), then the same
    filters negated (so a GELU after it passes both signs). The first C*k*k outputs whiten the patches.
    """
    x = np.asarray(images, np.float64)
    n, h, w, c = x.shape
    k = kernel_size
    patches = np.stack([x[:, i:h - k + 1 + i, j:w - k + 1 + j, :] for i in range(k) for j in range(k)], axis=3)
    flat = patches.reshape(-1, k * k * c)  # feature order (kh, kw, c): matches an HWIO kernel reshaped
    cov = flat.T @ flat / flat.shape[0]
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    filters = eigenvectors / np.sqrt(eigenvalues + eps)  # columns are filters
    kernel = filters.reshape(k, k, c, k * k * c)
    return np.concatenate([kernel, -kernel], axis=-1).astype(np.float32)


class AirbenchNet(NormalizedClassifier):
    """airbench94's network (Jordan 2024) in Flax: whitening conv, 3 conv groups, max pool, scaled linear."""

    widths: tuple[int, int, int] = (64, 256, 256)
    whiten_kernel_size: int = 2
    scaling_factor: float = 1 / 9
    bn_momentum: float = 0.4
    gelu_approximate: bool = True  # airbench94 itself (torch's nn.GELU) uses the exact, erf-based GELU: False

    def _gelu(self, x):
        return nn.gelu(x, approximate=self.gelu_approximate)

    def _bn(self, train, name):
        return self.bn(train, name, epsilon=1e-12, use_scale=False)

    @nn.compact
    def forward(self, x, train: bool):
        k = self.whiten_kernel_size
        x = self._gelu(Conv2d(2 * x.shape[-1] * k * k, k, dtype=self.dtype, name="whiten")(x))
        for i, width in enumerate(self.widths, start=1):
            x = Conv2d(width, 3, padding="same", use_bias=False, dtype=self.dtype, name=f"group{i}_conv1")(x)
            x = MaxPool2d(2, name=f"group{i}_pool")(x)
            x = self._gelu(self._bn(train, f"group{i}_bn1")(x)).astype(self.dtype)
            x = Conv2d(width, 3, padding="same", use_bias=False, dtype=self.dtype, name=f"group{i}_conv2")(x)
            x = self._gelu(self._bn(train, f"group{i}_bn2")(x)).astype(self.dtype)
        x = dense(self, self.num_classes, "fc", use_bias=False)(global_max_pool(x))
        return x.astype(jnp.float32) * self.scaling_factor  # scaled in float32 whatever the dtype


register("airbench", AirbenchNet, input_shape=(32, 32, 3),
         description="airbench94-style fast CIFAR-10 net (Jordan 2024): whitening conv, 3 conv groups, 1.97M")
