"""Recording the live output to a video file, with the real capture timing.

Usage:
    sink = RecordSink(Path("session.mp4"), overwrite=False)   # the live pipeline calls open/write/close

Each frame's timestamp is its capture time (milliseconds since the first frame), so the recording
plays back at the speed things happened, with gaps where frames were dropped (variable frame
rate, like the file pipeline keeps). x264 "veryfast" keeps up with 720p on two cores; if it does
not, the recording sink skips stale frames (counted) rather than slowing the live output.

Encoding is realtime/encoder.py's, the one cartoonize-video uses: the same pixel format, padding
of odd sizes, colour matrix and tags, so a recording reads back with the colours it was given.
Frames go to a temporary file beside the destination, renamed over it when the recording is
finished; a recording that got no frame, or could not be finished, leaves nothing behind.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

from cartoonize.colour import tags_naming, yuv_colour
from cartoonize.errors import BadInputError
from cartoonize.files import temp_file_beside

from .encoder import EncodeConfig, FrameEncoder, FrameFormat
from .live_source import SourceInfo
from .transcode import check_container_extension, output_write_error

_TIME_BASE = Fraction(1, 1000)


class RecordSink:
    name = "record"
    shows_hud = False

    def __init__(self, path: Path, overwrite: bool = False, codec: str = "libx264",
                 log: Callable[[str], None] = lambda m: None):
        self.path = Path(path)
        if self.path.is_dir():
            raise BadInputError(f"{self.path}: is a directory")
        if self.path.exists() and not overwrite:
            raise BadInputError(f"{self.path}: already exists (use --overwrite to replace it)")
        if not self.path.parent.is_dir():
            raise BadInputError(f"{self.path.parent}: no such directory for the recording")
        if not os.access(self.path.parent, os.W_OK):
            raise BadInputError(f"{self.path.parent}: cannot write in the recording's folder (permission denied)")
        check_container_extension(self.path)    # before any camera opens
        self.config = EncodeConfig(codec=codec)
        self._log = log
        self._tmp: Path | None = None
        self._output = None
        self._encoder: FrameEncoder | None = None
        self._t0: float | None = None
        self._last_pts = -1

    @property
    def frames_written(self) -> int:
        return self._encoder.frames if self._encoder is not None else 0

    def open(self, info: SourceInfo) -> None:
        try:
            self._tmp = temp_file_beside(self.path, suffix=f".partial{self.path.suffix}")
        except OSError as e:
            raise BadInputError(f"{self.path.parent}: cannot write the recording there ({e.strerror})") from None
        colour = yuv_colour(2, info.height)     # camera frames carry no tags: the reader's rule for untagged video
        fmt = FrameFormat(info.width, info.height, _TIME_BASE, colour.matrix, tags=tags_naming(colour),
                          rate=Fraction(info.fps).limit_denominator(1001))
        try:
            self._output = av.open(str(self._tmp), "w")
            self._encoder = FrameEncoder(self._output, fmt, self.config, self._log)
        except BaseException:
            self._discard()
            raise

    def write(self, rgb_u8_hwc: np.ndarray, frame) -> None:
        if self._t0 is None:
            self._t0 = frame.t_capture
        pts = max(round((frame.t_capture - self._t0) * 1000), self._last_pts + 1)   # strictly increasing
        self._last_pts = pts
        try:
            self._output.mux(self._encoder.encode(rgb_u8_hwc, pts))
        except OSError as e:
            raise output_write_error(self.path, e) from None

    def close(self) -> None:
        """Finish the recording (also after a failed run: what was recorded is kept) and publish it."""
        if self._output is None:
            return
        output, self._output = self._output, None
        frames = self.frames_written
        try:
            if frames:
                output.mux(self._encoder.flush())    # the encoder's delayed frames
            output.close()
        except OSError as e:
            self._discard(output)
            raise output_write_error(self.path, e) from None
        except BaseException:
            self._discard(output)
            raise
        if frames == 0:
            self._discard()     # no frame came: leave no unplayable file behind
            self._log(f"recording {self.path}: no frames, nothing written")
            return
        os.replace(self._tmp, self.path)
        self._tmp = None
        self._log(f"recording {self.path}: {frames} frames")

    def _discard(self, output=None) -> None:
        if output is not None:
            try:
                output.close()
            except Exception:  # noqa: BLE001 - already failing; the first error is what matters
                pass
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
