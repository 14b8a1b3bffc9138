"""The live pipeline: newest frame only, bounded latency under a slow backend, drops counted, controls, faults."""

from __future__ import annotations

import _thread
import signal
import threading
import time

import numpy as np
import pytest

from cartoonize.errors import CartoonizeError
from cartoonize.realtime.live import FrameSlot, LiveConfig, LiveFrame, LivePipeline
from cartoonize.realtime.live_source import LiveSourceConfig, PatternSource, SourceInfo
from cartoonize.realtime.window import WindowSink


class FakeBackend:
    """Inverts colours after ``delay_s`` (a deliberately slow engine); can fail at a given call."""

    device, precision = "cpu", "uint8"

    def __init__(self, style: str = "invert", delay_s: float = 0.0, fail_at: int | None = None):
        self.name, self.style, self.delay_s, self.fail_at = "fake", style, delay_s, fail_at
        self.calls = 0
        self.input_shapes: list[tuple] = []
        self.closed = False

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.input_shapes.append(rgb_u8_nhwc.shape)
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("engine exploded")
        if self.delay_s:
            time.sleep(self.delay_s)     # simulates slow inference; not used to synchronise anything
        return 255 - rgb_u8_nhwc

    def close(self) -> None:
        self.closed = True


class ListSink:
    """Keeps what it was given, with the time each frame arrived."""

    shows_hud = False

    def __init__(self, name: str = "list", on_frame=None):
        self.name = name
        self.frames: list[tuple[LiveFrame, np.ndarray, float]] = []
        self.opened: SourceInfo | None = None
        self.closed = False
        self.on_frame = on_frame

    def open(self, info: SourceInfo) -> None:
        self.opened = info

    def write(self, rgb_u8_hwc: np.ndarray, frame: LiveFrame) -> None:
        self.frames.append((frame, rgb_u8_hwc, time.monotonic()))
        if self.on_frame is not None:
            self.on_frame(len(self.frames))

    def close(self) -> None:
        self.closed = True


class ClosingPattern(PatternSource):
    closed = False

    def close(self) -> None:
        self.closed = True


def pattern(width=160, height=120, fps=30.0) -> ClosingPattern:
    return ClosingPattern(LiveSourceConfig(kind="pattern", width=width, height=height, fps=fps))


def live_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cartoonize-live")]


def test_frame_slot_keeps_only_the_newest_and_says_when_it_replaced():
    slot = FrameSlot()
    frames = [LiveFrame(i, 0.0, np.zeros((2, 2, 3), np.uint8)) for i in range(3)]
    assert slot.put(frames[0]) is False
    assert slot.put(frames[1]) is True
    assert slot.put(frames[2]) is True
    assert slot.get(timeout=0).index == 2
    assert slot.get(timeout=0) is None          # empty, not closed: nothing after the timeout
    slot.put(frames[0])
    slot.close()
    assert slot.get().index == 0                # a closed slot still hands out its last frame
    assert slot.get() is None                   # closed and empty: no wait (an open slot would block here)


def test_slow_backend_keeps_latency_bounded_and_counts_drops():
    delay = 0.15                                 # ~6.7 fps of inference against a 30 fps source
    backend = FakeBackend(delay_s=delay)
    sink = ListSink()
    source = pattern()
    pipeline = LivePipeline(source, [sink], lambda name: backend, ["invert"], LiveConfig(max_frames=15))
    stats = pipeline.run()

    assert stats.frames_processed == 15
    # A sink gets every processed frame unless a newer one replaced it first (counted per sink).
    assert len(sink.frames) + stats.sinks["list"]["dropped"] == 15 and len(sink.frames) >= 10
    assert stats.frames_dropped > 0
    # Every captured frame is accounted for: processed, dropped as stale, or (at most one) left in
    # the slot when the run ended. A queue would hold the rest instead.
    assert 0 <= stats.frames_captured - stats.frames_processed - stats.frames_dropped <= 1
    indices = [f.index for f, _, _ in sink.frames]
    assert indices == sorted(indices) and max(b - a for a, b in zip(indices, indices[1:])) > 1
    # Latency stays near one inference time. A FIFO queue would reach ~15 * 0.15 - 15 / 30 = 1.75 s
    # by the last frame; the bound leaves room for a loaded machine but not for queue growth.
    latencies = [arrived - f.t_capture for f, _, arrived in sink.frames]
    assert max(latencies) < 2 * delay + 0.6, latencies
    assert max(latencies[-5:]) < 2 * delay + 0.6
    p50, p95 = stats.run_latency_ms()
    assert p50 is not None and p95 < (2 * delay + 0.6) * 1000
    assert source.closed and sink.closed and backend.closed
    assert sink.opened.width == 160 and sink.opened.height == 120
    assert not live_threads()


