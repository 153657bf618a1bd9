"""COCO-style mean average precision, computed as pycocotools' COCOeval does for boxes (area 'all', at most
100 detections an image and class, no crowd boxes), so the numbers can be checked against it:

  per class and IoU threshold, each image's detections (by descending score) claim the unclaimed ground-truth
  box they overlap most (IoU >= threshold); over all images, precision at the 101 recall points 0, 0.01, .., 1
  of the interpolated (monotone) precision-recall curve is averaged. mAP@0.5 averages the classes that have
  ground truth at IoU 0.5; mAP@[.5:.95] also averages the ten thresholds 0.5, 0.55, .., 0.95.

Ground truth and detections are per-image lists: gt[i] = (boxes [n, 4], classes [n]), det[i] = (boxes [m, 4],
scores [m], classes [m]); boxes are (x0, y0, x1, y1).
"""

import numpy as np

from jaxcnn.detection.canvas_data import pairwise_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETECTIONS = 100


def mean_average_precision(ground_truth: list, detections: list, num_classes: int) -> dict:
    """{'map50': mAP@0.5, 'map': mAP@[.5:.95], 'ap50_per_class': [C] (None where a class has no ground truth)}."""
    if len(ground_truth) != len(detections):
        raise ValueError(f"{len(ground_truth)} ground-truth images but {len(detections)} detection lists")
    precision = np.full((len(IOU_THRESHOLDS), num_classes), np.nan)
    for cls in range(num_classes):
        precision[:, cls] = class_average_precision(ground_truth, detections, cls)
    return {"map50": _nanmean(precision[0]), "map": _nanmean(precision),
            "ap50_per_class": [None if np.isnan(ap) else float(ap) for ap in precision[0]]}


def class_average_precision(ground_truth: list, detections: list, cls: int) -> np.ndarray:
    """AP of class `cls` at each IoU threshold ([10]; nan when the class has no ground-truth box)."""
    num_gt = sum(int(np.sum(np.asarray(classes) == cls)) for _, classes in ground_truth)
    if num_gt == 0:
        return np.full(len(IOU_THRESHOLDS), np.nan)
    scores, matched = [], []
    for (gt_boxes, gt_classes), (boxes, det_scores, classes) in zip(ground_truth, detections):
        gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)[np.asarray(gt_classes) == cls]
        mine = np.asarray(classes) == cls
        det_scores = np.asarray(det_scores, np.float64)[mine]
        order = np.argsort(-det_scores, kind="mergesort")[:MAX_DETECTIONS]
        det = np.asarray(boxes, np.float64).reshape(-1, 4)[mine][order]
        scores.append(det_scores[order])
        matched.append(_match(pairwise_iou(det, gt) if len(det) and len(gt) else np.zeros((len(det), len(gt)))))
    scores, matched = np.concatenate(scores), np.concatenate(matched, axis=1)
    order = np.argsort(-scores, kind="mergesort")
    return np.array([_interpolated_precision(row[order], num_gt) for row in matched])


def _match(iou: np.ndarray) -> np.ndarray:
    """[thresholds, detections] bool: detection d (in score order) matched a ground-truth box at threshold t.
    As COCOeval: the unclaimed box with the highest IoU >= t wins (on a tie, the later box)."""
    matched = np.zeros((len(IOU_THRESHOLDS), iou.shape[0]), bool)
    for t, threshold in enumerate(IOU_THRESHOLDS):
        claimed = np.zeros(iou.shape[1], bool)
        for d in range(iou.shape[0]):
            candidates = np.where(~claimed & (iou[d] >= min(threshold, 1 - 1e-10)), iou[d], -1.0)
            if candidates.size and candidates.max() >= 0:
                winner = len(candidates) - 1 - int(np.argmax(candidates[::-1]))  # the last of equal bests
                claimed[winner], matched[t, d] = True, True
    return matched


def _interpolated_precision(true_positive: np.ndarray, num_gt: int) -> float:
    """Mean precision at RECALL_POINTS of the monotone precision-recall curve (0 beyond the highest recall)."""
    tp = np.cumsum(true_positive, dtype=np.float64)
    fp = np.cumsum(~true_positive, dtype=np.float64)
    recall = tp / num_gt
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.sum(precision[at[at < len(precision)]]) / len(RECALL_POINTS))


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else 0.0
