"""`train_and_evaluate(config, workdir)` for detection: the classification stack's pieces (jit over a mesh or
pmap, verified orbax checkpoints, clean stops, progress and JSONL/TensorBoard metrics) around the detection
steps. Resumable from its workdir: data order from (seed, epoch), randomness from fold_in(rng, step).

    workdir/config.json        the DetectionConfig (a resume with other identity fields is refused)
    workdir/checkpoints/, best/  latest checkpoints; the best by validation mAP@0.5
    workdir/metrics.jsonl      one row per epoch (train and validation losses, validation mAP)
    workdir/test_results.json  the best checkpoint's test mAP@0.5 and mAP@[.5:.95], AP@0.5 by class name
    workdir/predictions.png    test images with predicted and true boxes (and class names)
"""

import dataclasses
import functools
import json
import pathlib
import time

import jax
import optax

from jaxcnn import errors
from jaxcnn.detection import datasets, evaluation, plot
from jaxcnn.detection import steps as steps_lib
from jaxcnn.detection.batches import DetectionBatches
from jaxcnn.detection.config import IDENTITY_FIELDS, DetectionConfig
from jaxcnn.detection.model import CenterNet
from jaxcnn.layers import BatchNorm
from jaxcnn.train import metrics as metrics_lib
from jaxcnn.train import parallel
from jaxcnn.train.checkpoint import Checkpointer
from jaxcnn.train.lock import workdir_lock
from jaxcnn.train.loop import save_if_finite
from jaxcnn.train.optim import decay_mask, make_schedule
from jaxcnn.train.signals import StopFlag, TrainingInterrupted
from jaxcnn.train.state import create_train_state
from jaxcnn.train.workdir import archive_previous_run, prepare_workdir

__all__ = ["TrainingInterrupted", "train_and_evaluate"]
PICTURE_IMAGES = 8


@dataclasses.dataclass(frozen=True)
class _Run:
    config: DetectionConfig
    data_parallel: object
    steps: steps_lib.DetectionSteps  # train_step / eval_step compiled for data_parallel; predict jitted
    splits: dict  # name -> DetectionBatches
    class_names: tuple[str, ...]
    checkpointer: Checkpointer
    workdir: pathlib.Path
    steps_per_epoch: int
    total_steps: int
    state_shapes: object  # the global state as ShapeDtypeStructs with shardings: what a checkpoint restores into

    @property
    def num_epochs(self) -> int:
        return -(-self.total_steps // self.steps_per_epoch)


def train_and_evaluate(config: DetectionConfig, workdir, *, devices=None, new_run: bool = False,
                       stop: StopFlag | None = None) -> dict:
    """Train the CenterNet detector on --dataset (the offline Fashion-MNIST canvases or a TFDS detection dataset),
    select the epoch with the best validation mAP@0.5, score it on the test split; returns the test metrics.
    `stop` replaces the SIGINT/SIGTERM flag (tests)."""
    problems = config.all_problems()
    if problems:
        raise errors.ConfigError("; ".join(problems))
    if jax.process_count() > 1:
        raise errors.ConfigError("detection trains in one process (over all its local devices); start it without "
                                 "multi-host settings")
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.batch_size, mesh)
    workdir = prepare_workdir(workdir)
    with workdir_lock(workdir):  # one run at a time in a workdir, as for the classifiers
        if new_run and (archived := archive_previous_run(workdir)):
            metrics_lib.say(f"--new_run: moved the previous run's files to {archived}")
        run, state = _build_run(config, mesh, workdir)
        writer = metrics_lib.MetricsWriter(workdir)
        progress = metrics_lib.ProgressBar(config.progress_bar)
        stop = stop or StopFlag()
        try:
            with stop.installed():
                _run_epochs(run, state, writer, progress, stop)
            return _test(run)
        finally:
            progress.close()
            run.checkpointer.wait()
            run.checkpointer.close()
            writer.close()


def _datasets(config: DetectionConfig, mesh) -> tuple[dict, datasets.DetectionData]:
    data = datasets.load(config)
    batches = {split: DetectionBatches(images, parallel.replicated(mesh), parallel.batch_sharded(mesh))
               for split, images in data.splits.items()}
    return batches, data


