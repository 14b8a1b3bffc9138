"""The live pipeline: capture -> cartoonize -> sinks, always working on the newest frame.

Usage:
    pipeline = LivePipeline(source, [PreviewSink(...)], load_style, ["classic"], LiveConfig(mirror=True))
    stats = pipeline.run()          # returns at the end of the source, on stop(), quit, Ctrl-C or SIGTERM

Unlike file mode (pipeline.py) nothing waits in a queue here. The threads meet in one-frame slots
(FrameSlot): a new frame replaces the unread one, and the replaced frame is counted as dropped.
So however slow inference or a sink is, each stage holds at most one waiting frame, memory is
constant and latency stays near capture interval + inference time + write time. That bound comes
from the design, not from the machine being fast enough.

Threads: one capture thread (the source paces it), one inference thread, one thread per sink, and
the caller's thread, which waits (and drives the OpenCV window, whose GUI calls must stay on one
thread). The first error in any thread stops them all and is raised from run(); Ctrl-C / SIGTERM
in the caller stop them all too. Sources, sinks and backends are closed before run() returns.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import cv2
import numpy as np

from cartoonize.engines.backend import Backend
from cartoonize.engines.resize import ResolutionConfig, with_resolution
from cartoonize.errors import CartoonizeError

from .live_source import SourceInfo
from .live_stats import LiveStats, hud_lines
from .temporal import TemporalBackend, TemporalConfig

_JOIN_S = 5.0        # how long run() waits for each thread after a stop before giving up on it
_TICK_S = 0.05       # how often the caller's thread checks duration, window keys and thread ends


@dataclass(frozen=True)
class LiveConfig:
    mirror: bool = False               # flip left-right, as people expect of a self view
    max_fps: float | None = None       # cartoonize at most this many frames per second (saves CPU/GPU)
    scale: float | None = None         # inference at this fraction of the source size (guided upsampling back,
                                       # engines/resize.py); outputs keep the source size. None: as cartoonize-video,
                                       # a neural style runs at its trained size on a CPU, full size on a GPU
    hud: bool = False                  # draw live stats onto frames for sinks a person watches (window, preview)
    max_frames: int | None = None      # end after this many processed frames (tests, benchmarks)
    duration_s: float | None = None    # end after this many seconds
    temporal: TemporalConfig | None = None  # flicker stabilisation at the start (None: off); toggle_temporal() flips it


@dataclass
class LiveFrame:
    index: int                         # capture order; gaps between processed frames are drops
    t_capture: float                   # time.monotonic() when the source delivered the frame
    rgb_u8_hwc: np.ndarray             # as captured (mirrored when asked)
    out_rgb_u8_hwc: np.ndarray | None = None   # the cartoon, or the original while toggled


class EndOfRun(Exception):
    """Raised by a sink whose consumer left on purpose (pipe closed, window closed): end normally."""


class LiveSink(Protocol):
    """What the live pipeline needs from an output."""

    name: str                          # short label for stats: "preview", "vcam", "y4m", "record", ...
    shows_hud: bool                    # a person looks at it: gets the HUD when --hud is on

    def open(self, info: SourceInfo) -> None:
        """Called once before the first frame, with the source's size and rate."""

    def write(self, rgb_u8_hwc: np.ndarray, frame: LiveFrame) -> None:
        """Deliver one output frame (source size). Called from this sink's own thread."""

    def close(self) -> None:
        """Release devices, finish files. Called once, also after errors."""


class FrameSlot:
    """Holds at most one frame. ``put`` replaces an unread frame and says so (the caller counts it)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: LiveFrame | None = None
        self._closed = False

    def put(self, item: LiveFrame) -> bool:
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify_all()
            return replaced

    def get(self, timeout: float | None = None) -> LiveFrame | None:
        """The newest frame; None once closed and empty (or, with a timeout, when none came)."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """No more frames will come; the one waiting is still handed out."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Stop now: the waiting frame is discarded."""
        with self._cond:
            self._item = None
            self._closed = True
            self._cond.notify_all()


class NullSink:
    """Takes frames and does nothing: measures the pipeline alone (benchmarks)."""

    name = "null"
    shows_hud = False

    def open(self, info: SourceInfo) -> None:
        pass

    def write(self, rgb_u8_hwc: np.ndarray, frame: LiveFrame) -> None:
        pass

    def close(self) -> None:
        pass


def engine_label(backend: Backend) -> str:
    """'opencv cpu uint8': what runs, without the style (stats show the style on its own)."""
    return f"{backend.name} {backend.device} {backend.precision}"


