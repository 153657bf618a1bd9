"""--augment mixing and pca, and --tta, from the command line (experiments.mnist under tfds.testing.mock_data)."""

import json
import math

import numpy as np
import pytest
import tensorflow_datasets as tfds

from experiments import mnist
from jaxcnn.data import load_split


def _train(tmp_path, *flags, epochs=2, examples=32):
    """Run experiments.mnist on mock MNIST; the metrics.jsonl lines."""
    argv = ["mnist", "--dataset=mnist", "--model=simple_cnn", f"--workdir={tmp_path / 'run'}",
            f"--data_dir={tmp_path / 'tfds'}", "--batch_size=8", f"--epochs={epochs}", "--progress_bar=false",
            "--validation_examples=0", *flags]
    with tfds.testing.mock_data(num_examples=examples):
        mnist.main(argv)
    return [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]


def _all_finite(metrics):
    return all(math.isfinite(v) for m in metrics for v in m.values() if isinstance(v, float))


@pytest.mark.parametrize("flags", [
    pytest.param(["--augment=mixup0.4"], marks=pytest.mark.slow),
    ["--augment=cutmix1", "--label_smoothing=0.1"],
    pytest.param(["--augment=flip,crop2,mixup0.2,cutmix1", "--grad_accum_steps=2", "--parallel=pmap",
                  "--model=tiny_vgg"], marks=pytest.mark.slow),  # mixing under pmap: tests/train/test_steps.py
])
def test_mixup_and_cutmix_train_from_flags(tmp_path, capsys, flags):
    metrics = _train(tmp_path, *flags)
    assert [m["step"] for m in metrics] == [4, 8] and _all_finite(metrics)
    assert all(m["train_loss"] > 0.5 and 0 <= m["train_accuracy"] <= 1 for m in metrics)  # soft targets: no easy zero
    policy = flags[0].removeprefix("--augment=")
    assert f"augment={policy}, tta=none, input=device" in capsys.readouterr().out


def test_pca_lighting_trains_on_grayscale_with_statistics_computed_from_the_data(tmp_path):
    metrics = _train(tmp_path, "--augment=pca0.1", epochs=1)
    assert len(metrics) == 1 and _all_finite(metrics)
    cached = json.loads((tmp_path / "tfds" / "jaxcnn_stats" / "mnist.json").read_text())  # written on first use
    with tfds.testing.mock_data(num_examples=32):
        images, _ = load_split("mnist", "train", str(tmp_path / "tfds"))
    pixels = images.astype(np.float64) / 255
    assert cached["eigenvectors"] == [[1.0]]  # one channel: the component is the intensity axis
    assert cached["eigenvalues"][0] == pytest.approx(pixels.var(), rel=1e-5)
    assert cached["mean"][0] == pytest.approx(pixels.mean(), abs=1e-6)


def test_tta_flag_reports_tta_accuracy_beside_the_plain_accuracy(tmp_path, capsys):
    metrics = _train(tmp_path, "--tta=flip,shift1", "--augment=flip")
    out = capsys.readouterr().out
    assert "tta=flip,shift1" in out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all(" (tta " in line for line in lines)
    for m in metrics:
        assert 0 <= m["test_tta_accuracy"] <= 1 and m["test_tta_loss"] > 0 and 0 <= m["test_accuracy"] <= 1
        assert m["test_tta_loss"] != m["test_loss"]  # ten views averaged, not the plain prediction again
    tta_line = lines[-1].split(" (tta ")[1].split("%")[0]
    assert float(tta_line) == pytest.approx(100 * metrics[-1]["test_tta_accuracy"], abs=0.006)
    selected = next(line for line in out.splitlines() if line.startswith("Selected epoch"))  # the last: no validation
    assert selected.endswith(f"{100 * metrics[-1]['test_tta_accuracy']:.2f}% with TTA"), selected
