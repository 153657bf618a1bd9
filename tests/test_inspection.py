"""`jaxcnn.inspection` on a real Fashion-MNIST run: its accuracy is the run's own best test accuracy, recomputed
from every test example of the run's classes; it draws the three pictures and leaves the run as it was."""

import json
import shutil

import pytest

from jaxcnn import errors, inspection
from jaxcnn.train import TrainConfig
from jaxcnn.train.loop import train_and_evaluate
from jaxcnn.train.plan import resolve

CLASSES_5_TO_9 = ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, fashion_mnist):
    workdir = tmp_path_factory.mktemp("run")
    config = TrainConfig(dataset="fashion_mnist", model="tiny_vgg", classes="5-9", train_examples=1000, batch_size=100,
                         epochs=2, schedule="constant", learning_rate=0.05, progress_bar=False)
    train_and_evaluate(config, workdir)
    return workdir


def _files(workdir) -> dict:
    return {str(p.relative_to(workdir)): (p.stat().st_size, p.stat().st_mtime_ns) for p in workdir.rglob("*")}


def test_inspecting_a_run_recomputes_its_best_accuracy_and_draws_it(trained_run, tmp_path):
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda row: row["test_accuracy"])
    before = _files(trained_run)
    result = inspection.inspect_run(trained_run, tmp_path / "pictures", image_index=3)
    assert (result["source"], result["step"]) == ("best", best["epoch"] * 10)  # 10 steps an epoch
    assert f"{100 * result['accuracy']:.2f}" == f"{100 * best['test_accuracy']:.2f}"
    assert list(result["per_class"]) == CLASSES_5_TO_9
    counts = result["counts"]
    for i, name in enumerate(CLASSES_5_TO_9):
        assert result["per_class"][name] == counts[i, i] / 1000
    assert result["accuracy"] == counts.trace() / 5000
    assert result["paths"] == [tmp_path / "pictures" / name for name in ("confusion.png", "filters.png", "feature_maps.png")]
    for path in result["paths"]:
        assert path.stat().st_size > 10_000
    assert _files(trained_run) == before  # the run is only read


def test_the_confusion_matrix_covers_every_test_example_of_the_runs_classes(trained_run, tmp_path):
    result = inspection.inspect_run(trained_run, tmp_path)
    assert result["counts"].shape == (5, 5) and result["counts"].sum() == 5000
    assert result["counts"].sum(axis=1).tolist() == [1000] * 5


def test_the_pictures_go_to_the_runs_inspect_folder_by_default(trained_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    result = inspection.inspect_run(copy, image_index=4999)  # the last test image is in range
    assert [p.relative_to(copy).as_posix() for p in result["paths"]] == [
        "inspect/confusion.png", "inspect/filters.png", "inspect/feature_maps.png"]
    assert all(p.is_file() for p in result["paths"])
    drawn = result["image"]  # the feature maps' title names the image's true and predicted class
    assert drawn["index"] == 4999 and {drawn["true"], drawn["predicted"]} <= set(CLASSES_5_TO_9)


def _plan(**overrides):
    return resolve(TrainConfig(dataset="fashion_mnist", **overrides))


def test_class_names_come_from_the_dataset_in_the_runs_order():
    assert inspection.class_names(_plan(classes="5-9")) == CLASSES_5_TO_9
    assert inspection.class_names(_plan(classes="0,9")) == ["T-shirt/top", "Ankle boot"]
    every = inspection.class_names(_plan())
    assert len(every) == 10 and every[0] == "T-shirt/top" and every[5:] == CLASSES_5_TO_9
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
