"""`train_and_evaluate(config, workdir)`: the whole run, resumable from its workdir.

Data order comes from (seed, epoch) and per-step randomness from fold_in(rng, step), so a run that
restarts from a checkpoint at step s continues exactly as if it had never stopped.
"""

import dataclasses
import pathlib
import time

import jax

from jaxcnn import models, transfer
from jaxcnn.data.stats import colour_stats
from jaxcnn.train import metrics as metrics_lib
from jaxcnn.train import parallel
from jaxcnn.train.checkpoint import Checkpointer, saved_steps
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.evaluate import evaluate
from jaxcnn.train.inputs import make_datasets
from jaxcnn.train.losses import means_of_sums
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.plan import RunPlan, build_model, resolve, step_recipe, transfer_head
from jaxcnn.train.signals import StopFlag, TrainingInterrupted
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import make_steps
from jaxcnn.train.workdir import (TrainedRun, archive_previous_run, load_trained, prepare_workdir,
                                  write_or_check_config)

__all__ = ["TrainingInterrupted", "train_and_evaluate"]


@dataclasses.dataclass(frozen=True)
class _Run:
    """Everything the epoch loop uses, built once: the compiled steps, the data and where the run is saved."""

    plan: RunPlan
    data_parallel: object  # parallel.JitDataParallel or PmapDataParallel
    train_step: object
    eval_step: object
    train_data: object
    test_data: object
    checkpointer: Checkpointer
    steps_per_epoch: int
    total_steps: int

    @property
    def num_epochs(self) -> int:
        return -(-self.total_steps // self.steps_per_epoch)

    @property
    def eval_batch_size(self) -> int:
        """The micro-batch: evaluation fits wherever training does."""
        return self.plan.config.batch_size // self.plan.config.grad_accum_steps


def train_and_evaluate(config: TrainConfig, workdir, *, devices=None, new_run: bool = False) -> dict:
    """Train `config.model` on `config.dataset`, evaluating each epoch; returns the final metrics.

    Runs data-parallel over `devices` (default: every device of every process; multi-host runs call
    `jaxcnn.train.distributed.initialize` first). Every process calls this with the same config.
    Resumes from the workdir's newest good checkpoint; `new_run` first moves an earlier run's files to
    workdir/archive/<time>/ instead.
    """
    plan = resolve(config)
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.batch_size, mesh, config.grad_accum_steps)
    workdir = _prepare_workdir(workdir, new_run)
    run, state = _build_run(plan, mesh, workdir)
    writer = metrics_lib.MetricsWriter(workdir)
    progress = metrics_lib.ProgressBar(config.progress_bar)
    stop = StopFlag()
    try:
        with stop.installed():
            return _run_epochs(run, state, writer, progress, stop)
    finally:
        progress.close()
        run.checkpointer.wait()
        run.checkpointer.close()
        writer.close()


def _prepare_workdir(workdir, new_run: bool) -> pathlib.Path:
    workdir = prepare_workdir(workdir)
    if new_run:
        archived = archive_previous_run(workdir)
        if archived:
            metrics_lib.say(f"--new_run: moved the previous run's files to {archived}")
    return workdir


def _build_run(plan: RunPlan, mesh, workdir: pathlib.Path):
    """(the run, its state in the global layout): resumed from the workdir, else fresh (with a transferred
    backbone under --init_from). Shapes and the --init_from source are checked before any data is read."""
    config = plan.config
    model = build_model(plan)
    data_parallel = parallel.make_data_parallel(config.parallel, mesh)
    variables = models.abstract_variables(model, plan.image_shape)  # shape errors in seconds, before any data
    head = transfer_head(plan, model)  # the classifier (and aux heads) when transferring, else empty
    trained = None  # --init_from is read by a fresh run only: a resumed one needs no source
    if config.init_from and not saved_steps(workdir):
        trained = load_trained(config.init_from)
        trained.check_backbone_fits(variables, head)
    train_data, test_data = make_datasets(plan, mesh)
    steps_per_epoch = train_data.steps_per_epoch(config.batch_size)
    tx = make_optimizer(config, steps_per_epoch, head)
    # Created by a compiled init, so parameters are born replicated on every device; float32 whatever --dtype.
    state = data_parallel.create_state(lambda: create_train_state(model, tx, config.seed, plan.image_shape))
    colour = colour_stats(config.dataset, config.data_dir) if plan.augment.needs_colour_stats else None  # pcaF
    axis_name = data_parallel.axis_name  # pmap: BatchNorm averages its statistics over the device axis
    steps = make_steps(step_recipe(plan, model, head, colour), tx, axis_name=axis_name,
                       train_model=build_model(plan, axis_name) if axis_name else None, steps_per_epoch=steps_per_epoch)
    run = _Run(plan, data_parallel, *data_parallel.compile(steps), train_data, test_data,
               Checkpointer(workdir, keep=config.keep_checkpoints), steps_per_epoch,
               total_steps=max(1, round(config.epochs * steps_per_epoch)))
    state = _starting_state(run, state, workdir, trained, head)
    _describe(run, mesh, workdir)
    return run, state


