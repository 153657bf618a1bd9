"""`python -m jaxcnn.models` and jaxcnn.models.summary: per-layer shapes, parameters and FLOPs."""

import subprocess
import sys
from pathlib import Path

import pytest

from jaxcnn import layers, models
from jaxcnn.models.summary import summarize

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxcnn.models", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_prints_a_table_for_resnet18():
    result = _cli("resnet18", "--input", "32x32x3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("resnet18: input 32x32x3")
    assert lines[1].split() == ["layer", "type", "output", "shape", "params", "FLOPs"]
    rows = {line.split()[0]: line for line in lines[3:] if line and not line.startswith(("-", "total"))}
    assert "(1, 16, 16, 64)" in rows["conv1"] and "9,408" in rows["conv1"]       # 7x7/2 stem: 32 -> 16
    assert "(1, 8, 8, 64)" in rows["maxpool"]                                    # 3x3/2 pool: 16 -> 8
    assert "(1, 1, 1, 512)" in rows["layer4_1/conv2"]
    assert "513,000" in rows["fc"]
    assert len(rows) == 42  # 17 convs + 3 shortcut convs, as many BNs, the max-pool and fc
    assert "total params: 11,689,512 (11.69M)" in result.stdout


def test_cli_list_names_every_model():
    result = _cli("--list")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == models.list_models()
    assert any(line.split()[:2] == ["cnn256", "256x256x3"] for line in result.stdout.splitlines())


@pytest.mark.parametrize("args,needle", [
    (("resnet9",), "error: unknown model 'resnet9'; choose one of: airbench, "),
    (("simple_cnn", "--input", "8x8x3"), "error: layer 'conv2' (Conv2d): input 2x2 is too small"),
    (("simple_cnn", "--input", "32by32"), "error: --input '32by32' is not HxWxC"),
])
def test_cli_user_errors_are_one_line_exit_2(args, needle):
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith(needle)


def test_summary_rows_add_up_and_follow_the_shape_formula():
    summary = summarize(models.get_model("resnet18", num_classes=1000), (224, 224, 3))
    assert sum(r.params for r in summary.rows) == summary.total_params == 11_689_512
    kinds = [r.kind for r in summary.rows]
    assert kinds.count("Conv2d") == 20 and kinds.count("BatchNorm") == 20 and kinds.count("Dense") == 1
    assert kinds.count("MaxPool2d") == 1 and len(kinds) == 42
    by_name = {r.name: r for r in summary.rows}
    assert by_name["conv1"].output_shape == (1, *layers.conv_output_shape((224, 224), 7, 2, 3), 64)
    assert by_name["maxpool"].output_shape == (1, *layers.pool_output_shape((112, 112), 3, 2, 1), 64)
    assert by_name["layer4_1/conv2"].output_shape == (1, 7, 7, 512)
    assert summary.output_shape == (1, 1000)


@pytest.mark.parametrize("name,gmacs", [("resnet18", 1.81), ("resnet50", 4.09), ("vgg16", 15.47)])
def test_flops_match_published_multiply_adds(name, gmacs):
    """torchvision's model cards give conv + linear multiply-adds at 224x224 ("GFLOPS" there)."""
    summary = summarize(models.get_model(name, num_classes=1000), (224, 224, 3))
    macs = sum(r.flops for r in summary.rows if r.kind in ("Conv2d", "Dense")) / 2
    assert macs / 1e9 == pytest.approx(gmacs, rel=0.01)


def test_simple_cnn_flops_by_hand():
    summary = summarize(models.get_model("simple_cnn", num_classes=10), (32, 32, 3))
    flops = {r.name: r.flops for r in summary.rows}
    assert flops == {
        "conv1": 2 * 28 * 28 * 5 * 75 + 28 * 28 * 5, "pool1": 14 * 14 * 5 * 4,
        "conv2": 2 * 10 * 10 * 10 * 125 + 10 * 10 * 10, "pool2": 5 * 5 * 10 * 4,
        "fc1": 2 * 250 * 32 + 32, "fc2": 2 * 32 * 10 + 10,
    }
    assert summary.total_flops == 864_522 and summary.total_params == 10_002
