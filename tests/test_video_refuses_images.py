"""`cartoonize-video` sends pictures to `cartoonize-image`: an image input (by extension or by its first
bytes) or an image-extension output is a one-line error with exit code 2, and nothing is written."""

from __future__ import annotations

from click.testing import CliRunner

from cartoonize.tools.video import main as video_main

from test_image_cli import one_line_error, photo

from conftest import write_clip


def run(*args):
    return CliRunner().invoke(video_main, [str(a) for a in args])


def test_picture_inputs_are_refused_with_a_hint(tmp_path):
    jpeg = photo("rocket.jpg")
    for out in (tmp_path / "o.mp4", tmp_path / "o.jpg"):
        one_line_error(run(jpeg, out), "rocket.jpg", "cartoonize-image")
        assert not out.exists()
    # A photo under a video name is still a photo: recognised by its first bytes.
    disguised = tmp_path / "photo.mp4"
    disguised.write_bytes(jpeg.read_bytes())
    one_line_error(run(disguised, tmp_path / "o.mp4"), "photo.mp4", "cartoonize-image")
    assert not (tmp_path / "o.mp4").exists()


def test_picture_outputs_are_refused_with_a_hint(tmp_path):
    clip = write_clip(tmp_path / "in.mp4", width=64, height=48)
    for name in ("frame.png", "frame.JPG", "frame.webp", "frame.tif"):
        one_line_error(run(clip, tmp_path / name), name, "cartoonize-image")
        assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