def draw_hud(rgb_u8_hwc: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """A copy of the frame with the stats lines top-left: white text on a darkened band.

    A band rather than an outline: OpenCV 5 widens glyph advances with the stroke thickness, so a
    thick dark copy under thin white text no longer lines up.
    """
    out = rgb_u8_hwc.copy()
    scale = max(0.35, out.shape[0] / 900)
    sizes = [cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1) for text in lines]
    step = max(h + baseline for (_, h), baseline in sizes) + 6
    band_w = min(out.shape[1], max(w for (w, _), _ in sizes) + 16)
    band_h = min(out.shape[0], step * len(lines) + 8)
    out[:band_h, :band_w] //= 3
    for i, text in enumerate(lines):
        cv2.putText(out, text, (8, step * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class LivePipeline:
    """Runs one live session. ``source`` has ``info``, ``read(stop_event)``, ``close()``.

    ``load_style(name)`` returns a Backend for a style; ``styles`` lists the styles the "next style"
    control cycles through, the first one is used at the start; ``trained_side(name)`` gives a style's
    working size. run() closes the source, the sinks and the backends it loaded.
    """

    def __init__(self, source, sinks: Sequence[LiveSink], load_style: Callable[[str], Backend],
                 styles: Sequence[str], config: LiveConfig = LiveConfig(), window=None,
                 stats: LiveStats | None = None, log: Callable[[str], None] = lambda m: None,
                 trained_side: Callable[[str], int | None] = lambda name: None):
        if not styles:
            raise ValueError("at least one style is needed")
        # Reduced resolution goes through the engines' wrapper, as in file mode: one validation, one
        # guided upsampling (engines/resize.py), not a second resize path here.
        self._resolution = ResolutionConfig(scale=config.scale)
        self.source = source
        self.info: SourceInfo = source.info
        self.sinks = list(sinks)
        self.window = window
        self.config = config
        self.styles = list(styles)
        self._load_style = load_style
        self._trained_side = trained_side   # style name -> its trained longer side (None: filters, unknown)
        self._log = log
        self.stats = stats if stats is not None else LiveStats()   # shared with the preview page
        self.interrupted = False          # ended by Ctrl-C / SIGTERM
        self._style_index = 0
        self._backend: Backend | None = None
        self._show_original = False
        # Stabilisation runs in the inference thread on processed frames (dropped ones never enter it), so it adds
        # a fixed cost per frame and keeps no queue: the latency bound above still holds. It sits inside the
        # resolution wrapper, as in file mode: it works on the frames the style paints (640 px for a network on a
        # CPU), a quarter of a 720p frame's pixels.
        self._temporal_on = config.temporal is not None
        self._temporal_config = config.temporal or TemporalConfig()
        self._stabilised: TemporalBackend | None = None   # the current style's stabiliser (reset on "original")
        self._switch_style = threading.Event()
        self._end_capture = threading.Event()   # capture stops; frames already taken still flow out
        self._abort = threading.Event()         # everything stops now
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._all_done = threading.Event()      # set when the last stage thread has ended
        self._stages_left = 0
        self._in_slot = FrameSlot()
        self._sink_slots = [FrameSlot() for _ in self.sinks]
        self._window_slot = FrameSlot() if window is not None else None

    # Controls, callable from any thread (window hotkeys, tests).
    def toggle_original(self) -> None:
        self._show_original = not self._show_original
        self._log("showing the original" if self._show_original else "showing the cartoon")

    def toggle_temporal(self) -> None:
        self._temporal_on = not self._temporal_on
        self._log(f"stabilisation on (strength {self._temporal_config.strength:g})" if self._temporal_on
                  else "stabilisation off")

    def next_style(self) -> None:
        if len(self.styles) > 1:
            self._switch_style.set()

    def finish(self) -> None:
        """End gracefully: stop capturing; frames already captured still reach the sinks."""
        self._end_capture.set()

    def stop(self) -> None:
        """End now."""
        self._end_capture.set()
        self._abort.set()
        for slot in [self._in_slot, *self._sink_slots] + ([self._window_slot] if self._window_slot else []):
            slot.abort()

    def _fail(self, exc: BaseException) -> None:
        with self._error_lock:
            if self._error is None:
                self._error = exc
        self.stop()

    # Stages.
    def _capture(self) -> None:
        period = 1.0 / self.config.max_fps if self.config.max_fps else 0.0
        next_due = 0.0
        index = 0
        try:
            while not self._end_capture.is_set():
                rgb = self.source.read(self._end_capture)
                if rgb is None:
                    break
                now = time.monotonic()
                self.stats.captured()
                if period:
                    # Accept a frame up to a quarter period early, so a 30 fps source at --max-fps 15
                    # gives 15, not 10, despite jitter; never bank more than one period of credit.
                    if now + period / 4 < next_due:
                        self.stats.skipped()
                        continue
                    next_due = max(next_due, now - period) + period
                if self.config.mirror:
                    rgb = cv2.flip(rgb, 1)
                if self._in_slot.put(LiveFrame(index, now, rgb)):
                    self.stats.dropped()
                index += 1
                self.stats.reconnects = getattr(self.source, "reconnects", 0)
        finally:
            self._in_slot.close()

    def _infer(self, rgb_u8_hwc: np.ndarray) -> np.ndarray:
        return self._backend.infer(rgb_u8_hwc[None])[0]

    def _load(self, name: str) -> tuple[Backend, TemporalBackend]:
        """The style's engine as the pipeline runs it, and its stabiliser (on while ``_temporal_on``)."""
        stabilised = TemporalBackend(self._load_style(name), self._temporal_config, enabled=lambda: self._temporal_on)
        return with_resolution(stabilised, self._resolution, self._trained_side(name)), stabilised

    def _change_style(self) -> None:
        self._switch_style.clear()
        name = self.styles[(self._style_index + 1) % len(self.styles)]
        try:
            backend, stabilised = self._load(name)
        except CartoonizeError as e:
            self._log(f"cannot switch to style {name!r}: {e}")
            return
        old, self._backend, self._stabilised = self._backend, backend, stabilised   # a fresh stabiliser: never
        old.close()                                                                 # blend two styles' frames
        self._style_index = self.styles.index(name)
        self.stats.backend, self.stats.style = engine_label(backend), backend.style
        self._log(f"style {backend.style} ({engine_label(backend)})")

    def _process(self) -> None:
        slots = self._sink_slots + ([self._window_slot] if self._window_slot else [])
        names = [s.name for s in self.sinks] + (["window"] if self.window is not None else [])
        try:
            while (frame := self._in_slot.get()) is not None:
                if self._switch_style.is_set():
                    self._change_style()
                started = time.monotonic()
                if self._show_original:
                    frame.out_rgb_u8_hwc = frame.rgb_u8_hwc
                    self._stabilised.stabiliser.reset()
                else:   # stabilised inside the engine while _temporal_on (TemporalBackend's ``enabled``)
                    frame.out_rgb_u8_hwc = self._infer(frame.rgb_u8_hwc)
                self.stats.processed(time.monotonic() - started)
                for slot, name in zip(slots, names):
                    if slot.put(frame):
                        self.stats.dropped(name)
                if self.config.max_frames and self.stats.frames_processed >= self.config.max_frames:
                    self.finish()
                    break
        finally:
            for slot in slots:
                slot.close()

    def _frame_for(self, sink_shows_hud: bool, frame: LiveFrame) -> np.ndarray:
        if self.config.hud and sink_shows_hud:
            return draw_hud(frame.out_rgb_u8_hwc, hud_lines(self.stats.snapshot()))
        return frame.out_rgb_u8_hwc

    def _deliver(self, sink: LiveSink, slot: FrameSlot) -> None:
        while (frame := slot.get()) is not None:
            sink.write(self._frame_for(sink.shows_hud, frame), frame)
            self.stats.delivered(sink.name, frame.t_capture)

    def _guarded(self, fn: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                fn()
            except EndOfRun as e:
                self._log(f"stopping: {e}")
                self.finish()
            except BaseException as exc:  # noqa: BLE001 - every failure must stop the other threads
                self._fail(exc)
            finally:
                with self._error_lock:
                    self._stages_left -= 1
                    if self._stages_left == 0:
                        self._all_done.set()
        return body

    def run(self) -> LiveStats:
        opened: list[LiveSink] = []
        threads: list[threading.Thread] = []
        try:
            self._backend, self._stabilised = self._load(self.styles[0])
            self.stats.restart(engine_label(self._backend), self._backend.style)
            self._log(f"style {self._backend.style} ({engine_label(self._backend)})")   # incl. its working size
            for sink in self.sinks:
                sink.open(self.info)
                opened.append(sink)
            if self.window is not None:
                self.window.open(self.info)
            stages = [("capture", self._capture), ("infer", self._process)]
            stages += [(f"sink-{s.name}", lambda s=s, q=q: self._deliver(s, q)) for s, q in zip(self.sinks, self._sink_slots)]
            self._stages_left = len(stages)
            threads = [threading.Thread(target=self._guarded(fn), name=f"cartoonize-live-{name}", daemon=True)
                       for name, fn in stages]
            for t in threads:
                t.start()
            self._wait()
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self.stop()
            for t in threads:
                t.join(timeout=_JOIN_S)
            self._close_all(opened)
        if self._error is not None:
            raise self._error
        return self.stats

    def _wait(self) -> None:
        """The caller's thread: end on duration, drive the window, return when every stage is done.

        It waits on an Event, never in Thread.join: Python 3.11 can mark a thread as stopped when
        Ctrl-C interrupts a join on it (bpo-45274's fix), and run() would then return too early.
        """
        started = time.monotonic()
        while not self._all_done.is_set():
            if self.config.duration_s is not None and time.monotonic() - started >= self.config.duration_s:
                self.finish()
            if self.window is not None and self._window_slot is not None:
                frame = self._window_slot.get(timeout=_TICK_S)
                if frame is not None:
                    self.window.write(self._frame_for(True, frame), frame)
                    self.stats.delivered("window", frame.t_capture)
                if not self.window.handle_keys(self):
                    self.stop()
            else:
                self._all_done.wait(_TICK_S)   # a timeout, so Ctrl-C / SIGTERM reach this thread promptly

    def _close_all(self, opened: list[LiveSink]) -> None:
        closers = [self.source.close] + [s.close for s in opened]
        if self.window is not None:
            closers.append(self.window.close)
        if self._backend is not None:
            closers.append(self._backend.close)
        for close in closers:
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - close everything; report the first failure
                if self._error is None:
                    self._error = exc
