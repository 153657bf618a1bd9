"""Stopping a run cleanly: SIGINT / SIGTERM become a flag the loop checks between steps, so it can save a
checkpoint and exit; every process of a multi-host run agrees on when to stop."""

import contextlib
import signal

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxcnn import errors


class TrainingInterrupted(errors.UserError):
    """SIGINT / SIGTERM arrived; a checkpoint was saved and the run can be resumed (exit status 130, as a
    shell reports a process stopped by Ctrl-C)."""

    label = "interrupted"
    exit_status = 130

    @classmethod
    def saved(cls, reason: str, step: int, checkpointer, progress) -> "TrainingInterrupted":
        """Once the stop's checkpoint is being written: wait for it, close the progress bar, and return the error
        that says where it is (every training loop stops this way)."""
        checkpointer.wait()
        progress.close()
        return cls(f"{reason} at step {step}: checkpoint saved in {checkpointer.workdir}; run the same command "
                   "again to resume")


class StopFlag:
    """Turns the first SIGINT / SIGTERM into a flag checked between steps; a second one interrupts at once."""

    def __init__(self):
        self.signal_name = None

    def agreed(self) -> str | None:
        """The signal name if any process received one: every process must stop at the same step,
        since saving a checkpoint is a collective operation. Free on one process."""
        if jax.process_count() == 1:
            return self.signal_name
        anyone = multihost_utils.process_allgather(np.int32(self.signal_name is not None)).max()
        return (self.signal_name or "SIGTERM (on another process)") if anyone else None

    def __call__(self, signum, frame):
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self):
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave handlers alone
                previous[sig] = signal.signal(sig, self)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
