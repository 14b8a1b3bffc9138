"""Command-line inputs given as files, folders and glob patterns, expanded into a list of files.

Usage: ``paths, errors = expand_inputs(("clips/", "extra/*.mov", "one.mp4"), VIDEO_EXTENSIONS, "video")``

A folder contributes the files directly inside it whose extension is listed (hidden files are
skipped); a pattern the shell did not expand (quoted, or on Windows) is expanded here. Each item
that yields nothing is one error line, so a batch can report it and go on with the others.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Iterable

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".mts",
                              ".m2ts", ".flv", ".wmv", ".ogv", ".3gp", ".mxf", ".y4m"})


def expand_inputs(patterns: Iterable[str], extensions: Iterable[str], kind: str) -> tuple[list[Path], list[str]]:
    """Files, folders and globs -> (paths in the order given, one error message per unusable item)."""
    extensions = frozenset(e.lower() for e in extensions)
    found: list[Path] = []
    errors: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir()
                            if p.suffix.lower() in extensions and not p.name.startswith(".") and not p.is_dir())
            if not inside:
                errors.append(f"{path}: folder holds no {kind} files ({', '.join(sorted(extensions))})")
            found.extend(inside)
        elif path.exists() or path.is_symlink():
            found.append(path)
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern) if not Path(p).is_dir())
            if not matches:
                errors.append(f"{pattern}: no file matches")
            found.extend(matches)
        else:
            errors.append(f"{path}: no such file")
    return list(dict.fromkeys(found)), errors   # a file named twice (itself and its folder) is made once