def test_output_is_the_backend_result_at_source_size_and_scale_runs_inference_smaller():
    backend = FakeBackend()
    sink = ListSink()
    stats = LivePipeline(pattern(160, 120), [sink], lambda n: backend, ["invert"],
                         LiveConfig(max_frames=3, scale=0.5)).run()
    assert stats.frames_processed == 3
    assert backend.input_shapes[0] == (1, 60, 80, 3)
    frame, out, _ = sink.frames[0]
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    # Inverted at half size then upscaled: close to the inverted original, not to the original.
    inverted = 255 - frame.rgb_u8_hwc.astype(int)
    assert np.abs(out.astype(int) - inverted).mean() < np.abs(out.astype(int) - frame.rgb_u8_hwc).mean()


def test_open_scale_runs_a_neural_style_at_its_trained_size_on_a_cpu_and_says_so():
    # As cartoonize-video: with no --scale a style trained at 80 px runs at 80 px on the CPU; an explicit
    # scale wins; a style with no trained size (a filter) runs at full size.
    runs = {}
    cases = [("open", LiveConfig(max_frames=2), 80), ("explicit", LiveConfig(max_frames=2, scale=1.0), 80),
             ("filter", LiveConfig(max_frames=2), None)]
    for label, config, side in cases:
        backend = FakeBackend()
        stats = LivePipeline(pattern(160, 120), [ListSink()], lambda n, b=backend: b, ["invert"], config,
                             trained_side=lambda name, s=side: s).run()
        runs[label] = (backend.input_shapes[0], stats.style)
    assert runs["open"][0] == (1, 60, 80, 3) and "trained scale, max side 80" in runs["open"][1]
    assert runs["explicit"][0] == (1, 120, 160, 3) and runs["explicit"][1] == "invert"
    assert runs["filter"][0] == (1, 120, 160, 3) and runs["filter"][1] == "invert"


def test_mirror_flips_left_right():
    sink = ListSink()
    LivePipeline(pattern(), [sink], lambda n: FakeBackend(), ["invert"], LiveConfig(max_frames=2, mirror=True)).run()
    for frame, out, _ in sink.frames:
        assert np.array_equal(frame.rgb_u8_hwc, pattern().frame(frame.index)[:, ::-1])
        assert np.array_equal(out, 255 - frame.rgb_u8_hwc)


def test_max_fps_skips_frames_on_purpose_and_counts_them_apart_from_drops():
    stats = LivePipeline(pattern(fps=30), [ListSink()], lambda n: FakeBackend(), ["invert"],
                         LiveConfig(max_frames=6, max_fps=10)).run()
    assert stats.frames_processed == 6
    assert stats.frames_skipped >= stats.frames_processed      # 30 fps -> 10 fps skips about 2 of 3


def test_backend_error_stops_every_thread_and_is_raised_once():
    backend = FakeBackend(fail_at=3)
    source, sink = pattern(), ListSink()
    pipeline = LivePipeline(source, [sink], lambda n: backend, ["invert"], LiveConfig(duration_s=60))
    with pytest.raises(RuntimeError, match="engine exploded"):
        pipeline.run()
    assert len(sink.frames) <= 2
    assert source.closed and sink.closed and backend.closed
    assert not live_threads()


