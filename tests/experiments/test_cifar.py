"""The real CIFAR-10 recipe, end to end under tfds.testing.mock_data: train, checkpoint, resume."""

import json
import pathlib

import pytest
import tensorflow_datasets as tfds

from experiments import cifar

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _argv(workdir, epochs):
    return [
        "cifar", f"--flagfile={ROOT / 'launch/flags/cifar10_resnet18.flags'}", f"--workdir={workdir}",
        f"--data_dir={workdir / 'tfds'}", "--batch_size=8", f"--epochs={epochs}", "--progress_bar=false",
    ]


def _metrics(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_cifar10_resnet18_flagfile_trains_checkpoints_and_resumes(tmp_path, capsys):
    """The flagfile's own ResNet-18 trains an epoch; the resume (refused, then continued on purpose) follows the
    same flagfile with --model=simple_cnn, so the ResNet-18 steps compile once (they train in tests/test_models.py
    too) and the two small runs cost less than a second ResNet-18 compilation."""
    with tfds.testing.mock_data(num_examples=20):
        cifar.main(_argv(tmp_path, epochs=1))
    out = capsys.readouterr().out
    assert ("resnet18_cifar on cifar10: 18 train / 2 validation (the last 2 examples of the training split) / 20 test "
            "images") in out  # automatic validation: a tenth of the training split
    assert "epoch   1/1" in out
    assert [m["epoch"] for m in _metrics(tmp_path)] == [1]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["2"]  # 18 // 8 = 2 steps
    assert [p.name for p in (tmp_path / "best").iterdir()] == ["2"]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))

    workdir, small = tmp_path / "resumed", ["--model=simple_cnn"]
    with tfds.testing.mock_data(num_examples=20):
        cifar.main(_argv(workdir, epochs=1) + small)
        assert "simple_cnn on cifar10" in capsys.readouterr().out
        with pytest.raises(SystemExit):  # a longer schedule changes the numbers: refused unless on purpose
            cifar.main(_argv(workdir, epochs=2) + small)
        assert "(epochs: 1.0 -> 2.0)" in capsys.readouterr().err
        cifar.main(_argv(workdir, epochs=2) + small + ["--allow_config_change"])  # resumes at step 2
    out = capsys.readouterr().out
    assert "--allow_config_change: continuing with epochs: 1.0 -> 2.0 (recorded in history.jsonl)" in out
    assert "Resuming from checkpoint at step 2 (epoch 2)" in out
    history = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines()]
    assert [event["event"] for event in history] == ["start", "settings changed on purpose"]
    assert history[1]["changes"] == ["epochs: 1.0 -> 2.0"] and history[1]["step"] == 2
    assert history[1]["packages"]["jax"] and "python" in history[1]
    assert "epoch   1/2" not in out and "epoch   2/2" in out
    metrics = _metrics(workdir)
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert all(0.0 <= m["test_accuracy"] <= 1.0 and m["train_loss"] > 0 for m in metrics)
    assert "4" in {p.name for p in (workdir / "checkpoints").iterdir()}


@pytest.mark.slow  # the refusal itself: tests/train/test_workdir.py, tests/experiments/test_bad_input.py
def test_resuming_with_another_model_is_refused_in_one_line(tmp_path, capsys):
    with tfds.testing.mock_data(num_examples=8):
        cifar.main(_argv(tmp_path, epochs=1) + ["--model=resnet20"])
        with pytest.raises(SystemExit) as exit_info:
            cifar.main(_argv(tmp_path, epochs=2))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "model: 'resnet20' -> 'resnet18_cifar'" in err[-1]
