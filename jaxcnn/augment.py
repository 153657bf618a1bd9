"""Jittable per-example augmentation of uint8 or float NHWC batches.

Every example draws from its own key (split from one batch key), so the same key always gives the same
batch and an augmentation never depends on batch composition. Policies are comma-separated op names,
e.g. "flip,crop4"; "default" asks the dataset for its safe default and "none" turns augmentation off.
"""

import dataclasses
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxcnn import errors


def random_flip_left_right(key: jax.Array, image: jax.Array) -> jax.Array:
    """Mirror one HWC image horizontally with probability 1/2 (note 002: mirroring)."""
    return jnp.where(jax.random.bernoulli(key), image[:, ::-1, :], image)


def random_crop_with_padding(key: jax.Array, image: jax.Array, padding: int) -> jax.Array:
    """Zero-pad one HWC image by `padding` on each side, then crop back to HxW at a random offset."""
    height, width, channels = image.shape
    padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    offsets = jax.random.randint(key, (2,), 0, 2 * padding + 1)
    return jax.lax.dynamic_slice(padded, (offsets[0], offsets[1], 0), (height, width, channels))


@dataclasses.dataclass(frozen=True)
class AugmentPolicy:
    """Which per-example ops to apply, in order: flip, then pad-and-crop."""

    flip: bool = False
    crop_padding: int = 0

    @property
    def is_identity(self) -> bool:
        return not self.flip and self.crop_padding == 0

    def __str__(self) -> str:
        ops = (["flip"] if self.flip else []) + ([f"crop{self.crop_padding}"] if self.crop_padding else [])
        return ",".join(ops) or "none"


_OP_PATTERNS = {"flip": r"flip", "cropN": r"crop(\d+)"}


def parse_policy(text: str, *, default: AugmentPolicy) -> AugmentPolicy:
    """Parse "flip,crop4" / "default" / "none" into a policy; unknown ops get a one-line error."""
    text = text.strip().lower()
    if text == "default":
        return default
    if text in ("none", ""):
        return AugmentPolicy()
    flip, crop = False, 0
    for op in (part.strip() for part in text.split(",")):
        if op == "flip":
            flip = True
        elif match := re.fullmatch(_OP_PATTERNS["cropN"], op):
            crop = int(match.group(1))
        else:
            raise errors.unknown_name_error("augmentation", op, ["default", "none", *_OP_PATTERNS])
    return AugmentPolicy(flip=flip, crop_padding=crop)


def make_batch_augmenter(policy: AugmentPolicy) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A jittable fn(key, images[N,H,W,C]) -> images applying `policy` with one key per example."""

    def augment_one(key, image):
        flip_key, crop_key = jax.random.split(key)
        if policy.flip:
            image = random_flip_left_right(flip_key, image)
        if policy.crop_padding:
            image = random_crop_with_padding(crop_key, image, policy.crop_padding)
        return image

    def augment_batch(key, images):
        if policy.is_identity:
            return images
        keys = jax.random.split(key, images.shape[0])
        return jax.vmap(augment_one)(keys, images)

    return augment_batch
