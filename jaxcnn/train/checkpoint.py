"""Orbax checkpoints in a run's workdir: the latest few for resuming, the best on validation kept apart.

    workdir/checkpoints/<step>/   periodic + end-of-epoch + on-interrupt saves (newest `keep` kept)
    workdir/best/<step>/          the state the run selected (highest validation accuracy so far)
    workdir/damaged/<step>-<utc>/ checkpoints that failed to restore or verify, moved aside, never deleted

Each checkpoint holds the state and, beside it, a checksum of every leaf taken before writing. Orbax
restores a flipped bit without complaint (its compressed chunks carry no checksum of their own), so
restoring verifies the checksums, and a checkpoint that fails is reported and the previous good one used.
An end-of-epoch checkpoint also carries that epoch's metrics row (`record`), so a run killed right after it
can finish the epoch's bookkeeping (metrics row, best checkpoint) when it resumes.
"""

import contextlib
import dataclasses
import datetime
import errno
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from jaxcnn import errors

STATE, INTEGRITY = "state", "integrity"
# Writing a checkpoint needs at most its uncompressed size plus orbax's metadata; ask for this much more on top.
FREE_SPACE_MARGIN = (0.05, 256 * 2**10)  # 5% of the state, and at least 256 KiB


@jax.jit
def _leaf_checksums(leaves):
    """A uint32 per leaf: the sum of its bytes weighted by odd numbers, modulo 2**32. Any single flipped
    bit changes it (a change of +-2**k times an odd weight is never a multiple of 2**32)."""

    def checksum(x):
        data = jax.lax.bitcast_convert_type(x.astype(jnp.uint8) if x.dtype == jnp.bool_ else x, jnp.uint8)
        data = data.reshape(-1).astype(jnp.uint32)
        weights = 2 * jnp.arange(data.size, dtype=jnp.uint32) + 1
        return jnp.sum(data * weights, dtype=jnp.uint32)

    return [checksum(x) for x in leaves]


def fingerprint(tree) -> list[int]:
    """Per-leaf checksums of a state (replicated arrays, one or many processes) as Python ints."""
    return [int(np.asarray(c.addressable_data(0))) for c in _leaf_checksums(jax.tree.leaves(tree))]


@dataclasses.dataclass(frozen=True)
class Restored:
    state: object
    step: int
    moved_aside: list[str]  # one line per damaged newer checkpoint that was moved to workdir/damaged/
    record: dict | None = None  # the epoch's metrics row of an end-of-epoch checkpoint


class _Unusable(Exception):
    """A checkpoint that cannot be restored into the target: `damaged` unless its layout simply differs."""

    def __init__(self, reason: str, damaged: bool):
        super().__init__(reason)
        self.reason, self.damaged = reason, damaged


