"""Checkpoints: exact round trip, retention, verified restore with fallback past damage, full disks."""

import errno
import pathlib
import shutil

import jax
import numpy as np
import optax
import pytest

from conftest import TinyNet
from jaxcnn import errors
from jaxcnn.train import checkpoint as checkpoint_lib
from jaxcnn.train.checkpoint import Checkpointer
from jaxcnn.train.state import create_train_state


def _state(seed, num_classes=10):
    return create_train_state(TinyNet(num_classes=num_classes), optax.sgd(0.1, momentum=0.9), seed=seed,
                              image_shape=(8, 8, 1))


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _save_steps(workdir, steps, keep=3):
    """Checkpoints of distinct states (seed = step) at `steps`; returns them by step."""
    checkpointer = Checkpointer(workdir, keep=keep)
    states = {}
    for step in steps:
        states[step] = _state(step).replace(step=np.int32(step))
        checkpointer.save(states[step], force=True)
    checkpointer.wait()
    checkpointer.close()
    return states


def _largest_data_file(step_dir: pathlib.Path) -> pathlib.Path:
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
    return max(files, key=lambda p: p.stat().st_size)


def test_round_trip_restores_every_leaf_exactly(tmp_path):
    saved = _state(1).replace(step=np.int32(7))
    saved = saved.replace(opt_state=jax.tree.map(lambda x: x + 0.5, saved.opt_state))
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(saved, force=True)
    checkpointer.wait()
    restored = Checkpointer(tmp_path).restore(_state(2))
    assert restored.step == 7 and int(restored.state.step) == 7 and restored.moved_aside == []
    _assert_trees_equal(restored.state, saved)
    with pytest.raises(AssertionError):
        _assert_trees_equal(_state(2), saved)  # the target really was different


