"""Segments (realtime/segments.py) without Ray: a real clip cut at keyframes, cartoonized piece by piece and
joined without re-encoding equals the unsplit run in frame count and timestamps, with no visible seam."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cartoonize.engines.backend import BackendConfig, load_backend
from cartoonize.engines.resize import ResolutionConfig, with_resolution
from cartoonize.realtime.segments import (encode_segment, join_segments, plan_segments, segment_frames,
                                          segment_is_complete)
from cartoonize.realtime.transcode import cartoonize_video

from conftest import InvertBackend, pattern_rgb, read_video


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def split_run(source: Path, backend, out: Path, segment_frames: int):
    plan = plan_segments(source, segment_frames, warn=lambda m: None)
    paths = [out.parent / f"seg{s.index}.mov" for s in plan.segments]
    for segment in reversed(plan.segments):   # any order, as workers finish them: here the last one first
        encode_segment(plan, segment.index, backend, paths[segment.index])
    join_segments(plan, paths, out, log=lambda m: None, warn=lambda m: None)
    return plan, paths


def test_bikes_plan_cuts_at_keyframes(bikes_clip):
    plan = plan_segments(bikes_clip, 60)
    # bikes.mp4 has keyframes at frames 0, 30, 76, 137, 187, 242: cuts near 62, 125, 187 of 250.
    assert [s.frames for s in plan.segments] == [76, 61, 50, 63]
    assert sum(s.frames for s in plan.segments) == plan.frames == 250
    assert plan_segments(bikes_clip, 0).segments[0].frames == 250 and len(plan_segments(bikes_clip, 0).segments) == 1
    # Every segment decodes exactly its own frames, starting at its keyframe's timestamp.
    first = next(segment_frames(plan, 2))
    assert first.pts == plan.segments[2].start_pts


@pytest.mark.slow
def test_bikes_split_in_four_equals_unsplit_run_without_seams(bikes_clip, tmp_path):
    # The classic filter at half size (guided upsampling back): the seams come from the encoder, not the style.
    with with_resolution(load_backend(BackendConfig(style="classic"), announce=lambda m: None),
                         ResolutionConfig(max_side=320)) as backend:
        unsplit = tmp_path / "unsplit.mp4"
        cartoonize_video(bikes_clip, unsplit, backend, log=lambda m: None)
        joined = tmp_path / "joined.mp4"
        plan, paths = split_run(bikes_clip, backend, joined, 60)
    assert len(plan.segments) >= 3
    assert all(segment_is_complete(plan, i, p) for i, p in enumerate(paths))
    a, b = read_video(unsplit), read_video(joined)
    assert len(b["times"]) == 250 and b["times"] == a["times"] == read_video(bikes_clip)["times"]
    assert b["size"] == a["size"] and b["codec"] == a["codec"]
    frames_a, frames_b = decoded(unsplit), decoded(joined)
    bounds = np.cumsum([s.frames for s in plan.segments])[:-1]
    seam = [i for b_ in bounds for i in (b_ - 1, b_)]          # last frame before and first after each cut
    seam_psnr = [psnr(frames_a[i], frames_b[i]) for i in seam]
    assert min(seam_psnr) >= 35, seam_psnr
    # The joined file is not the unsplit one copied: the cuts start new keyframes.
    with av.open(str(joined)) as c:
        keys = sum(1 for p in c.demux(video=0) if p.is_keyframe)
    assert keys >= len(plan.segments)


class NoisyBackend:
    """A style that flickers: each frame plus noise drawn from its own bytes (the same frame, the same noise)."""

    name, device, precision, style = "noisy", "cpu", "uint8", "noisy"

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        out = []
        for frame in rgb_u8_nhwc:
            rng = np.random.default_rng(int.from_bytes(frame.tobytes()[:4096:7], "little") % 2 ** 63)
            out.append(np.clip(frame + rng.normal(0, 12, frame.shape), 0, 255).astype(np.uint8))
        return np.stack(out)

    def close(self) -> None:
        pass


def test_stabilised_segments_primed_with_the_frames_before_the_cut_continue_the_unsplit_run(tmp_path):
    # Run-time stabilisation carries state from frame to frame. A segment whose stabiliser first sees the
    # frames before its cut (priming: stylised, not written) starts where the unsplit run was; without
    # priming its first frame is the plain flickering one. A keyframe every 8 frames, cuts every 16.
    from cartoonize.realtime.temporal import TemporalConfig, with_temporal
    clip = write_gop_clip(tmp_path / "gop.mp4", frames=48, gop=8)
    plan = plan_segments(clip, 16, warn=lambda m: None)
    assert [s.frames for s in plan.segments] == [16, 16, 16]

    def stabilised(items):
        backend = with_temporal(NoisyBackend(), TemporalConfig())      # a fresh stabiliser, as each batch task has
        return [(item.index, backend.infer(item.rgb_u8_hwc[None])[0]) for item in items]
    whole = [out for _, out in stabilised(segment_frames(plan_segments(clip, 0, warn=lambda m: None), 0))]
    for index in (1, 2):
        start = sum(s.frames for s in plan.segments[:index])
        primed = stabilised(segment_frames(plan, index, prime=24))
        plain = stabilised(segment_frames(plan, index))
        assert 16 <= [i for i, _ in primed].count(-1) <= 24           # up to 24, from the previous segment on
        kept = [out for i, out in primed if i >= 0]
        assert len(kept) == len(plain) == 16
        first = (np.abs(kept[0].astype(int) - whole[start]).mean(),
                 np.abs(plain[0][1].astype(int) - whole[start]).mean())
        assert first[0] < 0.5 and first[1] > 3, first                 # primed: as unsplit; plain: the raw frame
    # Written: priming frames are stylised but never encoded; the segment keeps its own frames and timestamps.
    path = tmp_path / "seg1.mov"
    assert encode_segment(plan, 1, with_temporal(NoisyBackend(), TemporalConfig()), path, prime=24) == 16
    with av.open(str(path)) as c:
        assert sorted(p.pts for p in c.demux(video=0) if p.size)[0] * c.streams.video[0].time_base == \
            plan.segments[1].start_pts * plan.info.time_base


def write_gop_clip(path: Path, frames: int = 48, gop: int = 8) -> Path:
    """Variable frame rate H.264 (B-frames, a keyframe every ``gop`` frames) with AAC audio."""
    tb = Fraction(1, 1000)
    pts = [0]
    for i in range(1, frames):
        pts.append(pts[-1] + 20 + 37 * (i % 3))          # 20..94 ms steps: VFR
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                                                        "bf": "2"})
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        v.codec_context.time_base = tb
        v.time_base = tb
        a = out.add_stream("aac", rate=48000)
        a.codec_context.layout = "stereo"
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(96, 64, i), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = p, tb
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        samples = 48 * (pts[-1] + 40)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(np.stack([tone[start:start + 1024]] * 2), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, start
            out.mux(a.encode(chunk))
        out.mux(a.encode(None))
    return path


def test_vfr_clip_with_audio_joined_keeps_timing_and_audio_bytes(tmp_path):
    source = write_gop_clip(tmp_path / "vfr.mp4")
    unsplit = tmp_path / "unsplit.mp4"
    cartoonize_video(source, unsplit, InvertBackend(), log=lambda m: None)
    joined = tmp_path / "joined.mp4"
    plan, _ = split_run(source, InvertBackend(), joined, 12)
    assert len(plan.segments) >= 3
    a, b, src = read_video(unsplit), read_video(joined), read_video(source)
    assert b["times"] == a["times"] == src["times"] and len(b["times"]) == 48
    assert b["audio_packets"] == src["audio_packets"] and len(src["audio_packets"]) > 50   # muxed once, unchanged


def test_join_refuses_an_incomplete_set_and_leaves_nothing(tmp_path):
    source = write_gop_clip(tmp_path / "vfr.mp4")
    plan = plan_segments(source, 12)
    paths = [tmp_path / f"seg{s.index}.mov" for s in plan.segments]
    for segment in plan.segments[:-1]:
        encode_segment(plan, segment.index, InvertBackend(), paths[segment.index])
    with pytest.raises(Exception):
        join_segments(plan, paths, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
    # A segment file with fewer frames than planned does not count as finished.
    assert not segment_is_complete(plan, 0, paths[1])
