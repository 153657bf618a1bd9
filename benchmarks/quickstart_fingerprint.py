"""Fingerprint of the quickstart recipe's first epoch: proof that a refactor left its numbers bitwise unchanged.

Runs `launch/flags/fashion_mnist_tiny_vgg.flags` (all 8 epochs scheduled, so the learning rate is the recipe's)
in a fresh workdir, stops it with SIGTERM once epoch 1 is recorded, and prints
  - the SHA-256 of the end-of-epoch-1 checkpoint's per-leaf checksums (every parameter, BatchNorm statistic,
    optimizer slot and RNG bit of the state: any changed bit changes it), and
  - epoch 1's metrics row (train and test loss/accuracy, full float precision; timings dropped).
Run it on two commits and compare the lines; extra arguments go to the experiment:

    .venv/bin/python benchmarks/quickstart_fingerprint.py            # ~2 min on a 2-core CPU
    .venv/bin/python benchmarks/quickstart_fingerprint.py --batchnorm_stats=flax --validation_examples=0
        # jaxcnn 0.1's BatchNorm and no held-out validation: the numbers of commits before both existed
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
TIMINGS = ("time", "epoch_seconds", "images_per_second", "compile_seconds")


def main(extra_flags: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp) / "run"
        command = [sys.executable, "-m", "experiments.mnist", "--flagfile=launch/flags/fashion_mnist_tiny_vgg.flags",
                   f"--workdir={workdir}", "--keep_checkpoints=10", "--noprogress_bar", *extra_flags]
        process = subprocess.Popen(command, cwd=ROOT)
        metrics = workdir / "metrics.jsonl"
        while process.poll() is None and not (metrics.exists() and metrics.read_text().endswith("\n")):
            time.sleep(1)
        process.send_signal(signal.SIGTERM)
        process.wait()
        row = json.loads(metrics.read_text().splitlines()[0])
        step = row["step"]
        integrity = json.loads((workdir / "checkpoints" / str(step) / "integrity" / "metadata").read_bytes())
        checksums = {"leaf_checksums": integrity["leaf_checksums"]}  # not the epoch record beside them (timings)
        digest = hashlib.sha256(json.dumps(checksums, sort_keys=True).encode()).hexdigest()
        print(f"state after epoch 1 (step {step}): sha256 of leaf checksums {digest}")
        print("epoch 1 metrics:", json.dumps({k: v for k, v in row.items() if k not in TIMINGS}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
