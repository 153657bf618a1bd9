"""Streaming input for datasets too large to keep on device: TFDS + tf.data, prefetched to the device.

The host decodes, shuffles and batches uint8 images (tf.data, in parallel with the step); batches go
to the device a few steps ahead, where the same jitted augmentation as the device-resident path runs
inside the train step. Each process reads its own part of the split (`tfds.even_splits`, the cut that
`tfds.split_for_jax_process` makes) and contributes its rows of the globally sharded batch.
The epoch order is a pure function of (seed, epoch, process): file order and shuffle seed derive from
them and tf.data runs deterministically, so a resumed run (`start_step`) sees the batches an
uninterrupted run would have seen. Evaluation pads and masks so every example counts exactly once,
and every process yields the same number of batches. CIFAR's own extracted files (`local_files`) are not
a TFDS dataset and cannot be streamed: `--input_pipeline=device` reads them.
"""

import collections
import dataclasses
import math
from collections.abc import Iterator

import jax
import numpy as np
import tensorflow_datasets as tfds

from jaxcnn import errors
from jaxcnn.data import local_files
from jaxcnn.data.catalog import DatasetSpec
from jaxcnn.data.sources import dataset_spec
from jaxcnn.data.tfds_source import default_data_dir, prepared_builder, tfds_split


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """Where to read: a TFDS dataset and split, and which part of it this process reads."""

    name: str
    split: str = "train"
    data_dir: str | None = None
    process_index: int | None = None  # None: jax.process_index()
    process_count: int | None = None  # None: jax.process_count()

    def processes(self) -> tuple[int, int]:
        index = jax.process_index() if self.process_index is None else self.process_index
        count = jax.process_count() if self.process_count is None else self.process_count
        if not 0 <= index < count:
            raise errors.ConfigError(f"process index {index} is not in [0, {count})")
        return index, count


def _builder(spec: StreamSpec):
    """The prepared TFDS builder; a one-line error where data_dir holds CIFAR's own files and no TFDS data."""
    dataset_spec(spec.name, spec.data_dir)  # one-line error for unknown names and other kinds of data
    data_dir = spec.data_dir or default_data_dir()
    cifar_dir = local_files.find_cifar_dir(spec.name, data_dir)
    if cifar_dir is not None and not tfds.builder(spec.name, data_dir=data_dir).is_prepared():
        raise errors.ConfigError(f"--data_dir={data_dir} holds CIFAR's own files ({cifar_dir.name}), which the streaming "
                                 "pipeline cannot read (it streams TFDS datasets); use --input_pipeline=device")
    return prepared_builder(spec.name, data_dir)


def _process_split(spec: StreamSpec) -> str:
    index, count = spec.processes()
    return tfds.even_splits(tfds_split(_builder(spec), spec.split), n=count, drop_remainder=False)[index]


def _pairs(spec: StreamSpec, dataset):
    """(image, label) pairs of a TFDS dataset of examples, by the dataset's feature keys."""
    keys: DatasetSpec = dataset_spec(spec.name, spec.data_dir)
    return dataset.map(lambda example: (example[keys.image_key], example[keys.label_key]))


def _local_batch_size(batch_size: int, process_count: int) -> int:
    if batch_size <= 0 or batch_size % process_count:
        raise errors.ConfigError(f"batch size {batch_size} must be a positive multiple of the {process_count} processes")
    return batch_size // process_count


def epoch_seed(seed: int, epoch: int, process_index: int) -> int:
    """The tf.data seed for one process's epoch: a hash of (seed, epoch, process), stable across runs."""
    return int(np.random.SeedSequence([seed, epoch, process_index]).generate_state(1)[0] & 0x7FFFFFFF)


