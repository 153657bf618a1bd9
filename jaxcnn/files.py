"""Files written whole: a reader (another process, or a run resumed after a kill) never sees half a file; and
work that two processes must not do at once (`held_exclusively`)."""

import contextlib
import fcntl
import os
import pathlib


def write_whole(path: pathlib.Path, content: str | bytes) -> None:
    """Write `content` (text or bytes) to a temporary file beside `path` (named by this process), then rename it
    over `path`."""
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    if isinstance(content, bytes):
        partial.write_bytes(content)
    else:
        partial.write_text(content)
    os.replace(partial, path)


@contextlib.contextmanager
def held_exclusively(lock_path: pathlib.Path):
    """Wait for, then hold, an exclusive `flock` on `lock_path` inside the block: two processes (two runs, or two
    test workers) that would write the same files take turns. The kernel drops the lock when its holder dies, so a
    killed process never leaves it held."""
    lock_path = pathlib.Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
