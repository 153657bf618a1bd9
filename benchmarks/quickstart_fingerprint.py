"""Fingerprint of the quickstart recipe's first epoch: proof that a refactor left its numbers bitwise unchanged.

Runs `launch/flags/fashion_mnist_tiny_vgg.flags` (all 8 epochs scheduled, so the learning rate is the recipe's)
in a fresh workdir, stops it with SIGTERM once epoch 1 is recorded, and prints
  - the SHA-256 of the end-of-epoch-1 checkpoint's per-leaf checksums (every parameter, BatchNorm statistic,
    optimizer slot and RNG bit of the state: any changed bit changes it), and
  - epoch 1's metrics row (train and test loss/accuracy, full float precision; timings dropped).
Run it on two commits and compare the lines:

    .venv/bin/python benchmarks/quickstart_fingerprint.py            # ~2 min on a 2-core CPU
"""

import hashlib
import json
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
TIMINGS = ("time", "epoch_seconds", "images_per_second")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp) / "run"
        command = [sys.executable, "-m", "experiments.mnist", "--flagfile=launch/flags/fashion_mnist_tiny_vgg.flags",
                   f"--workdir={workdir}", "--keep_checkpoints=10", "--noprogress_bar"]
        process = subprocess.Popen(command, cwd=ROOT)
        metrics = workdir / "metrics.jsonl"
        while process.poll() is None and not (metrics.exists() and metrics.read_text().endswith("\n")):
            time.sleep(1)
        process.send_signal(signal.SIGTERM)
        process.wait()
        row = json.loads(metrics.read_text().splitlines()[0])
        step = row["step"]
        integrity = (workdir / "checkpoints" / str(step) / "integrity" / "metadata").read_bytes()
        digest = hashlib.sha256(json.dumps(json.loads(integrity), sort_keys=True).encode()).hexdigest()
        print(f"state after epoch 1 (step {step}): sha256 of leaf checksums {digest}")
        print("epoch 1 metrics:", json.dumps({k: v for k, v in row.items() if k not in TIMINGS}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
