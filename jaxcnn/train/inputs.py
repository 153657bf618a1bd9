"""A run's training and test data, by --input_pipeline: device-resident arrays or tf.data streaming.

Either way the loop gets two objects with one interface (`DeviceDataset`, `streaming.StreamingDataset`):
`num_examples`, `steps_per_epoch(batch_size)`, `train_batches(seed, epoch, batch_size, start_step)` and
`eval_batches(batch_size)`, both yielding global batches {'image': uint8, 'label': int32, 'mask': bool}
sharded on the mesh's data axis. The epoch order is a function of (seed, epoch) and can start at any
step, so a resumed run continues with the right batches; evaluation counts every test example once.
`--classes` and `--train_examples` cut the device-resident splits (`jaxcnn.data.subsets`).
"""

from jax.sharding import Mesh

from jaxcnn import errors
from jaxcnn.data import DeviceDataset, load_split, streaming, subsets
from jaxcnn.train import parallel
from jaxcnn.train.plan import RunPlan


def make_datasets(plan: RunPlan, mesh: Mesh):
    """(train, test) for --input_pipeline; a one-line error when labels exceed the plan's class count."""
    config, num_classes = plan.config, plan.num_classes
    sharded = parallel.batch_sharded(mesh)
    if config.input_pipeline == "streaming":
        largest_label = plan.dataset.num_classes - 1  # the catalogue's, without reading the data
        train, test = (streaming.StreamingDataset(streaming.StreamSpec(config.dataset, split, config.data_dir), sharded)
                       for split in ("train", "test"))
    else:
        replicated = parallel.replicated(mesh)
        classes = plan.class_ids  # --classes: these only, relabelled 0..k-1
        train_images, train_labels = subsets.select_classes(*load_split(config.dataset, "train", config.data_dir), classes)
        train_images, train_labels = subsets.sample_examples(train_images, train_labels, config.train_examples, config.seed)
        test_images, test_labels = subsets.select_classes(*load_split(config.dataset, "test", config.data_dir), classes)
        largest_label = int(train_labels.max())
        train = DeviceDataset(train_images, train_labels, replicated, sharded)
        test = DeviceDataset(test_images, test_labels, replicated, sharded)
    if largest_label >= num_classes:
        raise errors.ConfigError(f"--num_classes={num_classes} but {config.dataset} has label {largest_label}")
    if train.steps_per_epoch(config.batch_size) == 0:
        raise errors.ConfigError(f"--batch_size={config.batch_size} exceeds the {train.num_examples} training examples")
    return train, test
