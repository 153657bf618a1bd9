"""`train_and_evaluate(config, workdir)`: the whole run, resumable from its workdir.

Data order comes from (seed, epoch) and per-step randomness from fold_in(rng, step), so a run that
restarts from a checkpoint at step s continues exactly as if it had never stopped. The end of an epoch is
idempotent: its metrics row travels inside the end-of-epoch checkpoint, so a run killed anywhere between that
checkpoint, its metrics row and its best checkpoint finishes that bookkeeping when it resumes, and ends with the
rows, best/ and curves of a run that never stopped. Selection (best/, early stopping) uses the validation
split; the test split is evaluated every epoch (or, with --test_every_epoch=false, once at the end on the
selected checkpoint) and reported for the selected epoch, never used to choose.
"""

import dataclasses
import json
import pathlib
import time

import jax

from jaxcnn import files, models, transfer
from jaxcnn.data.stats import colour_stats
from jaxcnn.train import metrics as metrics_lib
from jaxcnn.train import parallel, provenance, selection
from jaxcnn.train.checkpoint import Checkpointer, Restored, saved_steps
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.evaluate import evaluate
from jaxcnn.train.inputs import RunData, make_datasets
from jaxcnn.train.lock import workdir_lock
from jaxcnn.train.losses import means_of_sums
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.plan import RunPlan, build_model, resolve, step_recipe, transfer_head
from jaxcnn.train.signals import StopFlag, TrainingInterrupted
from jaxcnn.train.state import create_train_state
from jaxcnn.train.step_log import StepLog
from jaxcnn.train.steps import make_steps
from jaxcnn.train.init_source import load_init_source
from jaxcnn.train.workdir import (TrainedRun, archive_previous_run, check_config, prepare_workdir,
                                  write_config)

__all__ = ["TrainingInterrupted", "save_if_finite", "train_and_evaluate"]

SUMMARY_FILE = "summary.json"


@dataclasses.dataclass(frozen=True)
class _Run:
    """Everything the epoch loop uses, built once: the compiled steps, the data and where the run is saved."""

    plan: RunPlan
    data_parallel: object  # parallel.JitDataParallel or PmapDataParallel
    train_step: object
    eval_step: object
    data: RunData
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


def train_and_evaluate(config: TrainConfig, workdir, *, devices=None, new_run: bool = False,
                       allow_config_change: bool = False) -> dict:
    """Train `config.model` on `config.dataset`, evaluating each epoch; returns the run's report (the last epoch's
    metrics and, under `selected_*`, those of the epoch selected on validation).

    Runs data-parallel over `devices` (default: every device of every process; multi-host runs call
    `jaxcnn.train.distributed.initialize` first). Every process calls this with the same config. Holds the
    workdir's lock while it runs. Resumes from the workdir's newest good checkpoint if its settings match
    config.json (`allow_config_change`: continue with different ones, recorded in history.jsonl); `new_run`
    first moves an earlier run's files to workdir/archive/<time>/ instead.
    """
    plan = resolve(config)
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.batch_size, mesh, config.grad_accum_steps)
    workdir = prepare_workdir(workdir)
    with workdir_lock(workdir):
        if new_run and (archived := archive_previous_run(workdir)):
            metrics_lib.say(f"--new_run: moved the previous run's files to {archived}")
        changes = check_config(workdir, config, allow_change=allow_config_change)
        run, state, restored = _build_run(plan, mesh, workdir)
        write_config(workdir, config)
        event = "settings changed on purpose" if changes else "resume" if restored else "start"
        provenance.record_event(workdir, event, int(state.step), **({"changes": changes} if changes else {}))
        if changes:
            metrics_lib.say(f"--allow_config_change: continuing with {'; '.join(changes)} (recorded in history.jsonl)")
        writer = metrics_lib.MetricsWriter(workdir)
        progress = metrics_lib.ProgressBar(config.progress_bar)
        stop = StopFlag()
        try:
            with stop.installed():
                return _run_epochs(run, state, restored, writer, progress, stop)
        finally:
            progress.close()
            run.checkpointer.wait()
            run.checkpointer.close()
            writer.close()


