"""`jaxcnn.evaluation` and `python -m jaxcnn.evaluate` on a run trained on a folder of real image files: a
chosen split and checkpoint, with and without TTA, agree with the run's own metrics and with each other."""

import json

import pytest

from jaxcnn import errors, evaluation
from jaxcnn import evaluate as evaluate_command
from jaxcnn.train.checkpoint import saved_steps


def _rows(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_the_latest_checkpoint_on_test_reproduces_the_runs_last_test_accuracy(folder_run):
    _, workdir = folder_run
    result = evaluation.evaluate_run(workdir, "test", checkpoint="latest")
    last = _rows(workdir)[-1]
    assert result["examples"] == 42 and result["source"] == "checkpoints" and result["step"] == 30
    assert result["accuracy"] == pytest.approx(last["test_accuracy"], abs=1e-6)
    assert result["loss"] == pytest.approx(last["test_loss"], rel=1e-4)
    assert set(result["per_class"]) == {"bottom_left", "top_left", "top_right"}
    assert sum(result["per_class"].values()) / 3 == pytest.approx(result["accuracy"])  # 14 test images each


def test_a_chosen_step_split_and_tta(folder_run):
    _, workdir = folder_run
    step = min(saved_steps(workdir))  # an earlier checkpoint than the latest
    early = evaluation.evaluate_run(workdir, "validation", checkpoint=step)
    assert step < 30 and (early["step"], early["examples"], early["split"]) == (step, 6, "validation")
    assert "tta_accuracy" not in early
    flipped = evaluation.evaluate_run(workdir, "train", checkpoint="best", tta="flip")
    assert flipped["examples"] == 36 and flipped["tta"] == "flip"
    assert 0 <= flipped["tta_accuracy"] <= 1 and flipped["tta_loss"] > 0
    with pytest.raises(errors.CheckpointError, match="has no checkpoint at 7; it keeps steps"):
        evaluation.evaluate_run(workdir, checkpoint=7)


def test_the_command_prints_accuracy_loss_and_each_class(folder_run, capsys):
    _, workdir = folder_run
    assert evaluate_command.main([f"--workdir={workdir}", "--checkpoint=latest", "--split=test[:5]"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("checkpoints checkpoint at step 30, split 'test[:5]' (5 examples): loss ")
    classes = {line.split()[0] for line in lines[1:]}  # the classes among the five
    assert 1 <= len(lines[1:]) == len(classes) <= 3 and classes <= {"bottom_left", "top_left", "top_right"}
    with pytest.raises(SystemExit) as exited:
        evaluate_command.main([f"--workdir={workdir}", "--checkpoint=soon"])
    assert exited.value.code == 2 and "use best, latest or a step number" in capsys.readouterr().err
