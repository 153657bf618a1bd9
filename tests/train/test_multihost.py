"""Two processes with 2 CPU devices each, joined by jax.distributed.initialize, train like one 4-device process.

The multi-host run goes through the real command line (--coordinator_address / --num_processes /
--process_id), checkpoints through orbax from both processes and must end with the parameters of a
single-process 4-device run; the slow variant restarts it and resumes (under pmap, from the jit run's
checkpoint) to match an uninterrupted run.
"""

import json
import socket

import numpy as np
import pytest

from jaxcnn import models
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.state import create_train_state
from scale_run import read_checkpoint, register_smooth_bn_net
from test_parallel import assert_trees_close, finish, max_difference, run_in_subprocess


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _flags(tmp_path, workdir, epochs):
    return [f"--workdir={workdir}", f"--data_dir={tmp_path / 'tfds'}", "--dataset=mnist", "--model=smooth_bn_net",
            "--batch_size=8", f"--epochs={epochs}", "--learning_rate=0.05", "--schedule=constant",
            "--augment=flip,crop2", "--progress_bar=false", "--checkpoint_every_steps=5", "--keep_checkpoints=10",
            "--validation_examples=16"]  # 48 training examples: 6 steps an epoch


def _two_processes(tmp_path, workdir, epochs, *extra) -> list[str]:
    address = f"localhost:{_free_port()}"
    processes = [
        run_in_subprocess(["cli", *_flags(tmp_path, workdir, epochs), *extra, f"--coordinator_address={address}",
                           "--num_processes=2", f"--process_id={i}"], devices=2)
        for i in range(2)
    ]
    return [finish(p, timeout=600) for p in processes]


def _start_reference(tmp_path, epochs):
    """The same training in one process with 4 devices (runs while the multi-host processes do)."""
    spec = [{"workdir": str(tmp_path / "reference"), "devices": None,
             "config": {"dataset": "mnist", "model": "smooth_bn_net", "batch_size": 8, "epochs": epochs,
                        "learning_rate": 0.05, "schedule": "constant", "augment": "flip,crop2",
                        "progress_bar": False, "data_dir": str(tmp_path / "tfds"), "validation_examples": 16}}]
    return run_in_subprocess(["runs", json.dumps(spec)], devices=4)


def _assert_same_training(multi_dir, reference_dir, steps):
    multi, single = read_checkpoint(multi_dir), read_checkpoint(reference_dir)
    assert int(multi["step"]) == int(single["step"]) == steps
    for part in ("params", "batch_stats", "opt_state"):
        assert_trees_close(multi[part], single[part], f"multi-host {part}")
    register_smooth_bn_net()
    initial = create_train_state(models.get_model("smooth_bn_net", num_classes=10), make_optimizer(TrainConfig(), 8),
                                 seed=0, image_shape=(28, 28, 1))
    assert max_difference(multi["params"], initial.params) > 0.05  # far beyond the tolerance: it trained


