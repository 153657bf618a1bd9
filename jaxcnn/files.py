"""Files written whole: a reader (another process, or a run resumed after a kill) never sees half a file."""

import os
import pathlib


def write_whole(path: pathlib.Path, text: str) -> None:
    """Write `text` to a temporary file beside `path` (named by this process), then rename it over `path`."""
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    os.replace(partial, path)
