"""CenterNet target encoding, its loss, decoding and NMS on hand-computed cases."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.detection import decode, losses, targets


def _one_box():
    # A 32 x 24 pixel box centred at (22, 17): on a stride-4 grid the centre is (5.5, 4.25) -> cell (5, 4).
    boxes = jnp.array([[6.0, 5.0, 38.0, 29.0], [0, 0, 0, 0]])
    return boxes, jnp.array([2, -1]), jnp.array([True, False])


def test_encode_one_box_by_hand():
    boxes, classes, valid = _one_box()
    t = targets.encode(boxes, classes, valid, num_classes=3, grid=(8, 8), stride=4)
    assert t["heatmap"].shape == (8, 8, 3)
    assert float(t["heatmap"][4, 5, 2]) == 1.0 and float(t["heatmap"].sum()) > 1.0  # a peak, with a Gaussian around
    assert 0 < float(t["heatmap"][4, 4, 2]) < 1 and float(t["heatmap"][4, 2, 2]) == 0  # radius 1 for 8 x 6 cells
    assert float(t["heatmap"][..., :2].max()) == 0.0  # other classes empty
    assert int(t["index"][0]) == 4 * 8 + 5
    np.testing.assert_allclose(t["size"][0], [8.0, 6.0])
    np.testing.assert_allclose(t["offset"][0], [0.5, 0.25])
    np.testing.assert_allclose(t["size"][1], [0.0, 0.0])  # padding row


def test_gaussian_radius_keeps_the_overlap():
    # A box shifted by the radius along both corners keeps IoU >= 0.7 (CenterNet's construction, case 1).
    h, w = 10.0, 20.0
    r = float(targets.gaussian_radius(jnp.array(h), jnp.array(w)))
    inter = (w - r) * (h - r)
    assert inter / (2 * w * h - inter) >= 0.7 - 1e-6 or r == pytest.approx(float(targets.gaussian_radius(h, w)))
    assert 0 < r < min(h, w)


def test_focal_loss_by_hand():
    logits = jnp.log(jnp.array([0.8, 0.3]) / (1 - jnp.array([0.8, 0.3])))  # p = 0.8 at the peak, 0.3 beside it
    target = jnp.array([1.0, 0.5])
    expected = -(0.2 ** 2) * np.log(0.8) - (0.5 ** 4) * (0.3 ** 2) * np.log(0.7)
    assert float(losses.focal_loss_sum(logits, target)) == pytest.approx(expected, rel=1e-5)


def test_detection_loss_sums_by_hand():
    boxes, classes, valid = _one_box()
    t = targets.encode(boxes, classes, valid, num_classes=3, grid=(8, 8), stride=4)
    batched = {k: v[None] for k, v in t.items()}
    size = jnp.zeros((1, 8, 8, 2)).at[0, 4, 5].set(jnp.array([9.0, 6.5]))  # off by 1 and 0.5 at the centre
    outputs = {"heatmap": jnp.full((1, 8, 8, 3), -20.0).at[0, 4, 5, 2].set(20.0), "size": size,
               "offset": jnp.zeros((1, 8, 8, 2))}
    sums = losses.detection_loss_sums(outputs, batched)
    assert float(sums["size"]) == pytest.approx(1.5)
    assert float(sums["offset"]) == pytest.approx(0.75)
    assert float(sums["objects"]) == 1.0
    assert float(sums["heatmap"]) < 0.2  # confident and right at the peak; the Gaussian's ring costs a little
    assert float(losses.combine(sums)) == pytest.approx(float(sums["heatmap"]) + 0.15 + 0.75, rel=1e-5)


def test_decode_recovers_encoded_boxes():
    boxes = jnp.array([[6.0, 5.0, 38.0, 29.0], [2.0, 20.0, 12.0, 30.0]])
    classes, valid = jnp.array([2, 0]), jnp.array([True, True])
    t = targets.encode(boxes, classes, valid, num_classes=3, grid=(8, 8), stride=4)
    size = jnp.zeros((64, 2)).at[t["index"]].set(t["size"]).reshape(8, 8, 2)
    offset = jnp.zeros((64, 2)).at[t["index"]].set(t["offset"]).reshape(8, 8, 2)
    logits = jnp.log(t["heatmap"] + 1e-6) - jnp.log1p(-t["heatmap"] + 1e-6)
    found, scores, found_classes = decode.decode(logits, size, offset, stride=4, k=2)
    order = np.argsort(np.asarray(found_classes))[::-1]
    np.testing.assert_allclose(np.asarray(found)[order], boxes, atol=1e-4)
    assert list(np.asarray(found_classes)[order]) == [2, 0]
    np.testing.assert_allclose(scores, [1.0, 1.0], atol=1e-4)


def test_heatmap_peaks_keep_local_maxima_only():
    scores = jnp.zeros((5, 5, 1)).at[1, 1, 0].set(0.9).at[1, 2, 0].set(0.5).at[4, 4, 0].set(0.3)
    peaks = decode.heatmap_peaks(scores)
    assert float(peaks[1, 1, 0]) == pytest.approx(0.9) and float(peaks[4, 4, 0]) == pytest.approx(0.3)
    assert float(peaks[1, 2, 0]) == 0.0


def test_nms_by_hand():
    boxes = jnp.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [30, 30, 40, 40], [2, 0, 12, 10]], jnp.float32)
    scores = jnp.array([0.9, 0.8, 0.7, 0.6, 0.5])
    classes = jnp.array([0, 0, 1, 0, 0])
    valid = jnp.array([True, True, True, True, False])
    keep = decode.nms(boxes, scores, classes, valid, iou_threshold=0.5)
    # 1 overlaps 0 (IoU 9/11) in its class: gone; 2 is another class; 3 is far away; 4 is below min score.
    assert list(np.asarray(keep)) == [True, False, True, True, False]
    # A box overlapping only a suppressed box survives: 0.8-IoU chain 0 -x- 1, and 1 -/- 2 alone.
    chain = jnp.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], jnp.float32)
    keep = decode.nms(chain, jnp.array([0.9, 0.8, 0.7]), jnp.zeros(3, int), jnp.ones(3, bool), iou_threshold=0.4)
    assert list(np.asarray(keep)) == [True, False, True]
