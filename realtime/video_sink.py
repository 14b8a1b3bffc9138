"""Writing the cartoon video: encode RGB frames with the source's timestamps, copy the other streams.

Usage:
    writer = VideoWriter(tmp_path, source.info, EncodeConfig(), log=print)
    for item in processed_frames: writer.write(item)   # VideoFrameItem with cartoon RGB
    writer.close()

Timing: the encoder and the output stream use the input stream's time base and every frame keeps
its input pts, so output timing equals input timing (variable frame rate stays variable).
Other streams: audio and subtitle packets are read by a second demuxer of the input and muxed
unchanged (byte-identical) interleaved by time with the video packets. When the output container
cannot hold a stream's codec, audio is re-encoded (AAC, or Opus for WebM) and subtitles or data
streams are left out; each case is reported in one line.
Sizes: 4:2:0 pixel formats need even width and height; an odd frame gets its last column/row
repeated (1 px of padding, nothing of the picture is lost), said once in the log.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np

from cartoonize.errors import BadInputError

from .video_source import VideoFrameItem, VideoInfo, yuv_matrix

# Default quality and speed per encoder. x264 veryfast at CRF 20 keeps flat cartoon regions clean
# while encoding 720p several times faster than real time on two cores.
_RATE_CONTROL = {
    "libx264": {"crf": 20, "preset": "veryfast"},
    "libx265": {"crf": 24, "preset": "veryfast"},
    "libsvtav1": {"crf": 35, "preset": "10"},
    "libvpx-vp9": {"crf": 32, "preset": None},
    "libvpx": {"crf": 10, "preset": None},
}
_AUDIO_FALLBACKS = ("aac", "libopus", "libmp3lame")


@dataclass(frozen=True)
class EncodeConfig:
    codec: str = "libx264"       # any FFmpeg video encoder PyAV has; libx264 plays everywhere
    crf: int | None = None       # constant-quality factor; None = the codec's default above
    preset: str | None = None    # speed/size trade-off of x264/x265/SVT-AV1; None = default above
    pix_fmt: str | None = None   # None = yuv420p when the codec supports it (plays everywhere)


def check_encoder(config: EncodeConfig) -> None:
    """BadInputError for an encoder this FFmpeg build lacks, or options it cannot take."""
    try:
        codec = av.codec.Codec(config.codec, "w")
    except (av.error.FFmpegError, ValueError):
        raise BadInputError(f"unknown video encoder {config.codec!r} (try libx264, libx265, libsvtav1, libvpx-vp9)") \
            from None
    if codec.type != "video":
        raise BadInputError(f"{config.codec!r} is a {codec.type} encoder, not a video encoder")
    known = _RATE_CONTROL.get(config.codec, {})
    if config.crf is not None and "crf" not in known:
        raise BadInputError(f"--crf is not supported for {config.codec!r}; supported with {', '.join(_RATE_CONTROL)}")
    if config.preset is not None and known.get("preset") is None:
        raise BadInputError(f"--preset is not supported for {config.codec!r}; supported with libx264, libx265, libsvtav1")
    if config.pix_fmt is not None and config.pix_fmt not in {f.name for f in codec.video_formats or ()}:
        raise BadInputError(f"{config.codec!r} cannot encode pixel format {config.pix_fmt!r}")


def _pick_pix_fmt(config: EncodeConfig) -> str:
    if config.pix_fmt:
        return config.pix_fmt
    formats = [f.name for f in av.codec.Codec(config.codec, "w").video_formats or ()]
    for preferred in ("yuv420p", "yuvj420p"):
        if preferred in formats:
            return preferred
    return formats[0] if formats else "yuv420p"


def _muxer_accepts(format_name: str, add_stream: Callable[[av.container.OutputContainer], object]) -> bool:
    """Whether the muxer can write a header with the stream ``add_stream`` adds: tried for real in memory."""
    try:
        with av.open(io.BytesIO(), "w", format=format_name) as probe:
            add_stream(probe)
            probe.start_encoding()
        return True
    except (av.error.FFmpegError, ValueError, NotImplementedError):
        return False


class _OtherStreams:
    """The input's audio and subtitle streams, read by their own demuxer and muxed in time order."""

    def __init__(self, info: VideoInfo, output: av.container.OutputContainer, log: Callable[[str], None],
                 warn: Callable[[str], None]):
        self._warn = warn
        self._input = av.open(str(info.path))
        self._copy: dict[int, av.stream.Stream] = {}        # input index -> output stream (packet copy)
        self._recode: dict[int, av.stream.Stream] = {}      # input index -> output stream (audio re-encode)
        fmt = output.format.name.split(",")[0]
        video_index = self._input.streams.video[0].index
        for stream in self._input.streams:
            if stream.index == video_index:
                continue
            label = f"stream #{stream.index} ({stream.type}, {stream.codec_context.name})"
            copyable = stream.type in ("audio", "subtitle") and _muxer_accepts(
                fmt, lambda c: c.add_stream_from_template(stream))
            if copyable:
                self._copy[stream.index] = output.add_stream_from_template(stream)
            elif stream.type == "audio":
                rate = stream.codec_context.sample_rate or 48000
                target = next((codec for codec in _AUDIO_FALLBACKS
                               if _muxer_accepts(fmt, lambda c: c.add_stream(codec, rate=rate))), None)
                if target is None:
                    log(f"note: {label} left out: the {fmt} container takes none of {', '.join(_AUDIO_FALLBACKS)}")
                    continue
                cc = stream.codec_context
                out = output.add_stream(target, rate=cc.sample_rate)
                out.codec_context.layout = cc.layout
                self._recode[stream.index] = out
                log(f"note: {label} cannot go into {fmt} as it is: re-encoded to {target}")
            elif stream.type == "video":
                log(f"note: {label} left out: only the first video stream is cartoonized")
            else:
                log(f"note: {label} left out: the {fmt} container cannot hold it")
        wanted = [s for s in self._input.streams if s.index in self._copy or s.index in self._recode]
        self._packets: Iterator[av.Packet] = self._input.demux(wanted) if wanted else iter(())
        self._pending: av.Packet | None = None
        self.copied_packets = 0

    def _next(self) -> av.Packet | None:
        if self._pending is None:
            try:
                for packet in self._packets:
                    if packet.dts is None:   # demuxer flush packets carry no data
                        continue
                    self._pending = packet
                    break
            except av.error.FFmpegError as e:
                # A file cut mid-stream: keep what was read, like the video decoder does.
                self._packets = iter(())
                self._warn(f"warning: reading audio/subtitle packets stopped early ({e}); "
                           f"{self.copied_packets} packets copied")
        return self._pending

    def mux_until(self, output: av.container.OutputContainer, seconds: float | None) -> None:
        """Mux every pending packet whose dts is at or before ``seconds`` (all of them for None)."""
        while (packet := self._next()) is not None:
            if seconds is not None and float(packet.dts * packet.time_base) > seconds:
                return
            self._pending = None
            index = packet.stream.index
            if index in self._copy:
                packet.stream = self._copy[index]
                output.mux(packet)
                self.copied_packets += 1
            else:
                out = self._recode[index]
                for frame in packet.decode():
                    frame.pts = None      # let the encoder keep its own sample-accurate clock
                    output.mux(out.encode(frame))
        for out in self._recode.values():
            if seconds is None:
                output.mux(out.encode(None))

    def close(self) -> None:
        self._input.close()


