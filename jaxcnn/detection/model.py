"""A CenterNet-style anchor-free detector (Zhou et al. 2019) on jaxcnn's layers and residual blocks.

Backbone: a conv-BN-ReLU stem at stride 2, then residual stages (`blocks.BasicBlock`, stride 2 each) down to
stride 8; a one-step feature pyramid adds the upsampled stride-8 features to the stride-4 ones. Three heads
read the stride-4 map: a heatmap per class (logits; bias -2.19, i.e. p = 0.1 at the start, as CenterNet), the
box size and the sub-cell centre offset (both in cells).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.blocks import BasicBlock
from jaxcnn.layers import BatchNorm, Conv2d, ConvBNAct, ModuleDef, check_nhwc

OUTPUT_STRIDE = 4
HEATMAP_PRIOR_BIAS = -2.19  # log(0.1 / 0.9)


class CenterNet(nn.Module):
    """NHWC images (already normalised) -> {'heatmap' [B, H/4, W/4, classes] logits, 'size' and 'offset'
    [B, H/4, W/4, 2]}, float32. `widths`: the stem's width, then one residual stage per entry after it (the
    second ends at stride 4, the last at stride 8)."""

    num_classes: int = 10
    widths: tuple[int, ...] = (32, 64, 128)
    head_width: int = 64
    norm: ModuleDef = BatchNorm
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        check_nhwc(x, where="CenterNet")
        x = ConvBNAct(self.widths[0], 3, stride=2, norm=self.norm, dtype=self.dtype, name="stem")(jnp.asarray(x, self.dtype), train)
        features = []
        for i, width in enumerate(self.widths[1:], start=1):
            x = BasicBlock(width, stride=2, norm=self.norm, dtype=self.dtype, name=f"stage{i}")(x, train)
            features.append(x)
        fine, coarse = features[-2], features[-1]
        top = Conv2d(self.head_width, 1, dtype=self.dtype, name="lateral_coarse")(coarse)
        top = jax.image.resize(top, (*top.shape[:1], *fine.shape[1:3], top.shape[-1]), "nearest")
        x = top + Conv2d(self.head_width, 1, dtype=self.dtype, name="lateral_fine")(fine)
        x = ConvBNAct(self.head_width, 3, norm=self.norm, dtype=self.dtype, name="neck")(x, train)
        return {"heatmap": self._head(x, self.num_classes, "heatmap", HEATMAP_PRIOR_BIAS),
                "size": self._head(x, 2, "size"), "offset": self._head(x, 2, "offset")}

    def _head(self, x, outputs: int, name: str, bias: float = 0.0):
        x = nn.relu(Conv2d(self.head_width, 3, padding="same", dtype=self.dtype, name=f"{name}_conv")(x))
        out = Conv2d(outputs, 1, dtype=self.dtype, bias_init=nn.initializers.constant(bias), name=f"{name}_out")(x)
        return out.astype(jnp.float32)
