"""realtime.temporal: less flicker, nothing blended across a cut, no ghost of fast motion; CLI and live wiring."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cartoonize.errors import BadInputError
from cartoonize.quality import WarpConfig, warping_errors
from cartoonize.realtime.live import LiveConfig, LivePipeline
from cartoonize.realtime.temporal import (TemporalBackend, TemporalConfig, TemporalStabiliser, temporal_config,
                                          with_resolution_and_temporal, with_temporal)
from cartoonize.realtime.video_source import VideoSource

from conftest import read_video, write_clip
from test_live_pipeline import FakeBackend, FakeGui, ListSink, pattern
from cartoonize.realtime.window import WindowSink


def read_frames(path, count: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    import cv2
    source = VideoSource.open(path, warn=lambda m: None)
    frames = [item.rgb_u8_hwc for item, _ in zip(source.frames(), range(count))]
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames] if size else frames


def flickering(frames: list[np.ndarray], sigma: float = 12.0, seed: int = 1) -> list[np.ndarray]:
    """A stand-in style that flickers: the frame plus independent noise each time."""
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]


@pytest.fixture(scope="module")
def bikes8(bikes_clip) -> list[np.ndarray]:
    return read_frames(bikes_clip, 8)


def test_config_checks_and_flags():
    with pytest.raises(BadInputError, match="temporal-strength"):
        TemporalConfig(strength=1.0)
    with pytest.raises(BadInputError):
        TemporalConfig(error_low=20, error_high=10)
    with pytest.raises(BadInputError, match="still_gain"):
        TemporalConfig(still_gain=0.5)
    with pytest.raises(BadInputError, match="flow_finest_scale"):
        TemporalConfig(flow_finest_scale=-1)
    with pytest.raises(BadInputError, match="flow_refinement"):
        TemporalConfig(flow_refinement=-2)
    assert temporal_config(False, None) is None
    assert temporal_config(True, None) == TemporalConfig()
    assert temporal_config(False, 0.3).strength == 0.3      # a strength alone turns it on
    assert temporal_config(True, 0.0) is None               # ... and 0 turns it off
    # Commands on by default (cartoonize-video, -batch): --no-temporal arrives as enabled=False.
    assert temporal_config(True, None, default_on=True) == TemporalConfig()
    assert temporal_config(False, None, default_on=True) is None
    assert temporal_config(False, 0.0, default_on=True) is None
    with pytest.raises(BadInputError, match="contradict"):
        temporal_config(False, 0.4, default_on=True)


def test_flicker_on_a_real_clip_goes_down(bikes8):
    noisy = flickering(bikes8)
    stabiliser = TemporalStabiliser()
    steady = [stabiliser.step(s, o) for s, o in zip(bikes8, noisy)]
    assert np.array_equal(steady[0], noisy[0])               # nothing to blend with yet
    r = warping_errors(bikes8, {"raw": noisy, "steady": steady}, config=WarpConfig(preset="fast"))[1]
    assert r.ratio("steady") < 0.7 * r.ratio("raw")
    # ...and it moves towards the clean frames, not away from them.
    def error(frames):
        return np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(frames[3:], bikes8[3:])])
    assert error(steady) < 0.8 * error(noisy)


def test_where_the_source_is_still_the_output_is_held_harder(bikes8):
    # Flicker over a still frame: every output change is flicker, and the stabiliser keeps its higher still
    # share there (0.75 at the default 0.6): the output moves clearly less than with still_gain 1
    # (no still rule, 0.6 everywhere).
    still = [bikes8[0]] * 8
    def change(source, gain):
        stabiliser = TemporalStabiliser(TemporalConfig(still_gain=gain))
        out = [stabiliser.step(s, o).astype(int) for s, o in zip(source, flickering(source))]
        return np.mean([np.abs(a - b).mean() for a, b in zip(out[4:], out[3:])])
    assert TemporalConfig().still_strength == pytest.approx(0.75)
    assert change(still, TemporalConfig().still_gain) < 0.8 * change(still, 1.0)


def pan(frame: np.ndarray, speed: float, count: int) -> list[np.ndarray]:
    """``frame`` seen through a window moving ``speed`` px right and 0.4 ``speed`` down per frame (bicubic)."""
    h, w = frame.shape[:2]
    return [cv2.warpAffine(frame, np.float32([[1, 0, -speed * t], [0, 1, -0.4 * speed * t]]), (w, h),
                           flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)[16:-16, 16:-16].copy()
            for t in range(count)]


def test_a_steady_style_on_a_slow_pan_passes_through(bikes8):
    # The "style" is the identity, so it has no flicker and every difference is the stabiliser's own:
    # a slow sub-pixel pan is "still" after motion compensation, and each frame held there is resampled
    # along the flow once more, which softens and shifts the picture. Measured: mean 0.70 levels at the
    # default still_gain 1.25 (0.82 with the fast preset's own flow matching), 1.2 at 1.5 with that flow, 0.57
    # with no still rule.
    frames = pan(bikes8[0], 0.3, 20)
    stabiliser = TemporalStabiliser()
    out = [stabiliser.step(f, f) for f in frames]
    assert stabiliser.last.blended
    assert np.mean([np.abs(o.astype(int) - f).mean() for o, f in zip(out[10:], frames[10:])]) < 1.0


def test_the_sharper_flow_holds_a_pan_closer_to_the_truth(bikes8):
    # The default flow matches patches down to half the 320 px flow frame (finest scale 1) instead of the fast
    # preset's quarter: sub-pixel error in the flow is what moves a held line. On a 1 px per frame pan with
    # the identity as the style: measured 0.46 levels from the true frames against 0.65 with the preset's own.
    frames = pan(bikes8[0], 1.0, 20)
    drift = {}
    preset = TemporalConfig(flow_finest_scale=None, flow_refinement=None)
    for name, config in {"sharper": TemporalConfig(), "preset": preset}.items():
        stabiliser = TemporalStabiliser(config)
        assert stabiliser._flow._dis.getFinestScale() == (1 if name == "sharper" else 2)
        out = [stabiliser.step(f, f) for f in frames]
        drift[name] = np.mean([np.abs(o.astype(int) - f).mean() for o, f in zip(out[10:], frames[10:])])
    assert drift["sharper"] < 0.85 * drift["preset"], drift


def test_every_style_gets_the_sharper_flow_and_other_flows_are_named():
    # It costs +2.7 ms CPU a frame, hidden by cartoonize-video's completing thread (docs/QUALITY.md, "Sharper flow").
    assert TemporalConfig().describe() == "temporal 0.6" and TemporalConfig(strength=0.4).describe() == "temporal 0.4"
    assert (TemporalConfig().flow_finest_scale, TemporalConfig().flow_refinement) == (1, 2)
    assert TemporalConfig(flow_refinement=3).describe() == "temporal 0.6, custom flow"
    assert TemporalConfig(flow_finest_scale=None, flow_refinement=None).describe() == "temporal 0.6, custom flow"


def test_a_slow_fade_arrives_within_a_few_levels(bikes8):
    # A still frame darkening by 2 levels a frame at mid grey: small changes, so the still rule holds the
    # picture, and an average lags a ramp by about rate x k / (1 - k). Measured after 20 frames: 5.5
    # levels behind at the default (5.4 with the fast preset's own flow matching), 11.6 with still_gain 1.5.
    frames = [np.clip(bikes8[0] * (1 - 2 * t / 128), 0, 255).astype(np.uint8) for t in range(20)]
    stabiliser = TemporalStabiliser()
    out = [stabiliser.step(f, f) for f in frames]
    assert stabiliser.last.blended
    assert np.abs(out[-1].astype(int) - frames[-1]).mean() < 8.0


def test_nothing_is_blended_across_a_cut(bikes_clip, carphone_clip):
    # Two different real clips joined: 6 frames of bikes, then 4 of carphone at the same size.
    joined = read_frames(bikes_clip, 6) + read_frames(carphone_clip, 4, size=(640, 272))
    stylised = flickering(joined)
    stabiliser = TemporalStabiliser()
    out, infos = [], []
    for s, o in zip(joined, stylised):
        out.append(stabiliser.step(s, o))
        infos.append(stabiliser.last)
    assert all(i.blended for i in infos[1:6])                # within the first clip it works
    assert infos[6].scene_cut and not infos[6].blended
    assert np.array_equal(out[6], stylised[6])               # the first frame after the cut is the plain frame
    assert infos[7].blended                                  # and the new clip is stabilised again right away


def test_no_ghost_of_a_fast_moving_object(bikes8):
    # A bright square crossing a real frame at 24 px per frame; the "style" is the identity, so any
    # difference between output and input is a ghost (the square left behind) or smearing.
    background = bikes8[0]
    frames = []
    for t in range(8):
        f = background.copy()
        f[100:160, 40 + 24 * t:100 + 24 * t] = (250, 240, 40)
        frames.append(f)
    stabiliser = TemporalStabiliser(TemporalConfig(strength=0.9))   # the strongest pull towards the past
    for f in frames:
        out = stabiliser.step(f, f)
        wrong = np.abs(out.astype(int) - f).max(axis=-1) > 40
        assert wrong.mean() < 0.001, wrong.sum()


def test_backend_wrapper_is_the_stabiliser_frame_by_frame(bikes8):
    class Noisy:
        name, device, precision, style = "fake", "cpu", "uint8", "noisy"
        closed = False

        def __init__(self):
            self.rng = np.random.default_rng(3)

        def infer(self, batch):
            return np.clip(batch + self.rng.normal(0, 10, batch.shape), 0, 255).astype(np.uint8)

        def close(self):
            self.closed = True

    inner = Noisy()
    assert with_temporal(inner, None) is inner and with_temporal(inner, TemporalConfig(strength=0)) is inner
    wrapped = with_temporal(inner, TemporalConfig())
    assert isinstance(wrapped, TemporalBackend) and wrapped.style == "noisy (temporal 0.6)"
    batched = np.concatenate([wrapped.infer(np.stack(bikes8[i:i + 3])) for i in (0, 3)])
    reference, stabiliser = Noisy(), TemporalStabiliser()
    one_by_one = [stabiliser.step(f, reference.infer(f[None])[0]) for f in bikes8[:6]]
    assert np.array_equal(batched, np.stack(one_by_one))
    with wrapped:
        pass
    assert inner.closed


def test_file_mode_stabilises_at_the_painted_size(bikes8):
    # A style run at a reduced size is stabilised before guided upsampling (a quarter of the pixels to warp
    # and blend at 640 px of a 1280 px frame); with tiles the stabiliser stays outside, since the inner
    # backend then sees tiles, not frames in order.
    from cartoonize.engines.resize import ResolutionBackend, ResolutionConfig
    big = [cv2.resize(f, (1280, 544)) for f in bikes8[:3]]
    inner = FakeBackend()
    engine = with_resolution_and_temporal(inner, ResolutionConfig(), 640, TemporalConfig())
    assert isinstance(engine, ResolutionBackend) and isinstance(engine.inner, TemporalBackend)
    out = [engine.infer(f[None])[0] for f in big]
    assert inner.input_shapes == [(1, 272, 640, 3)] * 3 and out[2].shape == big[2].shape
    assert engine.inner.stabiliser.last.blended                 # it saw frames in order and blended them
    tiled = with_resolution_and_temporal(FakeBackend(), ResolutionConfig(scale=1.0, tile=256), None,
                                         TemporalConfig())
    assert isinstance(tiled, TemporalBackend) and isinstance(tiled.inner, ResolutionBackend)
    plain = FakeBackend()   # full size (a filter, or a GPU): the same as wrapping the backend itself
    assert isinstance(with_resolution_and_temporal(plain, ResolutionConfig(), None, TemporalConfig()), TemporalBackend)
    assert with_resolution_and_temporal(plain, ResolutionConfig(), None, None) is plain


def test_the_network_runs_at_start_and_the_rest_when_completed_in_order(bikes8):
    # cartoonize-video starts batch t+1 (the network, on its thread) before batch t is completed (stabilised and
    # upsampled, on another): the frames must be exactly those of infer() called one frame after another.
    from cartoonize.engines.backend import start_infer
    from cartoonize.engines.resize import ResolutionConfig
    big = [cv2.resize(f, (1280, 544)) for f in bikes8[:6]]

    def engine():
        return with_resolution_and_temporal(FakeBackend(), ResolutionConfig(), 640, TemporalConfig())
    sequential = engine()
    one_after_another = [sequential.infer(f[None])[0] for f in big]
    split = engine()
    network, stabiliser = split.inner.inner, split.inner.stabiliser
    pending = [start_infer(split, big[0][None]), start_infer(split, big[1][None])]
    assert len(network.input_shapes) == 2 and stabiliser.last.reliable_fraction == 0.0   # painted, not stabilised
    done = []
    for frame in big[2:]:
        done.append(pending.pop(0)()[0])
        pending.append(start_infer(split, frame[None]))
    done += [later()[0] for later in pending]
    assert stabiliser.last.blended and all(np.array_equal(a, b) for a, b in zip(done, one_after_another))
    unstabilised = with_resolution_and_temporal(FakeBackend(), ResolutionConfig(), 640, None).infer(big[3][None])[0]
    assert not np.array_equal(one_after_another[3], unstabilised)          # the stabiliser did change frames
    plain = FakeBackend()                                                  # not a wrapper: infer, then its result
    assert np.array_equal(start_infer(plain, big[0][None])(), 255 - big[0][None]) and plain.calls == 1


def test_the_benchmarks_inline_mode_stabilises_at_start_with_the_same_frames(bikes8):
    # tools/bench_temporal.py's "inline" mode (the stabiliser on the inference thread, as before the split)
    # must run everything in start_infer and give the frames the shipped split gives.
    from cartoonize.engines.backend import start_infer
    from cartoonize.tools.bench_temporal import _Inline
    split, inline = with_temporal(FakeBackend(), TemporalConfig()), _Inline(with_temporal(FakeBackend(), TemporalConfig()))
    assert inline.style == "invert (temporal 0.6)"
    for i, frame in enumerate(bikes8[:3]):
        later = start_infer(inline, frame[None])
        assert inline._engine.stabiliser.last.blended == (i > 0)     # stabilised already, before later() is called
        assert np.array_equal(later(), start_infer(split, frame[None])())


def test_cartoonize_video_stabilises_on_its_own_thread_while_the_network_paints(tmp_path, monkeypatch):
    import threading
    from cartoonize.realtime.transcode import cartoonize_video
    clip = write_clip(tmp_path / "in.mp4", width=96, height=64)
    threads: dict[str, set[str]] = {"network": set(), "stabiliser": set()}

    class Recording(FakeBackend):
        def infer(self, rgb_u8_nhwc):
            threads["network"].add(threading.current_thread().name)
            return super().infer(rgb_u8_nhwc)
    step = TemporalStabiliser.step

    def recorded_step(self, source, stylised):
        threads["stabiliser"].add(threading.current_thread().name)
        return step(self, source, stylised)
    monkeypatch.setattr(TemporalStabiliser, "step", recorded_step)
    result = cartoonize_video(clip, tmp_path / "out.mp4", with_temporal(Recording(), TemporalConfig()),
                              log=lambda m: None)
    assert result.frames == 10
    assert threads == {"network": {"cartoonize-process"}, "stabiliser": {"cartoonize-complete"}}


def test_video_cli_temporal_keeps_frames_and_rejects_bad_strength(tmp_path):
    from cartoonize.tools.video import main
    clip = write_clip(tmp_path / "in.mp4", width=96, height=64)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, [str(clip), str(out), "--style", "classic"])   # on by default for files
    assert result.exit_code == 0, result.output
    assert "(temporal 0.6)" in result.output
    assert read_video(out)["times"] == read_video(clip)["times"]
    off = CliRunner().invoke(main, [str(clip), str(tmp_path / "off.mp4"), "--style", "classic", "--no-temporal"])
    assert off.exit_code == 0 and "(temporal" not in off.output
    both = CliRunner().invoke(main, [str(clip), str(tmp_path / "o3.mp4"), "--no-temporal", "--temporal-strength", "0.5"])
    assert both.exit_code == 2 and "contradict" in both.output and not (tmp_path / "o3.mp4").exists()
    bad = CliRunner().invoke(main, [str(clip), str(tmp_path / "o2.mp4"), "--temporal-strength", "1"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and not (tmp_path / "o2.mp4").exists()


class RecordingLive(LivePipeline):
    """Keeps every frame the inference stage painted, in order (a sink's slot may drop some)."""

    def _infer(self, rgb_u8_hwc: np.ndarray) -> np.ndarray:
        out = super()._infer(rgb_u8_hwc)
        self.painted.append((rgb_u8_hwc, out))
        return out


def test_live_hotkey_toggles_stabilisation():
    gui = FakeGui({4: "t", 30: "q"})
    messages = []
    pipeline = RecordingLive(pattern(), [ListSink()], lambda n: FakeBackend(style=n), ["invert"],
                             LiveConfig(duration_s=60), window=WindowSink(gui), log=messages.append)
    pipeline.painted = []
    pipeline.run()
    assert "stabilisation on (strength 0.6)" in messages
    # Before the key (after 4 shown frames) every output is the plain inverted frame; after it, some
    # are blended (differ from it).
    plain = [np.array_equal(out, 255 - rgb) for rgb, out in pipeline.painted]
    assert all(plain[:4]) and not all(plain)


def test_live_stabilises_at_the_painted_size():
    # As in file mode: with --scale the stabiliser works on the small frames the style paints, and the
    # outputs still come back at the camera's size.
    sink = ListSink()
    inner = []
    def load(name):
        inner.append(FakeBackend(style=name))
        return inner[-1]
    pipeline = LivePipeline(pattern(160, 120), [sink], load, ["invert"],
                            LiveConfig(max_frames=6, scale=0.5, temporal=TemporalConfig()))
    pipeline.run()
    assert set(inner[0].input_shapes) == {(1, 60, 80, 3)}
    assert pipeline._stabilised.stabiliser._previous_out.shape == (60, 80, 3)
    assert pipeline._stabilised.stabiliser.last.blended
    assert all(out.shape == (120, 160, 3) for _, out, _ in sink.frames)


def test_live_config_starts_it_on():
    pipeline = RecordingLive(pattern(), [ListSink()], lambda n: FakeBackend(style=n), ["invert"],
                             LiveConfig(max_frames=8, temporal=TemporalConfig()))
    pipeline.painted = []
    pipeline.run()
    # The first frame has nothing before it to blend with; later ones are blended without any key.
    plain = [np.array_equal(out, 255 - rgb) for rgb, out in pipeline.painted]
    assert len(plain) == 8 and plain[0] and not all(plain[1:])
