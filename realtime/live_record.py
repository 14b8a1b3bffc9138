"""Recording the live output to a video file, with the real capture timing.

Usage:
    sink = RecordSink(Path("session.mp4"), overwrite=False)   # the live pipeline calls open/write/close

Each frame's timestamp is its capture time (milliseconds since the first frame), so the recording
plays back at the speed things happened, with gaps where frames were dropped (variable frame
rate, like the file pipeline keeps). x264 "veryfast" keeps up with 720p on two cores; if it does
not, the recording sink skips stale frames (counted) rather than slowing the live output.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

from cartoonize.errors import BadInputError

from .live_source import SourceInfo

_TIME_BASE = Fraction(1, 1000)


class RecordSink:
    name = "record"
    shows_hud = False

    def __init__(self, path: Path, overwrite: bool = False, codec: str = "libx264",
                 log: Callable[[str], None] = lambda m: None):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise BadInputError(f"{self.path}: already exists (use --overwrite to replace it)")
        if self.path.is_dir():
            raise BadInputError(f"{self.path}: is a directory")
        if not self.path.parent.is_dir():
            raise BadInputError(f"{self.path.parent}: no such directory for the recording")
        self.codec = codec
        self._log = log
        self._output = None
        self._stream = None
        self._pad = (0, 0)
        self._t0: float | None = None
        self._last_pts = -1
        self.frames_written = 0

    def open(self, info: SourceInfo) -> None:
        try:
            self._output = av.open(str(self.path), "w")
        except ValueError as e:
            raise BadInputError(f"{self.path}: cannot tell the container from the extension ({e}); "
                                f"use .mp4, .mkv or .mov") from None
        self._pad = (info.height % 2, info.width % 2)      # yuv420p needs even sides
        stream = self._output.add_stream(self.codec, rate=Fraction(info.fps).limit_denominator(1001))
        stream.width, stream.height = info.width + self._pad[1], info.height + self._pad[0]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = _TIME_BASE
        stream.time_base = _TIME_BASE
        if self.codec == "libx264":
            stream.codec_context.options = {"crf": "20", "preset": "veryfast"}
        self._stream = stream

    def write(self, rgb_u8_hwc: np.ndarray, frame) -> None:
        if self._t0 is None:
            self._t0 = frame.t_capture
        pts = max(round((frame.t_capture - self._t0) * 1000), self._last_pts + 1)   # strictly increasing
        self._last_pts = pts
        if any(self._pad):
            rgb_u8_hwc = np.pad(rgb_u8_hwc, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb_u8_hwc), format="rgb24")
        video_frame = video_frame.reformat(format="yuv420p")
        video_frame.pts, video_frame.time_base = pts, _TIME_BASE
        self._output.mux(self._stream.encode(video_frame))
        self.frames_written += 1

    def close(self) -> None:
        if self._output is None:
            return
        output, self._output = self._output, None
        try:
            if self.frames_written:
                output.mux(self._stream.encode(None))    # flush the encoder's delayed frames
        finally:
            output.close()
        if self.frames_written == 0:
            self.path.unlink(missing_ok=True)    # no frame came: leave no unplayable file behind
            self._log(f"recording {self.path}: no frames, nothing written")
        else:
            self._log(f"recording {self.path}: {self.frames_written} frames")
