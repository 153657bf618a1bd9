"""Per-step TensorBoard logs: every --log_every_steps steps the window's mean training loss, the learning rate
and the throughput, beside the per-epoch metrics in workdir/tensorboard; a run's settings once, as
TensorBoard hyperparameters (its HParams tab).

    step/loss               mean training loss over the steps of the window (not the epoch's running mean)
    step/learning_rate      the optimizer schedule's value at the step (the head's, under --backbone_lr_scale)
    step/images_per_second  training images / wall-clock second over the window; an epoch's first window is
                            left out (after a start it includes compilation, after an epoch the evaluation)

Written by process 0 only, through tf.summary (the format TensorBoard reads; already loaded by TFDS).
"""

import pathlib
import time

import jax
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from jaxcnn.train.config import TrainConfig
from jaxcnn.train.optim import make_schedule

LOG_DIR = "tensorboard"


def hparams_of(config: TrainConfig) -> dict:
    """The config as TensorBoard hyperparameters (bool, int, float or str; None as 'none')."""
    return {name: ("none" if value is None else value) for name, value in config.to_dict().items()}


def _sums(epoch_sums) -> dict:
    return {name: float(np.asarray(value)) for name, value in jax.device_get(epoch_sums).items()}


class StepLog:
    """The windows of one epoch of training (`loop._train_epoch`): `window(step, epoch_sums)` at each window end,
    `close()` after the epoch. Opened at `start_step` with the epoch's metric sums so far: None at an epoch's
    first step (the state still holds the previous epoch's until the step resets them), a resumed epoch's."""

    def __init__(self, workdir, config: TrainConfig, steps_per_epoch: int, start_step: int, epoch_sums=None):
        self.enabled = jax.process_index() == 0
        self.schedule = make_schedule(config, steps_per_epoch)
        self.first_window = True
        self.previous = _sums(epoch_sums) if epoch_sums is not None else {"loss_sum": 0.0, "count": 0.0}
        self.time = time.perf_counter()
        self.writer = tf.summary.create_file_writer(str(pathlib.Path(workdir) / LOG_DIR)) if self.enabled else None
        if self.enabled and start_step == 0:
            with self.writer.as_default():
                hparams_api.hparams(hparams_of(config), trial_id=pathlib.Path(workdir).name)

    def window(self, step: int, epoch_sums) -> dict:
        """Log the window that ends at `step` (the state's `epoch_sums` now); returns what was logged."""
        now, current = time.perf_counter(), _sums(epoch_sums)
        count = current["count"] - self.previous["count"]
        logged = {"step/learning_rate": float(self.schedule(step - 1))}  # the rate the window's last update used
        if count > 0:
            logged["step/loss"] = (current["loss_sum"] - self.previous["loss_sum"]) / count
            if not self.first_window:
                logged["step/images_per_second"] = count / (now - self.time)
        self.previous, self.time, self.first_window = current, now, False
        if self.enabled:
            with self.writer.as_default():
                for name, value in logged.items():
                    tf.summary.scalar(name, value, step=step)
            self.writer.flush()  # a run stopped mid-epoch keeps its windows
        return logged

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
