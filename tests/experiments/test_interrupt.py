"""Ctrl-C / SIGTERM save a checkpoint and exit; rerunning the same command resumes from it (real Fashion-MNIST)."""

import re
import signal
import subprocess
import sys
import time

import pytest

from jaxcnn.data import fashion_mnist_offline

pytestmark = pytest.mark.skipif(
    not fashion_mnist_offline.debian_files_present(), reason="dataset-fashion-mnist not installed"
)


def _command(workdir):
    return [sys.executable, "-u", "-m", "experiments.mnist", f"--workdir={workdir}", "--epochs=0.1",
            "--batch_size=128", "--log_every_steps=1", "--checkpoint_every_steps=1000", "--progress_bar=false"]


@pytest.mark.slow  # default suite: tests/train/test_multihost.py stops on SIGTERM, saves and resumes
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_checkpoint_and_rerun_resumes(tmp_path, signum):
    process = subprocess.Popen(_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    header = process.stdout.readline()  # printed once the data is loaded, just before training starts
    assert "tiny_vgg on fashion_mnist" in header, header + process.stderr.read()
    time.sleep(3)  # compile + some steps, well short of the 43-step run (round(0.1 * 429): 55,000 after validation)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    match = re.search(rf"interrupted: {signum.name} at step (\d+): checkpoint saved", err)
    assert match, err
    step = int(match.group(1))
    assert 0 < step < 43
    assert (tmp_path / "checkpoints" / str(step)).is_dir()

    rerun = subprocess.run(_command(tmp_path), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"Resuming from checkpoint at step {step} (epoch 1)" in rerun.stdout
    assert "epoch   1/1" in rerun.stdout
    assert (tmp_path / "checkpoints" / "43").is_dir()
