"""`python -m jaxcnn.inspect_run` on a real Fashion-MNIST run: its accuracy is the run's own best test accuracy,
recomputed from every test example; it writes the three pictures and leaves the run as it was."""

import json

import pytest

from jaxcnn import inspect_run
from jaxcnn.train import TrainConfig, train_and_evaluate


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, fashion_mnist):
    workdir = tmp_path_factory.mktemp("run")
    config = TrainConfig(dataset="fashion_mnist", model="tiny_vgg", classes="5-9", train_examples=1000, batch_size=100,
                         epochs=2, schedule="constant", learning_rate=0.05, progress_bar=False)
    train_and_evaluate(config, workdir)
    return workdir


def test_inspecting_a_run_recomputes_its_best_accuracy_and_draws_it(trained_run, tmp_path, capsys):
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda row: row["test_accuracy"])
    before = sorted(p.relative_to(trained_run) for p in trained_run.rglob("*"))
    assert inspect_run.main([f"--workdir={trained_run}", f"--out={tmp_path / 'pictures'}", "--image_index=3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"best checkpoint at step {best['epoch'] * 10}: test accuracy {100 * best['test_accuracy']:.2f}%"
    assert [line.split()[0] for line in out[1:6]] == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle"]  # classes 5-9
    for name in ("confusion.png", "filters.png", "feature_maps.png"):
        assert (tmp_path / "pictures" / name).stat().st_size > 10_000
    assert sorted(p.relative_to(trained_run) for p in trained_run.rglob("*")) == before  # the run is only read


def test_the_confusion_matrix_covers_every_test_example_of_the_runs_classes(trained_run, tmp_path):
    result = inspect_run.inspect(trained_run, tmp_path)
    assert result["counts"].shape == (5, 5) and result["counts"].sum() == 5000
    assert result["counts"].sum(axis=1).tolist() == [1000] * 5


def test_bad_input_is_one_line(trained_run, tmp_path, capsys):
    assert inspect_run.main([f"--workdir={tmp_path / 'nothing'}"]) == 2
    assert capsys.readouterr().err.startswith(f"error: --workdir={tmp_path / 'nothing'}: cannot read its config.json")
    assert inspect_run.main([f"--workdir={trained_run}", f"--out={tmp_path}", "--image_index=5000"]) == 2
    assert capsys.readouterr().err.strip() == "error: --image_index=5000 is not in [0, 5000) (the test split)"
