"""Raw video to a pipe in YUV4MPEG2 (y4m), the format ffmpeg, ffplay, mpv and x264 read from stdin.

Usage:
    cartoonize-live --camera 0 --y4m | ffmpeg -i - -c:v libx264 out.mp4
    sink = Y4MSink(sys.stdout.buffer)

Frames are 4:2:0 (OpenCV's RGB -> I420, BT.601 limited range, what y4m readers assume). 4:2:0
needs even sides: an odd-sized frame gets its last column/row repeated. A reader that closes the
pipe (ffplay window closed) ends the run normally.
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from typing import BinaryIO

import cv2
import numpy as np

from cartoonize.errors import BadInputError

from .live import EndOfRun
from .live_source import SourceInfo


def y4m_header(width: int, height: int, fps: float) -> bytes:
    rate = Fraction(fps).limit_denominator(1001)     # 29.97 -> 30000/1001
    return f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n".encode()


def check_pipe(stream=None) -> None:
    """Refuse to pour raw video onto a terminal."""
    stream = stream or sys.stdout
    if stream.isatty():
        raise BadInputError("--y4m writes raw video to stdout: pipe it into a reader, "
                            "e.g. cartoonize-live --pattern --y4m | ffplay -")


class Y4MSink:
    name = "y4m"
    shows_hud = False

    def __init__(self, stream: BinaryIO | None = None):
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._pad = (0, 0)

    def open(self, info: SourceInfo) -> None:
        self._pad = (info.height % 2, info.width % 2)
        self._send(y4m_header(info.width + self._pad[1], info.height + self._pad[0], info.fps))

    def write(self, rgb_u8_hwc: np.ndarray, frame) -> None:
        if any(self._pad):
            rgb_u8_hwc = np.pad(rgb_u8_hwc, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        i420 = cv2.cvtColor(rgb_u8_hwc, cv2.COLOR_RGB2YUV_I420)
        self._send(b"FRAME\n" + i420.tobytes())

    def _send(self, data: bytes) -> None:
        try:
            self._stream.write(data)
            self._stream.flush()
        except BrokenPipeError:
            self._silence_stdout()
            raise EndOfRun("the y4m reader closed the pipe") from None

    def _silence_stdout(self) -> None:
        # After the reader left, Python's own flush of stdout at exit would fail noisily again.
        if self._stream is sys.stdout.buffer:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def close(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence_stdout()