def _host_train_dataset(spec: StreamSpec, local_batch: int, seed: int, epoch: int, shuffle_buffer: int, start_step: int,
                        num_steps: int | None = None):
    import tensorflow as tf  # only a stream needs it (tfds imports it lazily too): keeps 5 s off `import jaxcnn.data`

    index, _ = spec.processes()
    this_seed = epoch_seed(seed, epoch, index)
    read_config = tfds.ReadConfig(shuffle_seed=this_seed, try_autocache=False)
    dataset = _pairs(spec, _builder(spec).as_dataset(split=_process_split(spec), shuffle_files=True, read_config=read_config))
    dataset = dataset.shuffle(shuffle_buffer, seed=this_seed, reshuffle_each_iteration=False)
    dataset = dataset.batch(local_batch, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.skip(start_step)
    if num_steps is not None:  # end exactly at the epoch's last step: no reading ahead past it in the background
        dataset = dataset.take(max(num_steps - start_step, 0))
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def host_train_batches(spec: StreamSpec, *, batch_size: int, seed: int, epoch: int, shuffle_buffer: int = 10_000,
                       start_step: int = 0, num_steps: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """This process's {'image': uint8 [b,H,W,C], 'label': int32 [b], 'mask': bool [b]} numpy batches for one
    epoch (b = batch_size / processes, remainder dropped), from step `start_step` on (up to `num_steps`)."""
    _, count = spec.processes()
    local = _local_batch_size(batch_size, count)
    for images, labels in tfds.as_numpy(_host_train_dataset(spec, local, seed, epoch, shuffle_buffer, start_step, num_steps)):
        yield {"image": images, "label": labels.astype(np.int32), "mask": np.ones(len(labels), bool)}


def num_examples(spec: StreamSpec) -> int:
    """Examples in the whole split (all processes together)."""
    builder = _builder(spec)
    split = tfds_split(builder, spec.split)
    try:
        return builder.info.splits[split].num_examples
    except KeyError:  # metadata without split sizes (tfds.testing.mock_data): ask the dataset itself
        dataset = builder.as_dataset(split=split)
        count = int(dataset.cardinality())
        return count if count >= 0 else sum(1 for _ in dataset)


def host_eval_batches(spec: StreamSpec, *, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """This process's part of the split in order, batches padded (zeros, mask False) to batch_size / processes;
    every process yields ceil(ceil(N / processes) / local batch) batches, so all stay in step."""
    _, count = spec.processes()
    local = _local_batch_size(batch_size, count)
    shape = dataset_spec(spec.name, spec.data_dir).image_shape
    steps = math.ceil(math.ceil(num_examples(spec) / count) / local)
    dataset = _pairs(spec, _builder(spec).as_dataset(split=_process_split(spec), shuffle_files=False)).batch(local)
    batches = iter(tfds.as_numpy(dataset))
    for _ in range(steps):
        images, labels = next(batches, (np.zeros((0, *shape), np.uint8), np.zeros((0,), np.int64)))
        real = len(labels)
        pad = local - real
        yield {
            "image": np.concatenate([images, np.zeros((pad, *shape), np.uint8)]),
            "label": np.concatenate([labels.astype(np.int32), np.zeros(pad, np.int32)]),
            "mask": np.arange(local) < real,
        }


def prefetch_to_device(batches: Iterator[dict], sharding=None, prefetch: int = 2) -> Iterator[dict]:
    """Put host batches on the device(s) `prefetch` steps ahead of use. With a sharding, each process's
    batch becomes its rows of one global array (`jax.make_array_from_process_local_data`)."""

    def put(batch):
        if sharding is None:
            return jax.device_put(batch)
        return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}

    queue = collections.deque()
    for batch in batches:
        queue.append(put(batch))
        if len(queue) > prefetch:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


class StreamingDataset:
    """A split streamed with `DeviceDataset`'s loop interface (`--input_pipeline=streaming`): global batches
    sharded by `sharding`, each process reading its own part of the split, prefetched to the device."""

    def __init__(self, spec: StreamSpec, sharding=None, *, shuffle_buffer: int = 10_000, prefetch: int = 2):
        self.spec, self.sharding, self.shuffle_buffer, self.prefetch = spec, sharding, shuffle_buffer, prefetch
        self.num_examples = num_examples(spec)

    def steps_per_epoch(self, batch_size: int) -> int:
        """Steps every process can take: its parts hold at least floor(N / processes) examples."""
        _, count = self.spec.processes()
        return (self.num_examples // count) // _local_batch_size(batch_size, count)

    def train_batches(self, seed: int, epoch: int, batch_size: int, start_step: int = 0) -> Iterator[dict]:
        """Device batches for one epoch: `host_train_batches`, ending at the last step every process can take."""
        host = host_train_batches(self.spec, batch_size=batch_size, seed=seed, epoch=epoch, shuffle_buffer=self.shuffle_buffer,
                                  start_step=start_step, num_steps=self.steps_per_epoch(batch_size))
        return prefetch_to_device(host, self.sharding, self.prefetch)

    def eval_batches(self, batch_size: int) -> Iterator[dict]:
        """Device batches for evaluation: `host_eval_batches`, every example once."""
        return prefetch_to_device(host_eval_batches(self.spec, batch_size=batch_size), self.sharding, self.prefetch)
