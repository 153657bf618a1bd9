"""experiments.mnist: flags and auxiliary losses (bad input: test_bad_input.py)."""

import json

import tensorflow_datasets as tfds

from experiments import mnist


def test_auxiliary_loss_flag_trains_the_aux_heads(tmp_path, capsys):
    argv = ["mnist", "--dataset=mnist", "--model=simple_cnn", "--aux_loss_weight=0.3", f"--workdir={tmp_path}",
            f"--data_dir={tmp_path / 'tfds'}", "--batch_size=16", "--epochs=2", "--progress_bar=false", "--validation_examples=8"]
    with tfds.testing.mock_data(num_examples=32):
        mnist.main(argv)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    assert all(m["train_aux_loss"] > 0 for m in metrics)  # the heads ran and were scored
    assert "simple_cnn on mnist" in capsys.readouterr().out
