"""`jaxcnn.inspection` on a real Fashion-MNIST run: its accuracy is the run's own best test accuracy, recomputed
from every test example of the run's classes; it draws the three pictures and leaves the run as it was."""

import json
import shutil

import pytest

from jaxcnn import errors, inspection
from jaxcnn.train import TrainConfig
from jaxcnn.train.plan import resolve

CLASSES_0_TO_4 = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
CLASSES_5_TO_9 = ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture
def trained_run(fashion_mnist_run):
    """tiny_vgg trained on classes 0-4 for one epoch of 20 steps (conftest.py, shared by the session)."""
    return fashion_mnist_run


def _files(workdir) -> dict:
    return {str(p.relative_to(workdir)): (p.stat().st_size, p.stat().st_mtime_ns) for p in workdir.rglob("*")}


def test_inspecting_a_run_recomputes_its_best_accuracy_over_every_test_example_and_draws_it(trained_run, tmp_path):
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda row: row["validation_accuracy"])
    before = _files(trained_run)
    result = inspection.inspect_run(trained_run, tmp_path / "pictures", image_index=3)
    assert (result["source"], result["step"]) == ("best", best["epoch"] * 20)  # 20 steps an epoch
    assert f"{100 * result['accuracy']:.2f}" == f"{100 * best['test_accuracy']:.2f}"
    assert list(result["per_class"]) == CLASSES_0_TO_4
    counts = result["counts"]  # the confusion matrix covers every test example of the run's classes
    assert counts.shape == (5, 5) and counts.sum() == 5000
    assert counts.sum(axis=1).tolist() == [1000] * 5
    for i, name in enumerate(CLASSES_0_TO_4):
        assert result["per_class"][name] == counts[i, i] / 1000
    assert result["accuracy"] == counts.trace() / 5000
    assert result["paths"] == [tmp_path / "pictures" / name for name in ("confusion.png", "filters.png", "feature_maps.png")]
    for path in result["paths"]:
        assert path.stat().st_size > 10_000
    assert _files(trained_run) == before  # the run is only read


def test_the_pictures_go_to_the_runs_inspect_folder_by_default(trained_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    result = inspection.inspect_run(copy, image_index=4999)  # the last test image is in range
    assert [p.relative_to(copy).as_posix() for p in result["paths"]] == [
        "inspect/confusion.png", "inspect/filters.png", "inspect/feature_maps.png"]
    assert all(p.is_file() for p in result["paths"])
    drawn = result["image"]  # the feature maps' title names the image's true and predicted class
    assert drawn["index"] == 4999 and {drawn["true"], drawn["predicted"]} <= set(CLASSES_0_TO_4)


def _plan(**overrides):
    return resolve(TrainConfig(dataset="fashion_mnist", **overrides))


def test_class_names_come_from_the_dataset_in_the_runs_order():
    assert inspection.class_names(_plan(classes="5-9")) == CLASSES_5_TO_9
    assert inspection.class_names(_plan(classes="0,9")) == ["T-shirt/top", "Ankle boot"]
    every = inspection.class_names(_plan())
    assert len(every) == 10 and every[:5] == CLASSES_0_TO_4 and every[5:] == CLASSES_5_TO_9
    assert inspection.class_names(_plan(classes="0,1", num_classes=3)) == ["T-shirt/top", "Trouser", "2"]


def test_bad_input_is_a_one_line_user_error(trained_run, tmp_path):
    with pytest.raises(errors.CheckpointError) as raised:
        inspection.inspect_run(tmp_path / "nothing")
    assert str(raised.value).startswith(f"--workdir={tmp_path / 'nothing'}: cannot use its config.json (")
    assert not (tmp_path / "nothing").exists()
    for index in (5000, -1):
        with pytest.raises(errors.ConfigError) as raised:
            inspection.inspect_run(trained_run, tmp_path, image_index=index)
        assert str(raised.value) == f"--image_index={index} is not in [0, 5000) (the test split)"
    assert not list(tmp_path.glob("*.png"))  # refused before drawing anything
