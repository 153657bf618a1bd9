"""The pure steps: train_step(state, batch) -> (state, metric sums) and eval_step(state, batch) -> metric sums.

Batches arrive as uint8 images straight from the data pipeline; augmentation and normalisation run inside
the compiled step, on device. What the steps compute is a `StepRecipe` (resolved from a run's plan); how
they are parallelised is given apart (`axis_name` under pmap), and both give the numbers of one device.
"""

import contextlib
import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxcnn import transfer
from jaxcnn.model_input import model_input
from jaxcnn.train.evaluate import TTAViews, make_eval_step
from jaxcnn.train.losses import cross_entropy, masked_sums
from jaxcnn.train.state import NONFINITE_GRADIENTS, NONFINITE_LOSS, TrainState


@dataclasses.dataclass(frozen=True)
class StepRecipe:
    """What a step computes. `augment_fn(key, images)` runs per example; `mix_fn` (mixup / cutmix,
    `augment.make_pair_mixer`) then mixes the whole global batch, and labels become soft targets.
    `grad_accum_steps=k` splits the batch into k micro-batches whose gradients `tx` (an `optax.MultiSteps`)
    accumulates into one update. `frozen_backbone_head`: the head modules when the backbone is frozen; every
    other module's BatchNorm and Dropout then run as at test time (`transfer.backbone_in_inference_mode`).
    `tta_views`: test-time augmentation views the eval step reports beside the plain sums. `resize_to` /
    `to_rgb`: the model's input size and grey-to-RGB (`jaxcnn.model_input`), after augmentation."""

    model: object
    num_classes: int
    mean: tuple
    std: tuple
    augment_fn: Callable[[jax.Array, jax.Array], jax.Array]
    mix_fn: Callable | None = None
    label_smoothing: float = 0.0
    aux_loss_weight: float = 0.0
    grad_accum_steps: int = 1
    frozen_backbone_head: frozenset[str] | None = None
    tta_views: TTAViews = TTAViews()
    resize_to: int = 0
    to_rgb: bool = False


@dataclasses.dataclass(frozen=True)
class StepFunctions:
    train_step: Callable
    eval_step: Callable
    train_inputs: Callable  # (state, batch) -> the batch as the loss sees it (tests, inspection)


def make_steps(recipe: StepRecipe, tx: optax.GradientTransformation, *, axis_name: str | None = None,
               train_model=None, steps_per_epoch: int | None = None) -> StepFunctions:
    """The pure steps of `recipe` updating with `tx`.

    `axis_name`: set when the steps run under `jax.pmap` over that axis: gradients are averaged and metric
    sums added over it, and `train_model` (the recipe's model built with a norm over that axis) computes
    BatchNorm statistics over the global batch. The train step adds its metric sums into `state.epoch_sums`
    (restarting them at each multiple of `steps_per_epoch`) and records in `state.nonfinite` the first step
    whose loss or gradients were not finite, so the host reads both only when it likes.
    """
    micro_step = _make_micro_step(recipe, tx, train_model or recipe.model, axis_name)

    def train_inputs(state: TrainState, batch: dict) -> dict:
        """Per-example augmentation, then mixing (soft labels), with keys from fold_in(rng, step)."""
        augment_rng, mix_rng, _ = step_keys(state)
        batch = {**batch, "image": augment_global_batch(recipe.augment_fn, augment_rng, batch["image"], axis_name)}
        if recipe.mix_fn is not None:
            images, labels = mix_global_batch(recipe.mix_fn, mix_rng, batch["image"], batch["label"], axis_name)
            batch = {**batch, "image": images, "label": labels}
        return batch

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        _, _, dropout_rng = step_keys(state)
        if axis_name is not None:  # dropout masks cannot match jit's bit for bit; they only need to differ per device
            dropout_rng = jax.random.fold_in(dropout_rng, jax.lax.axis_index(axis_name))
        carry = (state.params, state.batch_stats, state.opt_state)
        carry, metrics = _accumulate(micro_step, carry, train_inputs(state, batch), dropout_rng, recipe.grad_accum_steps)
        params, batch_stats, opt_state = carry
        if axis_name is not None:
            metrics = jax.lax.psum(metrics, axis_name)
        new_state = state.replace(
            step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state,
            epoch_sums=add_to_epoch_sums(state, metrics, steps_per_epoch), nonfinite=record_nonfinite(state, metrics),
        )
        return new_state, metrics

    eval_step = make_eval_step(recipe.model, num_classes=recipe.num_classes, mean=recipe.mean, std=recipe.std,
                               resize_to=recipe.resize_to, to_rgb=recipe.to_rgb,
                               views=recipe.tta_views, axis_name=axis_name)
    return StepFunctions(train_step=train_step, eval_step=eval_step, train_inputs=train_inputs)


