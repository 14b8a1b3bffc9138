"""Cartoonizer.video stabilises as cartoonize-video does (on by default, off or another strength on request)."""

from __future__ import annotations

import numpy as np
import pytest

from cartoonize import Cartoonizer
from cartoonize.errors import BadInputError

from conftest import read_video, write_clip


def frames_of(path):
    import av
    with av.open(str(path)) as clip:
        return [f.to_ndarray(format="rgb24").astype(int) for f in clip.decode(video=0)]


def test_video_is_stabilised_by_default_and_on_request_only(tmp_path):
    clip = write_clip(tmp_path / "in.mp4", width=96, height=64)          # 10 frames, a moving pattern
    with Cartoonizer(style="classic") as toon:
        default = toon.video(clip, tmp_path / "default.mp4", crf=0)        # lossless: differences are the style's
        off = toon.video(clip, tmp_path / "off.mp4", temporal=False, crf=0)
        strong = toon.video(clip, tmp_path / "strong.mp4", temporal=0.9, crf=0)
        with pytest.raises(BadInputError, match="temporal"):
            toon.video(clip, tmp_path / "bad.mp4", temporal="yes")
        assert toon.image(np.zeros((8, 8, 3), np.uint8)).shape == (8, 8, 3)   # the engine is still open
    assert default.frames == off.frames == strong.frames == 10
    assert read_video(tmp_path / "default.mp4")["times"] == read_video(clip)["times"]
    a, b, c = (frames_of(tmp_path / n) for n in ("default.mp4", "off.mp4", "strong.mp4"))
    assert np.abs(a[0] - b[0]).max() <= 1                             # the first frame has no past to blend
    later = lambda x, y: np.mean([np.abs(p - q).mean() for p, q in zip(x[1:], y[1:])])  # noqa: E731
    assert later(a, b) > 0.1 and later(c, b) > later(a, b)           # stabilised, more so at 0.9
    assert not (tmp_path / "bad.mp4").exists()
