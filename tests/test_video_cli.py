"""`cartoonize-video` end to end: the real 720p clip with the default style, and every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from cartoonize.tools.video import main

from conftest import read_video, write_clip


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_bigbuckbunny_with_default_style_keeps_frames_timestamps_and_audio(bunny_clip, tmp_path):
    out = tmp_path / "bunny_cartoon.mp4"
    result = cli(bunny_clip, out, "--quiet")
    assert result.exit_code == 0, result.output
    src, dst = read_video(bunny_clip), read_video(out)
    assert len(dst["times"]) == 132
    assert dst["times"] == src["times"]
    assert dst["size"] == (1280, 720)
    assert len(src["audio_packets"]) == 249
    assert dst["audio_packets"] == src["audio_packets"]          # byte-identical, no re-encode
    assert ("audio", "aac") in dst["streams"] and dst["codec"] == "h264"
    # The result is stylised, not a copy: frames differ clearly from the input.
    with av.open(str(bunny_clip)) as a, av.open(str(out)) as b:
        fa = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        fb = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(fa - fb).mean() > 5


@pytest.fixture()
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "in.mp4", width=64, height=48)


def test_missing_file(tmp_path):
    one_line_error(cli(tmp_path / "nope.mp4", tmp_path / "o.mp4"), "nope.mp4", "no such file")
    assert not (tmp_path / "o.mp4").exists()


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    one_line_error(cli(tmp_path / "empty.mp4", tmp_path / "o.mp4"), "empty.mp4", "empty")
    assert not (tmp_path / "o.mp4").exists()


def test_text_file_is_not_a_video(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are not frames\n" * 50)
    one_line_error(cli(tmp_path / "notes.mp4", tmp_path / "o.mp4"), "notes.mp4", "not a readable video")
    assert not (tmp_path / "o.mp4").exists()


def test_random_bytes(tmp_path):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(200_000))
    one_line_error(cli(tmp_path / "noise.mp4", tmp_path / "o.mp4"), "noise.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_truncated_file_without_index(bunny_clip, tmp_path):
    # bigbuckbunny.mp4 keeps its index (moov) at the end: cut in half, nothing is decodable.
    data = bunny_clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    one_line_error(cli(tmp_path / "cut.mp4", tmp_path / "o.mp4"), "cut.mp4", "not a readable video")
    assert not (tmp_path / "o.mp4").exists()


def test_random_bytes_named_bin_is_not_text_art(tmp_path):
    # FFmpeg would render a .bin file as ANSI/binary text art; that is not a video to cartoonize.
    (tmp_path / "noise.bin").write_bytes(np.random.default_rng(1).bytes(200_000))
    one_line_error(cli(tmp_path / "noise.bin", tmp_path / "o.mp4"), "noise.bin", "not a video")
    assert not (tmp_path / "o.mp4").exists()


def add_silence(out: av.container.OutputContainer) -> None:
    """An AAC stream with 10 frames of silence in an open output container."""
    a = out.add_stream("aac", rate=48000)
    a.codec_context.layout = "mono"
    for k in range(10):
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 48000, k * 1024
        out.mux(a.encode(f))
    out.mux(a.encode(None))


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as out:
        add_silence(out)
    one_line_error(cli(path, tmp_path / "o.mp4"), "tone.m4a", "no video stream", "audio")
    assert not (tmp_path / "o.mp4").exists()


def test_video_stream_with_zero_frames(tmp_path):
    path = tmp_path / "novideo.mkv"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        add_silence(out)   # audio packets but not a single video packet
    one_line_error(cli(path, tmp_path / "o.mp4"), "novideo.mkv", "no decodable frames")
    assert not (tmp_path / "o.mp4").exists()


def test_directory_as_input(tmp_path):
    (tmp_path / "folder").mkdir()
    one_line_error(cli(tmp_path / "folder", tmp_path / "o.mp4"), "folder", "is a directory")


def test_output_folder_missing(clip, tmp_path):
    one_line_error(cli(clip, tmp_path / "missing" / "o.mp4"), "output folder does not exist")


def test_output_folder_unwritable(clip):
    # As root, permission bits do not stop writes; /proc refuses new files for everyone.
    one_line_error(cli(clip, "/proc/cartoon_out.mp4"), "/proc", "cannot write")


def test_output_is_input(clip):
    one_line_error(cli(clip, clip, "--overwrite"), "is the input file")
    assert read_video(clip)["times"]    # still intact


def test_output_is_input_through_a_link(clip, tmp_path):
    link = tmp_path / "link.mp4"
    os.symlink(clip, link)
    before = clip.read_bytes()
    one_line_error(cli(clip, link, "--overwrite"), "is the input file")
    assert clip.read_bytes() == before


def test_existing_output_needs_overwrite(clip, tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    one_line_error(cli(clip, out), "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    result = cli(clip, out, "--overwrite", "--quiet")
    assert result.exit_code == 0, result.output
    assert len(read_video(out)["times"]) == 10


def test_unknown_container_extension(clip, tmp_path):
    one_line_error(cli(clip, tmp_path / "o.notaformat"), "o.notaformat")
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


def test_unknown_style_and_codec(clip, tmp_path):
    one_line_error(cli(clip, tmp_path / "o.mp4", "--style", "picasso"), "unknown style", "classic")
    one_line_error(cli(clip, tmp_path / "o.mp4", "--codec", "nocodec"), "unknown video encoder")
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_gpu_for_the_classic_filter_is_refused_not_moved_to_the_cpu(clip, tmp_path, device):
    one_line_error(cli(clip, tmp_path / "o.mp4", "--style", "classic", "--device", device),
                   "'classic' is a filter that runs on the CPU only", device)
    one_line_error(cli(clip, tmp_path / "o.mp4", "--style", "classic", "--fp16"), "--fp16 does not apply")
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


@pytest.mark.parametrize("scale", ["0", "1.5", "-1"])
def test_scale_outside_0_1_is_one_line_from_the_one_validation(clip, tmp_path, scale):
    one_line_error(cli(clip, tmp_path / "o.mp4", "--style", "classic", "--scale", scale), "--scale must be in (0, 1]")


def test_bad_weights_file(clip, tmp_path):
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x00" * 64)
    one_line_error(cli(clip, tmp_path / "o.mp4", "--weights", bad), "w.safetensors")


def test_success_prints_summary_and_no_temp_files(clip, tmp_path):
    out = tmp_path / "o.mkv"
    result = cli(clip, out, "--crf", "30", "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stderr and "10 frames" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "o.mkv"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask      # not the temp file's private 0600


def test_help_shows_examples():
    result = cli("--help")
    assert result.exit_code == 0 and "Examples:" in result.output and "--overwrite" in result.output
    text = " ".join(result.output.split())
    assert "Default: 20 for libx264, 24 for libx265" in text      # the real defaults, from the encoder's table


# Ctrl-C and SIGTERM mid-run: tests/test_video_hardening.py (a slow engine instead of a slow encoder preset).
