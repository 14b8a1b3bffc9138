"""Long videos in pieces: segments cut at keyframes, cartoonized independently, joined without re-encoding.

Usage:
    plan = plan_segments(Path("long.mp4"), segment_frames=900)   # where to cut; no decoding
    for segment in plan.segments:                                 # any process, any order, any machine
        encode_segment(plan, segment.index, backend, Path(f"seg{segment.index}.nut"))
    join_segments(plan, [Path("seg0.nut"), ...], Path("long_cartoon.mp4"))

Cutting: the video packets are scanned (not decoded) for their timestamps and keyframes. Segment
k holds the frames whose presentation time lies in [its keyframe, the next segment's keyframe).
A worker seeks to the keyframe, decodes, keeps the frames in that range and encodes them as an
independent stream that starts with a keyframe of its own; frames shown before the keyframe but
decoded after it (open GOPs) belong to the previous segment, whose decoder reaches them with the
references they need.

Joining: the segments' packets are copied one after another into the output (no re-encode: every
segment used the same encoder settings, so their stream headers are identical, which is
checked); each packet keeps its timestamps, so frame count and timing equal the unsplit run's.
Audio and subtitles are muxed once, from the source, as cartoonize-video does. Segment files are
NUT: FFmpeg's own container stores any time base exactly (Matroska would round to milliseconds).

A video whose timestamps cannot be trusted for this (missing or repeated pts) gets one segment.

Stateful backends (run-time stabilisation): ``encode_segment(..., prime=N)`` first feeds the backend
the N frames before the cut and drops their output, so a fresh stabiliser starts the segment in the
state the unsplit run had there (cartoonize-batch --temporal; one fresh backend per segment).
"""

from __future__ import annotations

import os
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av

from cartoonize.colour import decoded_rgb, yuv_colour
from cartoonize.errors import CartoonizeError
from cartoonize.files import temp_file_beside

from .encoder import EncodeConfig, FrameEncoder, FrameFormat
from .pipeline import run_pipeline
from .transcode import check_output_path, stylize_stages
from .video_sink import _OtherStreams
from .video_source import VideoFrameItem, VideoInfo, VideoSource

SEGMENT_SUFFIX = ".mov"


@dataclass(frozen=True)
class Segment:
    index: int
    start_pts: int             # presentation time of its first frame (a keyframe), in the plan's time base
    end_pts: int | None        # the next segment's start_pts; None for the last segment
    frames: int                # frames whose pts lie in [start_pts, end_pts)


@dataclass(frozen=True)
class SegmentPlan:
    source: Path
    info: VideoInfo
    frames: int                # video packets (= frames) in the source
    segments: tuple[Segment, ...]
    reason: str                # why this many segments, for the log


def scan_video_packets(path: Path) -> tuple[list[int], list[int], bool]:
    """(pts of every video packet in presentation order, pts of keyframes, all timestamps usable)."""
    pts_all, keys, usable = [], [], True
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size == 0 and packet.dts is None:
                continue   # the demuxer's flush packet
            if packet.pts is None:
                usable = False
                continue
            pts_all.append(int(packet.pts))
            if packet.is_keyframe:
                keys.append(int(packet.pts))
    pts_all.sort()
    if len(set(pts_all)) != len(pts_all):
        usable = False
    return pts_all, sorted(set(keys)), usable


