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
Encoding (pixel format, odd-size padding, colour matrix and tags, codec defaults) is
realtime/encoder.py's, shared with the live recording; this module adds the container, the other
streams and their interleaving.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterator

import av

from cartoonize.colour import yuv_colour
from cartoonize.errors import BadInputError

from .encoder import EncodeConfig, FrameEncoder, FrameFormat, check_encoder  # noqa: F401 - EncodeConfig and
# check_encoder are re-exported: callers import them from here, the module that writes videos.
from .video_source import VideoFrameItem, VideoInfo

_AUDIO_FALLBACKS = ("aac", "libopus", "libmp3lame")


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
        # Frames were decoded with this matrix (VideoSource): encoding with it again keeps the colours.
        matrix = yuv_colour(info.colorspace, info.height, info.full_range).matrix
        self._format = FrameFormat(info.width, info.height, info.time_base, matrix,
                                   tags=(info.color_primaries, info.color_trc, info.colorspace),
                                   rate=info.average_rate, rotation=info.rotation)
        try:
            self._output = av.open(str(self.path), "w")
        except ValueError as e:
            raise BadInputError(f"{self.path}: cannot tell the container from the extension ({e})") from None
        try:
            self._encoder = FrameEncoder(self._output, self._format, config, log)
            self._others = _OtherStreams(info, self._output, log, warn)
        except BaseException:
            self._output.close()
            raise

    @property
    def pix_fmt(self) -> str:
        return self._encoder.pix_fmt

    @property
    def frames_written(self) -> int:
        return self._encoder.frames

    def write(self, item: VideoFrameItem) -> None:
        if item.rgb_u8_hwc.shape[:2] != (self.info.height, self.info.width):
            raise RuntimeError(f"frame {item.index} is {item.rgb_u8_hwc.shape[1]}x{item.rgb_u8_hwc.shape[0]}, "
                               f"expected {self.info.width}x{self.info.height}")
        self._mux_video(self._encoder.encode(item.rgb_u8_hwc, item.pts, item.duration))

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.dts is not None:
                self._others.mux_until(self._output, float(packet.dts * packet.time_base))
            self._output.mux(packet)

    def close(self) -> None:
        """Flush the encoder, mux the remaining copied packets, write the trailer."""
        self._mux_video(self._encoder.flush())
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
