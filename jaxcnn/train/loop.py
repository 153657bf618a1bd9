"""`train_and_evaluate(config, workdir)`: the whole run, resumable from its workdir.

Data order comes from (seed, epoch) and per-step randomness from fold_in(rng, step), so a run that
restarts from a checkpoint at step s continues exactly as if it had never stopped.
"""

import contextlib
import signal
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxcnn import augment, errors, models, transfer, tta
from jaxcnn.data import get_dataset_spec
from jaxcnn.data.stats import colour_stats
from jaxcnn.train import build, parallel
from jaxcnn.train import metrics as metrics_lib
from jaxcnn.train.checkpoint import Checkpointer, saved_steps
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.inputs import make_datasets
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import make_steps
from jaxcnn.train.workdir import archive_previous_run, prepare_workdir, write_or_check_config


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


def _transfer_backbone(state, trained: transfer.TrainedRun, head: frozenset[str], scale: float):
    """The backbone of the --init_from run, this run's fresh head; says what was taken and what trains."""
    state = transfer.graft(state, trained, head)
    backbone_size, head_size = transfer.count(state.params, head)
    how = "frozen" if scale == 0 else "at the full learning rate" if scale == 1 else f"at {scale:g} x the learning rate"
    metrics_lib.say(f"Transfer: backbone ({backbone_size:,} parameters) from {trained.workdir} ({trained.source} "
                    f"checkpoint, step {trained.step}, {trained.config.model} on {trained.config.dataset}), trained "
                    f"{how}; new head {', '.join(sorted(head))} ({head_size:,} parameters)")
    return state


def evaluate(eval_step, state, dataset, batch_size: int) -> dict:
    """Test loss / accuracy over every example exactly once (the last batch padded and masked)."""
    totals = None
    for batch in dataset.eval_batches(batch_size):
        sums = eval_step(state, batch)
        totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
    return metrics_lib.summarize(totals)


