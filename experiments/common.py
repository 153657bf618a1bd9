"""Flags shared by every experiment script, and the one place that turns UserError into a one-line exit."""

import sys

from absl import flags

from jaxcnn import errors
from jaxcnn.train import TrainConfig, TrainingInterrupted, train_and_evaluate

_DEFAULTS = TrainConfig()


def define_flags(*, dataset: str, datasets: list[str], model: str) -> None:
    flags.DEFINE_enum("dataset", dataset, datasets, "TFDS dataset name.")
    flags.DEFINE_string("model", model, "Model name (python -m jaxcnn.models --list).")
    flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, TensorBoard. Rerun to resume.", required=True)
    flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).")
    flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Global batch size.")
    flags.DEFINE_float("epochs", _DEFAULTS.epochs, "Training epochs (fractions allowed).")
    flags.DEFINE_string("optimizer", _DEFAULTS.optimizer, "sgd (Nesterov momentum) or adamw.")
    flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Peak learning rate.")
    flags.DEFINE_float("momentum", _DEFAULTS.momentum, "SGD momentum (Nesterov).")
    flags.DEFINE_string("schedule", _DEFAULTS.schedule, "cosine (with linear warmup), onecycle or constant.")
    flags.DEFINE_float("warmup_epochs", _DEFAULTS.warmup_epochs, "Linear warmup length (cosine) / rise (onecycle).")
    flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay, "Decoupled weight decay on kernels (not biases/BN).")
    flags.DEFINE_float("label_smoothing", _DEFAULTS.label_smoothing, "Label smoothing in [0, 1).")
    flags.DEFINE_string("augment", _DEFAULTS.augment, "default | none | comma list of ops, e.g. flip,crop4.")
    flags.DEFINE_float("aux_loss_weight", _DEFAULTS.aux_loss_weight, "Weight of auxiliary-head losses (0: off).")
    flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed for init, data order and augmentation.")
    flags.DEFINE_integer("checkpoint_every_steps", _DEFAULTS.checkpoint_every_steps, "Checkpoint interval in steps.")
    flags.DEFINE_integer("keep_checkpoints", _DEFAULTS.keep_checkpoints, "How many recent checkpoints to keep.")
    flags.DEFINE_integer("log_every_steps", _DEFAULTS.log_every_steps, "Steps between progress-bar updates.")
    flags.DEFINE_bool("progress_bar", _DEFAULTS.progress_bar, "Show a per-epoch progress bar.")


def config_from_flags() -> TrainConfig:
    f = flags.FLAGS
    return TrainConfig(
        dataset=f.dataset, model=f.model, batch_size=f.batch_size, epochs=f.epochs, optimizer=f.optimizer,
        learning_rate=f.learning_rate, momentum=f.momentum, schedule=f.schedule, warmup_epochs=f.warmup_epochs,
        weight_decay=f.weight_decay, label_smoothing=f.label_smoothing, augment=f.augment,
        aux_loss_weight=f.aux_loss_weight, seed=f.seed, checkpoint_every_steps=f.checkpoint_every_steps,
        keep_checkpoints=f.keep_checkpoints, log_every_steps=f.log_every_steps, data_dir=f.data_dir,
        progress_bar=f.progress_bar,
    )


def run(argv) -> None:
    """absl main: train from flags; a UserError becomes one line on stderr and a non-zero exit."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; all options are --flags")
    try:
        train_and_evaluate(config_from_flags(), flags.FLAGS.workdir)
    except TrainingInterrupted as err:
        print(f"interrupted: {err}", file=sys.stderr)
        sys.exit(130)
    except errors.UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
