"""Atomic file output: a temporary file beside the destination, renamed over it when complete.

Usage:
    check_readable_file(Path("in.mp4"), "video")    # inputs: one-line errors before any decoder runs
    write_atomic(data, Path("model.onnx"))          # bytes already in memory
    tmp = temp_file_beside(Path("out.mp4"), suffix=".partial.mp4")   # a writer that needs a path
    ... write tmp ...
    os.replace(tmp, "out.mp4")

The temporary file lives in the destination's folder so the rename is atomic (same file system),
and it gets the permissions any new file gets under the user's umask: ``mkstemp`` alone makes it
private (0600), which the finished file would keep after the rename.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import BadInputError


def check_readable_file(path: Path, kind: str) -> None:
    """BadInputError (one line) for a path that cannot be a ``kind`` file ("video", "image"), before any
    decoder sees it: missing, a directory, not a regular file, empty, unreadable."""
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory, not {'an' if kind[0] in 'aeiou' else 'a'} {kind} file")
    if not path.is_file():
        raise BadInputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise BadInputError(f"{path}: cannot be read (permission denied)")


def temp_file_beside(path: Path, suffix: str = ".partial") -> Path:
    """Create an empty, uniquely named hidden file next to ``path``; OSError if the folder refuses it."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)   # reading the umask means setting it; put it straight back
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def write_atomic(data: bytes, path: Path) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    tmp = temp_file_beside(Path(path))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
