"""CenterNet targets (Zhou et al. 2019, "Objects as Points"): each object is the peak of a Gaussian on its class's
heatmap at its centre cell, plus its size and the sub-cell offset of its centre, both read at that cell.

Fixed shapes (K object slots with a `valid` mask), so encoding runs inside the jitted step.
"""

import jax.numpy as jnp


def gaussian_radius(height, width, min_overlap: float = 0.7):
    """CenterNet's radius: the largest corner shift that keeps a box of this size above `min_overlap` IoU with
    the true one (the smallest root of the three cases of the original code)."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + jnp.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + jnp.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + jnp.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return jnp.minimum(jnp.minimum(r1, r2), r3)


def encode(boxes, classes, valid, num_classes: int, grid: tuple[int, int], stride: int) -> dict:
    """Targets of one image on an output grid (height, width) `stride` pixels a cell.

    boxes float32 [K, 4] pixels, classes int32 [K], valid bool [K] -> {'heatmap' [H, W, C] in [0, 1],
    'index' int32 [K] (flat centre cell y * W + x), 'size' [K, 2] (w, h in cells), 'offset' [K, 2] (centre minus
    its cell, in cells), 'valid' [K]}."""
    height, width = grid
    centre = (boxes[:, :2] + boxes[:, 2:]) / (2.0 * stride)
    cell = jnp.clip(jnp.floor(centre), 0, jnp.array([width - 1, height - 1])).astype(jnp.int32)
    size = (boxes[:, 2:] - boxes[:, :2]) / stride
    radius = jnp.maximum(0.0, jnp.floor(gaussian_radius(size[:, 1], size[:, 0])))
    sigma = (2 * radius + 1) / 6
    ys, xs = jnp.arange(height), jnp.arange(width)
    dist2 = ((xs[None, None, :] - cell[:, 0, None, None]) ** 2 + (ys[None, :, None] - cell[:, 1, None, None]) ** 2)
    inside = (jnp.abs(xs[None, None, :] - cell[:, 0, None, None]) <= radius[:, None, None]) & \
             (jnp.abs(ys[None, :, None] - cell[:, 1, None, None]) <= radius[:, None, None])
    peaks = jnp.where(inside & valid[:, None, None], jnp.exp(-dist2 / (2 * sigma[:, None, None] ** 2)), 0.0)  # [K,H,W]
    one_hot = (classes[:, None] == jnp.arange(num_classes)[None, :]) & valid[:, None]  # [K, C]
    heatmap = jnp.max(jnp.where(one_hot[:, None, None, :], peaks[..., None], 0.0), axis=0, initial=0.0)
    return {"heatmap": heatmap, "index": cell[:, 1] * width + cell[:, 0], "size": jnp.where(valid[:, None], size, 0.0),
            "offset": jnp.where(valid[:, None], centre - cell, 0.0), "valid": valid}
