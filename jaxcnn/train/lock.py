"""One run at a time in a workdir: an exclusive `flock` on workdir/.lock, held while the run lives.

The kernel releases the lock when its process ends, however it ends (kill -9 included), so a lock file left by a
dead run is never in the way and needs no clean-up guesswork; the file only says who holds it (host, pid,
start time, command), for the refusal a second run prints. A run that ends removes it. Multi-host, process 0 takes the lock for the whole
run and every process learns the outcome, so all of them start or all stop with the same message.
"""

import contextlib
import datetime
import fcntl
import json
import os
import pathlib
import socket
import sys

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxcnn import errors

LOCK_FILE = ".lock"


class WorkdirBusy(errors.UserError):
    """Another run holds the workdir."""

    label = "busy"


def _holder_text() -> str:
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started,
                       "command": " ".join(sys.argv)[:500]}) + "\n"


def _describe_holder(path: pathlib.Path) -> str:
    """'pid 123 on host h (started ..., running: cmd)', or what can be said of an unreadable lock file."""
    try:
        holder = json.loads(path.read_text())
        return (f"pid {holder['pid']} on host {holder['host']} (started {holder['started']}, running: "
                f"{holder['command'][:120]})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (its lock file does not say which)"


def _try_lock(path: pathlib.Path):
    """The open, locked file; or the holder's description when another process holds it."""
    try:
        handle = open(path, "a+")  # never truncates: the holder's note stays readable until we own the lock
    except OSError as err:
        raise errors.ConfigError(f"cannot write to --workdir {path.parent} ({err.strerror or err}); choose a "
                                 "writable directory") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return _describe_holder(path)
    if not _still_at(path, handle):  # its holder removed the file after we opened it: lock the new one
        handle.close()
        return _try_lock(path)
    handle.truncate(0)
    handle.write(_holder_text())
    handle.flush()
    return handle


def _still_at(path: pathlib.Path, handle) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def workdir_lock(workdir: pathlib.Path):
    """Hold the workdir's lock inside the block; a one-line WorkdirBusy when another run holds it."""
    handle = _try_lock(workdir / LOCK_FILE) if jax.process_index() == 0 else None
    locked = not isinstance(handle, str)
    if jax.process_count() > 1:
        locked = bool(multihost_utils.broadcast_one_to_all(np.int32(locked)))
    if not locked:
        holder = handle if isinstance(handle, str) else "a run on another host (process 0 says why)"
        raise WorkdirBusy(f"{workdir} is in use by {holder}; wait for it to finish, stop it, or use another "
                          "--workdir")
    try:
        yield
    finally:
        if handle is not None:  # removed while still locked, so a run that opened it meanwhile retries (_still_at)
            (workdir / LOCK_FILE).unlink(missing_ok=True)
            handle.close()
