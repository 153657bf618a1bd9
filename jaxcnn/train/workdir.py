"""The run directory: checked writable, its config.json recorded and checked on resume, and archived
(moved, never deleted) when the user asks for a new run in it.

    workdir/config.json           the config the run was started with (checked on resume)
    workdir/archive/<utc>/        an earlier run's files, moved there by --new_run
"""

import datetime
import json
import os
import pathlib

import jax
from jax.experimental import multihost_utils

from jaxcnn import errors
from jaxcnn.train.config import TrainConfig, identity_differences

CONFIG_FILE = "config.json"
ARCHIVE_DIR = "archive"


def prepare_workdir(workdir) -> pathlib.Path:
    """The absolute workdir, created if needed; a one-line error if it cannot be written."""
    workdir = pathlib.Path(workdir).absolute()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write_test{jax.process_index()}"
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
    entries = sorted(p for p in workdir.iterdir() if p.name != ARCHIVE_DIR and not p.name.startswith(".write_test"))
    if entries and jax.process_index() == 0:
        destination.mkdir(parents=True)
        for entry in entries:
            entry.rename(destination / entry.name)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("jaxcnn archived the previous run")
    return destination if entries else None


def write_or_check_config(workdir: pathlib.Path, config: TrainConfig, resuming: bool) -> None:
    """Record the run's config; on resume, refuse one that trains a different model or dataset."""
    path = workdir / CONFIG_FILE
    if resuming and path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise errors.CheckpointError(
                f"{path} cannot be read ({err}); it records what this workdir trains: restore it, or pass "
                "--new_run to archive the old run and start a new one"
            ) from None
        differences = identity_differences(saved, config)
        if differences:
            raise errors.CheckpointError(
                f"{workdir} holds a run with a different setup ({'; '.join(differences)}); restore the original "
                "flags, use a new --workdir, or pass --new_run to archive the old run and start a new one"
            )
    if not path.exists() and jax.process_index() == 0:
        partial = path.with_name(f".{CONFIG_FILE}.partial")  # written whole, then renamed: never half a file
        partial.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
        os.replace(partial, path)
