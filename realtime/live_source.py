"""Live frame sources: a camera (OpenCV), a file or stream URL (PyAV, paced, can loop), a test pattern.

Usage:
    source = open_live_source(LiveSourceConfig(kind="pattern", width=640, height=480, fps=30))
    frame_rgb_u8_hwc = source.read(stop_event)    # None when the source has ended
    source.close()

Each source delivers frames no faster than real time: a camera by its own clock, a file by its
timestamps, the pattern by its frame rate. ``read`` waits on the stop event rather than sleeping,
so a stop request is answered at once. A camera that stops delivering is reopened with growing
pauses for ``reconnect_s`` seconds; after that CameraLostError ends the run with a clear message.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import av
import cv2
import numpy as np

from cartoonize.colour import decoded_rgb, stream_colour
from cartoonize.errors import BadInputError, CartoonizeError

from .video_source import check_input_file

SOURCE_KINDS = ("camera", "file", "pattern")
_BACKOFF_S = (0.25, 0.5, 1.0, 2.0)   # pauses between reopen attempts; the last one repeats
_RESYNC_S = 1.0                      # a file/stream frame this far off its due time restarts the clock


class CameraLostError(CartoonizeError):
    """The camera stopped delivering frames and could not be reopened. Exit code 1."""


@dataclass(frozen=True)
class LiveSourceConfig:
    kind: str                    # camera | file | pattern
    target: str = ""             # camera index ("0") or device path; file path or stream URL
    width: int | None = None     # requested size (camera) or size (pattern); None = device default / 640x480
    height: int | None = None
    fps: float | None = None     # requested rate (camera) or rate (pattern); None = device default / 30
    loop: bool = False           # file: start again at the end
    reconnect_s: float = 10.0    # camera: how long to keep reopening a camera that stopped delivering


@dataclass(frozen=True)
class SourceInfo:
    description: str             # one line for the log: what was asked for and what was granted
    width: int
    height: int
    fps: float                   # nominal frame rate (what a virtual camera or y4m header announces)


def open_live_source(config: LiveSourceConfig, log: Callable[[str], None] = lambda m: None,
                     open_capture: Callable[[Any], Any] | None = None):
    """The source the config names; BadInputError when it cannot be opened."""
    match config.kind:
        case "camera":
            return CameraSource(config, log, open_capture or _open_cv_capture)
        case "file":
            return FileSource(config, log)
        case "pattern":
            return PatternSource(config)
        case _:
            raise BadInputError(f"unknown source kind {config.kind!r}; choose from {', '.join(SOURCE_KINDS)}")


def _open_cv_capture(target: int | str):
    # OpenCV prints several warning lines for a missing camera; our own error says it in one.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2.VideoCapture(target)


def camera_target(text: str) -> int | str:
    """'0' -> 0 (an index); '/dev/video2' stays a path."""
    return int(text) if text.strip().isdigit() else text


class CameraSource:
    """A camera through OpenCV. The requested size and rate are asked for; the granted ones reported."""

    def __init__(self, config: LiveSourceConfig, log: Callable[[str], None], open_capture: Callable[[Any], Any]):
        self.config = config
        self._log = log
        self._open_capture = open_capture
        self.target = camera_target(config.target)
        if isinstance(self.target, str) and not os.path.exists(self.target):
            raise BadInputError(f"camera {self.target}: no such device")
        self._cap = self._open()
        if self._cap is None:
            raise BadInputError(f"camera {self.target}: cannot be opened (not connected, in use by another "
                                f"program, or no permission); list cameras with: v4l2-ctl --list-devices")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._cap.release()
            raise BadInputError(f"camera {self.target}: opened but delivers no frames (in use by another program?)")
        self._first = bgr
        height, width = bgr.shape[:2]
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        asked = (f"{config.width or '?'}x{config.height or '?'} @ {config.fps or '?'} fps"
                 if config.width or config.height or config.fps else "device default")
        granted = f"{width}x{height} @ {fps:g} fps" if fps > 0 else f"{width}x{height} @ unknown fps"
        self.info = SourceInfo(f"camera {self.target}: requested {asked}, granted {granted}",
                               width, height, fps if fps > 0 else (config.fps or 30.0))
        self.reconnects = 0

    def _open(self):
        cap = self._open_capture(self.target)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            return None
        c = self.config
        if c.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width)
        if c.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height)
        if c.fps:
            cap.set(cv2.CAP_PROP_FPS, c.fps)
        return cap

    def read(self, stop: threading.Event) -> np.ndarray | None:
        if self._first is not None:
            bgr, self._first = self._first, None
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        while not stop.is_set():
            ok, bgr = self._cap.read() if self._cap is not None else (False, None)
            if ok and bgr is not None:
                return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            self._reconnect(stop)
        return None

    def _reconnect(self, stop: threading.Event) -> None:
        """Reopen the camera with growing pauses; CameraLostError after ``reconnect_s`` seconds."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        deadline = time.monotonic() + self.config.reconnect_s
        for attempt in range(1, 1_000_000):
            pause = _BACKOFF_S[min(attempt - 1, len(_BACKOFF_S) - 1)]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._log(f"camera {self.target}: no frame; reopening in {min(pause, remaining):.2f} s (attempt {attempt})")
            if stop.wait(min(pause, remaining)):
                return
            self._cap = self._open()
            if self._cap is not None:
                self.reconnects += 1
                self._log(f"camera {self.target}: reopened")
                return
        raise CameraLostError(f"camera {self.target} stopped delivering frames and could not be reopened for "
                              f"{self.config.reconnect_s:g} s (unplugged or taken by another program?)")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FileSource:
    """A video file or stream URL decoded with PyAV, delivered at the pace of its timestamps."""

    def __init__(self, config: LiveSourceConfig, log: Callable[[str], None]):
        self.config = config
        self._log = log
        self.target = config.target
        self._is_url = "://" in self.target
        if self._is_url and config.loop:
            raise BadInputError(f"{self.target}: --loop applies to files, not stream URLs")
        if not self._is_url:
            check_input_file(Path(self.target))
        self._container = self._open()
        stream = self._container.streams.video[0]
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        self._frames = self._decode()
        first = next(self._frames, None)
        if first is None:
            self.close()
            raise BadInputError(f"{self.target}: no decodable video frame")
        self._pending = first
        height, width = first[0].shape[:2]
        self.info = SourceInfo(f"{'stream' if self._is_url else 'file'} {self.target}: {width}x{height} @ "
                               f"{float(rate):.4g} fps ({cc.name}){', looping' if config.loop else ''}",
                               width, height, float(rate))
        self._t0: float | None = None       # wall clock when the first frame was delivered
        self._first_t = 0.0                 # media time of the first frame
        self._last_t = 0.0                  # media time of the latest frame
        self._offset_s = 0.0                # media time of the loops played before this one

    def _open(self):
        try:
            container = av.open(self.target, timeout=10.0) if self._is_url else av.open(self.target)
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
            message = getattr(e, "strerror", None) or str(e).strip().splitlines()[0]
            raise BadInputError(f"{self.target}: cannot be opened as video ({message})") from None
        if not container.streams.video:
            container.close()
            raise BadInputError(f"{self.target}: has no video stream")
        container.streams.video[0].thread_type = "AUTO"
        return container

    def _decode(self):
        """(rgb_u8_hwc, media time in seconds) for each frame of the open container."""
        stream = self._container.streams.video[0]
        colour = stream_colour(stream.codec_context)   # the rule every reader follows, so colours match file mode
        for frame in self._container.decode(stream):
            t = float(frame.time) if frame.time is not None else None
            yield decoded_rgb(frame, colour), t

    def read(self, stop: threading.Event) -> np.ndarray | None:
        item, self._pending = self._pending or next(self._frames, None), None
        if item is None and self.config.loop and not self._is_url:
            # Start again: the next loop's clock continues one frame after this loop's last frame.
            self._offset_s += self._last_t - self._first_t + 1.0 / max(1.0, self.info.fps)
            self._container.close()
            self._container = self._open()
            self._frames = self._decode()
            item = next(self._frames, None)
        if item is None:
            return None
        rgb, t = item
        if t is None:          # no timestamp: assume the nominal rate
            t = self._last_t + 1.0 / max(1.0, self.info.fps) if self._t0 is not None else 0.0
        if self._t0 is None:
            self._t0, self._first_t = time.monotonic(), t
        self._last_t = t
        # A file is played the way a camera would deliver it: no frame before its time.
        wait = self._t0 + self._offset_s + (t - self._first_t) - time.monotonic()
        if abs(wait) > _RESYNC_S:
            # A timestamp jump (stream discontinuity) or decoding far behind: restart the clock here
            # rather than stall for the jump or deliver a burst of late frames.
            self._t0 += -wait
            wait = 0.0
        if wait > 0 and stop.wait(wait):
            return None
        return rgb

    def close(self) -> None:
        self._container.close()


