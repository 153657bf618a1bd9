"""A detection split held on the device (uint8 canvases, boxes, classes), batched by index like
`jaxcnn.data.DeviceDataset`: the epoch order is a pure function of (seed, epoch), so a resumed run sees the
batches an uninterrupted one would; evaluation pads the last batch and masks the padding. One process."""

from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.data import eval_batch_indices, train_batch_indices
from jaxcnn.detection.canvas_data import DetectionSet


class DetectionBatches:
    """`train_batches` / `eval_batches` of {'image' uint8 [B, S, S, 1], 'boxes' [B, K, 4], 'classes' [B, K],
    'valid' bool [B, K] (a real object: not padding, not a padded image)} gathered on device."""

    def __init__(self, data: DetectionSet, data_sharding=None, batch_sharding=None):
        self.data = data  # the host copy: ground truth for evaluation
        self.num_examples = len(data.images)
        self._arrays = jax.device_put((data.images, data.boxes, data.classes), data_sharding)
        self._batch_sharding = batch_sharding
        self._gather = jax.jit(_gather, out_shardings=batch_sharding)

    def batch(self, indices: np.ndarray, mask: np.ndarray | None = None) -> dict:
        mask = np.ones(len(indices), bool) if mask is None else mask
        rows = jax.device_put((np.asarray(indices, np.int32), np.asarray(mask, bool)), self._batch_sharding)
        return self._gather(*self._arrays, *rows)

    def steps_per_epoch(self, batch_size: int) -> int:
        return self.num_examples // batch_size

    def train_batches(self, seed: int, epoch: int, batch_size: int, start_step: int = 0) -> Iterator[dict]:
        for indices in train_batch_indices(seed, epoch, self.num_examples, batch_size)[start_step:]:
            yield self.batch(indices)

    def eval_batches(self, batch_size: int) -> Iterator[dict]:
        for indices, mask in eval_batch_indices(self.num_examples, batch_size):
            yield self.batch(indices, mask)


def _gather(images, boxes, classes, indices, mask):
    take = lambda x: jnp.take(x, indices, axis=0)  # noqa: E731
    picked = take(classes)
    return {"image": take(images), "boxes": take(boxes), "classes": jnp.maximum(picked, 0),
            "valid": (picked >= 0) & mask[:, None], "mask": mask}