def _build_run(config: DetectionConfig, mesh, workdir: pathlib.Path):
    splits, data = _datasets(config, mesh)
    train_images = splits["train"].data.images
    mean, std = datasets.channel_statistics(train_images)
    num_classes = len(data.class_names)
    data_parallel = parallel.make_data_parallel(config.parallel, mesh)
    model = CenterNet(num_classes, config.width_list(), config.head_width)
    axis = data_parallel.axis_name
    train_model = model.clone(norm=functools.partial(BatchNorm, axis_name=axis)) if axis else None
    steps_per_epoch = splits["train"].steps_per_epoch(config.batch_size)
    if steps_per_epoch == 0:
        raise errors.ConfigError(f"--batch_size={config.batch_size} exceeds --train_images={config.train_images}")
    tx = _optimizer(config, steps_per_epoch)
    recipe = steps_lib.DetectionRecipe(model, num_classes, mean, std, config.flip, config.scale_range,
                                       config.size_weight, config.offset_weight, config.max_detections,
                                       config.nms_iou, config.min_score)
    steps = steps_lib.make_detection_steps(recipe, tx, axis_name=axis, train_model=train_model,
                                           steps_per_epoch=steps_per_epoch)
    image_shape = train_images.shape[1:]
    state = data_parallel.create_state(
        lambda: create_train_state(model, tx, config.seed, image_shape).replace(epoch_sums=steps_lib.zero_sums()))
    train_step, eval_step = data_parallel.compile(steps)
    predict = jax.jit(steps.predict, in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)))
    run = _Run(config, data_parallel, steps_lib.DetectionSteps(train_step, eval_step, predict), splits,
               data.class_names, Checkpointer(workdir, keep=config.keep_checkpoints), workdir, steps_per_epoch,
               max(1, round(config.epochs * steps_per_epoch)),
               jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state))
    state = _starting_state(run, state)
    metrics_lib.say(f"CenterNet {config.widths} on {data.description}: "
                    f"{len(train_images)} train / {splits['validation'].num_examples} validation / "
                    f"{splits['test'].num_examples} test images, batch {config.batch_size} on {mesh.devices.size} "
                    f"{mesh.devices.flat[0].platform} device(s) (--parallel={config.parallel}), {run.num_epochs} "
                    f"epochs = {run.total_steps} steps, workdir={workdir}")
    return run, state


def _optimizer(config: DetectionConfig, steps_per_epoch: int):
    """AdamW on jaxcnn.train.optim's schedule, kernels decayed only."""
    return optax.adamw(make_schedule(config, steps_per_epoch), weight_decay=config.weight_decay, mask=decay_mask)


def _starting_state(run: _Run, state):
    """The newest good checkpoint when there is one (its config.json must agree), else `state`."""
    path = run.workdir / "config.json"
    latest = run.checkpointer.latest_step()
    if latest is not None and path.exists():
        saved = json.loads(path.read_text())
        defaults = DetectionConfig()  # a field newer than the saved config.json held its default then
        before = {name: saved.get(name, getattr(defaults, name)) for name in IDENTITY_FIELDS}
        differences = [f"{name}: {before[name]!r} -> {getattr(run.config, name)!r}" for name in IDENTITY_FIELDS
                       if before[name] != getattr(run.config, name)]
        if differences:
            raise errors.CheckpointError(f"{run.workdir} holds a detection run with a different setup "
                                         f"({'; '.join(differences)}); use a new --workdir or pass --new_run")
    if not path.exists() and jax.process_index() == 0:
        path.write_text(json.dumps(run.config.to_dict(), indent=2, sort_keys=True) + "\n")
    if latest is None:
        return state
    restored = run.checkpointer.restore(state)
    for line in restored.moved_aside:
        metrics_lib.say(f"warning: {line}")
    metrics_lib.say(f"Resuming from checkpoint at step {restored.step} in {run.workdir}")
    return restored.state


def _variables(global_state) -> dict:
    return {"params": global_state.params, "batch_stats": global_state.batch_stats}


def _evaluate(run: _Run, state, split: str) -> dict:
    """Loss and mAP of `split` for `state` (in the step layout)."""
    global_state = run.data_parallel.to_global(state)
    return evaluation.evaluate_split(run.steps.eval_step, run.steps.predict, state, _variables(global_state),
                                     run.splits[split], run.config.batch_size, len(run.class_names))


def _save(run: _Run, state, **kwargs):
    return save_if_finite(run.data_parallel, run.checkpointer, state, **kwargs)