def test_sink_error_stops_the_run():
    class BrokenSink(ListSink):
        def write(self, rgb_u8_hwc, frame):
            raise OSError("disk full")

    source = pattern()
    with pytest.raises(OSError, match="disk full"):
        LivePipeline(source, [BrokenSink()], lambda n: FakeBackend(), ["invert"], LiveConfig(duration_s=60)).run()
    assert source.closed and not live_threads()


def test_ctrl_c_in_the_callers_thread_stops_all_threads_and_closes_everything():
    # The sink interrupts the main thread (as Ctrl-C / SIGTERM would) once frames flow. Python's own Ctrl-C
    # handler is put in place first: a shell that starts the tests in the background (cmd &) ignores SIGINT,
    # and then interrupt_main() does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sink = ListSink(on_frame=lambda n: _thread.interrupt_main() if n == 3 else None)
        backend, source = FakeBackend(), pattern()
        pipeline = LivePipeline(source, [sink], lambda n: backend, ["invert"], LiveConfig(duration_s=60))
        stats = pipeline.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert pipeline.interrupted
    assert stats.frames_processed >= 3
    assert source.closed and sink.closed and backend.closed
    assert not live_threads()


def test_file_source_end_drains_and_ends_normally(carphone_clip):
    from cartoonize.realtime.live_source import open_live_source
    source = open_live_source(LiveSourceConfig(kind="file", target=str(carphone_clip)))
    sink = ListSink()
    stats = LivePipeline(source, [sink], lambda n: FakeBackend(), ["invert"]).run()
    assert stats.frames_captured > 100          # the clip has 120 frames at 29.97 fps: played in ~4 s
    assert len(sink.frames) + stats.sinks["list"]["dropped"] == stats.frames_processed and sink.frames
    assert sink.frames[0][1].shape == (144, 176, 3)


class FakeGui:
    """Stands in for cv2's GUI calls: presses scripted keys after given numbers of shown frames."""

    def __init__(self, keys_after: dict[int, str]):
        self.keys_after = dict(keys_after)
        self.shown = 0
        self.images = []
        self.destroyed = False

    def namedWindow(self, *a): pass          # noqa: N802,E704 - cv2's names
    def resizeWindow(self, *a): pass         # noqa: N802,E704

    def imshow(self, title, bgr):
        self.shown += 1
        self.images.append(bgr)

    def waitKey(self, ms):                   # noqa: N802
        key = self.keys_after.pop(self.shown, None)
        return ord(key) if key else -1

    def getWindowProperty(self, *a):         # noqa: N802
        return 1.0

    def destroyWindow(self, title):          # noqa: N802
        self.destroyed = True


def test_window_hotkeys_toggle_original_switch_style_and_quit():
    loaded = []

    def load(name):
        loaded.append(FakeBackend(style=name))
        return loaded[-1]

    gui = FakeGui({3: "o", 12: "o", 14: "s", 40: "q"})
    sink = ListSink()
    pipeline = LivePipeline(pattern(), [sink], load, ["invert-a", "invert-b"], LiveConfig(duration_s=60),
                            window=WindowSink(gui))
    stats = pipeline.run()
    assert gui.destroyed and not pipeline.interrupted
    assert [b.style for b in loaded] == ["invert-a", "invert-b"] and loaded[0].closed
    assert stats.style == "invert-b"
    originals = sum(np.array_equal(out, f.rgb_u8_hwc) for f, out, _ in sink.frames)
    assert 0 < originals < len(sink.frames)   # some frames passed through as the original
    assert gui.shown >= 40 - 1 and not live_threads()


