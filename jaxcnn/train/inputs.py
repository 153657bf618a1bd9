"""A run's training, validation and test data, by --input_pipeline: device-resident arrays or tf.data streaming.

Either way the loop gets objects with one interface (`DeviceDataset`, `streaming.StreamingDataset`):
`num_examples`, `steps_per_epoch(batch_size)`, `train_batches(seed, epoch, batch_size, start_step)` and
`eval_batches(batch_size)`, both yielding global batches {'image': uint8, 'label': int32, 'mask': bool}
sharded on the mesh's data axis. The epoch order is a function of (seed, epoch) and can start at any
step, so a resumed run continues with the right batches; evaluation counts every example once.

Validation is held out of the training split: its last --validation_examples examples (by default a tenth of
the split, at most 5000; TFDS shuffles a dataset's examples when it prepares it, so they are a fixed random
sample), the same images whatever the seed and in both pipelines; or a split of its own (--validation_split). Model selection uses it; the test
split is only reported. `--classes` and `--train_examples` then cut the device-resident splits
(`jaxcnn.data.subsets`).
"""

import dataclasses

import numpy as np
from jax.sharding import Mesh

from jaxcnn import errors
from jaxcnn.data import DeviceDataset, load_split, streaming, subsets
from jaxcnn.train import parallel
from jaxcnn.train.plan import RunPlan


@dataclasses.dataclass(frozen=True)
class RunData:
    train: object
    validation: object | None  # None: --validation_examples=0, nothing is selected
    test: object
    validation_source: str  # said in the run's description line


AUTOMATIC_VALIDATION = (10, 5000)  # --validation_examples=-1: a tenth of the training split, at most 5000


def held_out_count(requested: int, available: int) -> int:
    """How many training examples --validation_examples holds out of a split of `available`; a one-line error when
    that leaves none to train on."""
    if requested == -1:
        fraction, cap = AUTOMATIC_VALIDATION
        return min(available // fraction, cap)
    if requested >= available:
        raise errors.ConfigError(f"--validation_examples={requested} leaves no training examples (the training split "
                                 f"holds {available}); hold out fewer, or 0 for no validation set")
    return requested


def _source(config, held_out: int) -> str:
    if config.validation_split:
        return f"split {config.validation_split!r}"
    if held_out:
        return f"the last {held_out} examples of the training split"
    return "no validation set: --validation_examples=0, nothing is selected, the last epoch is reported"


def make_datasets(plan: RunPlan, mesh: Mesh) -> RunData:
    """The run's splits for --input_pipeline; one-line errors when labels exceed the plan's class count or the
    splits are too small."""
    config = plan.config
    load = _streamed if config.input_pipeline == "streaming" else _on_device
    train, validation, test, largest_label, held_out = load(plan, mesh)
    if largest_label >= plan.num_classes:
        raise errors.ConfigError(f"--num_classes={plan.num_classes} but {config.dataset} has label {largest_label}")
    if train.steps_per_epoch(config.batch_size) == 0:
        raise errors.ConfigError(f"--batch_size={config.batch_size} exceeds the {train.num_examples} training examples")
    return RunData(train, validation, test, _source(config, held_out))


def _on_device(plan: RunPlan, mesh: Mesh):
    config, classes = plan.config, plan.class_ids  # --classes: these only, relabelled 0..k-1
    replicated, sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    train_images, train_labels = load_split(plan.dataset, "train", config.data_dir)
    held_out = 0 if config.validation_split else held_out_count(config.validation_examples, len(train_labels))
    validation = None
    if config.validation_split:
        validation = load_split(plan.dataset, config.validation_split, config.data_dir)
    elif held_out:
        cut = len(train_labels) - held_out
        validation = train_images[cut:], train_labels[cut:]
        train_images, train_labels = train_images[:cut], train_labels[:cut]
    train_images, train_labels = subsets.select_classes(train_images, train_labels, classes)
    train_images, train_labels = subsets.sample_examples(train_images, train_labels, config.train_examples, config.seed)
    test = subsets.select_classes(*load_split(plan.dataset, "test", config.data_dir), classes)
    if validation is not None:
        validation = DeviceDataset(*subsets.select_classes(*validation, classes), replicated, sharded)
    largest_label = int(np.max(train_labels))
    return (DeviceDataset(train_images, train_labels, replicated, sharded), validation,
            DeviceDataset(*test, replicated, sharded), largest_label, held_out)


def _streamed(plan: RunPlan, mesh: Mesh):
    config, sharded = plan.config, parallel.batch_sharded(mesh)

    def stream(split):
        return streaming.StreamingDataset(streaming.StreamSpec(config.dataset, split, config.data_dir), sharded)

    train, validation, held_out = stream("train"), None, 0
    if config.validation_split:
        validation = stream(config.validation_split)
    else:
        held_out = held_out_count(config.validation_examples, train.num_examples)
    if held_out:
        train, validation = stream(f"train[:-{held_out}]"), stream(f"train[-{held_out}:]")
    largest_label = plan.dataset.num_classes - 1  # the catalogue's, without reading the data
    return train, validation, stream("test"), largest_label, held_out
