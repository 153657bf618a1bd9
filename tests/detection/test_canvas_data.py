"""The offline detection canvases: deterministic from the seed, boxes tight around the pasted items' pixels,
overlaps bounded, padding marked."""

import numpy as np

from jaxcnn.detection import canvas_data


def test_canvases_are_deterministic_and_boxes_fit_the_pixels(fashion_mnist):
    items, labels = fashion_mnist[0][:2000], fashion_mnist[1][:2000]
    spec = canvas_data.CanvasSpec()
    a = canvas_data.make_canvases(items, labels, 40, spec, seed=[0, 0])
    b = canvas_data.make_canvases(items, labels, 40, spec, seed=[0, 0])
    c = canvas_data.make_canvases(items, labels, 40, spec, seed=[1, 0])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.images, c.images)
    counts = (a.classes >= 0).sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= spec.max_objects and len(set(counts)) > 1
    assert set(np.unique(a.classes[a.classes >= 0])) <= set(range(10))
    sides = []
    for i in range(40):
        boxes, classes = a.objects(i)
        assert len(boxes) == counts[i] and np.all(a.boxes[i][counts[i]:] == 0)
        for box in boxes.astype(int):
            x0, y0, x1, y1 = box
            sides.append(max(x1 - x0, y1 - y0))
            inside = a.images[i, y0:y1, x0:x1, 0] > canvas_data.VISIBLE
            # Tight: every edge row / column of the box holds a visible pixel (the item's own, or an overlapping one's).
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        if len(boxes) > 1:
            iou = canvas_data.pairwise_iou(boxes, boxes)
            assert iou[~np.eye(len(boxes), dtype=bool)].max() <= spec.max_overlap
    assert min(sides) < 24 and max(sides) > 28  # varied sizes
