"""Flags shared by every experiment script, and the one place that turns UserError into a one-line exit.

Each experiment parses into its own `FlagValues`, so several experiments can run in one process (tests).
"""

import logging
import sys

from absl import flags

from jaxcnn import errors
from jaxcnn.train import TrainConfig, distributed  # touch no device: multi-host start-up comes first

_DEFAULTS = TrainConfig()


def define_flags(fv: flags.FlagValues, *, dataset: str, datasets: list[str], model: str) -> None:
    define = _Definer(fv)
    define.enum("dataset", dataset, datasets, "TFDS dataset name.")
    define.string("model", model, "Model name (python -m jaxcnn.models --list).")
    define.integer("num_classes", _DEFAULTS.num_classes, "Output classes (0: the dataset's).")
    define.string("workdir", None, "Run directory: checkpoints, metrics, TensorBoard. Rerun to resume.")
    define.bool("new_run", False, "Start over in a --workdir that holds another run: its files are moved to "
                "workdir/archive/<UTC time>/ first (nothing is deleted).")
    define.string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).")
    define.integer("batch_size", _DEFAULTS.batch_size, "Global batch size.")
    define.float("epochs", _DEFAULTS.epochs, "Training epochs (fractions allowed).")
    define.string("optimizer", _DEFAULTS.optimizer, "sgd (Nesterov momentum) or adamw.")
    define.float("learning_rate", _DEFAULTS.learning_rate, "Peak learning rate.")
    define.float("momentum", _DEFAULTS.momentum, "SGD momentum (Nesterov).")
    define.string("schedule", _DEFAULTS.schedule, "cosine (with linear warmup), onecycle or constant.")
    define.float("warmup_epochs", _DEFAULTS.warmup_epochs, "Linear warmup length (cosine) / rise (onecycle).")
    define.float("weight_decay", _DEFAULTS.weight_decay, "Decoupled weight decay on kernels (not biases/BN).")
    define.float("label_smoothing", _DEFAULTS.label_smoothing, "Label smoothing in [0, 1).")
    define.string("augment", _DEFAULTS.augment, "default | none | comma list of ops, e.g. flip,crop4 or "
                  "default,pca0.1,mixup0.2; mixupA / cutmixA mix pairs of examples and their labels (soft targets).")
    define.string("tta", _DEFAULTS.tta, "Test-time augmentation: none | flip | shiftN | flip,shiftN. Reported as "
                  "test_tta_accuracy beside the plain test accuracy.")
    define.enum("input_pipeline", _DEFAULTS.input_pipeline, ["device", "streaming"],
                "device: the dataset held on device as uint8 (small datasets); streaming: TFDS + tf.data, each "
                "process reading its part, prefetched to device. Same augmentation either way.")
    define.string("classes", _DEFAULTS.classes, "Train and test on these classes only, relabelled 0..k-1: a range "
                  "or list such as 5-9 or 0,2,4 (empty: all). With --input_pipeline=device.")
    define.integer("train_examples", _DEFAULTS.train_examples, "Train on a fixed random sample of this many training "
                   "examples (0: all), drawn from --seed. With --input_pipeline=device.")
    define.string("init_from", _DEFAULTS.init_from, "Transfer learning: the --workdir of a trained run; start from its "
                  "backbone (best checkpoint) with a new head. Same --model; any dataset classes.")
    define.float("backbone_lr_scale", _DEFAULTS.backbone_lr_scale, "The backbone's learning rate as a fraction of "
                 "the head's: 0 freezes it (parameters fixed, BatchNorm and Dropout as at test time), 0.1 fine-tunes it.")
    define.float("aux_loss_weight", _DEFAULTS.aux_loss_weight, "Weight of auxiliary-head losses (0: off).")
    define.integer("seed", _DEFAULTS.seed, "Seed for init, data order and augmentation.")
    define.integer("checkpoint_every_steps", _DEFAULTS.checkpoint_every_steps, "Checkpoint interval in steps.")
    define.integer("keep_checkpoints", _DEFAULTS.keep_checkpoints, "How many recent checkpoints to keep.")
    define.integer("log_every_steps", _DEFAULTS.log_every_steps, "Steps between progress-bar updates.")
    define.bool("progress_bar", _DEFAULTS.progress_bar, "Show a per-epoch progress bar.")
    # Scale: every device of every process by default; see launch/README.md.
    define.enum("parallel", _DEFAULTS.parallel, ["jit", "pmap"],
                "jit: one jit over a device mesh, batch sharded (default); pmap: the same step under jax.pmap.")
    define.integer("grad_accum_steps", _DEFAULTS.grad_accum_steps,
                   "Split each --batch_size batch into this many micro-batches and accumulate their gradients "
                   "(optax.MultiSteps): a large global batch on few devices.")
    define.enum("dtype", _DEFAULTS.dtype, ["float32", "bfloat16"],
                "Computation dtype; parameters, optimizer state and BatchNorm statistics stay float32.")
    define.bool("multihost", False, "Join a multi-process run through jax.distributed.initialize() using the "
                "environment (srun, TPU VM --worker=all); automatic under srun with several tasks.")
    define.string("coordinator_address", None, "Multi-host without a cluster environment: host:port of process 0.")
    define.integer("num_processes", None, "Multi-host: how many processes (with --coordinator_address).")
    define.integer("process_id", None, "Multi-host: this process's index in [0, num_processes) (with --coordinator_address).")


