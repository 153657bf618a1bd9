"""From the detector's output maps to boxes: heatmap peaks (a cell that is the maximum of its 3x3 neighbourhood),
the top k of them over every class, their boxes from size and offset, then class-wise non-maximum suppression.
All jittable with fixed shapes: k detections an image with a `keep` mask."""

import jax
import jax.numpy as jnp

from jaxcnn.layers import max_pool


def box_iou(a, b):
    """IoU [len(a), len(b)] of (x0, y0, x1, y1) boxes (width x1 - x0, as COCO)."""
    lo = jnp.maximum(a[:, None, :2], b[None, :, :2])
    hi = jnp.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = jnp.prod(jnp.clip(hi - lo, 0.0, None), axis=-1)
    area = lambda x: jnp.prod(jnp.clip(x[:, 2:] - x[:, :2], 0.0, None), axis=-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return jnp.where(union > 0, inter / jnp.maximum(union, 1e-12), 0.0)


def heatmap_peaks(scores):
    """Scores [H, W, C] with every cell that is not the maximum of its 3x3 neighbourhood set to 0."""
    pooled = max_pool(scores[None], 3, 1, padding="same")[0]
    return jnp.where(scores == pooled, scores, 0.0)


def decode(heatmap_logits, size, offset, stride: int, k: int):
    """One image's top-`k` detections: (boxes [k, 4] pixels, scores [k] sorted descending, classes [k])."""
    height, width, classes = heatmap_logits.shape
    peaks = heatmap_peaks(jax.nn.sigmoid(heatmap_logits)).reshape(-1)
    scores, flat = jax.lax.top_k(peaks, k)
    cell, cls = flat // classes, flat % classes
    y, x = cell // width, cell % width
    centre = (jnp.stack([x, y], axis=-1) + offset.reshape(-1, 2)[cell]) * stride
    half = size.reshape(-1, 2)[cell] * stride / 2
    return jnp.concatenate([centre - half, centre + half], axis=-1), scores, cls.astype(jnp.int32)


def nms(boxes, scores, classes, valid, iou_threshold: float):
    """Greedy class-wise NMS over boxes sorted by descending score: a box is kept unless a kept, higher-scored
    box of its class overlaps it by more than `iou_threshold`. Returns the keep mask [k]."""
    overlaps = (box_iou(boxes, boxes) > iou_threshold) & (classes[:, None] == classes[None, :])
    order = jnp.arange(len(scores))

    def visit(i, keep):
        suppressed = jnp.any(keep & overlaps[:, i] & (order < i))
        return keep.at[i].set(valid[i] & ~suppressed)

    return jax.lax.fori_loop(0, len(scores), visit, jnp.zeros(len(scores), bool))


def detect(outputs: dict, stride: int, k: int = 100, iou_threshold: float = 0.5, min_score: float = 0.01) -> dict:
    """Batched detections from the model's outputs: {'boxes' [B, k, 4], 'scores' [B, k], 'classes' [B, k],
    'keep' [B, k] (peaks above `min_score` that survive NMS)}."""
    def one(heat, size, offset):
        boxes, scores, classes = decode(heat, size, offset, stride, k)
        return {"boxes": boxes, "scores": scores, "classes": classes,
                "keep": nms(boxes, scores, classes, scores > min_score, iou_threshold)}

    return jax.vmap(one)(outputs["heatmap"], outputs["size"], outputs["offset"])
