"""Small datasets kept on the accelerator as uint8, batched by index.

The epoch order is a pure function of (seed, epoch), so a run resumed at any step sees exactly the
batches an uninterrupted run would have seen. Evaluation pads the last batch and masks the padding,
so every test example counts exactly once.

Multi-host: every process holds the whole (small) dataset on its own devices and computes the same
global batch indices; each process hands over only the indices of its own rows of the global batch
(`jax.make_array_from_process_local_data`), so each device gathers just its shard.
"""

from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np


def train_batch_indices(seed: int, epoch: int, num_examples: int, batch_size: int) -> np.ndarray:
    """Shuffled example indices for one epoch, shape [steps_per_epoch, batch_size] (remainder dropped)."""
    steps = num_examples // batch_size
    order = np.random.default_rng([seed, epoch]).permutation(num_examples)
    return order[: steps * batch_size].reshape(steps, batch_size)


def eval_batch_indices(num_examples: int, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, mask) per evaluation batch, in order; the last batch is padded with index 0 and mask False."""
    for start in range(0, num_examples, batch_size):
        indices = np.arange(start, start + batch_size)
        mask = indices < num_examples
        yield np.where(mask, indices, 0), mask


class DeviceDataset:
    """uint8 images [N, H, W, C] and int32 labels [N], resident on device; `batch(idx)` gathers there.

    `train_batches` / `eval_batches` are the interface the training loop uses, shared with
    `jaxcnn.data.streaming.StreamingDataset`."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, data_sharding=None, batch_sharding=None):
        if images.dtype != np.uint8:
            raise ValueError(f"DeviceDataset stores uint8 images, got {images.dtype}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.num_examples = len(images)
        self.images = _put_global(images, data_sharding)
        self.labels = _put_global(labels.astype(np.int32), data_sharding)
        self._gather = jax.jit(_gather, out_shardings=batch_sharding)
        self._batch_sharding = batch_sharding

    def batch(self, indices: np.ndarray, mask: np.ndarray | None = None) -> dict[str, jax.Array]:
        """{'image': uint8 [B,H,W,C], 'label': int32 [B], 'mask': bool [B]} gathered on device."""
        if mask is None:
            mask = np.ones(len(indices), dtype=bool)
        indices = _put_process_rows(np.asarray(indices, np.int32), self._batch_sharding)
        mask = _put_process_rows(np.asarray(mask, bool), self._batch_sharding)
        return self._gather(self.images, self.labels, indices, mask)

    def steps_per_epoch(self, batch_size: int) -> int:
        return self.num_examples // batch_size

    def train_batches(self, seed: int, epoch: int, batch_size: int, start_step: int = 0) -> Iterator[dict[str, jax.Array]]:
        """One epoch's batches in `train_batch_indices` order, from step `start_step` on (resume)."""
        for indices in train_batch_indices(seed, epoch, self.num_examples, batch_size)[start_step:]:
            yield self.batch(indices)

    def eval_batches(self, batch_size: int) -> Iterator[dict[str, jax.Array]]:
        """Every example once, in order; the last batch padded and masked."""
        for indices, mask in eval_batch_indices(self.num_examples, batch_size):
            yield self.batch(indices, mask)


def _put_global(array: np.ndarray, sharding) -> jax.Array:
    """`device_put`, also for a sharding spanning other processes (each process sends its own shards)."""
    if sharding is None or sharding.is_fully_addressable:
        return jax.device_put(array, sharding)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _put_process_rows(global_rows: np.ndarray, sharding) -> jax.Array:
    """The global 1-D array `global_rows`, built from only this process's rows of it."""
    if sharding is None or sharding.is_fully_addressable:
        return jax.device_put(global_rows, sharding)
    slices = sharding.addressable_devices_indices_map(global_rows.shape).values()
    start = min(s[0].start or 0 for s in slices)
    stop = max(len(global_rows) if s[0].stop is None else s[0].stop for s in slices)
    return jax.make_array_from_process_local_data(sharding, global_rows[start:stop], global_rows.shape)


def _gather(images, labels, indices, mask):
    return {"image": jnp.take(images, indices, axis=0), "label": jnp.take(labels, indices, axis=0), "mask": mask}
