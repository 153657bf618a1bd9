"""benchmarks/resnet50_throughput.py on CPU with tiny settings: the table it prints parses, its numbers are
positive and per-device figures are the totals over the devices, and the bf16 step really asks XLA for bf16
convolutions (the float32 one for none)."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "resnet50_throughput.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("resnet50_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*flags: str, devices: int = 1) -> str:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, str(SCRIPT), *flags], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _table(stdout: str) -> list[dict]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


def test_count_convs_reads_the_result_dtype_of_each_convolution():
    count_convs = _load_script().count_convs

    def conv(x, w):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sum(jnp.square(y.astype(jnp.float32)))  # needs y itself: the forward conv stays

    for dtype, expected in [(jnp.float32, (0, 3)), (jnp.bfloat16, (3, 3))]:
        x, w = jnp.ones((1, 8, 8, 2), dtype), jnp.ones((3, 3, 2, 4), dtype)
        text = jax.jit(jax.grad(conv, argnums=(0, 1))).lower(x, w).as_text()  # forward, input and kernel grads
        assert count_convs(text) == expected, dtype


@pytest.mark.slow  # ~10-17 s: a subprocess compiling on 2 devices; the conv counting above stays in the default suite
def test_prints_a_row_of_positive_throughputs_over_two_devices_with_bf16_convolutions():
    # the same step on a net that compiles in seconds; ResNet-50 itself takes ~15 s to compile on CPU (slow test)
    rows = _table(_run("--model=resnet20", "--image_size=32", "--per_device_batch=1", "--steps=1", "--rounds=2",
                       devices=2))
    assert len(rows) == 1
    row = rows[0]
    assert (row["model"], row["image"], row["dtype"], row["devices"], row["batch / device"]) == (
        "resnet20", "32x32", "bfloat16", "2", "1")
    for kind in ("train", "eval"):
        total, per_device = (float(row[f"{kind} img/s{per}"].replace(",", "")) for per in ("", " / device"))
        assert total > 0 and per_device == pytest.approx(total / 2, rel=0.01, abs=0.06), kind  # printed to 0.1
    assert all(float(s) > 0 for s in row["compile s (train / eval)"].split(" / "))
    bf16, convs = map(int, row["bf16 convs"].split("/"))
    assert convs > 20 and bf16 == convs  # every conv of the step (forward, input and kernel gradients) in bf16
    assert row["jax"] == jax.__version__


@pytest.mark.slow
def test_resnet50_float32_and_bfloat16_as_json():
    results = [json.loads(line) for line in _run("--image_size=64", "--per_device_batch=2", "--steps=1",
                                                  "--rounds=1", "--dtypes=float32,bfloat16", "--json").splitlines()]
    assert [(r["model"], r["dtype"]) for r in results] == [("resnet50", "float32"), ("resnet50", "bfloat16")]
    assert [r["convs"] for r in results] == [158, 158]  # 53 convs: forward, kernel and (but the stem's) input grads
    assert [r["bf16_convs"] for r in results] == [0, 158]
    assert all(r["train_img_s"] > 0 and r["eval_img_s"] > 0 for r in results)
