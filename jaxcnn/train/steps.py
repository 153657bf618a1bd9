"""Pure train and eval steps: (state, batch) -> (state, metrics) and (state, batch) -> metrics.

Batches arrive as uint8 images straight from the data pipeline; augmentation and normalisation run
inside the compiled step, on device. Metrics are sums (loss_sum, correct, count) so that averaging
over any number of steps or devices is exact, padded evaluation examples included.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxcnn.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class StepFunctions:
    train_step: Callable
    eval_step: Callable


def normalize(images: jax.Array, mean, std) -> jax.Array:
    """uint8 [0, 255] -> float32, standardised per channel."""
    images = images.astype(jnp.float32) / 255.0
    return (images - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int, label_smoothing: float) -> jax.Array:
    """Per-example cross-entropy against (optionally smoothed) one-hot labels, or against soft targets
    [N, num_classes] when labels have the logits' shape (mixup / cutmix: `augment.make_batch_mixer`)."""
    targets = labels.astype(jnp.float32) if labels.ndim == logits.ndim else jax.nn.one_hot(labels, num_classes)
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def _masked_sums(logits, labels, per_example_loss, mask):
    mask = mask.astype(jnp.float32)
    if labels.ndim == logits.ndim:  # soft targets: the class with the largest weight counts as the label
        labels = jnp.argmax(labels, axis=-1)
    correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
    return {"loss_sum": jnp.sum(per_example_loss * mask), "correct": jnp.sum(correct * mask), "count": jnp.sum(mask)}


def make_steps(
    model,
    tx: optax.GradientTransformation,
    *,
    num_classes: int,
    mean,
    std,
    augment_fn: Callable[[jax.Array, jax.Array], jax.Array],
    label_smoothing: float = 0.0,
    aux_loss_weight: float = 0.0,
) -> StepFunctions:
    """Build the pure step functions for one model / optimizer / dataset combination."""

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        step_rng = jax.random.fold_in(state.rng, state.step)
        augment_rng, dropout_rng = jax.random.split(step_rng)
        images = normalize(augment_fn(augment_rng, batch["image"]), mean, std)
        labels = batch["label"]

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats},
                images,
                train=True,
                rngs={"dropout": dropout_rng},
                mutable=["batch_stats", "aux"],
            )
            per_example = cross_entropy(logits, labels, num_classes, label_smoothing)
            loss = jnp.mean(per_example)
            aux_logits = jax.tree.leaves(updates.get("aux", {}))
            aux_loss = jnp.zeros((), jnp.float32)
            if aux_logits and aux_loss_weight:
                aux_loss = jnp.mean(jnp.stack([jnp.mean(cross_entropy(a, labels, num_classes, label_smoothing)) for a in aux_logits]))
            return loss + aux_loss_weight * aux_loss, (logits, per_example, aux_loss, updates.get("batch_stats", {}))

        grads, (logits, per_example, aux_loss, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
        )
        metrics = _masked_sums(logits, labels, per_example, batch["mask"])
        metrics["aux_loss_sum"] = aux_loss * metrics["count"]
        metrics["grad_norm_sum"] = optax.global_norm(grads) * metrics["count"]
        return new_state, metrics

    def eval_step(state: TrainState, batch: dict) -> dict:
        images = normalize(batch["image"], mean, std)
        logits = model.apply({"params": state.params, "batch_stats": state.batch_stats}, images, train=False)
        per_example = cross_entropy(logits, batch["label"], num_classes, 0.0)
        return _masked_sums(logits, batch["label"], per_example, batch["mask"])

    return StepFunctions(train_step=train_step, eval_step=eval_step)