class PatternSource:
    """A moving test pattern (colour bars, a sweeping bar, a circle, a frame counter) at a fixed rate."""

    def __init__(self, config: LiveSourceConfig):
        self.width = config.width or 640
        self.height = config.height or 480
        self.fps = float(config.fps or 30.0)
        if self.width < 16 or self.height < 16 or self.fps <= 0:
            raise BadInputError(f"test pattern {self.width}x{self.height} @ {self.fps:g} fps: needs at least "
                                f"16x16 and a positive rate")
        self.info = SourceInfo(f"test pattern {self.width}x{self.height} @ {self.fps:g} fps",
                               self.width, self.height, self.fps)
        self._base = _pattern_background(self.width, self.height)
        self._index = 0
        self._t0: float | None = None

    def read(self, stop: threading.Event) -> np.ndarray | None:
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + self._index / self.fps
        wait = due - time.monotonic()
        if wait > 0 and stop.wait(wait):
            return None
        frame = self.frame(self._index)
        self._index += 1
        return frame

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` of this pattern, without waiting for its time."""
        return pattern_frame(self._base, index)

    def close(self) -> None:
        pass


def _pattern_background(width: int, height: int) -> np.ndarray:
    bars = np.array([[235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16],
                     [235, 16, 235], [235, 16, 16], [16, 16, 235], [40, 40, 40]], np.uint8)
    columns = bars[np.arange(width) * len(bars) // width]
    rgb = np.repeat(columns[None], height, axis=0)
    ramp = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    rgb[height * 3 // 4:] = ramp[None, :, None]      # a grey ramp along the bottom quarter
    return rgb


def pattern_frame(background: np.ndarray, index: int) -> np.ndarray:
    """Frame ``index`` of the test pattern: motion shows that frames flow and which one is shown."""
    frame = background.copy()
    h, w = frame.shape[:2]
    x = (index * 8) % w
    frame[: h * 3 // 4, x:x + max(2, w // 40)] = (255, 255, 255)
    cx = int(w / 2 + w / 4 * np.cos(index / 15.0))
    cy = int(h * 3 / 8 + h / 8 * np.sin(index / 15.0))
    cv2.circle(frame, (cx, cy), max(4, min(w, h) // 8), (250, 120, 20), -1)
    cv2.putText(frame, f"{index:06d}", (max(2, w // 32), max(12, h // 10)), cv2.FONT_HERSHEY_SIMPLEX,
                max(0.3, h / 480), (0, 0, 0), max(1, h // 240), cv2.LINE_AA)
    return frame
