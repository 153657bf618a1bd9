"""The style-transfer losses on feature maps [B, H, W, C]: content (feature distance), style (Gram-matrix
distance) and total variation. Content and style distances are relative (divided by the target's squared norm),
so one set of weights suits networks whose activations differ in scale (a small net trained here, ImageNet VGGs)."""

import jax.numpy as jnp


def gram_matrix(features):
    """[B, H, W, C] -> [B, C, C]: channel co-activations summed over positions, divided by H * W."""
    _, height, width, _ = features.shape
    return jnp.einsum("bhwc,bhwd->bcd", features, features) / (height * width)


def relative_distance(value, target):
    """||value - target||^2 / ||target||^2 (target 0: the plain squared norm)."""
    norm = jnp.sum(jnp.square(target))
    return jnp.sum(jnp.square(value - target)) / jnp.where(norm > 0, norm, 1.0)


def content_loss(features: dict, targets: dict) -> jnp.ndarray:
    """Sum over the content layers of the relative distance between feature maps."""
    return sum(relative_distance(features[name], target) for name, target in targets.items())


def style_loss(features: dict, target_grams: dict) -> jnp.ndarray:
    """Mean over the style layers of the relative distance between Gram matrices."""
    return sum(relative_distance(gram_matrix(features[name]), gram) for name, gram in target_grams.items()) / len(target_grams)


def total_variation(images):
    """Mean absolute difference between neighbouring pixels (down and right) of [B, H, W, C] images."""
    return jnp.mean(jnp.abs(images[:, 1:] - images[:, :-1])) + jnp.mean(jnp.abs(images[:, :, 1:] - images[:, :, :-1]))
