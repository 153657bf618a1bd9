"""Two processes with 2 CPU devices each, joined by jax.distributed.initialize, train like one process.

The multi-host run goes through the real command line (--coordinator_address / --num_processes /
--process_id), checkpoints through orbax from both processes, is stopped by a SIGTERM to one of them,
resumes (under pmap, from the jit run's checkpoint) and must end with the parameters of a single-process run
that never stopped.
"""

import json
import pathlib
import socket
import sys
import tempfile

import numpy as np
import pytest

from experiments import mnist
from jaxcnn import models
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.loop import train_and_evaluate
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.selection import best_row
from jaxcnn.train.state import create_train_state
from scale_run import MOCK_EXAMPLES, read_checkpoint, register_smooth_bn_net
from test_parallel import assert_trees_close, finish, max_difference, run_in_subprocess

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from tfds_mock import mock_data  # noqa: E402


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


def _train_reference(tmp_path, epochs):
    """The same training in this process, on its one device (the multi-host processes run meanwhile)."""
    register_smooth_bn_net()
    config = TrainConfig(dataset="mnist", model="smooth_bn_net", batch_size=8, epochs=epochs, learning_rate=0.05,
                         schedule="constant", augment="flip,crop2", progress_bar=False,
                         data_dir=str(tmp_path / "tfds"), validation_examples=16)
    with mock_data(MOCK_EXAMPLES, pathlib.Path(tempfile.gettempdir()) / "jaxcnn-tfds-mock"):  # as scale_run.py
        train_and_evaluate(config, tmp_path / "reference")


def _assert_same_training(multi_dir, reference_dir, steps):
    multi, single = read_checkpoint(multi_dir), read_checkpoint(reference_dir)
    assert int(multi["step"]) == int(single["step"]) == steps
    for part in ("params", "batch_stats", "opt_state"):
        assert_trees_close(multi[part], single[part], f"multi-host {part}")
    register_smooth_bn_net()
    initial = create_train_state(models.get_model("smooth_bn_net", num_classes=10), make_optimizer(TrainConfig(), 8),
                                 seed=0, image_shape=(28, 28, 1))
    assert max_difference(multi["params"], initial.params) > 0.05  # far beyond the tolerance: it trained


def test_sigterm_to_one_process_stops_both_at_one_step_they_resume_under_pmap_and_train_like_one_process(tmp_path):
    """A preempted host: only process 1 gets SIGTERM (sent to itself at step 5, tests/train/scale_run.py).
    Both agree on the step (an all-gather of the stop flag at each log window's end, here step 6), save
    that step's checkpoint together (beside step 5's periodic one), exit 130, and resume from it, here under
    pmap from the jit run's checkpoint. The two-process run must end with the numbers of one process that
    trained the 12 steps without stopping."""
    workdir, address = tmp_path / "multihost", f"localhost:{_free_port()}"
    flags = [*_flags(tmp_path, workdir, 2), "--log_every_steps=2", f"--coordinator_address={address}",
             "--num_processes=2"]
    processes = [run_in_subprocess(["cli", *flags, f"--process_id={i}"], devices=2,
                                   env_extra={"SCALE_RUN_SIGNAL_AT_STEP": "TERM:5"} if i == 1 else None)
                 for i in range(2)]
    _train_reference(tmp_path, epochs=2)
    outs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [130, 130], outs[1][-3000:]
    assert "on 4 cpu device(s) in 2 processes (--parallel=jit" in outs[0], outs[0][-3000:]
    lines = [out.strip().splitlines()[-1] for out in outs]
    assert lines[1] == f"interrupted: SIGTERM at step 6: checkpoint saved in {workdir}; run the same command again to resume"
    assert lines[0] == lines[1].replace("SIGTERM", "SIGTERM (on another process)")
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()) == [5, 6]  # orbax, from both processes
    assert not (workdir / "metrics.jsonl").exists()  # the stop cut epoch 1's bookkeeping short

    resumed = _two_processes(tmp_path, workdir, 2, "--log_every_steps=2", "--parallel=pmap", "--allow_config_change")
    assert "Resuming from checkpoint at step 6 (epoch 2)" in resumed[0], resumed[0][-3000:]
    assert "in 2 processes (--parallel=pmap" in resumed[0]
    assert "epoch   2/2" in resumed[0] and "epoch   2/2" not in resumed[1]  # only process 0 prints
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()) == [5, 6, 10, 12]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]  # epoch 1's row written by the resume, each row once
    best = best_row(rows)
    assert [p.name for p in (workdir / "best").iterdir()] == [str(best["step"])]
    _assert_same_training(workdir, tmp_path / "reference", steps=12)


def test_half_given_multihost_flags_are_a_one_line_error(tmp_path, capsys):
    """Through the experiment's own main, in this process: the check comes before any process is joined.
    (The same exit code and line from a real shell: tests/experiments/test_bad_input.py's subprocess cases.)"""
    with pytest.raises(SystemExit) as exit_info:
        mnist.main(["mnist", *_flags(tmp_path, tmp_path / "run", 1), "--coordinator_address=localhost:1234"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    last = err.strip().splitlines()[-1]
    assert last == ("error: --num_processes, --process_id missing: --coordinator_address, --num_processes and "
                    "--process_id go together"), last
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


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
