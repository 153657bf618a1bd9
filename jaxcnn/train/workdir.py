"""A run's directory on disk: checked writable, its config.json recorded and checked on resume, archived
(moved, never deleted) when the user asks for a new run in it, and read back as a trained run (for transfer
learning and inspection) without writing anything.

    workdir/config.json           the run's settings (checked on every start; changed only on purpose)
    workdir/history.jsonl         each start / resume / settings change, with code and package versions
    workdir/.lock                 held by the running run (jaxcnn.train.lock)
    workdir/archive/<utc>/        an earlier run's files, moved there by --new_run
"""

import dataclasses
import datetime
import json
import os
import pathlib

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxcnn import errors, files, transfer
from jaxcnn.train import checkpoint
from jaxcnn.train.config import TrainConfig, identity_differences
from jaxcnn.train.lock import LOCK_FILE
from jaxcnn.train.plan import RunPlan, abstract_state, resolve

CONFIG_FILE = "config.json"
ARCHIVE_DIR = "archive"


def prepare_workdir(workdir) -> pathlib.Path:
    """The absolute workdir, created if needed; a one-line error if it cannot be written."""
    workdir = pathlib.Path(workdir).absolute()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write_test-{os.getpid()}-{jax.process_index()}"  # unique: runs may start together
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise errors.ConfigError(
            f"cannot write to --workdir {workdir} ({err.strerror or err}); choose a writable directory"
        ) from None
    return workdir


def archive_previous_run(workdir: pathlib.Path) -> pathlib.Path | None:
    """Move everything in `workdir` except earlier archives to workdir/archive/<utc time>/; returns that
    folder, or None when there was nothing to move. Process 0 moves; every process waits for it."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    destination = workdir / ARCHIVE_DIR / stamp
    entries = sorted(p for p in workdir.iterdir()
                     if p.name not in (ARCHIVE_DIR, LOCK_FILE) and not p.name.startswith(".write_test"))
    if entries and jax.process_index() == 0:
        destination.mkdir(parents=True)
        for entry in entries:
            entry.rename(destination / entry.name)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("jaxcnn archived the previous run")
    return destination if entries else None


def check_config(workdir: pathlib.Path, config: TrainConfig, *, allow_change: bool = False) -> list[str]:
    """Check the run's settings against those recorded in config.json (nothing is written: `write_config` records
    them once the run is built, so a start that fails on a bad setting leaves nothing to be refused later).

    A run whose settings differ in anything that changes its numbers is refused with the differences named,
    unless `allow_change` (--allow_config_change): then the differences are returned, for the run's history. A
    config.json that is not a run's settings is refused, never adopted; so are checkpoints without a config.json.
    """
    path = workdir / CONFIG_FILE
    if not path.exists():
        if checkpoint.saved_steps(workdir):
            raise errors.CheckpointError(
                f"{workdir} holds checkpoints but no {CONFIG_FILE} saying how they were trained; restore it, or pass "
                "--new_run to archive the old run and start a new one")
        return []
    differences = identity_differences(read_config(path), config)
    if differences and not allow_change:
        raise errors.CheckpointError(
            f"{workdir} holds a run with other settings ({'; '.join(differences)}); rerun with the original flags, "
            "pass --allow_config_change to continue it with these on purpose (recorded in its history.jsonl), use "
            "a new --workdir, or pass --new_run to archive the old run and start a new one")
    return differences


def write_config(workdir: pathlib.Path, config: TrainConfig) -> None:
    """Record the run's settings in config.json (written whole, then renamed: never half a file) unless they are
    recorded already; execution settings (`config.EXECUTION_FIELDS`) keep their first recorded values."""
    path = workdir / CONFIG_FILE
    write = not path.exists() or bool(identity_differences(read_config(path), config))
    if jax.process_count() > 1:  # every process has read config.json before process 0 may replace it
        multihost_utils.sync_global_devices("jaxcnn read config.json")
    if write and jax.process_index() == 0:
        files.write_whole(path, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("jaxcnn wrote config.json")


def read_config(path: pathlib.Path) -> dict:
    """config.json's settings, checked (known fields of the right types); a one-line error otherwise."""
    try:
        saved = json.loads(path.read_text())
        TrainConfig.from_dict(saved)  # types checked
    except (OSError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise errors.CheckpointError(
            f"{path} is not a jaxcnn run's settings ({reason}); it records what this workdir trains: restore it, "
            "or pass --new_run to archive the workdir's files and start a new run"
        ) from None
    return saved


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """What a finished (or interrupted) run offers: its verified variables and how it was trained."""

    workdir: pathlib.Path
    plan: RunPlan
    step: int
    source: str  # "best" (selected on validation) or "checkpoints" (newest)
    params: dict
    batch_stats: dict

    @property
    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}

    @property
    def origin(self) -> str:
        """Where --init_from's backbone came from, for the run's log."""
        return (f"{self.workdir} ({self.source} checkpoint, step {self.step}, {self.plan.config.model} on "
                f"{self.plan.config.dataset})")

    def check_backbone_fits(self, variables: dict, head: frozenset[str]) -> None:
        """A one-line error unless this run has every backbone leaf of `variables` (arrays or shapes) with the
        same shape; names the first differences."""
        differences = transfer.backbone_differences(variables, self.variables, head)
        if differences:
            more = f"; {len(differences) - 3} more" if len(differences) > 3 else ""
            raise errors.CheckpointError(
                f"--init_from={self.workdir} trained {self.plan.config.model!r}, whose backbone does not fit this "
                f"run's model ({'; '.join(differences[:3])}{more}); use the same --model as that run")


def load_trained(workdir, flag: str = "--init_from") -> TrainedRun:
    """The run in `workdir`: its best checkpoint (else its newest), checksums verified, as NumPy arrays. Reads
    only: nothing in that workdir is created, moved or deleted, so it may be another user's or still running.
    Errors name the workdir as the command-line `flag` that gave it."""
    workdir = pathlib.Path(workdir).absolute()
    config_path = workdir / CONFIG_FILE
    try:
        saved = json.loads(config_path.read_text())
        if not isinstance(saved, dict):
            raise ValueError(f"it holds a JSON {type(saved).__name__}, not the settings of a run")
        plan = resolve(TrainConfig.from_dict(saved))
    except (OSError, ValueError, TypeError, errors.UserError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise errors.CheckpointError(f"{flag}={workdir}: cannot use its {CONFIG_FILE} ({reason}); give the "
                                     "--workdir of a jaxcnn training run") from None
    target = abstract_state(plan)
    for source in ("best", "checkpoints"):
        found = checkpoint.restore_newest_read_only(workdir / source, target)
        if found is not None:
            state, step = found
            params, batch_stats = (jax.tree.map(np.asarray, tree) for tree in (state.params, state.batch_stats))
            return TrainedRun(workdir, plan, step, source, params, batch_stats)
    raise errors.CheckpointError(f"{flag}={workdir}: the run has no checkpoint yet; train it first (or give "
                                 "another run's --workdir)")
