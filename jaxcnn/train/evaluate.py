"""Evaluation: the pure eval step, with optional test-time augmentation (TTA), and the pass over a test set.

TTA evaluates several views of each image (the image, its mirror, shifts by a few pixels) and averages their
class probabilities before the argmax and the loss: a cheap accuracy gain for models trained with the same
augmentations. With views, the eval step reports the TTA sums *beside* the plain ones ('tta_loss_sum',
'tta_accuracy_sum'), so curves of plain test accuracy stay comparable across runs with and without TTA.
Every sum is masked: padded examples of the last batch never count.
"""

import dataclasses
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxcnn import errors
from jaxcnn.model_input import model_input
from jaxcnn.train.losses import cross_entropy, masked_sums, means_of_sums


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
    """The NHWC batches to evaluate: the images themselves first, then shifts, each also mirrored if asked."""
    offsets = [(0, 0)] + ([(views.shift, 0), (-views.shift, 0), (0, views.shift), (0, -views.shift)] if views.shift else [])
    out = [shift_images(images, dy, dx) if (dy or dx) else images for dy, dx in offsets]
    if views.flip:
        out += [batch[:, :, ::-1, :] for batch in out]
    return out


def view_logits(model, variables: dict, images: jax.Array, views: TTAViews, *, mean, std, resize_to: int = 0,
                to_rgb: bool = False) -> list[jax.Array]:
    """float32 logits of every view of uint8 `images` (the plain view first), the model in inference mode."""
    return [model.apply(variables, model_input(view, mean, std, resize_to, to_rgb), train=False).astype(jnp.float32)
            for view in views_of(images, views)]


def averaged_probabilities(view_logits_list: list[jax.Array]) -> jax.Array:
    """The TTA prediction: the softmax of each view's logits, averaged over the views."""
    return jnp.mean(jnp.stack([jax.nn.softmax(logits) for logits in view_logits_list]), axis=0)


def make_eval_step(model, *, num_classes: int, mean, std, views: TTAViews = TTAViews(),
                   axis_name: str | None = None, resize_to: int = 0,
                   to_rgb: bool = False) -> Callable[[object, dict], dict]:
    """eval_step(state, batch) -> masked sums {'loss_sum', 'correct', 'count'}, plus 'tta_loss_sum' and
    'tta_accuracy_sum' when `views` has more than the image itself. Under `jax.pmap` over `axis_name` the
    sums are added over devices, so either way they are those of the whole batch."""

    def eval_step(state, batch: dict) -> dict:
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        labels, mask = batch["label"], batch["mask"]
        logits = view_logits(model, variables, batch["image"], views, mean=mean, std=std, resize_to=resize_to,
                             to_rgb=to_rgb)
        sums = masked_sums(logits[0], labels, cross_entropy(logits[0], labels, num_classes, 0.0), mask)
        if views.count > 1:
            probs = averaged_probabilities(logits)
            true_prob = jnp.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
            tta = masked_sums(probs, labels, -jnp.log(jnp.maximum(true_prob, 1e-12)), mask)
            sums = {**sums, "tta_loss_sum": tta["loss_sum"], "tta_accuracy_sum": tta["correct"]}
        return sums if axis_name is None else jax.lax.psum(sums, axis_name)

    return eval_step


def evaluate(eval_step, state, dataset, batch_size: int) -> dict:
    """Means of the eval step's sums over every example of `dataset` exactly once (its last batch padded and
    masked): {'loss', 'accuracy'} and, with TTA, {'tta_loss', 'tta_accuracy'}."""
    totals = None
    for batch in dataset.eval_batches(batch_size):
        sums = eval_step(state, batch)
        totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
    return means_of_sums(totals)