def _make_micro_step(recipe: StepRecipe, tx, train_model, axis_name):
    """micro_step((params, batch_stats, opt_state), micro_batch, dropout_rng) -> (carry, metric sums): one
    forward/backward pass and one `tx.update` (a real update unless MultiSteps is accumulating)."""
    frozen_backbone = (contextlib.nullcontext if recipe.frozen_backbone_head is None else
                       functools.partial(transfer.backbone_in_inference_mode, recipe.frozen_backbone_head))

    def loss_fn(params, batch_stats, images, labels, dropout_rng):
        with frozen_backbone():
            logits, updates = train_model.apply({"params": params, "batch_stats": batch_stats}, images, train=True,
                                                rngs={"dropout": dropout_rng}, mutable=["batch_stats", "aux"])
        per_example = cross_entropy(logits, labels, recipe.num_classes, recipe.label_smoothing)
        aux_logits = jax.tree.leaves(updates.get("aux", {}))
        aux_loss = jnp.zeros((), jnp.float32)
        if aux_logits and recipe.aux_loss_weight:
            aux_loss = jnp.mean(jnp.stack([jnp.mean(cross_entropy(a, labels, recipe.num_classes, recipe.label_smoothing))
                                           for a in aux_logits]))
        loss = jnp.mean(per_example) + recipe.aux_loss_weight * aux_loss
        return loss, (logits, per_example, aux_loss, updates.get("batch_stats", {}))

    def micro_step(carry, micro_batch, dropout_rng):
        params, batch_stats, opt_state = carry
        images = model_input(micro_batch["image"], recipe.mean, recipe.std, recipe.resize_to, recipe.to_rgb)
        labels = micro_batch["label"]
        grads, (logits, per_example, aux_loss, batch_stats) = jax.grad(loss_fn, has_aux=True)(
            params, batch_stats, images, labels, dropout_rng)
        if axis_name is not None:
            grads = jax.lax.pmean(grads, axis_name)
        updates, opt_state = tx.update(grads, opt_state, params)
        metrics = masked_sums(logits, labels, per_example, micro_batch["mask"])
        metrics["aux_loss_sum"] = aux_loss * metrics["count"]
        metrics["grad_norm_sum"] = optax.global_norm(grads) * metrics["count"]
        return (optax.apply_updates(params, updates), batch_stats, opt_state), metrics

    return micro_step


def _accumulate(micro_step, carry, batch: dict, dropout_rng, grad_accum_steps: int):
    """The batch in one micro-step, or scanned over `grad_accum_steps` micro-batches with their sums added."""
    if grad_accum_steps == 1:
        return micro_step(carry, batch, dropout_rng)

    def scan_body(carry, inputs):
        micro_batch, index = inputs
        return micro_step(carry, micro_batch, jax.random.fold_in(dropout_rng, index))

    micro_batches = jax.tree.map(lambda x: split_micro_batches(x, grad_accum_steps), batch)
    carry, metrics = jax.lax.scan(scan_body, carry, (micro_batches, jnp.arange(grad_accum_steps)))
    return carry, jax.tree.map(lambda m: jnp.sum(m, axis=0), metrics)


def step_keys(state: TrainState) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(augment, mix, dropout) keys of this step, all from fold_in(rng, step): a resumed run draws the same."""
    step_rng = jax.random.fold_in(state.rng, state.step)
    augment_rng, dropout_rng = jax.random.split(step_rng)
    return augment_rng, jax.random.fold_in(step_rng, 2), dropout_rng


def _global_keys(key: jax.Array, local: int, axis_name: str | None) -> jax.Array:
    """This device's rows of split(key, global batch): example i of the global batch always gets key i."""
    shard, shards = (0, 1) if axis_name is None else (jax.lax.axis_index(axis_name), jax.lax.psum(1, axis_name))
    return jax.lax.dynamic_slice_in_dim(jax.random.split(key, local * shards), shard * local, local)


def add_to_epoch_sums(state: TrainState, metrics: dict, steps_per_epoch: int | None) -> dict:
    """The running sums of the epoch this step belongs to: a step that starts an epoch starts from zero."""
    starts_epoch = (state.step % steps_per_epoch == 0) if steps_per_epoch else False
    return {name: jnp.where(starts_epoch, 0.0, total) + metrics[name] for name, total in state.epoch_sums.items()}


def record_nonfinite(state: TrainState, metrics: dict) -> jax.Array:
    """(step, what) of the first step (counted from 1) whose loss or gradient norm was NaN or Inf."""
    what = (jnp.where(jnp.isfinite(metrics["loss_sum"]), 0, NONFINITE_LOSS)
            | jnp.where(jnp.isfinite(metrics["grad_norm_sum"]), 0, NONFINITE_GRADIENTS))
    first = (state.nonfinite[0] < 0) & (what > 0)
    return jnp.where(first, jnp.stack([state.step + 1, what]).astype(jnp.int32), state.nonfinite)


def augment_global_batch(augment_fn, key: jax.Array, images: jax.Array, axis_name: str | None = None) -> jax.Array:
    """Augment with one key per example of the *global* batch, so a device under pmap draws exactly the
    transforms its rows get under jit: example i always uses split(key, global_batch)[i]."""
    keys = _global_keys(key, images.shape[0], axis_name)
    return jax.vmap(lambda k, image: augment_fn(k, image[None])[0])(keys, images)


def mix_global_batch(mix_fn, key: jax.Array, images: jax.Array, labels: jax.Array, axis_name: str | None = None):
    """Mix example i of the *global* batch with example N-1-i using split(key, N)[i], as
    `augment.make_batch_mixer` does, whether the batch is whole (jit, sharded or not) or split over a
    pmap axis: there device d's partners are device (D-1-d)'s rows reversed, fetched with one ppermute."""
    keys = _global_keys(key, images.shape[0], axis_name)
    if axis_name is None:
        partners, partner_labels = images[::-1], labels[::-1]
    else:
        shards = jax.lax.psum(1, axis_name)
        mirror = [(d, shards - 1 - d) for d in range(shards)]
        partners, partner_labels = (jax.lax.ppermute(x, axis_name, mirror)[::-1] for x in (images, labels))
    return mix_fn(keys, images, partners, labels, partner_labels)


def split_micro_batches(x: jax.Array, k: int) -> jax.Array:
    """[B, ...] -> [k, B/k, ...], micro-batch j holding rows j, j+k, j+2k, ...: every device's rows stay on
    that device (no communication under sharding), and micro-batch j under pmap is the union over devices
    of the same rows as under jit."""
    return jnp.swapaxes(x.reshape(x.shape[0] // k, k, *x.shape[1:]), 0, 1)