def _build_run(plan: RunPlan, mesh, workdir: pathlib.Path):
    """(the run, its state in the global layout, the Restored checkpoint or None): resumed from the workdir, else
    fresh (with a transferred backbone under --init_from). Shapes and the --init_from source are checked before
    any data is read."""
    config = plan.config
    model = build_model(plan)
    data_parallel = parallel.make_data_parallel(config.parallel, mesh)
    variables = models.abstract_variables(model, plan.model_input_shape)  # shape errors in seconds, before any data
    head = transfer_head(plan, model)  # the classifier (and aux heads) when transferring, else empty
    trained = None  # --init_from is read by a fresh run only: a resumed one needs no source
    if config.init_from and not saved_steps(workdir):
        trained = load_init_source(config.init_from)  # a run's workdir, or SOURCE:ARCH[:PATH] weights
        trained.check_backbone_fits(variables, head)
    data = make_datasets(plan, mesh)
    steps_per_epoch = data.train.steps_per_epoch(config.batch_size)
    tx = make_optimizer(config, steps_per_epoch, head)
    # Created by a compiled init, so parameters are born replicated on every device; float32 whatever --dtype.
    state = data_parallel.create_state(lambda: create_train_state(model, tx, config.seed, plan.model_input_shape))
    colour = colour_stats(config.dataset, config.data_dir, plan.dataset) if plan.augment.needs_colour_stats else None
    axis_name = data_parallel.axis_name  # pmap: BatchNorm averages its statistics over the device axis
    steps = make_steps(step_recipe(plan, model, head, colour), tx, axis_name=axis_name,
                       train_model=build_model(plan, axis_name) if axis_name else None, steps_per_epoch=steps_per_epoch)
    run = _Run(plan, data_parallel, *data_parallel.compile(steps), data,
               Checkpointer(workdir, keep=config.keep_checkpoints), steps_per_epoch,
               total_steps=max(1, round(config.epochs * steps_per_epoch)))
    state, restored = _starting_state(run, state, workdir, trained, head)
    _describe(run, mesh, workdir)
    return run, state, restored


def _starting_state(run: _Run, state, workdir: pathlib.Path, trained: TrainedRun | None, head: frozenset[str]):
    """(state, Restored or None): the newest good checkpoint's state when resuming; else `state`, with
    --init_from's backbone grafted."""
    if run.checkpointer.latest_step() is not None:
        restored = run.checkpointer.restore(state)
        for line in restored.moved_aside:
            metrics_lib.say(f"warning: {line}")
        metrics_lib.say(f"Resuming from checkpoint at step {restored.step} "
                        f"(epoch {restored.step // run.steps_per_epoch + 1}) in {workdir}")
        return restored.state, restored
    if trained is None:
        return state, None
    state = transfer.graft(state, trained.variables, head)
    backbone_size, head_size = transfer.count(state.params, head)
    scale = run.plan.config.backbone_lr_scale
    how = "frozen" if scale == 0 else "at the full learning rate" if scale == 1 else f"at {scale:g} x the learning rate"
    metrics_lib.say(f"Transfer: backbone ({backbone_size:,} parameters) from {trained.origin}, "
                    f"trained {how}; new head {', '.join(sorted(head))} ({head_size:,} parameters)")
    return state, None


def _describe(run: _Run, mesh, workdir: pathlib.Path) -> None:
    config, data = run.plan.config, run.data
    processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    accumulation = f" ({config.grad_accum_steps} micro-batches per update)" if config.grad_accum_steps > 1 else ""
    if data.validation:
        images = (f"{data.train.num_examples} train / {data.validation.num_examples} validation "
                  f"({data.validation_source}) / {data.test.num_examples} test images")
    else:
        images = f"{data.train.num_examples} train / {data.test.num_examples} test images ({data.validation_source})"
    metrics_lib.say(
        f"{config.model} on {config.dataset}: {images}, batch {config.batch_size}{accumulation} on {mesh.devices.size} "
        f"{mesh.devices.flat[0].platform} device(s){processes} (--parallel={config.parallel}, --dtype={config.dtype}), "
        f"{run.num_epochs} epochs = {run.total_steps} steps, augment={run.plan.augment}, tta={run.plan.tta_views}, "
        f"input={config.input_pipeline}, batchnorm_stats={config.batchnorm_stats}, workdir={workdir}"
    )


def save_if_finite(data_parallel, checkpointer: Checkpointer, state, **kwargs):
    """Checkpoint unless the state went non-finite: then stop, keeping the last good checkpoint. Returns the
    state in the global layout. (Every training loop saves this way.)"""
    global_state = data_parallel.to_global(state)
    error = metrics_lib.nonfinite_error(global_state.nonfinite, checkpointer.latest_step())
    if error:
        raise error
    checkpointer.save(global_state, **kwargs)
    return global_state