def _run_epochs(run: _Run, state, writer, progress, stop: StopFlag) -> None:
    """Train to the end, then evaluate on validation after each epoch: checkpoint, metrics row, best by mAP@0.5."""
    step = int(state.step)
    state = run.data_parallel.to_step_layout(state)
    while step < run.total_steps:
        epoch = step // run.steps_per_epoch
        started, first_step = time.perf_counter(), step
        state, step = _train_epoch(run, state, step, progress, stop)
        seconds = time.perf_counter() - started
        train = steps_lib.means(run.data_parallel.to_global(state.epoch_sums))
        validation = _evaluate(run, state, "validation")
        images_per_s = (step - first_step) * run.config.batch_size / seconds
        metrics_lib.say(f"epoch {epoch + 1:>3}/{run.num_epochs}  train loss {train['loss']:.4f}  validation loss "
                        f"{validation['loss']:.4f} mAP@0.5 {100 * validation['map50']:5.2f}% mAP@[.5:.95] "
                        f"{100 * validation['map']:5.2f}%  time {seconds:6.1f}s ({images_per_s:,.0f} img/s)")
        row = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in train.items()},
               **{f"validation_{k}": v for k, v in validation.items() if k != "ap50_per_class"},
               "epoch_seconds": seconds, "images_per_second": images_per_s}
        global_state = _save(run, state, force=True)
        earlier = [r["validation_map50"] for r in writer.rows if r["step"] < step]
        writer.write({"step": step, **row})
        if not earlier or validation["map50"] > max(earlier):  # the first of equals stays the best
            run.checkpointer.save_best(global_state)


def _train_epoch(run: _Run, state, step: int, progress, stop: StopFlag):
    """Train from `step` to the end of its epoch (or of the run); checkpoints every --checkpoint_every_steps;
    on SIGINT / SIGTERM saves and raises TrainingInterrupted. Returns (state, step)."""
    config = run.config
    epoch = step // run.steps_per_epoch
    epoch_first_step = epoch * run.steps_per_epoch
    epoch_end = min(epoch_first_step + run.steps_per_epoch, run.total_steps)
    batches = run.splits["train"].train_batches(config.seed, epoch, config.batch_size, step - epoch_first_step)
    progress.start_epoch(epoch + 1, run.num_epochs, epoch_end - epoch_first_step, step - epoch_first_step,
                         config.batch_size)
    window_start = step
    while step < epoch_end:
        state, _ = run.steps.train_step(state, next(batches))
        step += 1
        window_end = (step - epoch_first_step) % config.log_every_steps == 0 or step == epoch_end
        stopping = stop.agreed() if window_end or jax.process_count() == 1 else None
        if window_end or stopping:
            running = steps_lib.means(run.data_parallel.to_global(state.epoch_sums))
            progress.advance(step - window_start, config.batch_size, running["loss"])
            window_start = step
        if stopping:
            _save(run, state, force=True)
            raise TrainingInterrupted.saved(stopping, step, run.checkpointer, progress)
        if step % config.checkpoint_every_steps == 0:
            _save(run, state)
    progress.close()
    return state, step


def _test(run: _Run) -> dict:
    """The best checkpoint (by validation mAP@0.5) on the test split: test_results.json and predictions.png."""
    run.checkpointer.wait()
    best = run.checkpointer.restore_best(run.state_shapes)
    state = run.data_parallel.to_step_layout(best)
    test = _evaluate(run, state, "test")
    by_class = {name: ap for name, ap in zip(run.class_names, test["ap50_per_class"]) if ap is not None}
    result = {"step": int(best.step), **{f"test_{k}": v for k, v in test.items()}, "test_ap50_by_class": by_class}
    metrics_lib.say(f"test (best validation checkpoint, step {result['step']}): mAP@0.5 {100 * test['map50']:.2f}%  "
                    f"mAP@[.5:.95] {100 * test['map']:.2f}%  loss {test['loss']:.4f}")
    metrics_lib.say("test AP@0.5 by class: " + ", ".join(f"{name} {100 * ap:.1f}%" for name, ap in by_class.items()))
    if jax.process_index() == 0:
        (run.workdir / "test_results.json").write_text(json.dumps(result, indent=2) + "\n")
        data = run.splits["test"]
        count = min(PICTURE_IMAGES, data.num_examples)
        shown = evaluation.predictions(run.steps.predict, _variables(best), data, run.config.batch_size)[:count]
        plot.plot_detections(data.data.images[:count], shown, [data.data.objects(i) for i in range(count)],
                             run.class_names, run.workdir / "predictions.png",
                             title=f"test images: test mAP@0.5 {100 * test['map50']:.1f}% (best validation step "
                                   f"{result['step']}); orange: predicted (score >= 0.3), dashed blue: true")
    return result
