"""What a run ran with: the code version and the versions of the packages that decide its numbers.

Each start, resume and deliberate settings change of a run appends one line to workdir/history.jsonl, so a
number in metrics.jsonl can always be traced to the code and packages that produced it, including runs that
were resumed under an upgraded environment.
"""

import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess

import jax

HISTORY_FILE = "history.jsonl"
PACKAGES = ("jaxcnn", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "tensorflow-cpu", "tensorflow",
            "tensorflow-datasets")
_SOURCE = pathlib.Path(__file__).resolve().parents[2]  # the checkout jaxcnn is imported from


def code_version() -> dict:
    """The git commit of the jaxcnn checkout and whether it had uncommitted changes; {} outside a git checkout."""
    def git(*args):
        return subprocess.run(["git", "-C", str(_SOURCE), *args], capture_output=True, text=True, timeout=20)

    try:
        commit = git("rev-parse", "HEAD")
        if commit.returncode != 0:
            return {}
        changed = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit.stdout.strip(), "uncommitted_changes": bool(changed)}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict:
    devices = jax.devices()
    return {"python": platform.python_version(), "platform": platform.platform(), "code": code_version(),
            "packages": package_versions(), "devices": f"{len(devices)} x {devices[0].device_kind}",
            "processes": jax.process_count()}


def record_event(workdir: pathlib.Path, event: str, step: int, **details) -> None:
    """Append one line {time, event, step, details..., environment} to workdir/history.jsonl (process 0)."""
    if jax.process_index() != 0:
        return
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    line = json.dumps({"time": stamp, "event": event, "step": step, **details, **environment()})
    with open(workdir / HISTORY_FILE, "a") as history:
        history.write(line + "\n")
        history.flush()
        os.fsync(history.fileno())