def _save(run: _Run, state, **kwargs):
    return save_if_finite(run.data_parallel, run.checkpointer, state, **kwargs)


@dataclasses.dataclass
class _Clock:
    """The first step of a process compiles the step: timed apart, so epoch times and images/s are throughput."""

    compile_seconds: float | None = None
    reported: bool = False


def _run_epochs(run: _Run, state, restored: Restored | None, writer, progress, stop: StopFlag) -> dict:
    """The epoch loop. `state` arrives (and checkpoints leave) in the global layout; it trains in the layout of
    `run.data_parallel` (stacked per device under pmap). Metric sums and the non-finite record live in the
    state, so the host reads them only at log windows and saves, and a resumed run reports exactly what an
    uninterrupted one would. Returns the run's report."""
    step = int(state.step)
    if _ends_epoch(run, step) and restored is not None:  # a kill may have cut this epoch's bookkeeping short
        recorded = [r for r in writer.rows if r["step"] == step]
        row = restored.record or (recorded[0] if recorded else
                                  _epoch_row(run, run.data_parallel.to_step_layout(state), step, None))
        _finish_epoch(run, writer, state, row)
    patience = run.plan.config.early_stopping_patience
    if step >= run.total_steps or selection.should_stop_early(writer.rows, patience):
        metrics_lib.say(f"Run already complete at step {step}")
    state = run.data_parallel.to_step_layout(state)
    clock = _Clock()
    while step < run.total_steps and not selection.should_stop_early(writer.rows, patience):
        epoch_start_time, epoch_start_step = time.perf_counter(), step
        state, step = _train_epoch(run, state, step, progress, stop, clock)
        timing = _timing(run, time.perf_counter() - epoch_start_time, step - epoch_start_step, clock)
        row = _epoch_row(run, state, step, timing)
        new_best = selection.is_new_best(writer.rows, row)
        metrics_lib.say(_epoch_line(run, row, new_best))
        _finish_epoch(run, writer, _save(run, state, force=True, record=row), row)
    return _report(run, writer, step, patience, state)


def _ends_epoch(run: _Run, step: int) -> bool:
    return step > 0 and (step % run.steps_per_epoch == 0 or step == run.total_steps)


def _timing(run: _Run, seconds: float, steps: int, clock: _Clock) -> dict:
    """Epoch time and images/s without the compilation of the first step, which is reported apart."""
    timing = {}
    if clock.compile_seconds is not None and not clock.reported:
        clock.reported = True
        timing["compile_seconds"] = clock.compile_seconds
        seconds, steps = seconds - clock.compile_seconds, steps - 1
    images_per_s = steps * run.plan.config.batch_size / seconds if steps > 0 and seconds > 0 else 0.0
    return {**timing, "epoch_seconds": seconds, "images_per_second": images_per_s}