def plan_segments(path: Path, segment_frames: int, max_segments: int = 256,
                  warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> SegmentPlan:
    """Cut ``path`` into pieces of about ``segment_frames`` frames (at least half that), at keyframes.

    The cuts go to the keyframes nearest to equal shares of the frames; fewer keyframes, fewer
    pieces. ``segment_frames`` 0 means one segment.
    """
    source = VideoSource.open(Path(path), warn=warn)   # the same checks and the same info as cartoonize-video
    pts_all, keys, usable = scan_video_packets(Path(path))
    whole = lambda reason: SegmentPlan(Path(path), source.info, len(pts_all),  # noqa: E731
                                       (Segment(0, pts_all[0] if pts_all else 0, None, len(pts_all)),), reason)
    if not pts_all:
        return whole("no timestamps")
    if not usable:
        return whole("timestamps missing or repeated: not split")
    wanted = 1 if segment_frames <= 0 else max(1, min(max_segments, round(len(pts_all) / segment_frames)))
    if wanted == 1:
        return whole("one segment")
    min_frames = max(1, segment_frames // 2)
    rank = {pts: i for i, pts in enumerate(pts_all)}
    key_ranks = [rank[k] for k in keys if k in rank and rank[k] > 0]
    cuts: list[int] = []
    for share in range(1, wanted):
        target = share * len(pts_all) / wanted
        candidates = [r for r in key_ranks if (not cuts or r > cuts[-1])]
        if not candidates:
            break
        cuts.append(min(candidates, key=lambda r: abs(r - target)))
    kept: list[int] = []
    for cut in sorted(set(cuts)):
        if cut - (kept[-1] if kept else 0) >= min_frames and len(pts_all) - cut >= min_frames:
            kept.append(cut)
    bounds = [0, *kept, len(pts_all)]
    pieces = tuple(Segment(i, pts_all[bounds[i]], pts_all[bounds[i + 1]] if i + 2 < len(bounds) else None,
                           bounds[i + 1] - bounds[i]) for i in range(len(bounds) - 1))
    reason = (f"{len(pieces)} segments at keyframes" if len(pieces) > 1
              else f"{len(keys)} keyframe(s): no cut point for {wanted} segments")
    return SegmentPlan(Path(path), source.info, len(pts_all), pieces, reason)


def frame_format(info: VideoInfo) -> FrameFormat:
    """The encoder format cartoonize-video uses for this input (as VideoWriter builds it)."""
    matrix = yuv_colour(info.colorspace, info.height, info.full_range).matrix
    return FrameFormat(info.width, info.height, info.time_base, matrix,
                       tags=(info.color_primaries, info.color_trc, info.colorspace),
                       rate=info.average_rate, rotation=info.rotation)


def segment_frames(plan: SegmentPlan, index: int, prime: int = 0) -> Iterator[VideoFrameItem]:
    """Decode the frames of one segment, converted to RGB exactly as VideoSource does.

    With ``prime`` > 0 the up to ``prime`` frames just before the segment come first, with index -1:
    for a stateful backend (run-time stabilisation) to see what the unsplit run saw before the cut;
    they are stylised and not written. They are found by decoding from the previous segment's start.
    """
    segment = plan.segments[index]
    info = plan.info
    colour = yuv_colour(info.colorspace, info.height, info.full_range)
    produced = 0
    before: deque = deque(maxlen=prime if index > 0 else 0)   # the last decoded frames before start_pts
    with av.open(str(plan.source)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if segment.index > 0:
            # Lands on the keyframe at or before start_pts (or the previous segment's, to prime); frames
            # before start_pts are skipped below.
            seek_pts = plan.segments[index - 1].start_pts if before.maxlen else segment.start_pts
            container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            pts = frame.pts
            if pts is None:
                raise CartoonizeError(f"{plan.source}: a frame without timestamp in segment {index}")
            if produced == 0 and pts > segment.start_pts:
                raise CartoonizeError(f"{plan.source}: seeking to segment {index} landed after its first frame")
            if produced == 0 and pts < segment.start_pts and before.maxlen:
                before.append(frame)
                continue
            if produced == 0 and before and pts >= segment.start_pts:
                for earlier in before:
                    yield VideoFrameItem(-1, decoded_rgb(earlier, colour), int(earlier.pts), info.time_base,
                                         int(earlier.duration or 0))
                before.clear()
            if pts < segment.start_pts or (segment.end_pts is not None and pts >= segment.end_pts):
                if produced == segment.frames:
                    break       # all of this segment's frames are out; what follows belongs to the next one
                continue
            yield VideoFrameItem(produced, decoded_rgb(frame, colour), int(pts), info.time_base,
                                 int(frame.duration or 0))
            produced += 1
            if produced == segment.frames and segment.end_pts is not None:
                break
    if produced != segment.frames:
        raise CartoonizeError(f"{plan.source}: segment {index} decoded {produced} frames, expected {segment.frames}")


def encode_segment(plan: SegmentPlan, index: int, backend, path: Path, encode: EncodeConfig = EncodeConfig(), *,
                   batch_size: int = 1, progress: Callable[[int], None] | None = None, prime: int = 0) -> int:
    """Cartoonize segment ``index`` into the video-only file ``path`` (written atomically); its frame count.

    ``prime``: frames before the cut the backend sees first and whose output is dropped (segment_frames),
    so that a stabilising backend starts the segment in the state the unsplit run had there.
    """
    path = Path(path)
    tmp = temp_file_beside(path, suffix=f".partial{SEGMENT_SUFFIX}")
    try:
        with av.open(str(tmp), "w", format="mov") as output:
            encoder = FrameEncoder(output, frame_format(plan.info), encode)

            paint, complete = stylize_stages(backend)

            def write(item: VideoFrameItem) -> None:
                if item.index < 0:
                    return          # a priming frame: seen by the backend, not part of this segment
                for packet in encoder.encode(item.rgb_u8_hwc, item.pts, item.duration):
                    output.mux(packet)
                if progress is not None:
                    progress(1)

            def finish() -> None:
                for packet in encoder.flush():
                    output.mux(packet)

            run_pipeline(segment_frames(plan, index, prime), paint, write, complete=complete, finish=finish,
                         batch_size=batch_size)
        frames = count_video_packets(tmp)
        if frames != plan.segments[index].frames:
            raise CartoonizeError(f"segment {index}: wrote {frames} frames, expected {plan.segments[index].frames}")
        os.replace(tmp, path)
        return frames
    finally:
        tmp.unlink(missing_ok=True)


def count_video_packets(path: Path) -> int:
    """Video packets in a file: a cheap check (no decoding) that a segment or an output is complete."""
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if not (packet.size == 0 and packet.dts is None))


def segment_is_complete(plan: SegmentPlan, index: int, path: Path) -> bool:
    """True when ``path`` holds every frame of segment ``index`` (used to skip finished work on a rerun)."""
    try:
        return Path(path).is_file() and count_video_packets(path) == plan.segments[index].frames
    except (av.error.FFmpegError, OSError, IndexError):
        return False


def join_segments(plan: SegmentPlan, segment_paths: Sequence[Path], output_path: Path, *, overwrite: bool = False,
                  log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
                  warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> int:
    """Copy the segments' video packets, in order, into ``output_path`` with the source's other streams.

    Returns the number of video packets written. The output appears only when complete.
    """
    output_path = Path(output_path)
    check_output_path(plan.source, output_path, overwrite)
    if len(segment_paths) != len(plan.segments):
        raise CartoonizeError(f"{len(segment_paths)} segment files for {len(plan.segments)} segments")
    inputs: list = []
    tmp = temp_file_beside(output_path, suffix=f".partial{output_path.suffix}")
    written = 0
    try:
        for path in segment_paths:
            inputs.append(av.open(str(path)))
        first = inputs[0].streams.video[0]
        for k, segment_input in enumerate(inputs[1:], 1):
            other = segment_input.streams.video[0].codec_context
            if (other.name, other.width, other.height, bytes(other.extradata or b"")) != \
                    (first.codec_context.name, first.codec_context.width, first.codec_context.height,
                     bytes(first.codec_context.extradata or b"")):
                raise CartoonizeError(f"segment {k} was encoded with other stream headers than segment 0; "
                                      f"cannot join without re-encoding")
        with av.open(str(tmp), "w") as output:
            video = output.add_stream_from_template(first)
            video.time_base = first.time_base
            if plan.info.rotation:
                video.set_display_rotation(plan.info.rotation)
            others = _OtherStreams(plan.info, output, log, warn)
            last_dts = None
            try:
                for segment_input in inputs:
                    for packet in segment_input.demux(video=0):
                        if packet.size == 0 and packet.dts is None:
                            continue
                        if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                            # Each segment's encoder starts its decode clock a reorder delay early; where
                            # that overlaps the previous segment's end, step it forward (never past pts).
                            if packet.pts is None or last_dts + 1 > packet.pts:
                                raise CartoonizeError("segment timestamps overlap; cannot join without re-encoding")
                            packet.dts = last_dts + 1
                        last_dts = packet.dts if packet.dts is not None else last_dts
                        if packet.dts is not None:
                            others.mux_until(output, float(packet.dts * packet.time_base))
                        packet.stream = video
                        output.mux(packet)
                        written += 1
                others.mux_until(output, None)
            finally:
                others.close()
        if written != plan.frames:
            raise CartoonizeError(f"joined {written} frames, expected {plan.frames}")
        os.replace(tmp, output_path)
        return written
    finally:
        for segment_input in inputs:
            segment_input.close()
        tmp.unlink(missing_ok=True)
