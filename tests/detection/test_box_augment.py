"""Box augmentations keep boxes on the pixels they describe."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.detection import box_augment


def _canvas_with_rectangles():
    image = np.zeros((64, 64, 1), np.uint8)
    boxes = np.array([[8, 10, 24, 40], [40, 30, 60, 50]], np.float32)
    for x0, y0, x1, y1 in boxes.astype(int):
        image[y0:y1, x0:x1] = 255
    return jnp.asarray(image), jnp.asarray(boxes)


def _bright_box(image, box):
    """The tight box of the bright pixels inside `box` (padded by 2 pixels)."""
    x0, y0, x1, y1 = (int(v) for v in np.round(np.asarray(box)))
    x0, y0 = max(x0 - 2, 0), max(y0 - 2, 0)
    ys, xs = np.nonzero(np.asarray(image)[y0:y1 + 2, x0:x1 + 2, 0] > 127)
    return np.array([xs.min() + x0, ys.min() + y0, xs.max() + 1 + x0, ys.max() + 1 + y0])


def test_hflip_moves_boxes_with_pixels():
    image, boxes = _canvas_with_rectangles()
    flipped, flipped_boxes = box_augment.hflip(image, boxes)
    np.testing.assert_allclose(flipped_boxes[0], [40, 10, 56, 40])
    for box in flipped_boxes:
        np.testing.assert_allclose(_bright_box(flipped, box), box)


@pytest.mark.parametrize("scale,shift", [(1.25, (-10.0, -4.0)), (0.75, (6.0, 10.0)), (1.0, (5.0, -3.0))])
def test_scale_crop_moves_boxes_with_pixels(scale, shift):
    image, boxes = _canvas_with_rectangles()
    out, moved, valid = box_augment.scale_crop(image, boxes, jnp.array([True, True]), jnp.float32(scale),
                                               jnp.array(shift, jnp.float32))
    assert out.dtype == jnp.uint8 and bool(valid.all())
    for box in moved:
        np.testing.assert_allclose(_bright_box(out, box), box, atol=1.0)


def test_scale_crop_drops_boxes_pushed_off_the_canvas():
    image, boxes = _canvas_with_rectangles()
    _, moved, valid = box_augment.scale_crop(image, boxes, jnp.array([True, True]), jnp.float32(1.25),
                                             jnp.array([-60.0, 0.0]))
    assert list(np.asarray(valid)) == [False, True]  # the left box is (almost) all outside now
    assert float(moved[1, 0]) >= 0.0 and np.all(np.asarray(moved[0]) == 0)


def test_random_augment_is_deterministic_and_keeps_boxes_inside():
    image, boxes = _canvas_with_rectangles()
    valid = jnp.array([True, True])
    run = jax.jit(lambda k: box_augment.random_box_augment(k, image, boxes, valid, flip=True, scale_range=0.25))
    a, b = run(jax.random.PRNGKey(3)), run(jax.random.PRNGKey(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for key in range(6):
        out, moved, kept = run(jax.random.PRNGKey(key))
        assert np.all((np.asarray(moved) >= 0) & (np.asarray(moved) <= 64))
        for box in np.asarray(moved)[np.asarray(kept)]:
            if (box[2] - box[0]) > 4 and (box[3] - box[1]) > 4:
                np.testing.assert_allclose(_bright_box(out, box), box, atol=1.0)