class Checkpointer:
    """Two orbax managers. Saves are asynchronous on one process; multi-host they are synchronous, because
    the two managers' background threads meet cross-process barriers in an order that can differ between
    processes and then deadlock (seen with two CPU processes: one waiting in 'latest', one in 'best')."""

    def __init__(self, workdir: str | pathlib.Path, keep: int = 2):
        self.workdir = pathlib.Path(workdir).absolute()
        self._saving_step = None  # the newest save started: an asynchronous one's errors surface later
        asynchronous = jax.process_count() == 1
        # cleanup_tmp_directories: a save cut short (kill -9, full disk) leaves a *.orbax-checkpoint-tmp
        # folder that is not a checkpoint; the next run removes it.
        self._latest = ocp.CheckpointManager(
            self.workdir / "checkpoints", item_handlers=_item_handlers(),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=asynchronous,
                                                 cleanup_tmp_directories=True),
        )
        # The loop decides what is best (jaxcnn.train.selection); this manager keeps the newest it was given.
        self._best = ocp.CheckpointManager(
            self.workdir / "best", item_handlers=_item_handlers(),
            options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True, enable_async_checkpointing=asynchronous,
                                                 cleanup_tmp_directories=True),
        )

    def latest_step(self) -> int | None:
        return self._latest.latest_step()

    def best_step(self) -> int | None:
        return self._best.latest_step()

    def save(self, state, *, force: bool = False, record: dict | None = None) -> None:
        """Save `state` (with `record`, an end-of-epoch metrics row) among the latest checkpoints."""
        self._save(self._latest, state, record, force=force)

    def save_best(self, state) -> None:
        """Keep `state` as the selected one (the previous best is deleted once this one is complete)."""
        self._save(self._best, state, None, force=True)

    def _save(self, manager, state, record: dict | None, **kwargs) -> None:
        """Free space checked first, write errors as one line; a step already saved (a resumed run replaying
        steps it had saved before dying) is left as it is."""
        step = int(state.step)
        if step in manager.all_steps():
            return
        self._check_free_space(state, step)
        self._saving_step = step
        with self._write_errors(step):
            manager.save(step, args=_save_args(state, record), **kwargs)

    def restore(self, target_state) -> Restored:
        """The newest checkpoint that restores into `target_state`'s structure / shardings and verifies.

        Newer ones that are damaged are moved to workdir/damaged/ (and named in `moved_aside`). If none
        restores, nothing is moved and the error names the newest one's problem. Every process calls this
        with the same target: orbax coordinates multi-host reads.
        """
        failures = []
        for step in sorted(self._latest.all_steps(), reverse=True):
            try:
                state, record = _restore_verified(self._latest, step, target_state)
            except _Unusable as unusable:
                failures.append((step, unusable))
                continue
            moved = [self._move_aside(bad_step, unusable.reason) for bad_step, unusable in failures]
            return Restored(state, step, moved, record)
        if not failures:
            raise errors.CheckpointError(f"no checkpoint to restore in {self.workdir / 'checkpoints'}")
        step, unusable = failures[0]
        if unusable.damaged:
            raise errors.CheckpointError(
                f"the checkpoint at step {step} in {self.workdir} is damaged ({unusable.reason}) and no earlier one "
                "restores; move the workdir's checkpoints/ folder aside to start over, or use a new --workdir"
            )
        raise errors.CheckpointError(
            f"the checkpoint at step {step} in {self.workdir} does not fit this run's state ({unusable.reason}); "
            "a different --model, --num_classes, --optimizer or --grad_accum_steps changes the state: restore the "
            "original flags, or pass --new_run to archive the old run and start a new one"
        )

    def restore_best(self, target_state):
        step = self._best.latest_step()
        if step is None:
            raise errors.CheckpointError(f"no best checkpoint in {self.workdir / 'best'}")
        try:
            return _restore_verified(self._best, step, target_state)[0]
        except _Unusable as unusable:
            raise errors.CheckpointError(f"the best checkpoint at step {step} in {self.workdir} cannot be restored "
                                         f"({unusable.reason})") from None

    def wait(self) -> None:
        with self._write_errors(self._saving_step):
            self._latest.wait_until_finished()
            self._best.wait_until_finished()

    def close(self) -> None:
        with self._write_errors(self._saving_step):
            self._latest.close()
            self._best.close()

    def _move_aside(self, step: int, reason: str) -> str:
        """Move a damaged checkpoint to workdir/damaged/ (process 0, then everyone rereads the folder)."""
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        destination = self.workdir / "damaged" / f"{step}-{stamp}"
        if jax.process_index() == 0:
            destination.parent.mkdir(exist_ok=True)
            shutil.move(self.workdir / "checkpoints" / str(step), destination)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices(f"jaxcnn moved aside checkpoint {step}")
        self._latest.reload()
        return f"the checkpoint at step {step} is damaged ({reason}); moved it to {destination}"

    def _check_free_space(self, state, step: int) -> None:
        """Refuse to start a save that cannot fit, before writing anything."""
        size = sum(x.nbytes for x in jax.tree.leaves(state))
        fraction, minimum = FREE_SPACE_MARGIN
        needed = size + max(fraction * size, minimum)
        free = shutil.disk_usage(self.workdir).free
        if free < needed:
            raise errors.CheckpointError(
                f"not enough disk space to checkpoint step {step} in {self.workdir}: about {_mib(needed)} needed, "
                f"{_mib(free)} free; {self._previous(step)}"
            )

    def _previous(self, step: int | None) -> str:
        """What the user has and what a rerun will do, after a save failed."""
        saved = [s for s in self._latest.all_steps() if step is None or s < step]
        if saved:
            return f"the checkpoint at step {max(saved)} is intact: free some space and rerun to resume from it"
        return "no checkpoint was saved yet: free some space and rerun to start the run again"

    @contextlib.contextmanager
    def _write_errors(self, step: int | None):
        """OS errors while writing (also those of an asynchronous save, which surface later) -> one line."""
        try:
            yield
        except Exception as err:  # orbax / tensorstore wrap OS errors in ValueError or RuntimeError
            text = str(err)
            full = (isinstance(err, OSError) and err.errno == errno.ENOSPC) or "No space left on device" in text
            if not (full or isinstance(err, OSError) or "os_error_code" in text):
                raise
            what = "the disk is full" if full else _first_line(err)
            at = f" at step {step}" if step is not None else ""
            raise errors.CheckpointError(
                f"writing a checkpoint{at} in {self.workdir} failed: {what}; {self._previous(step)}"
            ) from None


