"""Gatys-style optimisation of the pixels: Adam (optax) on an image in [0, 1], compiled as `lax.scan` chunks of
steps, the losses of every step recorded for the loss curve."""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxcnn.style import losses


@dataclasses.dataclass(frozen=True)
class StyleSettings:
    """Loss weights (content and style distances are relative, see `jaxcnn.style.losses`) and the optimiser."""

    content_weight: float = 1.0
    style_weight: float = 100.0
    tv_weight: float = 0.01
    steps: int = 300
    learning_rate: float = 0.02
    init: str = "content"  # or "noise": start from uniform noise (seeded)
    seed: int = 0
    chunk: int = 50  # steps per compiled scan (progress is reported between chunks)


def stylize(features: Callable, content, style, content_layers, style_layers, settings: StyleSettings,
            report: Callable | None = None):
    """Optimise an image (shaped like `content`, [H, W, C] in [0, 1]) so that `features(images [B, H, W, C] in
    [0, 1]) -> {layer: map}` matches `content` at `content_layers` and the Gram matrices of `style` at
    `style_layers`. Returns (image [H, W, C], history {'total', 'content', 'style', 'tv'} of arrays [steps]).
    `report(step, history so far)` is called after every chunk."""
    content_targets = features(content[None], tuple(content_layers))
    style_targets = {name: losses.gram_matrix(f) for name, f in features(style[None], tuple(style_layers)).items()}

    def terms(image):
        maps = features(image[None], tuple(dict.fromkeys((*content_layers, *style_layers))))
        parts = {"content": losses.content_loss({k: maps[k] for k in content_layers}, content_targets),
                 "style": losses.style_loss({k: maps[k] for k in style_layers}, style_targets),
                 "tv": losses.total_variation(image[None])}
        total = (settings.content_weight * parts["content"] + settings.style_weight * parts["style"]
                 + settings.tv_weight * parts["tv"])
        return total, {**parts, "total": total}

    tx = optax.adam(settings.learning_rate)

    @functools.partial(jax.jit, static_argnums=2)
    def run_chunk(image, opt_state, length: int):
        def step(carry, _):
            image, opt_state = carry
            grads, parts = jax.grad(terms, has_aux=True)(image)
            updates, opt_state = tx.update(grads, opt_state, image)
            return (jnp.clip(optax.apply_updates(image, updates), 0.0, 1.0), opt_state), parts

        return jax.lax.scan(step, (image, opt_state), None, length=length)

    image = _initial_image(content, settings)
    opt_state, chunks = tx.init(image), []
    for done in range(0, settings.steps, settings.chunk):
        length = min(settings.chunk, settings.steps - done)
        (image, opt_state), parts = run_chunk(image, opt_state, length)
        chunks.append(jax.device_get(parts))
        if report is not None:
            report(done + length, _history(chunks))
    return np.asarray(image), _history(chunks)


def _initial_image(content, settings: StyleSettings):
    if settings.init == "noise":
        return jax.random.uniform(jax.random.PRNGKey(settings.seed), content.shape, jnp.float32)
    return jnp.asarray(content, jnp.float32)


def _history(chunks: list) -> dict:
    return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
