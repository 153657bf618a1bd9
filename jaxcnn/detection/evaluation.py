"""A pass over a detection split: its loss (eval step, running BatchNorm statistics) and its detections scored
with COCO-style mAP against the split's ground truth."""

import jax
import numpy as np

from jaxcnn.detection import steps as steps_lib
from jaxcnn.detection.average_precision import mean_average_precision
from jaxcnn.detection.batches import DetectionBatches


def predictions(predict, variables: dict, data: DetectionBatches, batch_size: int) -> list:
    """Per image (boxes [m, 4], scores [m], classes [m]) of the detections kept, in the split's order."""
    found = []
    for batch in data.eval_batches(batch_size):
        out = jax.device_get(predict(variables, batch["image"]))
        for i in np.flatnonzero(np.asarray(batch["mask"])):
            keep = out["keep"][i]
            found.append((out["boxes"][i][keep], out["scores"][i][keep], out["classes"][i][keep]))
    return found


def evaluate_split(eval_step, predict, state, variables: dict, data: DetectionBatches, batch_size: int,
                   num_classes: int) -> dict:
    """{'loss', 'heatmap_loss', 'size_loss', 'offset_loss', 'map50', 'map', 'ap50_per_class'} of a split.
    `state` is in the eval step's layout; `variables` (params and batch_stats, global layout) feed `predict`."""
    sums = None
    for batch in data.eval_batches(batch_size):
        batch_sums = eval_step(state, batch)
        sums = batch_sums if sums is None else jax.tree.map(lambda a, b: a + b, sums, batch_sums)
    found = predictions(predict, variables, data, batch_size)
    truth = [data.data.objects(i) for i in range(data.num_examples)]
    return {**steps_lib.means(sums), **mean_average_precision(truth, found, num_classes)}
