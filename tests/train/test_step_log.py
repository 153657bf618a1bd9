"""Per-step TensorBoard logs, read back by TensorBoard's own reader: a trained run's windows carry the loss and
the schedule's learning rate, its settings are TensorBoard hyperparameters, and a window's loss and
throughput are computed from the state's metric sums."""

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

from jaxcnn.train import TrainConfig
from jaxcnn.train.optim import make_schedule
from jaxcnn.train.step_log import StepLog


def _read(logdir) -> event_accumulator.EventAccumulator:
    reader = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    reader.Reload()
    return reader


def _series(reader, tag) -> dict[int, float]:
    return {event.step: float(tensor_util.make_ndarray(event.tensor_proto))
            for event in reader.Tensors(tag)}


def test_a_runs_events_hold_per_step_loss_learning_rate_and_hyperparameters(folder_run):
    _, workdir = folder_run
    reader = _read(workdir / "tensorboard")
    loss, rate = _series(reader, "step/loss"), _series(reader, "step/learning_rate")
    assert sorted(loss) == sorted(rate) == list(range(3, 31, 3))  # a window per epoch of 3 steps
    config = TrainConfig(batch_size=12, epochs=10, learning_rate=0.05, warmup_epochs=0)
    schedule = make_schedule(config, steps_per_epoch=3)
    assert [rate[s] for s in sorted(rate)] == pytest.approx([float(schedule(s - 1)) for s in sorted(rate)])
    assert all(np.isfinite(v) and v > 0 for v in loss.values()) and loss[30] < loss[3]
    hparams = reader.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["model"].string_value == "tiny_vgg" and session.hparams["batch_size"].number_value == 12


def test_a_window_reports_its_own_mean_loss_and_throughput(tmp_path):
    config = TrainConfig(batch_size=4, epochs=1, learning_rate=0.1, schedule="constant")
    log = StepLog(tmp_path, config, steps_per_epoch=10, start_step=4,
                  epoch_sums={"loss_sum": 8.0, "count": 16.0, "correct": 0.0})  # resumed mid-epoch
    first = log.window(6, {"loss_sum": 8.0 + 3.0, "count": 24.0, "correct": 1.0})
    second = log.window(8, {"loss_sum": 11.0 + 1.0, "count": 32.0, "correct": 2.0})
    log.close()
    assert first == {"step/learning_rate": pytest.approx(0.1), "step/loss": pytest.approx(3 / 8)}  # no images/s
    assert second["step/loss"] == pytest.approx(1 / 8) and second["step/images_per_second"] > 0
    reader = _read(tmp_path / "tensorboard")
    assert _series(reader, "step/loss") == pytest.approx({6: 3 / 8, 8: 1 / 8})
    with pytest.raises(KeyError):  # hyperparameters are written by a run's first epoch only
        reader.PluginTagToContent("hparams")
