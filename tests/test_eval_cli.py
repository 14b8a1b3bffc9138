"""`cartoonize-eval`: a real clip against itself is 1.00, with per-frame noise > 5; bad input is one line, exit 2."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cartoonize.realtime.video_source import VideoSource
from cartoonize.tools.eval import main


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]   # splitlines also ends tqdm's \r lines
    assert lines and lines[-1].startswith("error: ") and fragment in lines[-1], result.stderr
    assert "Traceback" not in result.output


def write_frames(path, frames: list[np.ndarray], fps: int = 30):
    """Lossless H.264 (4:4:4, CRF 0), so added noise survives the encoder."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv444p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def carphone8(carphone_clip):
    source = VideoSource.open(carphone_clip, warn=lambda m: None)
    return [item.rgb_u8_hwc for item, _ in zip(source.frames(), range(8))]


def test_clip_against_itself_is_one_and_noisy_copy_is_over_five(carphone_clip, carphone8, tmp_path):
    same = cli("video", carphone_clip, carphone_clip, "--frames", 8, "--steps", "1,3", "--json", "-q")
    assert same.exit_code == 0, same.output
    report = json.loads(same.stdout)
    assert report["steps"]["1"]["pairs"] == 7 and report["steps"]["3"]["pairs"] == 5
    assert report["steps"]["1"]["ratio"]["carphone_pristine.mp4"] == 1.0
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + rng.normal(0, 25, f.shape), 0, 255).astype(np.uint8) for f in carphone8]
    noisy_path = write_frames(tmp_path / "noisy.mp4", noisy)
    result = cli("video", carphone_clip, noisy_path, "--frames", 8, "--steps", "1", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"]["1"]["ratio"]["noisy.mp4"] > 5


def test_style_run_with_temporal_prints_both(carphone_clip):
    result = cli("video", carphone_clip, "--style", "classic", "--temporal", "--frames", 6, "--steps", "1", "-q")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    raw = next(line for line in lines if line.strip().startswith("classic:"))
    steady = next(line for line in lines if "classic +temporal 0.6:" in line)
    ratio = lambda line: float(line.rsplit("ratio", 1)[1])  # noqa: E731
    assert ratio(steady) < ratio(raw)


def test_bad_video_inputs(carphone_clip, tmp_path):
    one_line_error(cli("video", carphone_clip), "either STYLISED")
    one_line_error(cli("video", carphone_clip, carphone_clip, "--style", "classic"), "either STYLISED")
    one_line_error(cli("video", carphone_clip, carphone_clip, "--temporal"), "--temporal needs --style")
    one_line_error(cli("video", tmp_path / "none.mp4", "--style", "classic"), "none.mp4")
    one_line_error(cli("video", carphone_clip, "--style", "no-such-style"), "no-such-style")
    short = write_frames(tmp_path / "short.mp4", [np.zeros((144, 176, 3), np.uint8)] * 3)
    one_line_error(cli("video", carphone_clip, short, "--frames", 6, "-q"), "ends at frame 3")
    small = write_frames(tmp_path / "small.mp4", [np.zeros((64, 96, 3), np.uint8)] * 6)
    one_line_error(cli("video", carphone_clip, small, "--frames", 6, "-q"), "frames are 96x64")
    assert cli("video", carphone_clip, carphone_clip, "--steps", "0").exit_code == 2


def photo_folder(frames: list[np.ndarray], folder):
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"p{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def test_images_student_vs_teacher_psnr(carphone8, tmp_path):
    photos = photo_folder([carphone8[0], carphone8[7]], tmp_path / "photos")
    same = cli("images", photos, "--student", "classic", "--teacher", "classic", "--json", "--max-side", 64)
    assert same.exit_code == 0, same.output
    report = json.loads(same.stdout)
    assert report["mean_psnr_db"] is None and report["mean_feature_distance"] is None   # identical: inf dB
    assert [image["name"] for image in report["images"]] == ["p0.png", "p1.png"]
    one_line_error(cli("images", tmp_path / "nowhere", "--student", "classic", "--teacher", "classic"), "not a folder")
    one_line_error(cli("images", photos, "--student", "classic", "--teacher", "nope"), "nope")


@pytest.mark.slow
def test_images_feature_distance_with_a_network_teacher(carphone8, tmp_path):
    import torch
    from safetensors.torch import save_file

    from cartoonize.styles import BUNDLED_STYLES
    from cartoonize.train.vgg import VGG
    photos = photo_folder([carphone8[0]], tmp_path / "photos")
    torch.manual_seed(0)
    weights = tmp_path / "vgg16.safetensors"       # random weights: the distance is computed, not meaningful
    save_file({k: v.contiguous() for k, v in VGG("vgg16").state_dict().items()}, str(weights))
    same = cli("images", photos, "--student", "classic", "--teacher", "classic", "--vgg-weights", weights, "--json",
               "--max-side", 64)
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["mean_feature_distance"] == 0.0
    network = next(name for name, style in sorted(BUNDLED_STYLES.items()) if style.kind == "generator")
    other = cli("images", photos, "--student", "classic", "--teacher", network, "--vgg-weights", weights,
                "--max-side", 96)
    assert other.exit_code == 0, other.output
    assert "p0.png: PSNR" in other.stdout and "relu4_3 feature distance" in other.stdout
    assert float(other.stdout.rsplit("feature distance", 1)[1]) > 0
