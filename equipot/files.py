"""Files that are whole or absent: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """A file to write ``path`` through: it appears under ``path`` (replacing what was there)
    only when the block ends without an error, flushed to disk, so a process killed meanwhile
    leaves the old file or none, never half a file, and readers never see one being written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, data) -> None:
    """``data`` as indented JSON at ``path``, whole or not at all (numpy scalars as floats)."""
    import json

    with atomic_open(path, "w") as fh:
        json.dump(data, fh, indent=2, default=float)