def train_and_evaluate(config: TrainConfig, workdir, *, devices=None, new_run: bool = False) -> dict:
    """Train `config.model` on `config.dataset`, evaluating each epoch; returns the final metrics.

    Runs data-parallel over `devices` (default: every device of every process; multi-host runs call
    `jaxcnn.train.distributed.initialize` first). Every process calls this with the same config.
    Resumes from the workdir's newest good checkpoint; `new_run` first moves an earlier run's files to
    workdir/archive/<time>/ instead.
    """
    config.validate()
    spec = get_dataset_spec(config.dataset)
    num_classes = config.class_count()
    model = build.build_model(config)
    policy = augment.parse_policy(
        config.augment, default=augment.AugmentPolicy(flip=spec.flip_by_default, crop_padding=spec.crop_padding)
    )
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.batch_size, mesh, config.grad_accum_steps)
    data_parallel = parallel.make_data_parallel(config.parallel, mesh)
    train_model = model
    if data_parallel.axis_name is not None:  # pmap: BatchNorm averages its statistics over the device axis
        train_model = build.build_model(config, bn_axis_name=data_parallel.axis_name)
    workdir = prepare_workdir(workdir)
    if new_run:
        archived = archive_previous_run(workdir)
        if archived:
            metrics_lib.say(f"--new_run: moved the previous run's files to {archived}")

    variables = models.abstract_variables(model, spec.image_shape)  # shape errors in seconds, before any data
    head = build.transfer_head(config, model)  # the classifier (and aux heads) when transferring, else empty
    # --init_from is read and checked before any data, and only by a fresh run: a resumed one needs no source.
    trained = None
    if config.init_from and not saved_steps(workdir):
        trained = transfer.load_trained(config.init_from)
        transfer.check_backbone_fits(variables, trained, head)
    train_data, test_data = make_datasets(config, mesh, num_classes)  # --input_pipeline: device or streaming
    steps_per_epoch = train_data.steps_per_epoch(config.batch_size)
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    num_epochs = -(-total_steps // steps_per_epoch)

    tx = make_optimizer(config, steps_per_epoch, head)
    # Created by a compiled init, so parameters are born replicated on every device; float32 whatever --dtype.
    state = data_parallel.create_state(lambda: create_train_state(model, tx, config.seed, spec.image_shape))
    colour = colour_stats(config.dataset, config.data_dir) if policy.needs_colour_stats else None  # pcaF
    steps = make_steps(
        model, tx, num_classes=num_classes, mean=spec.mean, std=spec.std,
        augment_fn=augment.make_batch_augmenter(policy.per_example(), colour),
        mix_fn=augment.make_pair_mixer(policy, num_classes) if policy.mixes else None,  # mixupA / cutmixA
        label_smoothing=config.label_smoothing, aux_loss_weight=config.aux_loss_weight,
        axis_name=data_parallel.axis_name, train_model=train_model, grad_accum_steps=config.grad_accum_steps,
        steps_per_epoch=steps_per_epoch,
        frozen_backbone_head=head if config.backbone_lr_scale == 0 else None,
    )
    views = tta.parse_views(config.tta)
    steps = tta.add_to_steps(steps, model, views, mean=spec.mean, std=spec.std, axis_name=data_parallel.axis_name)
    train_step, eval_step = data_parallel.compile(steps)

    checkpointer = Checkpointer(workdir, keep=config.keep_checkpoints)
    latest = checkpointer.latest_step()
    write_or_check_config(workdir, config, resuming=latest is not None)
    if latest is not None:
        restored = checkpointer.restore(state)
        for line in restored.moved_aside:
            metrics_lib.say(f"warning: {line}")
        state = restored.state
        metrics_lib.say(f"Resuming from checkpoint at step {restored.step} (epoch {restored.step // steps_per_epoch + 1}) "
                        f"in {workdir}")
    elif trained is not None:
        state = _transfer_backbone(state, trained, head, config.backbone_lr_scale)
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
    layout of `data_parallel` (stacked per device under pmap). Metric sums and the non-finite record live
    in the state, so the host reads them only at log windows and saves, and a resumed run reports exactly
    what an uninterrupted one would."""
    step = int(state.step)
    state = data_parallel.to_device(state)
    eval_batch_size = config.batch_size // config.grad_accum_steps  # the micro-batch: fits wherever training does

    def save(state, **kwargs):
        """Checkpoint unless the state went non-finite: then stop, keeping the last good checkpoint."""
        global_state = data_parallel.to_global(state)
        error = metrics_lib.nonfinite_error(global_state.nonfinite, checkpointer.latest_step())
        if error:
            raise error
        checkpointer.save(global_state, **kwargs)
        return global_state

    final = {}
    if step >= total_steps:
        test = evaluate(eval_step, state, test_data, eval_batch_size)
        metrics_lib.say(f"Run already complete at step {step}: test loss {test['loss']:.4f} acc {100 * test['accuracy']:.2f}%")
        return {f"test_{k}": v for k, v in test.items()}
    while step < total_steps:
        epoch = step // steps_per_epoch
        epoch_first_step = epoch * steps_per_epoch
        epoch_end = min(epoch_first_step + steps_per_epoch, total_steps)
        batches = train_data.train_batches(config.seed, epoch, config.batch_size, start_step=step - epoch_first_step)
        progress.start_epoch(epoch + 1, num_epochs, epoch_end - epoch_first_step, step - epoch_first_step, config.batch_size)
        epoch_start_time, epoch_start_step, window_start = time.perf_counter(), step, step
        while step < epoch_end:
            state, _ = train_step(state, next(batches))
            step += 1
            # Multi-host: the stop flag is agreed on at window ends only (one all-gather per window).
            window_end = (step - epoch_first_step) % config.log_every_steps == 0 or step == epoch_end
            stopping = stop.agreed() if window_end or jax.process_count() == 1 else None
            if window_end or stopping:
                running = metrics_lib.summarize(data_parallel.to_global(state.epoch_sums))
                error = metrics_lib.nonfinite_error(data_parallel.to_global(state.nonfinite), checkpointer.latest_step())
                if error:
                    raise error
                progress.advance(step - window_start, config.batch_size, running["loss"])
                window_start = step
            if stopping:
                save(state, force=True)
                checkpointer.wait()
                progress.close()
                raise TrainingInterrupted(
                    f"{stopping} at step {step}: checkpoint saved in {checkpointer.workdir}; "
                    "run the same command again to resume"
                )
            if step % config.checkpoint_every_steps == 0:
                save(state)
        progress.close()
        seconds = time.perf_counter() - epoch_start_time
        train = metrics_lib.summarize(data_parallel.to_global(state.epoch_sums))
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
        global_state = save(state, force=True)
        writer.write(step, final)
        writer.plot()
        checkpointer.save_best(global_state, test["accuracy"])
    return final
