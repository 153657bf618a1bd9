"""The loss and the metric sums every step reports.

Metrics are sums (loss_sum, correct, count, ...) rather than means, so adding them over any number of
steps, devices or padded batches is exact; `means_of_sums` divides by the count once, at the end.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax


def cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int, label_smoothing: float) -> jax.Array:
    """Per-example cross-entropy against (optionally smoothed) one-hot labels, or against soft targets
    [N, num_classes] when labels have the logits' shape (mixup / cutmix: `augment.make_batch_mixer`)."""
    targets = labels.astype(jnp.float32) if labels.ndim == logits.ndim else jax.nn.one_hot(labels, num_classes)
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def masked_sums(scores: jax.Array, labels: jax.Array, per_example_loss: jax.Array, mask: jax.Array) -> dict:
    """{'loss_sum', 'correct', 'count'} over the examples whose mask is set; `scores` are logits or
    probabilities (their argmax is the prediction). Soft targets count their largest weight as the label."""
    mask = mask.astype(jnp.float32)
    if labels.ndim == scores.ndim:
        labels = jnp.argmax(labels, axis=-1)
    correct = (jnp.argmax(scores, axis=-1) == labels).astype(jnp.float32)
    return {"loss_sum": jnp.sum(per_example_loss * mask), "correct": jnp.sum(correct * mask), "count": jnp.sum(mask)}


def means_of_sums(sums: dict) -> dict:
    """{'loss_sum', 'correct', 'count', 'x_sum', ...} (device or host) -> {'loss', 'accuracy', 'x', ...} as floats."""
    sums = {k: float(np.asarray(v)) for k, v in jax.device_get(sums).items()}
    count = max(sums.pop("count"), 1.0)
    out = {"loss": sums.pop("loss_sum") / count, "accuracy": sums.pop("correct") / count}
    out.update({k.removesuffix("_sum"): v / count for k, v in sums.items()})
    return out