def _epoch_row(run: _Run, state, step: int, timing: dict | None) -> dict:
    """The epoch's metrics row: train means from the state's sums, validation and test (unless
    --test_every_epoch=false) evaluated now. `state` in the step layout; `timing` None when the epoch is finished
    by a later process (its times are unknown)."""
    train = means_of_sums(run.data_parallel.to_global(state.epoch_sums))
    data = run.data
    validation = evaluate(run.eval_step, state, data.validation, run.eval_batch_size) if data.validation else {}
    test = evaluate(run.eval_step, state, data.test, run.eval_batch_size) if run.plan.config.test_every_epoch else {}
    return {"step": step, "epoch": -(-step // run.steps_per_epoch), "time": time.time(),
            **{f"train_{k}": v for k, v in train.items()}, **{f"validation_{k}": v for k, v in validation.items()},
            **{f"test_{k}": v for k, v in test.items()}, **(timing or {})}


def _epoch_line(run: _Run, row: dict, new_best: bool) -> str:
    def part(split):
        prefix = f"{split}_"
        return {k.removeprefix(prefix): v for k, v in row.items() if k.startswith(prefix)} or None

    return metrics_lib.epoch_summary_line(row["epoch"], run.num_epochs, part("train"), part("validation"), part("test"),
                                          row.get("epoch_seconds", 0.0), row.get("images_per_second", 0.0),
                                          new_best=new_best, compile_seconds=row.get("compile_seconds"))


def _finish_epoch(run: _Run, writer, global_state, row: dict) -> None:
    """The epoch's bookkeeping after its checkpoint: its metrics row, the curves, and best/ when the epoch has
    the best validation accuracy so far. Idempotent: each part is skipped when it is already done."""
    new_best = selection.is_new_best(writer.rows, row)
    writer.write(row)
    writer.plot()
    if new_best and run.checkpointer.best_step() != row["step"]:
        run.checkpointer.save_best(global_state)


def _report(run: _Run, writer, step: int, patience: int, state) -> dict:
    """Say what the run ends with (the epoch selected on validation and its test accuracy); write summary.json.
    `state`: the run's last, in the step layout."""
    report = selection.report(writer.rows)
    if not report:
        return report
    if "selected_test_accuracy" not in report:  # --test_every_epoch=false: the test split is evaluated now, once
        report.update(_selected_test(run, state, report))
    if step < run.total_steps:
        metrics_lib.say(f"Early stopping at epoch {report['epoch']}: no better validation accuracy for {patience} epochs")
    validation = (f"validation acc {100 * report['selected_validation_accuracy']:.2f}%, "
                  if "selected_validation_accuracy" in report else "")
    tta = (f", {100 * report['selected_test_tta_accuracy']:.2f}% with TTA" if "selected_test_tta_accuracy" in report
           else "")
    metrics_lib.say(f"Selected epoch {report['selected_epoch']} (by {report['selected_by']}): {validation}test acc "
                    f"{100 * report['selected_test_accuracy']:.2f}% (loss {report['selected_test_loss']:.4f}){tta}"
                    + ("; best/ holds its checkpoint" if validation else ""))
    if jax.process_index() == 0:
        files.write_whole(run.checkpointer.workdir / SUMMARY_FILE, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _selected_test(run: _Run, state, report: dict) -> dict:
    """The test split's `selected_test_*` numbers for `report`'s selected epoch: of best/ when validation selected
    it, else of `state` (the last epoch's, which is then the selected one). Deterministic, so a resumed complete run
    reports the same."""
    if "selected_validation_accuracy" in report:
        best = run.checkpointer.restore_best(run.data_parallel.to_global(state))
        state = run.data_parallel.to_step_layout(best)
    test = evaluate(run.eval_step, state, run.data.test, run.eval_batch_size)
    return {f"selected_test_{key}": value for key, value in test.items()}


def _train_epoch(run: _Run, state, step: int, progress, stop: StopFlag, clock: _Clock):
    """Train from `step` to the end of its epoch (or of the run); returns (state, step). Checkpoints every
    --checkpoint_every_steps (the epoch's last step is saved by the loop, with its metrics row); on SIGINT /
    SIGTERM saves and raises TrainingInterrupted."""
    config = run.plan.config
    epoch = step // run.steps_per_epoch
    epoch_first_step = epoch * run.steps_per_epoch
    epoch_end = min(epoch_first_step + run.steps_per_epoch, run.total_steps)
    batches = run.data.train.train_batches(config.seed, epoch, config.batch_size, start_step=step - epoch_first_step)
    progress.start_epoch(epoch + 1, run.num_epochs, epoch_end - epoch_first_step, step - epoch_first_step,
                         config.batch_size)
    window_start = step
    step_log = StepLog(run.checkpointer.workdir, config, run.steps_per_epoch, step,
                       run.data_parallel.to_global(state.epoch_sums) if step > epoch_first_step else None)
    while step < epoch_end:
        state = _step(run, state, next(batches), clock)
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
            step_log.window(step, run.data_parallel.to_global(state.epoch_sums))
            window_start = step
        if stopping:
            _save(run, state, force=True)
            raise TrainingInterrupted.saved(stopping, step, run.checkpointer, progress)
        if step % config.checkpoint_every_steps == 0 and step != epoch_end:
            _save(run, state)
    progress.close()
    step_log.close()
    return state, step


def _step(run: _Run, state, batch, clock: _Clock):
    """One train step; the process's first is timed to the end (it includes compiling the step)."""
    if clock.compile_seconds is not None:
        return run.train_step(state, batch)[0]
    start = time.perf_counter()
    state = jax.block_until_ready(run.train_step(state, batch)[0])
    clock.compile_seconds = time.perf_counter() - start
    return state
