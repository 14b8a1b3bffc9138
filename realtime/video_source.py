"""Reading a video file: checks that it is one, then decodes its first video stream to RGB frames.

Usage:
    source = VideoSource.open(Path("in.mp4"))
    for frame in source.frames():      # VideoFrameItem: rgb_u8_hwc + its timestamp
        ...
    rgb_u8_hwc, index = grab_frame(Path("in.mp4"), 12)   # one frame, e.g. for a benchmark

Bad input (missing, empty, a directory, not a video, audio only, no decodable frame) raises
BadInputError with one line naming the file. A file that fails partway (cut mid-stream) yields the
frames decoded before the failure and reports a warning: the output keeps that decodable prefix.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np

from cartoonize.colour import decoded_rgb, is_full_range, yuv_colour
from cartoonize.errors import BadInputError
from cartoonize.files import check_readable_file

# FFmpeg renders any bytes as "video" through its text-art decoders (ANSI/binary text, picked by a
# .bin/.txt extension); such a file is never a video someone means to cartoonize.
_TEXT_ART_CODECS = {"ansi", "bintext", "xbin", "idf", "tty"}


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    codec: str
    time_base: Fraction
    frames: int                 # frame count the container declares; 0 when unknown
    average_rate: Fraction | None
    duration_s: float | None
    rotation: int               # display rotation in degrees (counter-clockwise), 0 if none
    color_primaries: int        # AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace tags
    color_trc: int
    colorspace: int
    full_range: bool            # JPEG (full) range samples, e.g. yuvj420p from cameras


@dataclass
class VideoFrameItem:
    index: int                  # 0-based position in decode order of output (presentation order)
    rgb_u8_hwc: np.ndarray
    pts: int                    # presentation timestamp in ``time_base`` units
    time_base: Fraction
    duration: int               # frame duration in time_base units, 0 if unknown


def check_input_file(path: Path) -> None:
    """Errors for paths that cannot be a video, before any decoder sees them."""
    check_readable_file(path, "video")


def _av_message(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]


class VideoSource:
    """A validated input file; ``frames()`` decodes it (call it from the thread that reads)."""

    def __init__(self, info: VideoInfo, warn: Callable[[str], None]):
        self.info = info
        self._warn = warn

    @classmethod
    def open(cls, path: Path, warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> "VideoSource":
        path = Path(path)
        check_input_file(path)
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
            raise BadInputError(f"{path}: not a readable video file ({_av_message(e)})") from None
        with container:
            if not container.streams.video:
                kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
                raise BadInputError(f"{path}: has no video stream ({kinds})")
            stream = container.streams.video[0]
            cc = stream.codec_context
            if cc.name in _TEXT_ART_CODECS:
                raise BadInputError(f"{path}: not a video file (FFmpeg could only read it as {cc.name} text art)")
            if not cc.width or not cc.height:
                raise BadInputError(f"{path}: video stream has no frame size (corrupt header?)")
            tb = stream.time_base or Fraction(1, 90000)
            info = VideoInfo(
                path=path, width=cc.width, height=cc.height, codec=cc.name, time_base=Fraction(tb),
                frames=int(stream.frames or 0), average_rate=stream.average_rate,
                duration_s=float(container.duration / av.time_base) if container.duration else None,
                rotation=_first_frame_rotation(container, stream, path), color_primaries=int(cc.color_primaries), color_trc=int(cc.color_trc),
                colorspace=int(cc.colorspace),
                full_range=is_full_range(int(cc.color_range), cc.format.name if cc.format is not None else None),
            )
        return cls(info, warn)

    def frames(self) -> Iterator[VideoFrameItem]:
        """Decode every frame of the first video stream, in presentation order, as RGB."""
        info = self.info
        colour = yuv_colour(info.colorspace, info.height, info.full_range)
        index = 0
        last_pts: int | None = None
        repaired = 0
        stopped_early = False
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"   # frame + slice threads: decode is rarely the bottleneck then
            frame_step = _frame_step(stream, info.time_base)
            try:
                for frame in container.decode(stream):
                    pts = frame.pts if frame.pts is not None else frame.dts
                    if pts is None:
                        pts = 0 if last_pts is None else last_pts + frame_step
                    if last_pts is not None and pts <= last_pts:
                        # Encoders need strictly increasing timestamps; a broken file can repeat one.
                        pts = last_pts + 1
                        repaired += 1
                    last_pts = pts
                    rgb = decoded_rgb(frame, colour)
                    yield VideoFrameItem(index, rgb, int(pts), info.time_base, int(frame.duration or 0))
                    index += 1
            except av.error.FFmpegError as e:
                if index == 0:
                    raise BadInputError(f"{info.path}: no decodable video frame ({_av_message(e)})") from None
                stopped_early = True
                self._warn(f"warning: {info.path}: decoding stopped after frame {index} ({_av_message(e)}); "
                           f"the output keeps the {index} decodable frames")
        if index == 0:
            raise BadInputError(f"{info.path}: the video stream holds no decodable frames")
        if info.frames and index < info.frames and not stopped_early:
            # Threaded decoding ends quietly on a file cut mid-stream; the declared count tells.
            self._warn(f"warning: {info.path}: the container declares {info.frames} frames but only {index} "
                       f"decoded (file cut short?); the output keeps the {index} decodable frames")
        if repaired:
            self._warn(f"warning: {info.path}: {repaired} frame(s) had a repeated or backwards timestamp; "
                       f"each was moved one tick after the previous frame")


def grab_frame(path: Path, index: int = 0) -> tuple[np.ndarray, int]:
    """Frame ``index`` of a video (its last one when the clip is shorter) and the index it had.

    uint8 (H, W, 3) RGB, decoded exactly as the file pipeline decodes (colour matrix and range):
    what the benchmarks and checks run on. BadInputError when the file has no decodable frame.
    """
    frames = VideoSource.open(Path(path), warn=lambda m: None).frames()
    try:
        for item in frames:
            if item.index >= index:
                break
    finally:
        frames.close()
    return item.rgb_u8_hwc, item.index


def _first_frame_rotation(container, stream, path: Path) -> int:
    """Decode the first frame (proving the stream decodes at all) and read its display rotation."""
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0))
    except av.error.FFmpegError as e:
        raise BadInputError(f"{path}: no decodable video frame ({_av_message(e)})") from None
    raise BadInputError(f"{path}: the video stream holds no decodable frames")


def _frame_step(stream, time_base: Fraction) -> int:
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    return max(1, round(1 / (Fraction(rate) * time_base)))
