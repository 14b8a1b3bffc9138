"""Which YUV<->RGB conversion a video stream needs: decided here, once, for every reader and writer.

Usage:
    colour = stream_colour(codec_context)                  # YuvColour(matrix="ITU709", range="MPEG")
    rgb_u8_hwc = decoded_rgb(av_frame, colour)             # decode side
    av_frame.reformat(format="yuv420p", dst_colorspace=colour.matrix, dst_color_range=colour.range)

A decoded YUV frame is only turned back into the right RGB with the matrix and the sample range
it was encoded with. Streams say so in their tags (AVColorSpace, AVColorRange); many do not, and
then the rule players follow decides: BT.709 for HD (720 lines and more), BT.601 for SD. FFmpeg's
own default (BT.601 for everything) is what an untagged 720p file gets when nobody chooses, and it
shifts colours by up to ~20 levels: the file pipeline, the live file source, the training data
loader, the benchmarks and the encoders therefore all ask this module. It imports no PyAV, so the
core package stays importable where PyAV is missing (GPU machines).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# AVColorSpace tag -> swscale matrix name. Tags not listed (0 RGB, 2 unspecified, reserved ones)
# are decided by the frame height, the way players decide.
_MATRIX_FOR_TAG = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
# The tags an encoder writes for the untagged case, so that every player (tag-reading or not) agrees:
# (primaries, transfer, matrix) = BT.709 for HD, SMPTE 170M (BT.601 525-line) for SD.
_TAGS_FOR_MATRIX = {"ITU709": (1, 1, 1), "ITU601": (6, 6, 6)}
RANGE_FULL_TAG = 2      # AVCOL_RANGE_JPEG
RANGE_LIMITED_TAG = 1   # AVCOL_RANGE_MPEG
HD_LINES = 720


@dataclass(frozen=True)
class YuvColour:
    matrix: str     # swscale matrix name: ITU709, ITU601, BT2020, ... (PyAV's src/dst_colorspace)
    range: str      # "MPEG" (limited, 16..235: almost all video) or "JPEG" (full, 0..255: some cameras)

    @property
    def full_range(self) -> bool:
        return self.range == "JPEG"


def yuv_colour(colorspace_tag: int, height: int, full_range: bool = False) -> YuvColour:
    """The conversion for a stream: its matrix tag when it has one, else BT.709 for HD, BT.601 for SD."""
    matrix = _MATRIX_FOR_TAG.get(int(colorspace_tag), "ITU709" if height >= HD_LINES else "ITU601")
    return YuvColour(matrix, "JPEG" if full_range else "MPEG")


def is_full_range(color_range_tag: int, pix_fmt: str | None) -> bool:
    """Full-range samples: tagged so, or a yuvj* pixel format (cameras, MJPEG), which implies it."""
    return int(color_range_tag) == RANGE_FULL_TAG or bool(pix_fmt and pix_fmt.startswith("yuvj"))


def stream_colour(codec_context) -> YuvColour:
    """The conversion for a PyAV video codec context (a stream's ``codec_context``)."""
    pix_fmt = codec_context.format.name if codec_context.format is not None else None
    return yuv_colour(int(codec_context.colorspace), int(codec_context.height or 0),
                      is_full_range(int(codec_context.color_range), pix_fmt))


def decoded_rgb(frame, colour: YuvColour) -> np.ndarray:
    """uint8 (H, W, 3) RGB of a decoded PyAV VideoFrame, converted with ``colour``."""
    return frame.to_ndarray(format="rgb24", src_colorspace=colour.matrix, src_color_range=colour.range)


def tags_naming(colour: YuvColour) -> tuple[int, int, int]:
    """(primaries, transfer, matrix) tags that name ``colour``'s matrix, for an encoder whose frames
    have no source tags (live recordings): every player then converts back the same way."""
    return _TAGS_FOR_MATRIX.get(colour.matrix, (2, 2, 2))   # 2: unspecified
