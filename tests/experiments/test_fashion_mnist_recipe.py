"""The README's main job, for real: the Fashion-MNIST flagfile reaches >= 92% test accuracy (about 10 minutes)."""

import json
import pathlib

import pytest

from experiments import mnist
from jaxcnn.data import fashion_mnist_offline

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not fashion_mnist_offline.debian_files_present(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_recipe_reaches_92_percent(tmp_path):
    mnist.main(["mnist", f"--flagfile={ROOT / 'launch/flags/fashion_mnist_tiny_vgg.flags'}", f"--workdir={tmp_path}",
                "--progress_bar=false"])
    summary = json.loads((tmp_path / "summary.json").read_text())  # the epoch selected on validation
    assert summary["selected_by"] == "validation accuracy" and summary["selected_test_accuracy"] >= 0.92, summary
    assert (tmp_path / "curves.png").stat().st_size > 10_000
