"""cartoonize_video on real and synthetic clips: frame counts, timestamps, streams, metadata, failures."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cartoonize.realtime.transcode import cartoonize_video
from cartoonize.realtime.video_sink import EncodeConfig

from conftest import InvertBackend, read_video, write_clip


def run(src: Path, dst: Path, backend=None, **kw):
    notes: list[str] = []
    result = cartoonize_video(src, dst, backend or InvertBackend(), log=notes.append, warn=notes.append, **kw)
    return result, notes


def test_bikes_frame_count_and_timestamps_equal(bikes_clip, tmp_path):
    out = tmp_path / "bikes.mp4"
    result, _ = run(bikes_clip, out, batch_size=4)
    src, dst = read_video(bikes_clip), read_video(out)
    assert result.frames == 250
    assert len(dst["times"]) == len(src["times"]) == 250
    assert dst["times"] == src["times"]
    assert dst["size"] == src["size"] == (640, 272)


def test_output_frames_are_the_backend_output(carphone_clip, tmp_path):
    out = tmp_path / "neg.mp4"
    run(carphone_clip, out)
    with av.open(str(carphone_clip)) as a, av.open(str(out)) as b:
        fa = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        fb = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    # The invert backend's output survives encoding: compare with 255 - input, allowing codec loss.
    assert np.abs((255 - fa) - fb).mean() < 6


def test_variable_frame_rate_keeps_timestamps(tmp_path):
    pts = [0, 33, 50, 120, 121, 300, 333, 500, 1000, 1040]   # ms: irregular gaps, VFR
    src = write_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 1000))
    for ext in (".mp4", ".mkv"):
        out = tmp_path / f"vfr_out{ext}"
        run(src, out)
        assert read_video(out)["times"] == [Fraction(p, 1000) for p in pts], ext


def test_odd_sized_clip_is_padded_by_one_pixel_and_said(tmp_path):
    src = write_clip(tmp_path / "odd.mkv", width=75, height=51, codec="libx264")
    out = tmp_path / "odd_out.mp4"
    result, notes = run(src, out)
    info = read_video(out)
    assert result.frames == 10 and len(info["times"]) == 10
    assert info["size"] == (76, 52)
    assert any("odd-sized" in n and "76x52" in n for n in notes)


def test_odd_sized_clip_keeps_size_with_a_444_codec(tmp_path):
    src = write_clip(tmp_path / "odd.mkv", width=75, height=51)
    out = tmp_path / "odd_out.mkv"
    run(src, out, encode=EncodeConfig(codec="libx264", pix_fmt="yuv444p"))
    assert read_video(out)["size"] == (75, 51)


def test_rotation_and_colour_tags_are_kept(tmp_path):
    src = tmp_path / "rot.mp4"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.color_primaries = v.codec_context.color_trc = v.codec_context.colorspace = 1  # BT.709
        v.set_display_rotation(90)
        for i in range(5):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24").reformat(
                format="yuv420p")
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode(None))
    before = read_video(src)
    assert before["rotation"] == 90 and before["color"] == (1, 1, 1)   # the fixture itself is right
    dst = tmp_path / "rot_out.mp4"
    run(src, dst)
    after = read_video(dst)
    assert after["rotation"] == 90
    assert after["color"] == (1, 1, 1)


def test_audio_reencoded_when_container_cannot_hold_it(tmp_path):
    src = write_clip(tmp_path / "a.mp4", width=64, height=48, audio=True)
    dst = tmp_path / "a.webm"
    result, notes = run(src, dst, encode=EncodeConfig(codec="libvpx-vp9"))
    info = read_video(dst)
    assert ("audio", "opus") in info["streams"]
    assert any("re-encoded to libopus" in n for n in notes)
    assert len(info["times"]) == 10


def mux_with_subtitles(video_clip: Path, srt_text: str, seconds: float, dst: Path) -> Path:
    """The first ``seconds`` of a clip's video packets plus an SRT subtitle track, in MKV."""
    srt = dst.with_suffix(".srt")
    srt.write_text(srt_text)
    with av.open(str(video_clip)) as vin, av.open(str(srt)) as sin, av.open(str(dst), "w") as out:
        vo = out.add_stream_from_template(vin.streams.video[0])
        so = out.add_stream_from_template(sin.streams.subtitles[0])
        for p in vin.demux(video=0):
            if p.dts is not None and p.dts * p.time_base < seconds:
                p.stream = vo
                out.mux(p)
        for p in [p for p in sin.demux(subtitles=0) if p.dts is not None]:
            p.stream = so
            out.mux(p)
    return dst


def test_subtitles_copied_into_mkv(tmp_path, bikes_clip):
    src = mux_with_subtitles(bikes_clip, "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n"
                             "2\n00:00:02,000 --> 00:00:03,000\nworld\n", 2.0, tmp_path / "subs.mkv")
    dst = tmp_path / "subs_out.mkv"
    result, _ = run(src, dst)
    info = read_video(dst)
    assert [kind for kind, _ in info["streams"]] == ["video", "subtitle"]
    assert result.copied_packets == 2


def test_subtitles_left_out_of_mp4_with_a_note(tmp_path, bikes_clip):
    src = mux_with_subtitles(bikes_clip, "1\n00:00:00,000 --> 00:00:01,000\nhello\n", 0.5, tmp_path / "subs.mkv")
    dst = tmp_path / "subs_out.mp4"
    _, notes = run(src, dst)
    assert [s for s in read_video(dst)["streams"] if s[0] == "subtitle"] == []
    assert any("subtitle" in n and "left out" in n for n in notes)


def test_failing_stage_surfaces_its_error_and_leaves_no_output(bikes_clip, tmp_path):
    out = tmp_path / "fail.mp4"
    with pytest.raises(RuntimeError, match="deliberate failure after 30 frames"):
        run(bikes_clip, out, backend=InvertBackend(fail_after=30))
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_keeps_decodable_prefix_with_warning(bunny_clip, tmp_path):
    # Remux with the index at the front (faststart), then cut in half: the first half still decodes.
    full = tmp_path / "faststart.mp4"
    with av.open(str(bunny_clip)) as i, av.open(str(full), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is not None:
                p.stream = streams[p.stream.index]
                o.mux(p)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "cut_out.mp4"
    result, notes = run(cut, out)
    assert 0 < result.frames < 132
    assert len(read_video(out)["times"]) == result.frames
    assert any("warning" in n and "decodable frames" in n for n in notes)