def _starting_state(run: _Run, state, workdir: pathlib.Path, trained: TrainedRun | None, head: frozenset[str]):
    """The newest good checkpoint's state when resuming; else `state`, with --init_from's backbone grafted."""
    latest = run.checkpointer.latest_step()
    write_or_check_config(workdir, run.plan.config, resuming=latest is not None)
    if latest is not None:
        restored = run.checkpointer.restore(state)
        for line in restored.moved_aside:
            metrics_lib.say(f"warning: {line}")
        metrics_lib.say(f"Resuming from checkpoint at step {restored.step} "
                        f"(epoch {restored.step // run.steps_per_epoch + 1}) in {workdir}")
        return restored.state
    if trained is None:
        return state
    state = transfer.graft(state, trained.variables, head)
    backbone_size, head_size = transfer.count(state.params, head)
    scale = run.plan.config.backbone_lr_scale
    how = "frozen" if scale == 0 else "at the full learning rate" if scale == 1 else f"at {scale:g} x the learning rate"
    metrics_lib.say(f"Transfer: backbone ({backbone_size:,} parameters) from {trained.workdir} ({trained.source} "
                    f"checkpoint, step {trained.step}, {trained.plan.config.model} on {trained.plan.config.dataset}), "
                    f"trained {how}; new head {', '.join(sorted(head))} ({head_size:,} parameters)")
    return state


def _describe(run: _Run, mesh, workdir: pathlib.Path) -> None:
    config = run.plan.config
    processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    accumulation = f" ({config.grad_accum_steps} micro-batches per update)" if config.grad_accum_steps > 1 else ""
    metrics_lib.say(
        f"{config.model} on {config.dataset}: {run.train_data.num_examples} train / {run.test_data.num_examples} test "
        f"images, batch {config.batch_size}{accumulation} on {mesh.devices.size} {mesh.devices.flat[0].platform} "
        f"device(s){processes} (--parallel={config.parallel}, --dtype={config.dtype}), {run.num_epochs} epochs = "
        f"{run.total_steps} steps, augment={run.plan.augment}, tta={run.plan.tta_views}, "
        f"input={config.input_pipeline}, workdir={workdir}"
    )


def _save(run: _Run, state, **kwargs):
    """Checkpoint unless the state went non-finite: then stop, keeping the last good checkpoint. Returns the
    state in the global layout."""
    global_state = run.data_parallel.to_global(state)
    error = metrics_lib.nonfinite_error(global_state.nonfinite, run.checkpointer.latest_step())
    if error:
        raise error
    run.checkpointer.save(global_state, **kwargs)
    return global_state


def _run_epochs(run: _Run, state, writer, progress, stop: StopFlag) -> dict:
    """The epoch loop. `state` arrives (and checkpoints leave) in the global layout; it trains in the
    layout of `run.data_parallel` (stacked per device under pmap). Metric sums and the non-finite record live
    in the state, so the host reads them only at log windows and saves, and a resumed run reports exactly
    what an uninterrupted one would."""
    step = int(state.step)
    state = run.data_parallel.to_step_layout(state)
    if step >= run.total_steps:
        test = evaluate(run.eval_step, state, run.test_data, run.eval_batch_size)
        metrics_lib.say(f"Run already complete at step {step}: test loss {test['loss']:.4f} "
                        f"acc {100 * test['accuracy']:.2f}%")
        return {f"test_{k}": v for k, v in test.items()}
    final = {}
    while step < run.total_steps:
        epoch = step // run.steps_per_epoch
        epoch_start_time, epoch_start_step = time.perf_counter(), step
        state, step = _train_epoch(run, state, step, progress, stop)
        seconds = time.perf_counter() - epoch_start_time
        train = means_of_sums(run.data_parallel.to_global(state.epoch_sums))
        test = evaluate(run.eval_step, state, run.test_data, run.eval_batch_size)
        images_per_s = (step - epoch_start_step) * run.plan.config.batch_size / seconds
        metrics_lib.say(metrics_lib.epoch_summary_line(epoch + 1, run.num_epochs, train, test, seconds, images_per_s))
        final = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train.items()},
                 **{f"test_{k}": v for k, v in test.items()}, "epoch_seconds": seconds, "images_per_second": images_per_s}
        global_state = _save(run, state, force=True)
        writer.write(step, final)
        writer.plot()
        run.checkpointer.save_best(global_state, test["accuracy"])
    return final


def _train_epoch(run: _Run, state, step: int, progress, stop: StopFlag):
    """Train from `step` to the end of its epoch (or of the run); returns (state, step). Checkpoints every
    --checkpoint_every_steps; on SIGINT / SIGTERM saves and raises TrainingInterrupted."""
    config = run.plan.config
    epoch = step // run.steps_per_epoch
    epoch_first_step = epoch * run.steps_per_epoch
    epoch_end = min(epoch_first_step + run.steps_per_epoch, run.total_steps)
    batches = run.train_data.train_batches(config.seed, epoch, config.batch_size, start_step=step - epoch_first_step)
    progress.start_epoch(epoch + 1, run.num_epochs, epoch_end - epoch_first_step, step - epoch_first_step,
                         config.batch_size)
    window_start = step
    while step < epoch_end:
        state, _ = run.train_step(state, next(batches))
        step += 1
        # Multi-host: the stop flag is agreed on at window ends only (one all-gather per window).
        window_end = (step - epoch_first_step) % config.log_every_steps == 0 or step == epoch_end
        stopping = stop.agreed() if window_end or jax.process_count() == 1 else None
        if window_end or stopping:
            running = means_of_sums(run.data_parallel.to_global(state.epoch_sums))
            error = metrics_lib.nonfinite_error(run.data_parallel.to_global(state.nonfinite),
                                                run.checkpointer.latest_step())
            if error:
                raise error
            progress.advance(step - window_start, config.batch_size, running["loss"])
            window_start = step
        if stopping:
            _save(run, state, force=True)
            run.checkpointer.wait()
            progress.close()
            raise TrainingInterrupted(f"{stopping} at step {step}: checkpoint saved in {run.checkpointer.workdir}; "
                                      "run the same command again to resume")
        if step % config.checkpoint_every_steps == 0:
            _save(run, state)
    progress.close()
    return state, step
