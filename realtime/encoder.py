"""The video encoder both file outputs share: cartoonize-video's writer and cartoonize-live's recording.

Usage:
    encoder = FrameEncoder(output_container, FrameFormat(1280, 720, Fraction(1, 1000), matrix="ITU709"))
    for packet in encoder.encode(rgb_u8_hwc, pts):  output_container.mux(packet)
    for packet in encoder.flush():                  output_container.mux(packet)

One place decides everything about the encoded picture: the pixel format (yuv420p when the codec
has it: plays everywhere), padding of odd sizes (4:2:0 needs even sides: the last column/row is
repeated, nothing of the picture is lost), the RGB->YUV matrix and sample range (from
cartoonize.colour, the same rule the readers use, so colours survive a round trip within a level
or two) and the colour tags written into the stream, the codec's quality defaults, the time base
and display rotation. Containers, other streams and file safety stay with the callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import av
import numpy as np

from cartoonize.errors import BadInputError

# Default quality and speed per encoder. x264 veryfast at CRF 20 keeps flat cartoon regions clean
# while encoding 720p several times faster than real time on two cores.
RATE_CONTROL = {
    "libx264": {"crf": 20, "preset": "veryfast"},
    "libx265": {"crf": 24, "preset": "veryfast"},
    "libsvtav1": {"crf": 35, "preset": "10"},
    "libvpx-vp9": {"crf": 32, "preset": None},
    "libvpx": {"crf": 10, "preset": None},
}


@dataclass(frozen=True)
class EncodeConfig:
    codec: str = "libx264"       # any FFmpeg video encoder PyAV has; libx264 plays everywhere
    crf: int | None = None       # constant-quality factor; None = the codec's default in RATE_CONTROL
    preset: str | None = None    # speed/size trade-off of x264/x265/SVT-AV1; None = default in RATE_CONTROL
    pix_fmt: str | None = None   # None = yuv420p when the codec supports it (plays everywhere)


def crf_defaults() -> str:
    """'20 for libx264, 24 for libx265, ...': the --crf help text, straight from RATE_CONTROL."""
    return ", ".join(f"{v['crf']} for {codec}" for codec, v in RATE_CONTROL.items())


def check_encoder(config: EncodeConfig) -> None:
    """BadInputError for an encoder this FFmpeg build lacks, or options it cannot take."""
    try:
        codec = av.codec.Codec(config.codec, "w")
    except (av.error.FFmpegError, ValueError):
        raise BadInputError(f"unknown video encoder {config.codec!r} (try libx264, libx265, libsvtav1, libvpx-vp9)") \
            from None
    if codec.type != "video":
        raise BadInputError(f"{config.codec!r} is a {codec.type} encoder, not a video encoder")
    known = RATE_CONTROL.get(config.codec, {})
    if config.crf is not None and "crf" not in known:
        raise BadInputError(f"--crf is not supported for {config.codec!r}; supported with {', '.join(RATE_CONTROL)}")
    if config.preset is not None and known.get("preset") is None:
        raise BadInputError(f"--preset is not supported for {config.codec!r}; supported with libx264, libx265, libsvtav1")
    if config.pix_fmt is not None and config.pix_fmt not in {f.name for f in codec.video_formats or ()}:
        raise BadInputError(f"{config.codec!r} cannot encode pixel format {config.pix_fmt!r}")


def pick_pix_fmt(config: EncodeConfig) -> str:
    if config.pix_fmt:
        return config.pix_fmt
    formats = [f.name for f in av.codec.Codec(config.codec, "w").video_formats or ()]
    for preferred in ("yuv420p", "yuvj420p"):
        if preferred in formats:
            return preferred
    return formats[0] if formats else "yuv420p"


@dataclass(frozen=True)
class FrameFormat:
    """What the encoder needs to know about the frames it will get."""

    width: int
    height: int
    time_base: Fraction               # unit of the pts given to encode(); the stream uses it unchanged
    matrix: str                       # RGB->YUV matrix (cartoonize.colour), the one readers will use
    tags: tuple[int, int, int] = (2, 2, 2)   # (primaries, transfer, matrix) written into the stream
    rate: Fraction | None = None      # average frame rate: a rate-control hint only, pts decide timing
    rotation: int = 0                 # display rotation in degrees, kept as stream side data


class FrameEncoder:
    """A video stream in an open output container, fed uint8 RGB frames with their timestamps."""

    def __init__(self, output: av.container.OutputContainer, fmt: FrameFormat, config: EncodeConfig = EncodeConfig(),
                 log: Callable[[str], None] = lambda m: None):
        self.format = fmt
        self.pix_fmt = pick_pix_fmt(config)
        subsampled = self.pix_fmt.startswith(("yuv420", "yuvj420", "nv12", "yuv422", "yuvj422"))
        self._pad_w = fmt.width % 2 if subsampled else 0
        self._pad_h = fmt.height % 2 if self.pix_fmt.startswith(("yuv420", "yuvj420", "nv12")) else 0
        if self._pad_w or self._pad_h:
            log(f"note: {fmt.width}x{fmt.height} is odd-sized and {self.pix_fmt} needs even sides: the last "
                f"{'column' if self._pad_w else ''}{' and ' if self._pad_w and self._pad_h else ''}"
                f"{'row' if self._pad_h else ''} is repeated, output is "
                f"{fmt.width + self._pad_w}x{fmt.height + self._pad_h}")
        self._range = "JPEG" if self.pix_fmt.startswith("yuvj") else "MPEG"
        self.stream = self._add_stream(output, config)
        self.frames = 0

    def _add_stream(self, output: av.container.OutputContainer, config: EncodeConfig):
        fmt = self.format
        stream = output.add_stream(config.codec)
        cc = stream.codec_context
        cc.width, cc.height = fmt.width + self._pad_w, fmt.height + self._pad_h
        cc.pix_fmt = self.pix_fmt
        cc.time_base = fmt.time_base          # frames keep the pts they are given, unchanged
        stream.time_base = fmt.time_base
        if fmt.rate:
            cc.framerate = fmt.rate
        cc.color_primaries, cc.color_trc, cc.colorspace = fmt.tags
        cc.color_range = 2 if self._range == "JPEG" else 1
        defaults = RATE_CONTROL.get(config.codec, {})
        options: dict[str, str] = {}
        crf = config.crf if config.crf is not None else defaults.get("crf")
        if crf is not None:
            options["crf"] = str(crf)
            if config.codec.startswith("libvpx"):
                options["b"] = "0"     # constant-quality mode in libvpx needs a zero target bitrate
        preset = config.preset or defaults.get("preset")
        if preset is not None:
            options["preset"] = str(preset)
        cc.options = options
        if fmt.rotation:
            stream.set_display_rotation(fmt.rotation)
        return stream

    def encode(self, rgb_u8_hwc: np.ndarray, pts: int, duration: int = 0) -> list[av.Packet]:
        """Encode one frame (the format's size) shown at ``pts``; the packets that are ready."""
        if rgb_u8_hwc.shape[:2] != (self.format.height, self.format.width):
            raise RuntimeError(f"frame is {rgb_u8_hwc.shape[1]}x{rgb_u8_hwc.shape[0]}, "
                               f"expected {self.format.width}x{self.format.height}")
        if self._pad_w or self._pad_h:
            rgb_u8_hwc = np.pad(rgb_u8_hwc, ((0, self._pad_h), (0, self._pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb_u8_hwc), format="rgb24")
        frame = frame.reformat(format=self.pix_fmt, dst_colorspace=self.format.matrix, dst_color_range=self._range)
        frame.pts = pts
        frame.time_base = self.format.time_base
        if duration:
            frame.duration = duration
        packets = self.stream.encode(frame)
        self.frames += 1
        return packets

    def flush(self) -> list[av.Packet]:
        """The encoder's delayed packets, after the last frame."""
        return self.stream.encode(None)