def test_keeps_latest_n_and_the_best_it_is_given_and_an_epoch_record(tmp_path):
    checkpointer = Checkpointer(tmp_path, keep=2)
    state = _state(0)
    for step in (10, 20, 30, 40):
        state = state.replace(step=np.int32(step))
        checkpointer.save(state, force=True, record={"step": step, "epoch": step // 10} if step != 40 else None)
        if step in (10, 20):  # the loop decides what is best (jaxcnn.train.selection)
            checkpointer.save_best(state)
    checkpointer.wait()
    assert checkpointer.latest_step() == 40
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()) == [30, 40]
    assert checkpointer.best_step() == 20
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == ["20"]
    assert int(checkpointer.restore_best(_state(0)).step) == 20
    restored = Checkpointer(tmp_path).restore(_state(0))
    assert restored.step == 40 and restored.record is None  # a mid-epoch save carries no record
    (tmp_path / "checkpoints" / "40").rename(tmp_path / "moved-40")
    assert Checkpointer(tmp_path).restore(_state(0)).record == {"step": 30, "epoch": 3}


def test_checksums_change_with_any_single_bit():
    leaf = np.arange(64, dtype=np.float32)
    reference = checkpoint_lib.fingerprint([leaf])
    for index in (0, 17, 63):
        for bit in (0, 13, 31):
            flipped = leaf.copy()
            flipped.view(np.uint32)[index] ^= np.uint32(1 << bit)
            assert checkpoint_lib.fingerprint([flipped]) != reference, (index, bit)
    assert checkpoint_lib.fingerprint([leaf.copy()]) == reference


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _delete_checksums(step_dir):
    (step_dir / "integrity" / "metadata").unlink()


@pytest.mark.parametrize("damage", ["flip_a_byte", "truncate", "delete_checksums"])
def test_a_damaged_latest_checkpoint_is_moved_aside_and_the_previous_one_restored(tmp_path, damage):
    states = _save_steps(tmp_path, [10, 20])
    latest = tmp_path / "checkpoints" / "20"
    if damage == "delete_checksums":
        _delete_checksums(latest)
    else:
        {"flip_a_byte": _flip_a_byte, "truncate": _truncate}[damage](_largest_data_file(latest))

    checkpointer = Checkpointer(tmp_path, keep=3)
    restored = checkpointer.restore(_state(99))

    assert restored.step == 10
    _assert_trees_equal(restored.state, states[10])
    [line] = restored.moved_aside
    assert line.startswith("the checkpoint at step 20 is damaged (") and "moved it to" in line
    [moved] = (tmp_path / "damaged").iterdir()  # moved, not deleted
    assert moved.name.startswith("20-") and (moved / "state").is_dir()
    assert checkpointer.latest_step() == 10
    checkpointer.save(states[20], force=True)  # the resumed run can save step 20 again
    checkpointer.wait()
    assert checkpointer.latest_step() == 20
    _assert_trees_equal(Checkpointer(tmp_path).restore(_state(99)).state, states[20])


def test_when_every_checkpoint_is_damaged_nothing_is_moved_and_the_error_says_so(tmp_path):
    _save_steps(tmp_path, [10])
    _flip_a_byte(_largest_data_file(tmp_path / "checkpoints" / "10"))
    with pytest.raises(errors.CheckpointError, match=r"the checkpoint at step 10 in .* is damaged \(.*no earlier one"):
        Checkpointer(tmp_path).restore(_state(0))
    assert (tmp_path / "checkpoints" / "10").is_dir() and not (tmp_path / "damaged").exists()


def test_a_class_count_mismatch_names_the_layer_and_both_shapes_and_moves_nothing(tmp_path):
    _save_steps(tmp_path, [10, 20])
    with pytest.raises(errors.CheckpointError) as raised:
        Checkpointer(tmp_path).restore(_state(0, num_classes=100))
    message = str(raised.value)
    assert "does not fit this run's state" in message and "\n" not in message
    assert "params/Dense_0/kernel: saved (128, 10), this run (128, 100)" in message
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["10", "20"]
    assert not (tmp_path / "damaged").exists()


@pytest.mark.parametrize("earlier", [[10], []])
def test_too_little_free_space_refuses_before_writing_scaled_to_the_checkpoint(tmp_path, monkeypatch, earlier):
    _save_steps(tmp_path, earlier)
    checkpointer = Checkpointer(tmp_path)
    state = _state(20).replace(step=np.int32(20))
    size = sum(x.nbytes for x in jax.tree.leaves(state))
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(checkpoint_lib.shutil, "disk_usage", lambda path: usage._replace(free=size))
    after = ("the checkpoint at step 10 is intact: free some space and rerun to resume from it" if earlier else
             "no checkpoint was saved yet: free some space and rerun to start the run again")
    with pytest.raises(errors.CheckpointError, match=r"not enough disk space to checkpoint step 20 .* MiB needed, "
                                                     r"[0-9.]+ MiB free; " + after):
        checkpointer.save(state, force=True)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [str(s) for s in earlier]
    fraction, minimum = checkpoint_lib.FREE_SPACE_MARGIN
    monkeypatch.setattr(checkpoint_lib.shutil, "disk_usage",
                        lambda path: usage._replace(free=int(size + max(fraction * size, minimum)) + 1))
    checkpointer.save(state, force=True)  # a small volume that holds the checkpoint is not refused
    checkpointer.wait()
    assert checkpointer.latest_step() == 20


def test_a_write_error_during_saving_is_one_line_naming_the_intact_checkpoint(tmp_path, monkeypatch):
    _save_steps(tmp_path, [10])
    checkpointer = Checkpointer(tmp_path)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpointer._latest, "save", full_disk)
    with pytest.raises(errors.CheckpointError, match=r"at step 20 .* failed: the disk is full; "
                                                     r"the checkpoint at step 10 is intact: free some space and "
                                                     r"rerun to resume from it"):
        checkpointer.save(_state(20).replace(step=np.int32(20)), force=True)


@pytest.mark.parametrize("free_space_check", [True, False])
def test_a_really_full_disk_is_one_line_and_keeps_the_earlier_checkpoint(mount_small_disk, monkeypatch, free_space_check):
    small_disk = mount_small_disk(3)
    states = _save_steps(small_disk, [10])
    checkpointer = Checkpointer(small_disk)
    if not free_space_check:  # reach the write error itself, as when the disk fills during the write
        monkeypatch.setattr(checkpointer, "_check_free_space", lambda state, step: None)
    filler = small_disk / "filler"
    with filler.open("wb") as f:  # leave 1 KiB: less than the state needs
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 1024))
    expected = "not enough disk space to checkpoint step 20" if free_space_check else "at step 20 .* failed: the disk is full"
    with pytest.raises(errors.CheckpointError, match=expected + r".*; the checkpoint at step 10 is intact"):
        checkpointer.save(states[10].replace(step=np.int32(20)), force=True)
        checkpointer.wait()
    filler.unlink()
    restored = Checkpointer(small_disk).restore(_state(0))
    assert restored.step == 10
    _assert_trees_equal(restored.state, states[10])
