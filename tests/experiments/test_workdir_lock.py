"""Two runs started on one workdir at the same moment: exactly one trains, the other exits at once with one line
naming the holder, and nothing of the first run is touched (no file of the second in the workdir)."""

import json
import pathlib
import signal
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "train"))
from test_parallel import run_in_subprocess  # noqa: E402  (tests/train helpers: mock data, fresh processes)


def _flags(tmp_path, workdir):
    return [f"--workdir={workdir}", f"--data_dir={tmp_path / 'tfds'}", "--dataset=mnist", "--model=smooth_bn_net",
            "--batch_size=8", "--epochs=200", "--learning_rate=0.05", "--validation_examples=16",
            "--progress_bar=false", "--checkpoint_every_steps=1000"]


def test_two_runs_started_together_one_trains_the_other_is_refused_in_one_line(tmp_path):
    workdir = tmp_path / "run"
    runs = [run_in_subprocess(["cli", *_flags(tmp_path, workdir)], devices=1) for _ in range(2)]
    deadline = time.monotonic() + 600
    while all(run.poll() is None for run in runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    [loser] = [run for run in runs if run.poll() is not None]
    [winner] = [run for run in runs if run is not loser]
    loser_out, _ = loser.communicate(timeout=60)
    assert winner.poll() is None, "the training run should still be training"  # 200 epochs: minutes of work
    while not (workdir / "metrics.jsonl").exists() and winner.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # an epoch has ended: the loop's handler is in place, so SIGTERM saves a checkpoint
    winner.send_signal(signal.SIGTERM)
    winner_out, _ = winner.communicate(timeout=300)

    assert loser.returncode == 2 and "Traceback" not in loser_out, loser_out[-3000:]
    last = loser_out.strip().splitlines()[-1]
    assert last.startswith(f"busy: {workdir} is in use by pid {winner.pid} on host "), last
    assert last.endswith("wait for it to finish, stop it, or use another --workdir")
    assert winner.returncode == 130 and "checkpoint saved in" in winner_out, winner_out[-3000:]
    history = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines()]
    assert [event["event"] for event in history] == ["start"]  # the refused run recorded nothing
    writers = [p.name for p in (workdir / "tensorboard").rglob("events.out.tfevents.*")]
    assert writers and all(f".{winner.pid}." in name for name in writers), writers  # only the training run's
    leftovers = [p.name for p in workdir.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers  # no probe, no lock: the winner removed its lock when it stopped
