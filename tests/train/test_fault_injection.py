"""Fault injection: a run SIGKILLed again and again, in the middle of epochs and at every end-of-epoch boundary
(after the end-of-epoch checkpoint, after its metrics row, while the best checkpoint is written, after the final
checkpoint), and resumed each time, ends equal to a run that never stopped: parameters, BatchNorm statistics,
optimizer state, RNG and metric sums bitwise, the same metrics.jsonl rows, and the same best/ checkpoint.

The kills come from inside the process (tests/train/scale_run.py: SCALE_RUN_SIGNAL_AT_STEP, SCALE_RUN_KILL_AT):
SIGKILL runs no handler and finishes no checkpoint, so the run loses everything since its last completed save,
including asynchronous saves still being written, as when a machine dies. The model has BatchNorm and dropout
and the policy random flips and crops, so every source of randomness a step has must come back exactly.
"""

import json
import pathlib
import random
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxcnn.data import fashion_mnist_offline

from scale_run import MOCK_EXAMPLES, read_checkpoint
from test_parallel import finish, run_in_subprocess

VALIDATION, BATCH, EPOCHS = 16, 8, 4
STEPS_PER_EPOCH = (MOCK_EXAMPLES - VALIDATION) // BATCH  # 6
TOTAL_STEPS = STEPS_PER_EPOCH * EPOCHS
TIMING_KEYS = ("time", "epoch_seconds", "images_per_second", "compile_seconds")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _flags(tmp_path, workdir):
    return [f"--workdir={workdir}", f"--data_dir={tmp_path / 'tfds'}", "--dataset=mnist", "--model=dropout_bn_net",
            f"--batch_size={BATCH}", f"--epochs={EPOCHS}", "--learning_rate=0.05", "--augment=flip,crop2",
            f"--validation_examples={VALIDATION}", "--progress_bar=false", "--checkpoint_every_steps=4",
            "--log_every_steps=2", "--keep_checkpoints=2"]


def _metrics_without_timing(workdir):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def _assert_checkpoints_equal(expected, actual, what):
    for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=f"{jax.tree_util.keystr(path)} {what}")


@pytest.mark.slow  # 7 Python starts, 4.7 min on an AVX2 2-core VM; the default suite keeps the mid-epoch resume of
# test_streaming_run.py, the multi-host SIGTERM resume and the CIFAR flagfile's resume
def test_runs_killed_mid_epoch_and_at_every_epoch_boundary_end_equal_to_an_uninterrupted_run(tmp_path):
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    reference = run_in_subprocess(["cli", *_flags(tmp_path, reference_dir)], devices=1)
    mid_epoch = random.Random(20261202).choice([s for s in range(1, 2 * STEPS_PER_EPOCH) if s % STEPS_PER_EPOCH])
    kills = [("SCALE_RUN_SIGNAL_AT_STEP", f"KILL:{mid_epoch}"),
             ("SCALE_RUN_KILL_AT", f"during_best_save:{STEPS_PER_EPOCH}"),  # epoch 1 is always the best so far
             ("SCALE_RUN_KILL_AT", f"after_latest_save:{2 * STEPS_PER_EPOCH}"),
             ("SCALE_RUN_KILL_AT", f"after_metrics_row:{3 * STEPS_PER_EPOCH}"),
             ("SCALE_RUN_KILL_AT", f"after_latest_save:{TOTAL_STEPS}")]  # after the final checkpoint
    for variable, value in kills:
        process = run_in_subprocess(["cli", *_flags(tmp_path, killed_dir)], devices=1, env_extra={variable: value})
        out, _ = process.communicate(timeout=300)
        assert process.returncode == -signal.SIGKILL, f"expected a SIGKILL at {value}:\n{out[-3000:]}"
    resumed = finish(run_in_subprocess(["cli", *_flags(tmp_path, killed_dir)], devices=1), timeout=300)
    assert "Resuming from checkpoint at step" in resumed, resumed[-3000:]
    finish(reference, timeout=300)

    what = f"after kills at {[value for _, value in kills]}"
    expected, actual = read_checkpoint(reference_dir), read_checkpoint(killed_dir)
    assert int(expected["step"]) == int(actual["step"]) == TOTAL_STEPS
    _assert_checkpoints_equal(expected, actual, what)
    assert _metrics_without_timing(killed_dir) == _metrics_without_timing(reference_dir)
    assert [row["epoch"] for row in _metrics_without_timing(killed_dir)] == list(range(1, EPOCHS + 1))
    assert all("validation_accuracy" in row and "test_accuracy" in row for row in _metrics_without_timing(killed_dir))
    best = sorted(p.name for p in (reference_dir / "best").iterdir())
    assert sorted(p.name for p in (killed_dir / "best").iterdir()) == best and len(best) == 1
    _assert_checkpoints_equal(read_checkpoint(reference_dir, folder="best"), read_checkpoint(killed_dir, folder="best"),
                              f"(best/) {what}")
    summary = json.loads((killed_dir / "summary.json").read_text())
    assert summary["selected_step"] == int(best[0]) and summary["selected_by"] == "validation accuracy"
    assert (killed_dir / "curves.png").stat().st_size > 10_000