def saved_steps(workdir) -> list[int]:
    """The steps checkpointed in a run's workdir (checkpoints/), read without opening a manager."""
    directory = pathlib.Path(workdir) / "checkpoints"
    return ocp.utils.checkpoint_steps(directory) if directory.is_dir() else []


def restore_newest_read_only(directory: pathlib.Path, target_state, step: int | None = None) -> tuple[object, int] | None:
    """(state, step) of the newest checkpoint in `directory` (another run's checkpoints/ or best/) that restores
    into `target_state` (arrays or shapes) and verifies (only `step`'s, when given); None when it holds none.
    Nothing there is created, moved or deleted. A one-line error when checkpoints exist but none is usable."""
    if not directory.is_dir():
        return None
    manager = ocp.CheckpointManager(directory, item_handlers=_item_handlers(),
                                    options=ocp.CheckpointManagerOptions(read_only=True, create=False))
    # Every process reads the whole checkpoint onto its own first device.
    local = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(jax.local_devices()[:1]), ("local",)),
                                       jax.sharding.PartitionSpec())
    target_state = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(np.shape(leaf), leaf.dtype, sharding=local),
                                target_state)
    try:
        failures = []
        for found in sorted(manager.all_steps(), reverse=True):
            if step is not None and found != step:
                continue
            try:
                return _restore_verified(manager, found, target_state)[0], found
            except _Unusable as unusable:
                failures.append(f"step {found}: {unusable.reason}")
    finally:
        manager.close()
    if failures:
        raise errors.CheckpointError(f"no checkpoint in {directory} can be used ({'; '.join(failures[:2])}); "
                                     "it was written by another model or setup, or is damaged")
    return None


def _item_handlers() -> dict:
    """Named up front, so a fresh manager can read a checkpoint's layout before restoring it."""
    return {STATE: ocp.StandardCheckpointHandler(), INTEGRITY: ocp.JsonCheckpointHandler()}


def _mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB" if size < 10 * 2**20 else f"{size / 2**20:.0f} MiB"


def _save_args(state, record: dict | None):
    integrity = {"leaf_checksums": fingerprint(state), **({"epoch_record": record} if record is not None else {})}
    return ocp.args.Composite(**{STATE: ocp.args.StandardSave(state), INTEGRITY: ocp.args.JsonSave(integrity)})


def _restore_verified(manager, step: int, target_state):
    """(state, its epoch record or None) of checkpoint `step`, checksums verified."""
    differences = _layout_differences(manager, step, target_state)
    if differences:
        raise _Unusable("; ".join(differences), damaged=False)
    try:
        restored = manager.restore(step, args=ocp.args.Composite(
            **{STATE: ocp.args.StandardRestore(target_state), INTEGRITY: ocp.args.JsonRestore()}))
    except Exception as err:  # truncated / missing / unreadable files: tensorstore, json and OS errors
        raise _Unusable(f"unreadable: {_first_line(err)}", damaged=True) from None
    state, integrity = restored[STATE], restored[INTEGRITY]
    integrity = integrity if isinstance(integrity, dict) else {}
    saved = integrity.get("leaf_checksums")
    actual = fingerprint(state)
    if saved != actual:
        paths = [_path_name(path) for path, _ in jax.tree_util.tree_leaves_with_path(state)]
        bad = [p for p, s, a in zip(paths, saved or [], actual) if s != a] or ["its checksum record"]
        raise _Unusable(f"contents differ from their checksums in {', '.join(bad[:3])}", damaged=True)
    record = integrity.get("epoch_record")
    return state, record if isinstance(record, dict) else None


def _layout_differences(manager, step: int, target_state) -> list[str]:
    """'path: saved shape -> this run's shape' for the leaves that differ (a different model, class count,
    optimizer...). Empty when the layouts agree or the saved layout cannot be read (then restoring tells)."""
    try:
        saved_tree = manager.item_metadata(step)[STATE].tree
        saved = {_path_name(p): tuple(getattr(m, "shape", None) or ()) for p, m in jax.tree_util.tree_leaves_with_path(saved_tree)}
    except Exception:
        return []
    wanted = {_path_name(p): tuple(np.shape(x)) for p, x in jax.tree_util.tree_leaves_with_path(target_state)}
    differences = [f"{name}: saved {saved[name]}, this run {wanted[name]}"
                   for name in wanted if name in saved and saved[name] != wanted[name]]
    differences += [f"{name}: not in the checkpoint" for name in wanted if name not in saved]
    differences += [f"{name}: only in the checkpoint" for name in saved if name not in wanted]
    return differences[:3] + ([f"{len(differences) - 3} more"] if len(differences) > 3 else [])


def _path_name(path) -> str:
    """One spelling for a leaf's path whether it comes from the live state or orbax's metadata."""
    parts = []
    for entry in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
    return "/".join(parts)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:240] if text else type(err).__name__
