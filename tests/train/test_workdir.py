"""A run's directory: checked writable, archived by moving (never deleting), its config.json written once and
checked on resume, and read back by `load_trained` with one-line errors and without writing anything.
(Loading a real trained run is covered by tests/test_transfer.py and tests/test_inspection.py.)"""

import json
import os
import pathlib
import subprocess

import jax
import numpy as np
import pytest

from jaxcnn import errors, models, transfer
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.plan import resolve
from jaxcnn.train.workdir import (ARCHIVE_DIR, CONFIG_FILE, TrainedRun, archive_previous_run, load_trained,
                                  check_config, prepare_workdir, write_config)


def _snapshot(root: pathlib.Path) -> dict:
    """Every file and folder under `root` with its contents (files) and modification time."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def test_prepare_workdir_creates_it_and_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    workdir = prepare_workdir("runs/a/b")
    assert workdir == tmp_path / "runs" / "a" / "b" and workdir.is_absolute() and workdir.is_dir()
    assert list(workdir.iterdir()) == []  # the write probe is removed
    (workdir / "kept.txt").write_text("x")
    assert prepare_workdir(workdir) == workdir and (workdir / "kept.txt").read_text() == "x"


def test_a_workdir_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(errors.ConfigError) as raised:
        prepare_workdir(tmp_path / "a_file" / "run")
    message = str(raised.value)
    assert message.startswith(f"cannot write to --workdir {tmp_path / 'a_file' / 'run'} (")
    assert message.endswith("); choose a writable directory") and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_an_unwritable_workdir_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(errors.ConfigError) as raised:
            prepare_workdir(locked)
    finally:
        locked.chmod(0o700)
    assert str(raised.value) == f"cannot write to --workdir {locked} (Permission denied); choose a writable directory"
    assert list(locked.iterdir()) == []


def test_a_workdir_on_a_read_only_disk_is_one_line(mount_small_disk):
    """Refused even for root: a real tmpfs remounted read-only."""
    disk = mount_small_disk(1)
    (disk / "old_run").mkdir()
    remount = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
    for workdir in (disk / "old_run", disk / "new_run"):
        with pytest.raises(errors.ConfigError) as raised:
            prepare_workdir(workdir)
        assert str(raised.value) == (f"cannot write to --workdir {workdir} (Read-only file system); choose a "
                                     "writable directory")


def test_archiving_moves_every_file_of_the_previous_run_and_deletes_nothing(tmp_path):
    workdir = tmp_path / "run"
    (workdir / "checkpoints" / "20").mkdir(parents=True)
    (workdir / "checkpoints" / "20" / "state").write_bytes(b"\x00\x01weights")
    (workdir / "config.json").write_text('{"model": "tiny_vgg"}')
    (workdir / "metrics.jsonl").write_text('{"step": 20}\n')
    (workdir / ".hidden").write_text("also moved")
    (workdir / ARCHIVE_DIR / "20260101T000000Z").mkdir(parents=True)
    (workdir / ARCHIVE_DIR / "20260101T000000Z" / "config.json").write_text("an older run")
    before = _snapshot(workdir)
    moved = {name: value[0] for name, value in before.items() if not name.startswith(ARCHIVE_DIR)}
    older = {name: value[0] for name, value in before.items() if name.startswith(ARCHIVE_DIR)}

    destination = archive_previous_run(workdir)
    assert destination.parent == workdir / ARCHIVE_DIR and destination.name.endswith("Z")
    assert [p.name for p in workdir.iterdir()] == [ARCHIVE_DIR]
    assert {str(p.relative_to(destination)): (p.read_bytes() if p.is_file() else None)
            for p in destination.rglob("*")} == moved
    assert {name: value[0] for name, value in _snapshot(workdir).items()
            if name.startswith(ARCHIVE_DIR) and not name.startswith(str(destination.relative_to(workdir)))} == older
    assert archive_previous_run(workdir) is None  # nothing left to move
    assert len(list((workdir / ARCHIVE_DIR).iterdir())) == 2


def test_the_config_is_written_once_whole_and_execution_settings_may_change(tmp_path):
    config = TrainConfig(model="simple_cnn", classes="5-9")
    assert check_config(tmp_path, config) == [] and not list(tmp_path.iterdir())  # checking writes nothing
    write_config(tmp_path, config)
    assert json.loads((tmp_path / CONFIG_FILE).read_text()) == config.to_dict()
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG_FILE]  # no .partial file left
    first = (tmp_path / CONFIG_FILE).read_bytes()
    moved = TrainConfig(model="simple_cnn", classes="5-9", data_dir="/mnt/data", keep_checkpoints=5, progress_bar=False)
    assert check_config(tmp_path, moved) == []
    write_config(tmp_path, moved)
    assert (tmp_path / CONFIG_FILE).read_bytes() == first


def test_resuming_with_other_settings_is_refused_naming_the_differences(tmp_path):
    write_config(tmp_path, TrainConfig(model="simple_cnn", classes="5-9"))
    before = _snapshot(tmp_path)
    with pytest.raises(errors.CheckpointError) as raised:
        check_config(tmp_path, TrainConfig(model="tiny_vgg", classes="5-9", epochs=3.0, seed=4))
    assert str(raised.value) == (
        f"{tmp_path} holds a run with other settings (model: 'simple_cnn' -> 'tiny_vgg'; epochs: 10.0 -> 3.0; "
        "seed: 0 -> 4); rerun with the original flags, pass --allow_config_change to continue it with these on "
        "purpose (recorded in its history.jsonl), use a new --workdir, or pass --new_run to archive the old run and "
        "start a new one")
    assert _snapshot(tmp_path) == before


def test_a_change_made_on_purpose_is_returned_and_then_recorded_in_the_config(tmp_path):
    write_config(tmp_path, TrainConfig(epochs=1.0))
    assert check_config(tmp_path, TrainConfig(epochs=3.0), allow_change=True) == ["epochs: 1.0 -> 3.0"]
    write_config(tmp_path, TrainConfig(epochs=3.0))
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["epochs"] == 3.0
    assert check_config(tmp_path, TrainConfig(epochs=3.0)) == []


@pytest.mark.parametrize("contents", ["{not json", "[]", '{"epochs": "ten"}', "\udcff".encode("utf-8", "surrogatepass")])
def test_a_damaged_or_foreign_config_is_refused_in_one_line_and_kept(tmp_path, contents):
    path = tmp_path / CONFIG_FILE
    path.write_bytes(contents if isinstance(contents, bytes) else contents.encode())
    before = path.read_bytes()
    with pytest.raises(errors.CheckpointError) as raised:
        check_config(tmp_path, TrainConfig())  # an empty workdir too: never adopted
    message = str(raised.value)
    assert message.startswith(f"{path} is not a jaxcnn run's settings (") and "\n" not in message
    assert message.endswith("restore it, or pass --new_run to archive the workdir's files and start a new run")
    assert path.read_bytes() == before


def test_checkpoints_without_a_config_are_refused(tmp_path):
    (tmp_path / "checkpoints" / "40").mkdir(parents=True)
    with pytest.raises(errors.CheckpointError, match="holds checkpoints but no config.json"):
        check_config(tmp_path, TrainConfig())
    assert not (tmp_path / CONFIG_FILE).exists()


@pytest.mark.parametrize("contents, reason", [
    (None, "[Errno 2] No such file or directory"),
    ("{garbage", "Expecting property name enclosed in double quotes"),
    ("[]", "it holds a JSON list, not the settings of a run"),  # valid JSON, not a config
    ('{"dataset": "svhn"}', "unknown dataset 'svhn'"),
    ('{"epochs": -1}', "--epochs must be positive, got -1"),
])
def test_a_workdir_without_a_usable_config_is_one_line_and_stays_untouched(tmp_path, contents, reason):
    workdir = tmp_path / "run"
    if contents is not None:
        workdir.mkdir()
        (workdir / CONFIG_FILE).write_text(contents)
    before = _snapshot(tmp_path)
    with pytest.raises(errors.CheckpointError) as raised:
        load_trained(workdir)
    message = str(raised.value)
    assert message.startswith(f"--init_from={workdir}: cannot use its config.json ({reason}")
    assert message.endswith("); give the --workdir of a jaxcnn training run") and "\n" not in message
    assert _snapshot(tmp_path) == before  # nothing created, nothing written


def test_a_run_without_a_checkpoint_is_one_line_naming_the_flag_and_stays_untouched(tmp_path):
    workdir = tmp_path / "run"
    (workdir / "checkpoints").mkdir(parents=True)  # started, killed before its first checkpoint
    (workdir / CONFIG_FILE).write_text(json.dumps({"model": "tiny_vgg", "dataset": "fashion_mnist"}))
    before = _snapshot(tmp_path)
    with pytest.raises(errors.CheckpointError) as raised:
        load_trained(workdir, flag="--workdir")
    assert str(raised.value) == (f"--workdir={workdir}: the run has no checkpoint yet; train it first (or give "
                                 "another run's --workdir)")
    assert _snapshot(tmp_path) == before


def _variables(name: str) -> dict:
    """Zero arrays in the shapes of a trained 10-class `name` (only shapes matter for fitting)."""
    shapes = models.abstract_variables(models.get_model(name, num_classes=10), (28, 28, 1))
    zeros = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)
    return {"params": zeros["params"], "batch_stats": zeros.get("batch_stats", {})}


def test_a_trained_run_refuses_a_backbone_that_does_not_fit_naming_its_model_and_the_differences():
    trained = _variables("simple_cnn")
    run = TrainedRun(pathlib.Path("/runs/pretrained"), resolve(TrainConfig(model="simple_cnn")), 7, "best",
                     trained["params"], trained["batch_stats"])
    assert run.variables == {"params": trained["params"], "batch_stats": trained["batch_stats"]}
    ours = models.abstract_variables(models.get_model("tiny_vgg", num_classes=5), (28, 28, 1))
    head = frozenset({"fc2"})
    with pytest.raises(errors.CheckpointError) as raised:
        run.check_backbone_fits(ours, head)
    message = str(raised.value)
    assert message.startswith("--init_from=/runs/pretrained trained 'simple_cnn', whose backbone does not fit this "
                              "run's model (params/block1/bn/bias: not in the trained run, this run (32,); ")
    differences = transfer.backbone_differences(ours, run.variables, head)
    assert f"; {len(differences) - 3} more); use the same --model as that run" in message and "\n" not in message
    fitting = _variables("tiny_vgg")
    same = TrainedRun(pathlib.Path("/runs/b"), resolve(TrainConfig()), 7, "best", fitting["params"], fitting["batch_stats"])
    same.check_backbone_fits(ours, head)  # another class count: only the head differs, so it fits
