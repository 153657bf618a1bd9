"""The CenterNet loss: a penalty-reduced focal loss on the class heatmaps plus L1 on size and centre offset at
the objects' centre cells, each averaged over the objects of the batch."""

import jax
import jax.numpy as jnp


def focal_loss_sum(logits, target, alpha: float = 2.0, beta: float = 4.0):
    """Sum over pixels and classes of CenterNet's focal loss (Law & Deng 2018 variant): at a peak (target 1)
    -(1 - p)^alpha log p; elsewhere -(1 - target)^beta p^alpha log(1 - p), so pixels near a centre cost less."""
    log_p, log_not_p = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    p = jax.nn.sigmoid(logits)
    positive = target >= 1.0
    pos = -((1 - p) ** alpha) * log_p
    neg = -((1 - target) ** beta) * (p ** alpha) * log_not_p
    return jnp.sum(jnp.where(positive, pos, neg))


def gather_cells(maps, index):
    """The [K, D] values of a [H, W, D] map at the flat cells `index` [K]."""
    return jnp.take(maps.reshape(-1, maps.shape[-1]), index, axis=0)


def masked_l1_sum(predicted, target, valid):
    """Sum of |predicted - target| over the valid rows of [K, D] arrays."""
    return jnp.sum(jnp.where(valid[:, None], jnp.abs(predicted - target), 0.0))


def detection_loss_sums(outputs: dict, targets: dict) -> dict:
    """Per-batch sums: 'heatmap', 'size' and 'offset' losses and 'objects' (how many there are), from the
    model's outputs (each [B, H, W, D]) and the batched targets of `targets.encode`."""
    def one(out_heat, out_size, out_offset, t):
        return {"heatmap": focal_loss_sum(out_heat, t["heatmap"]),
                "size": masked_l1_sum(gather_cells(out_size, t["index"]), t["size"], t["valid"]),
                "offset": masked_l1_sum(gather_cells(out_offset, t["index"]), t["offset"], t["valid"]),
                "objects": jnp.sum(t["valid"].astype(jnp.float32))}

    sums = jax.vmap(one)(outputs["heatmap"], outputs["size"], outputs["offset"], targets)
    return jax.tree.map(jnp.sum, sums)


def combine(sums: dict, size_weight: float = 0.1, offset_weight: float = 1.0):
    """The training objective: (heatmap + size_weight * size + offset_weight * offset) / objects (>= 1)."""
    total = sums["heatmap"] + size_weight * sums["size"] + offset_weight * sums["offset"]
    return total / jnp.maximum(sums["objects"], 1.0)