class VideoWriter:
    """Encodes cartoon frames into ``path`` (the container follows its extension)."""

    def __init__(self, path: Path, info: VideoInfo, config: EncodeConfig = EncodeConfig(),
                 log: Callable[[str], None] = print, warn: Callable[[str], None] = print):
        self.path = Path(path)
        self.info = info
        self.config = config
        self._log = log
        self.frames_written = 0
        self.pix_fmt = _pick_pix_fmt(config)
        subsampled = self.pix_fmt.startswith(("yuv420", "yuvj420", "nv12", "yuv422", "yuvj422"))
        self._pad_w = info.width % 2 if subsampled else 0
        self._pad_h = info.height % 2 if self.pix_fmt.startswith(("yuv420", "yuvj420", "nv12")) else 0
        if self._pad_w or self._pad_h:
            log(f"note: {info.width}x{info.height} is odd-sized and {self.pix_fmt} needs even sides: the last "
                f"{'column' if self._pad_w else ''}{' and ' if self._pad_w and self._pad_h else ''}"
                f"{'row' if self._pad_h else ''} is repeated, output is "
                f"{info.width + self._pad_w}x{info.height + self._pad_h}")
        self._matrix = yuv_matrix(info.colorspace, info.height)
        try:
            self._output = av.open(str(self.path), "w")
        except ValueError as e:
            raise BadInputError(f"{self.path}: cannot tell the container from the extension ({e})") from None
        try:
            self._video = self._add_video_stream()
            self._others = _OtherStreams(info, self._output, log, warn)
        except BaseException:
            self._output.close()
            raise

    def _add_video_stream(self):
        info, config = self.info, self.config
        stream = self._output.add_stream(config.codec)
        cc = stream.codec_context
        cc.width, cc.height = info.width + self._pad_w, info.height + self._pad_h
        cc.pix_fmt = self.pix_fmt
        cc.time_base = info.time_base          # frames keep their input pts, unchanged
        stream.time_base = info.time_base
        if info.average_rate:
            cc.framerate = info.average_rate    # a hint for rate control only; pts decide timing
        cc.color_primaries, cc.color_trc, cc.colorspace = info.color_primaries, info.color_trc, info.colorspace
        cc.color_range = 2 if self.pix_fmt.startswith("yuvj") else 1
        defaults = _RATE_CONTROL.get(config.codec, {})
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
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        return stream

    def write(self, item: VideoFrameItem) -> None:
        rgb = item.rgb_u8_hwc
        if rgb.shape[:2] != (self.info.height, self.info.width):
            raise RuntimeError(f"frame {item.index} is {rgb.shape[1]}x{rgb.shape[0]}, "
                               f"expected {self.info.width}x{self.info.height}")
        if self._pad_w or self._pad_h:
            rgb = np.pad(rgb, ((0, self._pad_h), (0, self._pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format=self.pix_fmt, dst_colorspace=self._matrix,
                               dst_color_range="JPEG" if self.pix_fmt.startswith("yuvj") else "MPEG")
        frame.pts = item.pts
        frame.time_base = item.time_base
        if item.duration:
            frame.duration = item.duration
        self._mux_video(self._video.encode(frame))
        self.frames_written += 1

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.dts is not None:
                self._others.mux_until(self._output, float(packet.dts * packet.time_base))
            self._output.mux(packet)

    def close(self) -> None:
        """Flush the encoder, mux the remaining copied packets, write the trailer."""
        self._mux_video(self._video.encode(None))
        self._others.mux_until(self._output, None)
        self._others.close()
        self._output.close()

    def abort(self) -> None:
        """Close files after a failure; the caller deletes the partial output."""
        for closer in (self._others.close, self._output.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - already failing; the first error is what matters
                pass

    @property
    def copied_packets(self) -> int:
        return self._others.copied_packets
