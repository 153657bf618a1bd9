"""The offline detection dataset: real Fashion-MNIST items resized and pasted on a blank canvas, with their
boxes known exactly (the tight box of each item's visible pixels). Several items per image, varied sizes,
overlaps allowed (up to `max_overlap` IoU between two items). Deterministic from (seed, split).

Splits never share items: train canvases use Fashion-MNIST train items 0..49,999, validation canvases items
50,000..59,999 and test canvases the Fashion-MNIST test split.
"""

import dataclasses
from typing import NamedTuple

import numpy as np
from PIL import Image

from jaxcnn.data import load_split

CLASS_NAMES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
SPLITS = ("train", "validation", "test")
_SOURCE = {"train": ("train", slice(0, 50_000)), "validation": ("train", slice(50_000, 60_000)),
           "test": ("test", slice(None))}
VISIBLE = 24  # a resized item's pixel counts towards its box when brighter than this (of 255)


@dataclasses.dataclass(frozen=True)
class CanvasSpec:
    """How canvases are drawn: size, items per canvas, item sizes (pixels, square before the tight box) and the
    largest IoU allowed between two items' boxes."""

    canvas_size: int = 64
    min_objects: int = 1
    max_objects: int = 4
    min_item_size: int = 14
    max_item_size: int = 36
    max_overlap: float = 0.3


class DetectionSet(NamedTuple):
    """uint8 images [N, S, S, 1]; float32 boxes [N, K, 4] as (x0, y0, x1, y1) pixels; int32 classes [N, K],
    -1 on the padding rows (K = the spec's max_objects)."""

    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray

    def objects(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(boxes [n, 4], classes [n]) of image `i` without padding."""
        keep = self.classes[i] >= 0
        return self.boxes[i][keep], self.classes[i][keep]


def load_canvases(split: str, count: int, spec: CanvasSpec = CanvasSpec(), seed: int = 0,
                  data_dir: str | None = None) -> DetectionSet:
    """`count` canvases of `split` ('train', 'validation' or 'test') built from real Fashion-MNIST items."""
    tfds_split, rows = _SOURCE[split]
    items, labels = load_split("fashion_mnist", tfds_split, data_dir)
    return make_canvases(items[rows], labels[rows], count, spec, seed=[seed, SPLITS.index(split)])


def make_canvases(items: np.ndarray, labels: np.ndarray, count: int, spec: CanvasSpec, seed) -> DetectionSet:
    """`count` canvases from `items` (uint8 [M, h, w, 1]) and their `labels`, drawn from `seed`."""
    rng = np.random.default_rng(seed)
    size, slots = spec.canvas_size, spec.max_objects
    images = np.zeros((count, size, size, 1), np.uint8)
    boxes = np.zeros((count, slots, 4), np.float32)
    classes = np.full((count, slots), -1, np.int32)
    for i in range(count):
        placed = 0
        for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
            index = int(rng.integers(len(items)))
            box = _paste(images[i, ..., 0], items[index, ..., 0], rng, spec, boxes[i, :placed])
            if box is not None:
                boxes[i, placed], classes[i, placed] = box, labels[index]
                placed += 1
    return DetectionSet(images, boxes, classes)


def _paste(canvas: np.ndarray, item: np.ndarray, rng, spec: CanvasSpec, others: np.ndarray, tries: int = 20):
    """Paste `item` resized to a random size at a random place overlapping `others` by at most `max_overlap`
    IoU (brighter pixel wins); its tight box, or None when no place was found in `tries` draws."""
    side = int(rng.integers(spec.min_item_size, spec.max_item_size + 1))
    patch = np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR))
    ys, xs = np.nonzero(patch > VISIBLE)
    tight = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    for _ in range(tries):
        x, y = (int(v) for v in rng.integers(0, spec.canvas_size - side + 1, size=2))
        box = tight + np.array([x, y, x, y], np.float32)
        if len(others) == 0 or pairwise_iou(box[None], others).max() <= spec.max_overlap:
            region = canvas[y:y + side, x:x + side]
            np.maximum(region, patch, out=region)
            return box
    return None


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [len(a), len(b)] of (x0, y0, x1, y1) boxes (COCO's convention: width = x1 - x0, no +1)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
