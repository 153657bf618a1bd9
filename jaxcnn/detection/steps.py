"""The pure detection steps: train_step(state, batch) -> (state, metric sums), eval_step(state, batch) -> loss sums
and predict(variables, images) -> detections. Augmentation, target encoding and normalisation run inside the
compiled step; per-step randomness is fold_in(rng, step) (`jaxcnn.train.steps.step_keys`), one key per example
of the global batch, so jit and pmap draw the same transforms and a resumed run continues exactly."""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from jaxcnn.augment import normalize
from jaxcnn.detection import box_augment, decode, losses, targets
from jaxcnn.detection.model import OUTPUT_STRIDE
from jaxcnn.train.state import TrainState
from jaxcnn.train.steps import add_to_epoch_sums, record_nonfinite, step_keys

# The sums a train step adds into `TrainState.epoch_sums`.
METRIC_SUMS = ("loss_sum", "heatmap_sum", "size_sum", "offset_sum", "objects", "count", "grad_norm_sum")


@dataclasses.dataclass(frozen=True)
class DetectionRecipe:
    """What the steps compute: the model, its classes, the input normalisation, the augmentation, the loss
    weights and the decoding settings."""

    model: object
    num_classes: int
    mean: tuple
    std: tuple
    flip: bool = True
    scale_range: float = 0.25
    size_weight: float = 0.1
    offset_weight: float = 1.0
    max_detections: int = 100
    nms_iou: float = 0.5
    min_score: float = 0.01


@dataclasses.dataclass(frozen=True)
class DetectionSteps:
    train_step: object
    eval_step: object
    predict: object


def zero_sums() -> dict:
    return {name: jnp.zeros((), jnp.float32) for name in METRIC_SUMS}


def batch_targets(recipe: DetectionRecipe, boxes, classes, valid, image_shape) -> dict:
    grid = (image_shape[0] // OUTPUT_STRIDE, image_shape[1] // OUTPUT_STRIDE)
    encode = lambda b, c, v: targets.encode(b, c, v, recipe.num_classes, grid, OUTPUT_STRIDE)  # noqa: E731
    return jax.vmap(encode)(boxes, classes, valid)


def augment_batch(recipe: DetectionRecipe, key, batch: dict, axis_name: str | None) -> dict:
    """Per-example flip / scale-crop with key i of split(key, global batch) for global example i."""
    local = batch["image"].shape[0]
    shard, shards = (0, 1) if axis_name is None else (jax.lax.axis_index(axis_name), jax.lax.psum(1, axis_name))
    keys = jax.lax.dynamic_slice_in_dim(jax.random.split(key, local * shards), shard * local, local)
    one = lambda k, i, b, v: box_augment.random_box_augment(k, i, b, v, flip=recipe.flip,  # noqa: E731
                                                            scale_range=recipe.scale_range)
    images, boxes, valid = jax.vmap(one)(keys, batch["image"], batch["boxes"], batch["valid"])
    return {**batch, "image": images, "boxes": boxes, "valid": valid}


def make_detection_steps(recipe: DetectionRecipe, tx: optax.GradientTransformation, *, axis_name: str | None = None,
                         train_model=None, steps_per_epoch: int | None = None) -> DetectionSteps:
    """The steps; under pmap (`axis_name`) gradients are averaged, sums added and the loss normalised by the
    objects of the global batch, so both modes give the same numbers. `train_model`: the model with its
    BatchNorm over `axis_name`."""
    train_model = train_model or recipe.model

    def loss_fn(params, batch_stats, images, batch_targets_):
        outputs, updates = train_model.apply({"params": params, "batch_stats": batch_stats}, images, train=True,
                                             mutable=["batch_stats"])
        sums = losses.detection_loss_sums(outputs, batch_targets_)
        objects = sums["objects"] if axis_name is None else jax.lax.psum(sums["objects"], axis_name)
        devices = 1 if axis_name is None else jax.lax.psum(1, axis_name)
        scaled = {**sums, "objects": objects / devices}  # pmean of the gradients then gives the global mean
        return losses.combine(scaled, recipe.size_weight, recipe.offset_weight), (sums, updates["batch_stats"])

    def train_step(state: TrainState, batch: dict):
        augment_rng, _, _ = step_keys(state)
        batch = augment_batch(recipe, augment_rng, batch, axis_name)
        images = normalize(batch["image"], recipe.mean, recipe.std)
        t = batch_targets(recipe, batch["boxes"], batch["classes"], batch["valid"], images.shape[1:3])
        grads, (sums, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params, state.batch_stats, images, t)
        if axis_name is not None:
            grads = jax.lax.pmean(grads, axis_name)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        metrics = _metric_sums(recipe, sums, batch["mask"], optax.global_norm(grads), axis_name)
        new_state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                                  batch_stats=batch_stats, opt_state=opt_state,
                                  epoch_sums=add_to_epoch_sums(state, metrics, steps_per_epoch),
                                  nonfinite=record_nonfinite(state, metrics))
        return new_state, metrics

    def eval_step(state: TrainState, batch: dict) -> dict:
        images = normalize(batch["image"], recipe.mean, recipe.std)
        outputs = recipe.model.apply({"params": state.params, "batch_stats": state.batch_stats}, images, train=False)
        t = batch_targets(recipe, batch["boxes"], batch["classes"], batch["valid"], images.shape[1:3])
        sums = losses.detection_loss_sums(outputs, t)
        return _metric_sums(recipe, sums, batch["mask"], jnp.zeros(()), axis_name)

    def predict(variables: dict, images) -> dict:
        outputs = recipe.model.apply(variables, normalize(images, recipe.mean, recipe.std), train=False)
        return decode.detect(outputs, OUTPUT_STRIDE, recipe.max_detections, recipe.nms_iou, recipe.min_score)

    return DetectionSteps(train_step, eval_step, predict)


def _metric_sums(recipe: DetectionRecipe, sums: dict, mask, grad_norm, axis_name: str | None) -> dict:
    """METRIC_SUMS of a (local) batch, added over devices under pmap; the loss is the batch's objective."""
    count = jnp.sum(mask.astype(jnp.float32))
    metrics = {"heatmap_sum": sums["heatmap"], "size_sum": sums["size"], "offset_sum": sums["offset"],
               "objects": sums["objects"], "count": count}
    if axis_name is not None:
        metrics = jax.lax.psum(metrics, axis_name)
    objective = losses.combine({"heatmap": metrics["heatmap_sum"], "size": metrics["size_sum"],
                                "offset": metrics["offset_sum"], "objects": metrics["objects"]},
                               recipe.size_weight, recipe.offset_weight)
    return {**metrics, "loss_sum": objective * metrics["count"], "grad_norm_sum": grad_norm * metrics["count"]}


def means(sums: dict) -> dict:
    """Host floats: 'loss' (the objective, image-weighted), 'heatmap', 'size', 'offset' (per object)."""
    sums = {k: float(v) for k, v in jax.device_get(sums).items()}
    count, objects = max(sums["count"], 1.0), max(sums["objects"], 1.0)
    return {"loss": sums["loss_sum"] / count, "heatmap_loss": sums["heatmap_sum"] / objects,
            "size_loss": sums["size_sum"] / objects, "offset_loss": sums["offset_sum"] / objects}
