"""Test-time augmentation: evaluate on several views of each image (mirror, small shifts) and average.

The class probabilities of all views are averaged before the argmax and the loss, a cheap accuracy
gain for models trained with the same augmentations. `make_tta_eval_step` returns an eval step with
the same signature and metric sums as `jaxcnn.train.steps` (masked, so padded examples never count),
so `jaxcnn.train.loop.evaluate` can use either. Training (`--tta=flip`) evaluates both: `with_tta_sums`
adds the TTA sums under their own names, so curves of plain test accuracy stay comparable across runs.
"""

import dataclasses
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxcnn import errors
from jaxcnn.train.steps import normalize


@dataclasses.dataclass(frozen=True)
class TTAViews:
    """Which views to average: the image, its mirror (flip) and shifts by `shift` pixels in the 4 directions."""

    flip: bool = False
    shift: int = 0

    @property
    def count(self) -> int:
        return (2 if self.flip else 1) * (5 if self.shift else 1)

    def __str__(self) -> str:
        return ",".join((["flip"] if self.flip else []) + ([f"shift{self.shift}"] if self.shift else [])) or "none"


def parse_views(text: str) -> TTAViews:
    """"none" | "flip" | "shift1" | "flip,shift2" -> TTAViews; a one-line error for anything else."""
    flip, shift = False, 0
    for token in (t.strip() for t in text.strip().lower().split(",")):
        if token in ("none", ""):
            continue
        if token in ("flip", "mirror"):
            flip = True
        elif match := re.fullmatch(r"shift(\d+)", token):
            shift = int(match.group(1))
        else:
            raise errors.unknown_name_error("test-time augmentation", token, ["none", "flip", "shiftN"])
    return TTAViews(flip=flip, shift=shift)


def shift_images(images: jax.Array, down: int, right: int) -> jax.Array:
    """Move NHWC pictures by whole pixels (down, right), filling the uncovered border with zeros."""
    _, height, width, _ = images.shape
    pad = max(abs(down), abs(right))
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return padded[:, pad - down:pad - down + height, pad - right:pad - right + width, :]


def views_of(images: jax.Array, views: TTAViews) -> list[jax.Array]:
    """The list of NHWC batches to evaluate: identity first, then shifts, each also mirrored if asked."""
    offsets = [(0, 0)] + ([(views.shift, 0), (-views.shift, 0), (0, views.shift), (0, -views.shift)] if views.shift else [])
    out = [shift_images(images, dy, dx) if (dy or dx) else images for dy, dx in offsets]
    if views.flip:
        out += [batch[:, :, ::-1, :] for batch in out]
    return out


def make_tta_eval_step(model, views: TTAViews, *, mean, std, axis_name: str | None = None) -> Callable[[object, dict], dict]:
    """eval_step(state, batch) -> {'loss_sum', 'correct', 'count'} with probabilities averaged over views;
    under `jax.pmap` over `axis_name` the sums are added over devices, as the plain eval step's are."""

    def predict(state, images):
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        probs = [jax.nn.softmax(model.apply(variables, normalize(v, mean, std), train=False).astype(jnp.float32))
                 for v in views_of(images, views)]
        return jnp.mean(jnp.stack(probs), axis=0)

    def eval_step(state, batch):
        probs = predict(state, batch["image"])
        labels = batch["label"]
        mask = batch["mask"].astype(jnp.float32)
        true_prob = jnp.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
        loss = -jnp.log(jnp.maximum(true_prob, 1e-12))
        correct = (jnp.argmax(probs, axis=-1) == labels).astype(jnp.float32)
        sums = {"loss_sum": jnp.sum(loss * mask), "correct": jnp.sum(correct * mask), "count": jnp.sum(mask)}
        return sums if axis_name is None else jax.lax.psum(sums, axis_name)

    eval_step.predict = predict
    return eval_step


def with_tta_sums(eval_step: Callable, tta_step: Callable) -> Callable[[object, dict], dict]:
    """One eval step giving the plain sums plus 'tta_loss_sum' and 'tta_accuracy_sum', which
    `train.metrics.summarize` turns into 'tta_loss' and 'tta_accuracy' (per counted example)."""

    def both(state, batch):
        tta = tta_step(state, batch)
        return {**eval_step(state, batch), "tta_loss_sum": tta["loss_sum"], "tta_accuracy_sum": tta["correct"]}

    return both


def add_to_steps(steps, model, views: TTAViews, *, mean, std, axis_name: str | None = None):
    """`steps` (a `train.steps.StepFunctions`) whose eval step also reports the TTA sums (`with_tta_sums`);
    unchanged when `views` is the image alone (--tta=none)."""
    if views.count == 1:
        return steps
    tta_step = make_tta_eval_step(model, views, mean=mean, std=std, axis_name=axis_name)
    return dataclasses.replace(steps, eval_step=with_tta_sums(steps.eval_step, tta_step))