class _Definer:
    """flags.DEFINE_* bound to one FlagValues: `define.integer(name, default, help)`."""

    def __init__(self, fv: flags.FlagValues):
        self._fv = fv

    def __getattr__(self, kind: str):
        define = getattr(flags, f"DEFINE_{kind}")
        return lambda *args, **kwargs: define(*args, flag_values=self._fv, **kwargs)


class _ShortLibraryErrors(logging.Filter):
    """Orbax logs the traceback of a failed background write before the main thread re-raises the error,
    which `main` turns into its one line: keep orbax's record to a short line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "orbax" in record.pathname and record.levelno >= logging.ERROR:
            record.msg, record.args = record.getMessage().splitlines()[0][:300], ()
            record.exc_info = record.exc_text = None
        return True


def config_from_flags(f: flags.FlagValues) -> TrainConfig:
    return TrainConfig(
        dataset=f.dataset, model=f.model, num_classes=f.num_classes, batch_size=f.batch_size, epochs=f.epochs, optimizer=f.optimizer,
        learning_rate=f.learning_rate, momentum=f.momentum, schedule=f.schedule, warmup_epochs=f.warmup_epochs,
        weight_decay=f.weight_decay, label_smoothing=f.label_smoothing, augment=f.augment,
        aux_loss_weight=f.aux_loss_weight, seed=f.seed, checkpoint_every_steps=f.checkpoint_every_steps,
        keep_checkpoints=f.keep_checkpoints, log_every_steps=f.log_every_steps, data_dir=f.data_dir,
        progress_bar=f.progress_bar, parallel=f.parallel, grad_accum_steps=f.grad_accum_steps, dtype=f.dtype,
        tta=f.tta, input_pipeline=f.input_pipeline, classes=f.classes, train_examples=f.train_examples,
        init_from=f.init_from, backbone_lr_scale=f.backbone_lr_scale,
    )


def main(argv: list[str], *, dataset: str, datasets: list[str], model: str) -> None:
    """Parse `argv` (program name first), train, and exit with a one-line message on any user error."""
    fv = flags.FlagValues()
    define_flags(fv, dataset=dataset, datasets=datasets, model=model)
    if any(arg in ("-h", "--help", "--helpfull", "--helpshort") for arg in argv[1:]):
        print(fv.get_help())
        return
    try:
        extra = fv(argv)
    except flags.Error as err:  # unknown flag, bad value, unreadable --flagfile ...
        sys.exit(f"error: {str(err).splitlines()[0].removeprefix('ERROR:: ')} (see --help)")
    if len(extra) > 1:
        sys.exit(f"error: unexpected arguments {extra[1:]}; all options are --flags (see --help)")
    if not fv.workdir:
        sys.exit("error: --workdir is required: the directory for checkpoints and metrics (rerun to resume)")
    try:
        config = config_from_flags(fv).validate()  # bad values fail here, before joining other processes
        distributed.initialize(fv.coordinator_address, fv.num_processes, fv.process_id, multihost=fv.multihost)
    except errors.UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    from jaxcnn.train.loop import TrainingInterrupted, train_and_evaluate  # after start-up: may build arrays

    logging.getLogger("absl").addFilter(_ShortLibraryErrors())
    try:
        train_and_evaluate(config, fv.workdir, new_run=fv.new_run)
    except TrainingInterrupted as err:
        print(f"interrupted: {err}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:  # before training started (or a second Ctrl-C): checkpoints on disk are intact
        print("interrupted: stopped before a new checkpoint could be saved; rerun to resume", file=sys.stderr)
        sys.exit(130)
    except errors.UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
