"""Augmentations that move the boxes with the pixels (jittable, one example at a time, fixed shapes).

Boxes are float32 [K, 4] (x0, y0, x1, y1) in pixels with a bool `valid` [K]. `scale_crop` zooms by a factor
and shifts: below 1 it shrinks the canvas into a corner of a blank one, above 1 it crops a window and enlarges
it, so one op gives both the "scale" and the "crop" augmentations; a box that leaves the canvas is clipped,
and dropped (valid False) when less than `min_visible` of it is left.
"""

import jax
import jax.numpy as jnp


def hflip(image, boxes):
    """Mirror left-right: pixels and boxes (x0, x1 -> W - x1, W - x0)."""
    width = image.shape[1]
    return image[:, ::-1], jnp.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=-1)


def scale_crop(image, boxes, valid, scale, shift, min_visible: float = 0.4):
    """Output pixel p shows input point (p - shift) / scale: boxes become box * scale + shift, clipped to
    the canvas. `shift` is (x, y) in pixels. Returns (image in the input's dtype, boxes, valid)."""
    height, width = image.shape[:2]
    out = jax.image.scale_and_translate(image.astype(jnp.float32), image.shape, (0, 1),
                                        jnp.stack([scale, scale]), jnp.stack([shift[1], shift[0]]),
                                        method="linear", antialias=False)
    if jnp.issubdtype(image.dtype, jnp.integer):
        out = jnp.clip(jnp.round(out), 0, 255)
    moved = boxes * scale + jnp.concatenate([shift, shift])
    limits = jnp.array([width, height, width, height], jnp.float32)
    clipped = jnp.clip(moved, 0.0, limits)
    area = lambda b: jnp.prod(jnp.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=-1)  # noqa: E731
    kept = valid & (area(clipped) >= min_visible * jnp.maximum(area(moved), 1e-6))
    return out.astype(image.dtype), jnp.where(kept[:, None], clipped, 0.0), kept


def random_box_augment(key, image, boxes, valid, *, flip: bool, scale_range: float):
    """A random horizontal flip (when `flip`) and a random scale in [1 - r, 1 + r] placed at a random shift
    that keeps the canvas covered (zoom in) or inside it (zoom out), r = `scale_range` (0: none)."""
    flip_key, scale_key, shift_key = jax.random.split(key, 3)
    if flip:
        flipped_image, flipped_boxes = hflip(image, boxes)
        mirror = jax.random.bernoulli(flip_key)
        image = jnp.where(mirror, flipped_image, image)
        boxes = jnp.where(mirror, flipped_boxes, boxes)
    if scale_range > 0:
        scale = jax.random.uniform(scale_key, (), minval=1.0 - scale_range, maxval=1.0 + scale_range)
        size = jnp.array(image.shape[1::-1], jnp.float32)  # (width, height)
        shift = jax.random.uniform(shift_key, (2,)) * size * (1.0 - scale)
        image, boxes, valid = scale_crop(image, boxes, valid, scale, shift)
    return image, boxes, valid
