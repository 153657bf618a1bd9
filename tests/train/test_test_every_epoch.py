"""--test_every_epoch=false: the test split is evaluated once, when the run ends, on the checkpoint selected on
validation, and reports exactly what a run evaluating it every epoch reports for that epoch."""

import json

from conftest import FOLDER_RUN_SETTINGS

from jaxcnn import evaluation
from jaxcnn.train import TrainConfig
from jaxcnn.train.loop import train_and_evaluate
from jaxcnn.train.selection import best_row


def _rows(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_the_selected_epochs_test_numbers_equal_those_of_a_run_testing_every_epoch(folder_run, tmp_path, capsys):
    root, every_epoch = folder_run
    config = TrainConfig(dataset=f"folder:{root}", **{**FOLDER_RUN_SETTINGS, "test_every_epoch": False})
    report = train_and_evaluate(config, tmp_path)
    rows, reference_rows = _rows(tmp_path), _rows(every_epoch)
    selected = best_row(reference_rows)
    assert selected["epoch"] < reference_rows[-1]["epoch"]  # else best/ and the last state could be confused
    assert not any(key.startswith("test_") for row in rows for key in row)
    assert [row["validation_loss"] for row in rows] == [row["validation_loss"] for row in reference_rows]
    assert report["selected_epoch"] == selected["epoch"]
    assert (report["selected_test_loss"], report["selected_test_accuracy"]) == (selected["test_loss"],
                                                                                selected["test_accuracy"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["selected_test_loss"] == selected["test_loss"]
    assert " test loss " not in capsys.readouterr().out.split("Selected epoch")[0]  # no test number before the end

    again = train_and_evaluate(config, tmp_path)  # a complete run, resumed: the same report, evaluated again
    assert again["selected_test_loss"] == report["selected_test_loss"]


def test_without_validation_the_last_state_is_tested_once(folder_run, tmp_path):
    root, _ = folder_run
    settings = {**FOLDER_RUN_SETTINGS, "epochs": 2, "validation_examples": 0, "test_every_epoch": False}
    report = train_and_evaluate(TrainConfig(dataset=f"folder:{root}", **settings), tmp_path)
    latest = evaluation.evaluate_run(tmp_path, "test", checkpoint="latest", tta="none", batch_size=12)
    assert report["selected_epoch"] == 2 and report["selected_by"].startswith("last epoch")
    assert report["selected_test_accuracy"] == latest["accuracy"]
    assert abs(report["selected_test_loss"] - latest["loss"]) < 1e-5 * latest["loss"]
