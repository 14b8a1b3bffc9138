"""The `classic` filter behind the Backend interface (OpenCV, CPU, uint8).

Usage: ``with OpenCVBackend("classic") as b: out = b.infer(rgb_u8_nhwc)``
"""

from __future__ import annotations

import cv2
import numpy as np

from cartoonize.classic import ClassicFilter
from cartoonize.frames import check_rgb_u8_nhwc


class OpenCVBackend:
    name = "opencv"
    device = "cpu"
    precision = "uint8"

    def __init__(self, style: str = "classic", threads: int | None = None):
        if style != "classic":
            raise ValueError(f"OpenCVBackend runs the classic filter only, not {style!r}")
        self.style = style
        if threads is not None:
            cv2.setNumThreads(threads)
        self._filter = ClassicFilter()

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        check_rgb_u8_nhwc(rgb_u8_nhwc)
        return np.stack([self._filter.apply(frame) for frame in rgb_u8_nhwc])

    def close(self) -> None:
        pass

    def __enter__(self) -> "OpenCVBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
