"""experiments.mnist: flags, auxiliary losses, and one-line errors for bad input."""

import json
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from experiments import mnist


def test_auxiliary_loss_flag_trains_the_aux_heads(tmp_path, capsys):
    argv = ["mnist", "--dataset=mnist", "--model=simple_cnn", "--aux_loss_weight=0.3", f"--workdir={tmp_path}",
            f"--data_dir={tmp_path / 'tfds'}", "--batch_size=16", "--epochs=2", "--progress_bar=false"]
    with tfds.testing.mock_data(num_examples=32):
        mnist.main(argv)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    assert all(m["train_aux_loss"] > 0 for m in metrics)  # the heads ran and were scored
    assert "simple_cnn on mnist" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--model=resnet9000", "error: unknown model 'resnet9000'; choose one of: airbench"),
        ("--optimizer=adagrad", "error: unknown optimizer 'adagrad'; choose one of: adamw, sgd"),
        ("--learning_rate=-1", "error: --learning_rate must be positive, got -1.0"),
        ("--batch_size=0", "error: --batch_size must be positive, got 0"),
        ("--epochs=abc", "error: flag --epochs=abc: could not convert string to float"),
        ("--flagfile=/nonexistent.flags", "error: "),
        ("--augment=flip,spin", "error: unknown augmentation 'spin'"),
        ("--augment=mixup", "error: augmentation 'mixup': mixup needs a number, e.g. mixup0.2"),
        ("--tta=rotate", "error: unknown test-time augmentation 'rotate'; choose one of: flip, none, shiftN"),
        ("--input_pipeline=disk", "error: flag --input_pipeline=disk: value should be one of <device|streaming>"),
    ],
)
def test_bad_input_exits_with_one_line(tmp_path, flag, message):
    result = subprocess.run(
        [sys.executable, "-m", "experiments.mnist", f"--workdir={tmp_path}", f"--data_dir={tmp_path}", flag],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(message), last
