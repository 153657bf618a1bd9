"""train_and_evaluate with --input_pipeline=streaming (TFDS + tf.data) on mock TFDS data: it trains,
evaluates every test example, and resumes mid-epoch to the parameters of an uninterrupted run, with
checkpoints written in the background while the next epoch's stream is opened (as in a real run)."""

import pathlib
import sys

import numpy as np

from jaxcnn.train import TrainConfig
from jaxcnn.train.loop import train_and_evaluate

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from scale_run import read_checkpoint  # noqa: E402
from tfds_mock import mock_data  # noqa: E402


def _config(tmp_path, **overrides):
    """32 mock examples, batch 8: 4 steps an epoch. A constant rate, so a shorter run is a prefix of a longer one."""
    return TrainConfig(**{"dataset": "mnist", "model": "simple_cnn", "batch_size": 8, "learning_rate": 0.05,
                          "schedule": "constant", "augment": "flip,crop2,mixup0.4", "tta": "flip",
                          "input_pipeline": "streaming", "progress_bar": False, "data_dir": str(tmp_path / "tfds"),
                          "validation_examples": 0, **overrides})  # held-out cuts: tests/train/test_inputs.py


def _leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_streaming_run_resumed_mid_epoch_ends_bit_for_bit_where_an_uninterrupted_run_does(
        tmp_path, capsys):
    with mock_data(num_examples=32, data_dir=tmp_path / "tfds"):
        whole = train_and_evaluate(_config(tmp_path, epochs=2), tmp_path / "whole")
        stopped = train_and_evaluate(_config(tmp_path, epochs=1.5), tmp_path / "resumed")  # stops at step 6 of 8
        resumed = train_and_evaluate(_config(tmp_path, epochs=2), tmp_path / "resumed", allow_config_change=True)
    out = capsys.readouterr().out
    assert "32 train / 32 test images" in out and "input=streaming" in out
    assert "Resuming from checkpoint at step 6 (epoch 2)" in out  # 2 steps into the second epoch's stream
    assert stopped["epoch"] == 2 and resumed["epoch"] == 2
    a, b = read_checkpoint(tmp_path / "whole", 8), read_checkpoint(tmp_path / "resumed", 8)
    for part in ("params", "batch_stats", "opt_state"):
        for x, y in zip(_leaves(a[part]), _leaves(b[part]), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=part)
    for name in ("test_loss", "test_accuracy", "test_tta_loss", "test_tta_accuracy"):
        assert resumed[name] == whole[name], name  # final metrics, TTA included, from the same parameters
    assert 0 <= whole["test_tta_accuracy"] <= 1
    # The two steps after the resume moved the parameters well beyond rounding: the match can fail.
    middle = read_checkpoint(tmp_path / "resumed", 6)
    assert max(np.abs(x - y).max() for x, y in zip(_leaves(a["params"]), _leaves(middle["params"]))) > 1e-3