def test_two_processes_train_and_checkpoint_like_one_four_device_process(tmp_path):
    reference = _start_reference(tmp_path, epochs=1)
    out = _two_processes(tmp_path, tmp_path / "multihost", 1)
    assert "on 4 cpu device(s) in 2 processes (--parallel=jit" in out[0], out[0][-3000:]
    assert "epoch   1/1" in out[0] and "epoch   1/1" not in out[1]  # only process 0 prints
    assert sorted(int(p.name) for p in (tmp_path / "multihost" / "checkpoints").iterdir()) == [5, 6]
    rows = [json.loads(line) for line in (tmp_path / "multihost" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and "validation_accuracy" in rows[0]  # written once
    assert sorted(p.name for p in (tmp_path / "multihost" / "best").iterdir()) == ["6"]
    finish(reference)
    _assert_same_training(tmp_path / "multihost", tmp_path / "reference", steps=6)


@pytest.mark.slow
def test_two_processes_resume_under_pmap_from_a_jit_checkpoint_like_an_uninterrupted_run(tmp_path):
    reference, multi_dir = _start_reference(tmp_path, epochs=2), tmp_path / "multihost"
    _two_processes(tmp_path, multi_dir, 1)
    out = _two_processes(tmp_path, multi_dir, 2, "--parallel=pmap", "--allow_config_change")
    assert "Resuming from checkpoint at step 6 (epoch 2)" in out[0], out[0][-3000:]
    assert "in 2 processes (--parallel=pmap" in out[0] and "epoch   2/2" in out[0]
    assert sorted(int(p.name) for p in (multi_dir / "checkpoints").iterdir()) == [5, 6, 10, 12]
    assert [json.loads(line)["epoch"] for line in (multi_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    finish(reference)
    _assert_same_training(multi_dir, tmp_path / "reference", steps=12)


def test_sigterm_to_one_process_stops_both_at_the_same_step_with_a_checkpoint_and_they_resume(tmp_path):
    """A preempted host: only process 1 gets SIGTERM (sent to itself at step 5, tests/train/scale_run.py).
    Both agree on the step (an all-gather of the stop flag at each log window's end, here step 6), save
    that step's checkpoint together, exit 130, and resume from it."""
    workdir, address = tmp_path / "multihost", f"localhost:{_free_port()}"
    flags = [*_flags(tmp_path, workdir, 2), "--log_every_steps=2", "--checkpoint_every_steps=1000",
             f"--coordinator_address={address}", "--num_processes=2"]
    processes = [run_in_subprocess(["cli", *flags, f"--process_id={i}"], devices=2,
                                   env_extra={"SCALE_RUN_SIGNAL_AT_STEP": "TERM:5"} if i == 1 else None)
                 for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [130, 130], outs[1][-3000:]
    lines = [out.strip().splitlines()[-1] for out in outs]
    assert lines[1] == f"interrupted: SIGTERM at step 6: checkpoint saved in {workdir}; run the same command again to resume"
    assert lines[0] == lines[1].replace("SIGTERM", "SIGTERM (on another process)")
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()) == [6]

    resumed = _two_processes(tmp_path, workdir, 2, "--log_every_steps=2", "--checkpoint_every_steps=1000")
    assert "Resuming from checkpoint at step 6 (epoch 2)" in resumed[0], resumed[0][-3000:]
    assert int(read_checkpoint(workdir)["step"]) == 12  # 2 epochs x 6 steps
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]  # epoch 1's row, cut off by the stop, written by the resume


def test_half_given_multihost_flags_are_a_one_line_error(tmp_path):
    process = run_in_subprocess(["cli", *_flags(tmp_path, tmp_path, 1), "--coordinator_address=localhost:1234"],
                                devices=1)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 2
    last = out.strip().splitlines()[-1]
    assert last == ("error: --num_processes, --process_id missing: --coordinator_address, --num_processes and "
                    "--process_id go together"), last
    assert "Traceback" not in out


@pytest.mark.parametrize("flags, message", [
    (["--coordinator_address=localhost", "--num_processes=2", "--process_id=0"],
     "error: --coordinator_address='localhost' must be host:port, e.g. node001:12355"),
    (["--coordinator_address=localhost:1", "--num_processes=2", "--process_id=2"],
     "error: --process_id=2 must be in [0, 1] for --num_processes=2"),
])
def test_bad_multihost_flags_are_one_line_errors(flags, message):
    from jaxcnn import errors
    from jaxcnn.train import distributed

    values = {f.split("=")[0][2:]: f.split("=")[1] for f in flags}
    with pytest.raises(errors.ConfigError) as info:
        distributed.check_explicit(values["coordinator_address"], int(values["num_processes"]), int(values["process_id"]))
    assert f"error: {info.value}" == message
    np.testing.assert_equal(distributed.check_explicit(None, None, None), False)