def test_a_style_that_fails_to_load_keeps_the_current_one():
    from cartoonize.errors import BadInputError

    def load(name):
        if name == "broken":
            raise BadInputError("weights missing")
        return FakeBackend(style=name)

    messages = []
    sink = ListSink(on_frame=lambda n: pipeline.next_style() if n == 2 else None)
    pipeline = LivePipeline(pattern(), [sink], load, ["good", "broken"], LiveConfig(max_frames=6), log=messages.append)
    stats = pipeline.run()
    assert stats.style == "good" and stats.frames_processed == 6
    assert any("cannot switch to style 'broken'" in m for m in messages)


def test_stats_snapshot_is_json_ready_and_summary_names_everything():
    import json
    sink = ListSink()
    stats = LivePipeline(pattern(), [sink], lambda n: FakeBackend(), ["invert"], LiveConfig(max_frames=5)).run()
    snap = json.loads(json.dumps(stats.snapshot()))
    assert snap["frames_processed"] == 5 and snap["backend"] == "fake cpu uint8" and snap["style"] == "invert"
    assert snap["sinks"]["list"]["frames"] == len(sink.frames) and snap["latency_ms_p50"] > 0
    assert snap["sinks"]["list"]["frames"] + snap["sinks"]["list"]["dropped"] == 5
    summary = stats.summary()
    for part in ("frames in", "5 cartoonized", "dropped", "latency p50", "p95", "fake cpu uint8", "invert",
                 f"out: list {len(sink.frames)}"):
        assert part in summary


def test_errors_in_the_source_are_runtime_failures_not_hangs():
    class DyingSource(ClosingPattern):
        def read(self, stop):
            if self._index >= 4:
                raise CartoonizeError("camera on fire")
            return super().read(stop)

    source = DyingSource(LiveSourceConfig(kind="pattern", width=64, height=48))
    with pytest.raises(CartoonizeError, match="camera on fire"):
        LivePipeline(source, [ListSink()], lambda n: FakeBackend(), ["invert"], LiveConfig(duration_s=60)).run()
    assert source.closed and not live_threads()


def test_hud_is_drawn_only_for_sinks_a_person_watches():
    class WatchedSink(ListSink):
        shows_hud = True

    watched, clean = WatchedSink("watched"), ListSink("clean")
    LivePipeline(pattern(320, 240), [watched, clean], lambda n: FakeBackend(), ["invert"],
                 LiveConfig(max_frames=4, hud=True)).run()
    assert all(np.array_equal(out, 255 - f.rgb_u8_hwc) for f, out, _ in clean.frames)     # no HUD
    plain_by_index = {f.index: out for f, out, _ in clean.frames}
    pairs = [(out, plain_by_index[f.index]) for f, out, _ in watched.frames if f.index in plain_by_index]
    assert pairs
    for hud, plain in pairs:
        assert np.abs(hud[:60].astype(int) - plain[:60]).sum() > 0      # stats text in the top band
        assert np.array_equal(hud[120:], plain[120:])                   # the rest untouched


def test_a_slow_sink_skips_stale_frames_without_holding_back_the_others():
    class SlowSink(ListSink):
        def write(self, rgb_u8_hwc, frame):
            time.sleep(0.2)              # a sink far slower than the 30 fps source (simulated device)
            super().write(rgb_u8_hwc, frame)

    slow, fast = SlowSink("slow"), ListSink("fast")
    stats = LivePipeline(pattern(), [slow, fast], lambda n: FakeBackend(), ["invert"], LiveConfig(max_frames=30)).run()
    assert stats.frames_processed == 30
    assert stats.sinks["slow"]["dropped"] > 0
    assert len(slow.frames) + stats.sinks["slow"]["dropped"] == 30
    assert len(fast.frames) > 2 * len(slow.frames)
    # Whatever the slow sink shows is recent: at most its own write time plus one frame old.
    assert max(arrived - f.t_capture for f, _, arrived in slow.frames) < 2 * 0.2 + 0.6