def _wait_for_a_checkpoint(workdir: pathlib.Path, process: subprocess.Popen) -> None:
    """Until `workdir` holds a finished checkpoint (orbax renames its step folder into place when done)."""
    while not any(p.name.isdigit() for p in (workdir / "checkpoints").glob("*")):
        assert process.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(not fashion_mnist_offline.debian_files_present(), reason="dataset-fashion-mnist not installed")
def test_the_real_recipe_killed_from_outside_at_random_times_resumes_bitwise(tmp_path):
    """`kill -9` from outside at random moments of real Fashion-MNIST training with the quickstart recipe."""
    command = [sys.executable, "-u", "-m", "experiments.mnist",
               f"--flagfile={ROOT / 'launch/flags/fashion_mnist_tiny_vgg.flags'}", "--epochs=0.4", "--validation_examples=0",
               "--checkpoint_every_steps=25", "--log_every_steps=5", "--progress_bar=false"]
    reference = subprocess.run([*command, f"--workdir={tmp_path / 'reference'}"], capture_output=True, text=True,
                               timeout=900, cwd=ROOT)
    assert reference.returncode == 0, reference.stderr[-3000:]
    delays = random.Random(7).sample(range(4, 20), 2)
    for kill, delay in enumerate(delays):
        process = subprocess.Popen([*command, f"--workdir={tmp_path / 'killed'}"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        while "tiny_vgg on fashion_mnist" not in (line := process.stdout.readline()):  # training starts next
            assert line, "the run ended before training started"
        if kill == len(delays) - 1:  # the first kill may come before any checkpoint (a loaded machine trains
            _wait_for_a_checkpoint(tmp_path / "killed", process)  # slowly); the last one has one to resume from
        time.sleep(delay)
        process.kill()
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
    resumed = subprocess.run([*command, f"--workdir={tmp_path / 'killed'}"], capture_output=True, text=True,
                             timeout=900, cwd=ROOT)
    assert resumed.returncode == 0 and "Resuming from checkpoint at step" in resumed.stdout, resumed.stderr[-3000:]
    expected, actual = read_checkpoint(tmp_path / "reference"), read_checkpoint(tmp_path / "killed")
    flagfile = (ROOT / "launch/flags/fashion_mnist_tiny_vgg.flags").read_text()
    batch_size = int(re.search(r"^--batch_size=(\d+)$", flagfile, re.MULTILINE).group(1))
    assert int(actual["step"]) == int(expected["step"]) == round(0.4 * (60_000 // batch_size))
    for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=f"{jax.tree_util.keystr(path)} after kills at {delays} s")
    assert _metrics_without_timing(tmp_path / "killed") == _metrics_without_timing(tmp_path / "reference")
