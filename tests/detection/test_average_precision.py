"""mAP against hand-computed cases and against pycocotools' COCOeval on fixed random predictions."""

import contextlib
import io

import numpy as np
import pytest

from jaxcnn.detection.average_precision import mean_average_precision


def test_perfect_detections_score_one_and_a_miss_halves_recall():
    gt = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([0, 0]))]
    perfect = [(gt[0][0], np.array([0.9, 0.8]), np.array([0, 0]))]
    assert mean_average_precision(gt, perfect, 1)["map"] == pytest.approx(1.0)
    # One of two boxes found, at the top score: precision 1 up to recall 0.5 -> 51 of the 101 recall points.
    half = [(gt[0][0][:1], np.array([0.9]), np.array([0]))]
    assert mean_average_precision(gt, half, 1)["map50"] == pytest.approx(51 / 101)


def test_false_positive_ranked_first_and_classes_without_ground_truth():
    gt = [(np.array([[0, 0, 10, 10]], float), np.array([1]))]
    # A wrong box scores above the right one: precision at recall 1 is 1/2 at every recall point.
    det = [(np.array([[50, 50, 60, 60], [0, 0, 10, 10]], float), np.array([0.9, 0.5]), np.array([1, 1]))]
    result = mean_average_precision(gt, det, 3)
    assert result["map50"] == pytest.approx(0.5)
    assert result["ap50_per_class"] == [None, 0.5, None]
    # A box at IoU 0.58 counts at thresholds 0.5 and 0.55 only.
    shifted = [(np.array([[0, 0, 10, 5.8]], float), np.array([0.9]), np.array([1]))]
    assert mean_average_precision(gt, shifted, 3)["map"] == pytest.approx(2 / 10)


def _random_case(rng, images=30, classes=4):
    """Ground truth with 0-4 boxes an image; detections: most boxes found with some jitter (a few twice, a few
    with the wrong class) plus random false positives, all with random scores."""
    gt, det = [], []
    for _ in range(images):
        n, m = rng.integers(0, 5), rng.integers(0, 3)
        xy = rng.uniform(0, 80, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (n, 2))], axis=1)
        labels = rng.integers(0, classes, n)
        gt.append((boxes, labels))
        found = rng.integers(0, n, rng.integers(0, n + 2)) if n else np.zeros(0, int)
        found_boxes = boxes[found] + rng.normal(0, 2.5, (len(found), 4))
        found_labels = np.where(rng.uniform(size=len(found)) < 0.85, labels[found], rng.integers(0, classes, len(found)))
        xy = rng.uniform(0, 80, (m, 2))
        false_boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (m, 2))], axis=1)
        det_boxes = np.concatenate([found_boxes, false_boxes])
        det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 1)
        det.append((det_boxes, rng.uniform(0, 1, len(det_boxes)), np.concatenate([found_labels, rng.integers(0, classes, m)])))
    return gt, det


def _pycocotools_stats(gt, det, classes):
    coco_module = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    xywh = lambda b: [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]  # noqa: E731
    boxes = [(i, b, c) for i, (image_boxes, labels) in enumerate(gt) for b, c in zip(image_boxes, labels)]
    annotations = [{"id": n + 1, "image_id": i, "category_id": int(c), "bbox": xywh(b), "iscrowd": 0,
                    "area": float((b[2] - b[0]) * (b[3] - b[1]))} for n, (i, b, c) in enumerate(boxes)]
    coco_gt = coco_module.COCO()
    coco_gt.dataset = {"images": [{"id": i} for i in range(len(gt))], "annotations": annotations,
                       "categories": [{"id": c} for c in range(classes)]}
    coco_gt.createIndex()
    results = [{"image_id": i, "category_id": int(c), "bbox": xywh(b), "score": float(s)}
               for i, (boxes, scores, labels) in enumerate(det) for b, s, c in zip(boxes, scores, labels)]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = cocoeval.COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pycocotools(seed):
    gt, det = _random_case(np.random.default_rng(seed))
    stats = _pycocotools_stats(gt, det, 4)
    ours = mean_average_precision(gt, det, 4)
    assert 0.05 < ours["map50"] < 0.95  # a case that exercises partial matches
    assert ours["map"] == pytest.approx(stats[0], abs=1e-9)
    assert ours["map50"] == pytest.approx(stats[1], abs=1e-9)
