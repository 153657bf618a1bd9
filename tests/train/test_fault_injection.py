"""Fault injection: a run SIGKILLed at random steps and resumed each time ends bitwise equal to a run that
never stopped: parameters, BatchNorm statistics, optimizer state, RNG, metric sums and metrics.jsonl.

The kills come from inside the process (tests/train/scale_run.py, SCALE_RUN_SIGNAL_AT_STEP): SIGKILL runs no
handler and finishes no checkpoint, so the run loses everything since its last completed save, including
asynchronous saves still being written, as when a machine dies. The model has BatchNorm and dropout and the
policy random flips and crops, so every source of randomness a step has must come back exactly.
"""

import json
import pathlib
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxcnn.data import fashion_mnist_offline

from scale_run import read_checkpoint
from test_parallel import finish, run_in_subprocess

STEPS_PER_EPOCH, EPOCHS = 8, 3  # 64 mock examples, batch 8
TOTAL_STEPS = STEPS_PER_EPOCH * EPOCHS
TIMING_KEYS = ("time", "epoch_seconds", "images_per_second")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _flags(tmp_path, workdir):
    return [f"--workdir={workdir}", f"--data_dir={tmp_path / 'tfds'}", "--dataset=mnist", "--model=dropout_bn_net",
            "--batch_size=8", f"--epochs={EPOCHS}", "--learning_rate=0.05", "--augment=flip,crop2",
            "--progress_bar=false", "--checkpoint_every_steps=3", "--log_every_steps=2", "--keep_checkpoints=2"]


def _metrics_without_timing(workdir):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def test_runs_killed_at_random_steps_and_resumed_end_bitwise_equal_to_an_uninterrupted_run(tmp_path):
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    reference = run_in_subprocess(["cli", *_flags(tmp_path, reference_dir)], devices=1)
    kill_steps = sorted(random.Random(20261122).sample(range(1, TOTAL_STEPS + 1), 3))
    for step in kill_steps:
        process = run_in_subprocess(["cli", *_flags(tmp_path, killed_dir)], devices=1,
                                    env_extra={"SCALE_RUN_SIGNAL_AT_STEP": f"KILL:{step}"})
        out, _ = process.communicate(timeout=300)
        assert process.returncode == -signal.SIGKILL, f"expected a SIGKILL at step {step}:\n{out[-3000:]}"
    resumed = finish(run_in_subprocess(["cli", *_flags(tmp_path, killed_dir)], devices=1), timeout=300)
    assert "Resuming from checkpoint at step" in resumed, resumed[-3000:]
    finish(reference, timeout=300)

    expected, actual = read_checkpoint(reference_dir), read_checkpoint(killed_dir)
    assert int(expected["step"]) == int(actual["step"]) == TOTAL_STEPS
    for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=f"{jax.tree_util.keystr(path)} after kills at {kill_steps}")
    assert _metrics_without_timing(killed_dir) == _metrics_without_timing(reference_dir)
    assert len(_metrics_without_timing(killed_dir)) == EPOCHS  # each epoch once, however often it was replayed
    assert sorted(p.name for p in (killed_dir / "best").iterdir()) == sorted(p.name for p in (reference_dir / "best").iterdir())


@pytest.mark.slow
@pytest.mark.skipif(not fashion_mnist_offline.debian_files_present(), reason="dataset-fashion-mnist not installed")
def test_the_real_recipe_killed_from_outside_at_random_times_resumes_bitwise(tmp_path):
    """`kill -9` from outside at random moments of real Fashion-MNIST training with the quickstart recipe."""
    command = [sys.executable, "-u", "-m", "experiments.mnist",
               f"--flagfile={ROOT / 'launch/flags/fashion_mnist_tiny_vgg.flags'}", "--epochs=0.4",
               "--checkpoint_every_steps=25", "--log_every_steps=5", "--progress_bar=false"]
    reference = subprocess.run([*command, f"--workdir={tmp_path / 'reference'}"], capture_output=True, text=True,
                               timeout=900, cwd=ROOT)
    assert reference.returncode == 0, reference.stderr[-3000:]
    delays = random.Random(7).sample(range(4, 20), 2)
    for delay in delays:
        process = subprocess.Popen([*command, f"--workdir={tmp_path / 'killed'}"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        while "tiny_vgg on fashion_mnist" not in (line := process.stdout.readline()):  # training starts next
            assert line, "the run ended before training started"
        time.sleep(delay)
        process.kill()
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
    resumed = subprocess.run([*command, f"--workdir={tmp_path / 'killed'}"], capture_output=True, text=True,
                             timeout=900, cwd=ROOT)
    assert resumed.returncode == 0 and "Resuming from checkpoint at step" in resumed.stdout, resumed.stderr[-3000:]
    expected, actual = read_checkpoint(tmp_path / "reference"), read_checkpoint(tmp_path / "killed")
    assert int(actual["step"]) == int(expected["step"]) == round(0.4 * 468)
    for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=f"{jax.tree_util.keystr(path)} after kills at {delays} s")
    assert _metrics_without_timing(tmp_path / "killed") == _metrics_without_timing(tmp_path / "reference")
