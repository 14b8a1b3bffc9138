"""tools/quality_table.py's frame cache: a style's frames are computed once and reused, for fewer frames too."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from cartoonize.tools import quality_table

from conftest import pattern_rgb


def test_stylised_frames_are_cached_and_reused(tmp_path, monkeypatch):
    source = [pattern_rgb(64, 48, t) for t in range(6)]
    first = quality_table.stylised_frames("classic", "clip.mp4", source, tmp_path)
    cached = list(tmp_path.glob("clip-classic.npy"))
    assert len(cached) == 1 and len(first) == 6 and first[0].shape == (48, 64, 3)
    assert any(np.abs(a.astype(int) - b).mean() > 5 for a, b in zip(first, source))   # stylised, not copied

    @contextlib.contextmanager
    def no_engine(style, **kwargs):
        raise AssertionError("the network ran although the frames were cached")
        yield
    monkeypatch.setattr(quality_table, "style_engine", no_engine)
    again = quality_table.stylised_frames("classic", "clip.mp4", source, tmp_path)
    fewer = quality_table.stylised_frames("classic", "clip.mp4", source[:4], tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(first, again)) and len(fewer) == 4
    # More frames than cached, or another size: computed again (here: the engine is asked for, and refused).
    with pytest.raises(AssertionError, match="the network ran"):
        quality_table.stylised_frames("classic", "clip.mp4", source + source[:1], tmp_path)
