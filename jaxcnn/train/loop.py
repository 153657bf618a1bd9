"""`train_and_evaluate(config, workdir)`: the whole run, resumable from its workdir.

Data order comes from (seed, epoch) and per-step randomness from fold_in(rng, step), so a run that
restarts from a checkpoint at step s continues exactly as if it had never stopped.
"""

import contextlib
import pathlib
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from jaxcnn import augment, errors, models, tta
from jaxcnn.data import get_dataset_spec
from jaxcnn.data.stats import colour_stats
from jaxcnn.train import metrics as metrics_lib
from jaxcnn.train import parallel
from jaxcnn.train.checkpoint import Checkpointer, write_or_check_config
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.inputs import make_datasets
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import make_steps


class TrainingInterrupted(errors.UserError):
    """SIGINT / SIGTERM arrived; a checkpoint was saved and the run can be resumed."""


class _StopFlag:
    """Turns the first SIGINT / SIGTERM into a flag checked between steps; a second one interrupts at once."""

    def __init__(self):
        self.signal_name = None

    def agreed(self) -> str | None:
        """The signal name if any process received one: every process must stop at the same step,
        since saving a checkpoint is a collective operation. Free on one process."""
        if jax.process_count() == 1:
            return self.signal_name
        anyone = multihost_utils.process_allgather(np.int32(self.signal_name is not None)).max()
        return (self.signal_name or "SIGTERM (on another process)") if anyone else None

    def __call__(self, signum, frame):
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self):
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave handlers alone
                previous[sig] = signal.signal(sig, self)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _prepare_workdir(workdir) -> pathlib.Path:
    workdir = pathlib.Path(workdir).absolute()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write_test{jax.process_index()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise errors.ConfigError(f"cannot write to --workdir {workdir} ({err.strerror}); choose a writable directory")
    return workdir


def evaluate(eval_step, state, dataset, batch_size: int) -> dict:
    """Test loss / accuracy over every example exactly once (the last batch padded and masked)."""
    totals = None
    for batch in dataset.eval_batches(batch_size):
        sums = eval_step(state, batch)
        totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
    return metrics_lib.summarize(totals)


def train_and_evaluate(config: TrainConfig, workdir, *, devices=None) -> dict:
    """Train `config.model` on `config.dataset`, evaluating each epoch; returns the final metrics.

    Runs data-parallel over `devices` (default: every device of every process; multi-host runs call
    `jaxcnn.train.distributed.initialize` first). Every process calls this with the same config.
    """
    config.validate()
    spec = get_dataset_spec(config.dataset)
    num_classes = config.num_classes or spec.num_classes
    model_options = {"aux_heads": True} if config.aux_loss_weight else {}
    dtype = jnp.dtype(config.dtype)
    model = models.get_model(config.model, num_classes=num_classes, dtype=dtype, **model_options)
    policy = augment.parse_policy(
        config.augment, default=augment.AugmentPolicy(flip=spec.flip_by_default, crop_padding=spec.crop_padding)
    )
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.batch_size, mesh, config.grad_accum_steps)
    data_parallel = parallel.make_data_parallel(config.parallel, mesh)
    train_model = model
    if data_parallel.axis_name is not None:  # pmap: BatchNorm averages its statistics over the device axis
        train_model = models.get_model(config.model, num_classes=num_classes, dtype=dtype,
                                       bn_axis_name=data_parallel.axis_name, **model_options)
    workdir = _prepare_workdir(workdir)

    train_data, test_data = make_datasets(config, mesh, num_classes)  # --input_pipeline: device or streaming
    steps_per_epoch = train_data.steps_per_epoch(config.batch_size)
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    num_epochs = -(-total_steps // steps_per_epoch)

    tx = make_optimizer(config, steps_per_epoch)
    # Created by a compiled init, so parameters are born replicated on every device; float32 whatever --dtype.
    state = data_parallel.create_state(lambda: create_train_state(model, tx, config.seed, spec.image_shape))
    colour = colour_stats(config.dataset, config.data_dir) if policy.needs_colour_stats else None  # pcaF
    steps = make_steps(
        model, tx, num_classes=num_classes, mean=spec.mean, std=spec.std,
        augment_fn=augment.make_batch_augmenter(policy.per_example(), colour),
        mix_fn=augment.make_pair_mixer(policy, num_classes) if policy.mixes else None,  # mixupA / cutmixA
        label_smoothing=config.label_smoothing, aux_loss_weight=config.aux_loss_weight,
        axis_name=data_parallel.axis_name, train_model=train_model, grad_accum_steps=config.grad_accum_steps,
    )
    views = tta.parse_views(config.tta)
    steps = tta.add_to_steps(steps, model, views, mean=spec.mean, std=spec.std, axis_name=data_parallel.axis_name)
    train_step, eval_step = data_parallel.compile(steps)

    checkpointer = Checkpointer(workdir, keep=config.keep_checkpoints)
    latest = checkpointer.latest_step()
    write_or_check_config(workdir, config, resuming=latest is not None)
    if latest is not None:
        state = checkpointer.restore(state)
        metrics_lib.say(f"Resuming from checkpoint at step {latest} (epoch {latest // steps_per_epoch + 1}) in {workdir}")
    processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    accumulation = f" ({config.grad_accum_steps} micro-batches per update)" if config.grad_accum_steps > 1 else ""
    metrics_lib.say(
        f"{config.model} on {config.dataset}: {train_data.num_examples} train / {test_data.num_examples} test images, "
        f"batch {config.batch_size}{accumulation} on {mesh.devices.size} {mesh.devices.flat[0].platform} device(s)"
        f"{processes} (--parallel={config.parallel}, --dtype={config.dtype}), "
        f"{num_epochs} epochs = {total_steps} steps, augment={policy}, tta={views}, "
        f"input={config.input_pipeline}, workdir={workdir}"
    )

    writer = metrics_lib.MetricsWriter(workdir)
    progress = metrics_lib.ProgressBar(config.progress_bar)
    stop = _StopFlag()
    final = {}
    try:
        with stop.installed():
            final = _run_epochs(
                config, state, data_parallel, train_step, eval_step, train_data, test_data, checkpointer, writer,
                progress, stop, steps_per_epoch=steps_per_epoch, total_steps=total_steps, num_epochs=num_epochs,
            )
    finally:
        progress.close()
        checkpointer.wait()
        checkpointer.close()
        writer.close()
    return final


def _run_epochs(config, state, data_parallel, train_step, eval_step, train_data, test_data, checkpointer, writer,
                progress, stop, *, steps_per_epoch, total_steps, num_epochs) -> dict:
    """The epoch loop. `state` arrives (and checkpoints leave) in the global layout; it trains in the
    layout of `data_parallel` (stacked per device under pmap)."""
    step = int(state.step)
    state = data_parallel.to_device(state)
    eval_batch_size = config.batch_size // config.grad_accum_steps  # the micro-batch: fits wherever training does
    final = {}
    if step >= total_steps:
        test = evaluate(eval_step, state, test_data, eval_batch_size)
        metrics_lib.say(f"Run already complete at step {step}: test loss {test['loss']:.4f} acc {100 * test['accuracy']:.2f}%")
        return {f"test_{k}": v for k, v in test.items()}
    while step < total_steps:
        epoch = step // steps_per_epoch
        epoch_end = min((epoch + 1) * steps_per_epoch, total_steps)
        batches = train_data.train_batches(config.seed, epoch, config.batch_size, start_step=step - epoch * steps_per_epoch)
        progress.start_epoch(epoch + 1, num_epochs, epoch_end - epoch * steps_per_epoch, step - epoch * steps_per_epoch,
                             config.batch_size)
        epoch_start_time, epoch_start_step = time.perf_counter(), step
        epoch_sums = window_sums = None
        window_steps = 0
        while step < epoch_end:
            state, sums = train_step(state, next(batches))
            step += 1
            window_steps += 1
            window_sums = sums if window_sums is None else jax.tree.map(lambda a, b: a + b, window_sums, sums)
            # Multi-host: the stop flag is agreed on at window ends only (one all-gather per window).
            window_end = window_steps == config.log_every_steps or step == epoch_end
            stopping = stop.agreed() if window_end or jax.process_count() == 1 else None
            if window_end or stopping:
                window = metrics_lib.summarize(window_sums)
                metrics_lib.check_finite(window, step)
                progress.advance(window_steps, config.batch_size, window["loss"])
                epoch_sums = window_sums if epoch_sums is None else jax.tree.map(lambda a, b: a + b, epoch_sums, window_sums)
                window_sums, window_steps = None, 0
            if stopping:
                checkpointer.save(data_parallel.to_global(state), force=True)
                checkpointer.wait()
                progress.close()
                raise TrainingInterrupted(
                    f"{stopping} at step {step}: checkpoint saved in {checkpointer.workdir}; "
                    "run the same command again to resume"
                )
            if step % config.checkpoint_every_steps == 0:
                checkpointer.save(data_parallel.to_global(state))
        progress.close()
        seconds = time.perf_counter() - epoch_start_time
        train = metrics_lib.summarize(epoch_sums)
        test = evaluate(eval_step, state, test_data, eval_batch_size)
        images_per_s = (step - epoch_start_step) * config.batch_size / seconds
        metrics_lib.say(metrics_lib.epoch_summary_line(epoch + 1, num_epochs, train, test, seconds, images_per_s))
        final = {
            "epoch": epoch + 1,
            **{f"train_{k}": v for k, v in train.items()},
            **{f"test_{k}": v for k, v in test.items()},
            "epoch_seconds": seconds,
            "images_per_second": images_per_s,
        }
        writer.write(step, final)
        writer.plot()
        global_state = data_parallel.to_global(state)
        checkpointer.save(global_state, force=True)
        checkpointer.save_best(global_state, test["accuracy"])
    return final
