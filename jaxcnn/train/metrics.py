"""Everything a person sees: the per-epoch progress bar, one summary line per epoch, JSONL and TensorBoard.

The one module of the training library that prints (command lines print through `jaxcnn.cli`). Only process 0
writes, so multi-host runs print once.
"""

import json
import pathlib
import sys

import jax
import tensorflow as tf  # already loaded by TFDS; its summary ops write TensorBoard's format
from tqdm import tqdm

from jaxcnn import errors, files, viz
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


def _split_part(name: str, metrics: dict) -> str:
    tta = f" (tta {100 * metrics['tta_accuracy']:.2f}%)" if "tta_accuracy" in metrics else ""  # beside, not instead
    return f"{name} loss {metrics['loss']:.4f} acc {100 * metrics['accuracy']:6.2f}%{tta}  "


def epoch_summary_line(epoch: int, epochs: int, train: dict, validation: dict | None, test: dict | None, seconds: float,
                       images_per_s: float, *, new_best: bool = False, compile_seconds: float | None = None) -> str:
    """One line per epoch: train, validation (marked * when it is the best so far) and test numbers (when evaluated),
    time."""
    validation_part = _split_part("val", validation).rstrip() + ("* " if new_best else "  ") if validation else ""
    test_part = _split_part("test", test) if test else ""
    compiled = f", +{compile_seconds:.1f}s compiling" if compile_seconds is not None else ""
    return (
        f"epoch {epoch:>3}/{epochs}  {_split_part('train', train)}{validation_part}{test_part}"
        f"time {seconds:6.1f}s{compiled}  ({images_per_s:,.0f} img/s)"
    )


class MetricsFileError(errors.UserError):
    """metrics.jsonl holds something that is not this run's record."""


def read_rows(path: pathlib.Path) -> list[dict]:
    """The rows of a run's metrics.jsonl (empty when it does not exist). Each must be a JSON object with an
    integer step and epoch; anything else is a one-line error, never adopted. A last line cut short without its
    newline (a kill while an older jaxcnn appended to the file) is dropped with a warning: the resumed run
    writes that epoch again."""
    if not path.exists():
        return []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise MetricsFileError(f"{path} cannot be read ({err}); restore it or move it aside") from None
    lines = text.splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            if not (isinstance(row, dict) and all(isinstance(row.get(k), int) and row[k] >= 0 for k in ("step", "epoch"))):
                raise ValueError("not an object with the integer step and epoch of a metrics row")
        except ValueError as err:
            if number == len(lines) and not text.endswith("\n"):
                say(f"warning: {path} ended in a line cut short ({line[:60]!r}); dropped it, the epoch is rewritten")
                break
            raise MetricsFileError(f"{path} line {number} is not a jaxcnn metrics row ({str(err).splitlines()[0]}: "
                                   f"{line[:60]!r}); restore the file, or move it aside to start a new record") from None
        rows.append(row)
    return rows


class MetricsWriter:
    """Keeps workdir/metrics.jsonl (one row per epoch, rewritten whole and renamed into place, so a kill never
    leaves half a row) and TensorBoard event files in workdir/tensorboard, and draws workdir/curves.png.

    A row for a step already recorded is not written again: a resumed run that replays an epoch (or finishes one
    whose row a kill prevented) ends with the same rows as a run that never stopped. Every process holds the
    rows (multi-host processes make the same selection from them); process 0 writes.
    """

    def __init__(self, workdir: pathlib.Path):
        self.enabled = jax.process_index() == 0
        self.path = workdir / "metrics.jsonl"
        self._tb = None
        self.rows = read_rows(self.path)  # read by every process before any epoch ends: no process writes yet
        if self.enabled:
            self._tb = tf.summary.create_file_writer(str(workdir / "tensorboard"))

    def write(self, row: dict) -> None:
        """Record `row` (with its step and epoch) unless its step is recorded already."""
        if any(existing["step"] == row["step"] for existing in self.rows):
            return
        self.rows.append(row)
        self.rows.sort(key=lambda r: r["step"])
        if not self.enabled:
            return
        files.write_whole(self.path, "".join(json.dumps(r) + "\n" for r in self.rows))
        with self._tb.as_default():
            for name, value in row.items():
                if isinstance(value, (int, float)) and name not in ("step", "time"):
                    tf.summary.scalar(name, value, step=row["step"])
        self._tb.flush()

    def plot(self) -> None:
        """Redraw workdir/curves.png from every row (resumed runs included)."""
        if self.enabled and self.rows:
            viz.plot_training_curves(self.rows, self.path.with_name("curves.png"))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
