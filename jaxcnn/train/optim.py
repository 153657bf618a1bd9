"""Optimizers and learning-rate schedules from optax.

Weight decay applies to kernels only: biases and BatchNorm scales/offsets (all 1-D) are not decayed,
the usual practice since decaying them only fights the normalisation. For transfer learning the backbone
and the head are two parameter groups (`optax.partition`): the backbone's rule is the head's with its
learning rate scaled by --backbone_lr_scale, or no update at all when that is 0.
"""

import jax
import optax

from jaxcnn import transfer
from jaxcnn.train.config import TrainConfig


def make_schedule(config: TrainConfig, steps_per_epoch: int) -> optax.Schedule:
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    warmup_steps = min(round(config.warmup_epochs * steps_per_epoch), total_steps - 1)
    if config.schedule == "constant":
        return optax.constant_schedule(config.learning_rate)
    if config.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup_steps, total_steps, end_value=0.0)
    # One-cycle (Smith & Topin): warm up for the warmup fraction (default 30%), then anneal.
    pct_start = warmup_steps / total_steps if warmup_steps else 0.3
    return optax.cosine_onecycle_schedule(total_steps, config.learning_rate, pct_start=pct_start)


def decay_mask(params):
    """True for parameters that get weight decay: kernels (ndim > 1), not biases or norm parameters."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(config: TrainConfig, steps_per_epoch: int, head: frozenset[str] = frozenset()) -> optax.GradientTransformation:
    """The update rule; with --grad_accum_steps=k it is wrapped in `optax.MultiSteps`, which averages k
    micro-batch gradients and applies one update (the schedule counts those updates, not micro-batches).
    With --backbone_lr_scale != 1, the modules in `head` (`jaxcnn.transfer.head_modules`) follow the
    schedule and the others a scaled copy of it (0: frozen)."""
    schedule = make_schedule(config, steps_per_epoch)
    tx = _update_rule(config, schedule)
    if config.backbone_lr_scale != 1:
        scale = config.backbone_lr_scale
        backbone = optax.set_to_zero() if scale == 0 else _update_rule(config, lambda step: scale * schedule(step))
        tx = optax.partition({transfer.HEAD: tx, transfer.BACKBONE: backbone},
                             lambda params: transfer.param_labels(params, head))
    if config.grad_accum_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=config.grad_accum_steps).gradient_transformation()
    return tx


def _update_rule(config: TrainConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    if config.optimizer == "adamw":
        return optax.adamw(schedule, weight_decay=config.weight_decay, mask=decay_mask)
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay, mask=decay_mask),
        optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.momentum > 0),
    )
