"""Everything a person sees: the per-epoch progress bar, one summary line per epoch, JSONL and TensorBoard.

The one module of the training library that prints (command lines print through `jaxcnn.cli`). Only process 0
writes, so multi-host runs print once.
"""

import json
import pathlib
import sys
import time

import jax
import tensorflow as tf  # already loaded by TFDS; its summary ops write TensorBoard's format
from tqdm import tqdm

from jaxcnn import errors, viz
from jaxcnn.train.state import NONFINITE_GRADIENTS, NONFINITE_LOSS


class NumericalError(errors.UserError, FloatingPointError):
    """Loss or gradients stopped being finite."""


def nonfinite_error(nonfinite, last_good_step: int | None) -> NumericalError | None:
    """The error for `TrainState.nonfinite` ((first bad step or -1, NONFINITE_* bits)), or None if all is well."""
    step, what = (int(v) for v in jax.device_get(nonfinite))
    if step < 0:
        return None
    quantities = [name for bit, name in ((NONFINITE_LOSS, "loss"), (NONFINITE_GRADIENTS, "gradients")) if what & bit]
    kept = f"the last good checkpoint (step {last_good_step}) is kept" if last_good_step is not None else "no checkpoint was saved"
    return NumericalError(
        f"{' and '.join(quantities)} became NaN or Inf at step {step}; stopped without saving the damaged state, "
        f"{kept}. Lower --learning_rate or add warmup (--warmup_epochs)"
    )


class ProgressBar:
    """One tqdm bar per epoch counting images, so its rate is images/s and its ETA the epoch's."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and jax.process_index() == 0
        self._bar = None

    def start_epoch(self, epoch: int, epochs: int, steps: int, done: int, batch_size: int) -> None:
        if not self.enabled:
            return
        self._bar = tqdm(
            total=steps * batch_size, initial=done * batch_size, desc=f"epoch {epoch}/{epochs}",
            unit="img", unit_scale=True, leave=False, file=sys.stderr, mininterval=0.5, dynamic_ncols=True,
        )

    def advance(self, steps: int, batch_size: int, running_loss: float | None = None) -> None:
        if self._bar is not None:
            if running_loss is not None:
                self._bar.set_postfix(loss=f"{running_loss:.4f}", refresh=False)
            self._bar.update(steps * batch_size)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def say(message: str) -> None:
    if jax.process_index() == 0:
        print(message, flush=True)


def epoch_summary_line(epoch: int, epochs: int, train: dict, test: dict, seconds: float, images_per_s: float) -> str:
    tta = f"tta acc {100 * test['tta_accuracy']:6.2f}%  " if "tta_accuracy" in test else ""  # --tta: beside, not instead
    return (
        f"epoch {epoch:>3}/{epochs}  train loss {train['loss']:.4f} acc {100 * train['accuracy']:6.2f}%  "
        f"test loss {test['loss']:.4f} acc {100 * test['accuracy']:6.2f}%  {tta}"
        f"time {seconds:6.1f}s  ({images_per_s:,.0f} img/s)"
    )


class MetricsWriter:
    """Appends metrics to workdir/metrics.jsonl and to TensorBoard event files in workdir/tensorboard.

    A resumed run replays the steps after its checkpoint; a step already in metrics.jsonl (written before
    the process died, and bitwise the same when replayed) is not written twice.
    """

    def __init__(self, workdir: pathlib.Path):
        self.enabled = jax.process_index() == 0
        self.path = workdir / "metrics.jsonl"
        self._tb = None
        self._rows = []  # everything in metrics.jsonl, read once: the curves are redrawn from it each epoch
        if self.enabled and self.path.exists():
            text = self.path.read_text()
            self._rows = viz.parse_metrics(text)
            if text and not text.endswith("\n"):  # a line cut short by a kill: end it, so the next one is whole
                with self.path.open("a") as f:
                    f.write("\n")
        if self.enabled:
            self._tb = tf.summary.create_file_writer(str(workdir / "tensorboard"))

    def write(self, step: int, metrics: dict) -> None:
        if not self.enabled or any(row.get("step") == step for row in self._rows):
            return
        row = {"step": step, "time": time.time(), **metrics}
        self._rows.append(row)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        with self._tb.as_default():
            for name, value in metrics.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(name, value, step=step)
        self._tb.flush()

    def plot(self) -> None:
        """Redraw workdir/curves.png from everything in metrics.jsonl (resumed runs included)."""
        if self.enabled and self._rows:
            viz.plot_training_curves(self._rows, self.path.with_name("curves.png"))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
