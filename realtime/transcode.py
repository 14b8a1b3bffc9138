"""Cartoonize a video file: validate paths, run decode -> infer -> complete -> encode threads, publish atomically.

Usage:
    with load_backend(BackendConfig(style="classic")) as backend:
        result = cartoonize_video(Path("in.mp4"), Path("out.mp4"), backend)

``open_video_job`` checks paths, input and encoder before anything heavy (loading a model) starts;
``run_video_job`` does the work.

Data safety: the input is never written; an existing output is kept unless ``overwrite``; frames
go to a temporary file beside the output, renamed over it only after the trailer is written. On
any failure or Ctrl-C the temporary file is deleted, so no partial output is ever left behind.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import av
import numpy as np

from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.files import temp_file_beside
from cartoonize.engines.backend import Backend, start_infer

from .pipeline import PipelineStats, run_pipeline
from .video_sink import EncodeConfig, VideoWriter, check_encoder
from .video_source import VideoFrameItem, VideoSource


@dataclass(frozen=True)
class TranscodeResult:
    output: Path
    frames: int
    copied_packets: int
    seconds: float
    stats: PipelineStats

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def check_output_path(input_path: Path, output_path: Path, overwrite: bool) -> None:
    """Refuse outputs that would touch the input or an existing file, and folders we cannot use."""
    if output_path.exists() or output_path.is_symlink():
        if output_path.is_dir():
            raise BadInputError(f"{output_path}: is a directory; give an output file name")
        if input_path.exists() and output_path.exists() and os.path.samefile(input_path, output_path):
            raise BadInputError(f"{output_path}: is the input file; choose another output path")
        if not overwrite:
            raise BadInputError(f"{output_path}: already exists (use --overwrite to replace it)")
    if output_path.resolve() == input_path.resolve():
        raise BadInputError(f"{output_path}: is the input file; choose another output path")
    parent = output_path.parent
    if not parent.exists():
        raise BadInputError(f"{parent}: output folder does not exist")
    if not parent.is_dir():
        raise BadInputError(f"{parent}: is not a folder")
    try:   # a real write test: permission bits, read-only mounts and /proc all show up here
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise BadInputError(f"{parent}: cannot write in the output folder ({e.strerror})") from None
    if not output_path.suffix:
        raise BadInputError(f"{output_path}: no file extension, so no container; use e.g. .mp4, .mkv, .mov or .webm")


def _temp_path_beside(output_path: Path) -> Path:
    """Create an empty temp file beside the output, keeping its extension (FFmpeg picks the container by it)."""
    try:
        return temp_file_beside(output_path, suffix=f".partial{output_path.suffix}")
    except OSError as e:
        raise BadInputError(f"{output_path.parent}: cannot write in the output folder ({e.strerror})") from None


def output_write_error(output_path: Path, exc: OSError) -> CartoonizeError:
    """One line for a failed write of ``output_path`` (disk full, file size limit, I/O error)."""
    reason = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = ("; free some space or write to another folder"
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "")
    return CartoonizeError(f"{output_path}: writing failed ({reason}), nothing was written{hint}")


def check_container_extension(output_path: Path) -> None:
    """BadInputError unless FFmpeg has a muxer for the output's extension (tried in a scratch folder)."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            av.open(str(Path(scratch) / f"probe{output_path.suffix}"), "w").close()
        except ValueError:
            raise BadInputError(f"{output_path}: no container format for extension {output_path.suffix!r}; "
                                f"use e.g. .mp4, .mkv, .mov or .webm") from None


@dataclass(frozen=True)
class VideoJob:
    """A validated request: readable input, usable output path, available encoder."""

    source: VideoSource
    output_path: Path
    encode: EncodeConfig


def open_video_job(input_path: Path, output_path: Path, encode: EncodeConfig = EncodeConfig(), *,
                   overwrite: bool = False,
                   warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> VideoJob:
    """Check everything that can be checked before any work starts; BadInputError on the first problem."""
    input_path, output_path = Path(input_path), Path(output_path)
    check_output_path(input_path, output_path, overwrite)
    source = VideoSource.open(input_path, warn=warn)
    check_encoder(encode)
    check_container_extension(output_path)
    return VideoJob(source, output_path, encode)


def stylize_stages(backend: Backend) -> tuple[Callable[[Sequence[VideoFrameItem]], list],
                                              Callable[[Sequence], list[VideoFrameItem]]]:
    """run_pipeline's ``process`` and ``complete`` steps for ``backend``: the network paints a batch on the
    process thread; what the engine's wrappers do after it (stabilising, guided upsampling) runs on the
    completing thread, in frame order, while the network paints the next batch (engines/backend.start_infer)."""
    def paint(batch: Sequence[VideoFrameItem]) -> list:
        frames_later = start_infer(backend, np.stack([item.rgb_u8_hwc for item in batch]))
        return [(item, frames_later) for item in batch]

    def complete(painted: Sequence) -> list[VideoFrameItem]:
        items = [item for item, _ in painted]
        for item, rgb in zip(items, painted[0][1]()):
            item.rgb_u8_hwc = rgb
        return items
    return paint, complete


def run_video_job(job: VideoJob, backend: Backend, *, batch_size: int = 1, queue_size: int = 8,
                  progress: Callable[[int], None] | None = None,
                  log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
                  warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> TranscodeResult:
    """Stylize every frame of the job's input with ``backend`` into its output path.

    ``log`` receives notes (what was done to streams), ``warn`` warnings about lost data (always
    worth showing). ``progress(n)`` is called from the writer thread after each written frame.
    """
    tmp = _temp_path_beside(job.output_path)
    writer: VideoWriter | None = None
    started = time.perf_counter()
    try:
        writer = VideoWriter(tmp, job.source.info, job.encode, log=log, warn=warn)

        paint, complete = stylize_stages(backend)

        def write(item: VideoFrameItem) -> None:
            try:
                writer.write(item)
            except OSError as e:   # the output's disk is full, a size limit, an I/O error
                raise output_write_error(job.output_path, e) from None
            if progress is not None:
                progress(1)

        def finish() -> None:
            try:
                writer.close()
            except OSError as e:
                raise output_write_error(job.output_path, e) from None

        stats = run_pipeline(job.source.frames(), paint, write, complete=complete, finish=finish,
                             batch_size=batch_size, queue_size=queue_size)
        seconds = time.perf_counter() - started
        os.replace(tmp, job.output_path)
        return TranscodeResult(job.output_path, writer.frames_written, writer.copied_packets, seconds, stats)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def cartoonize_video(input_path: Path, output_path: Path, backend: Backend, encode: EncodeConfig = EncodeConfig(),
                     *, overwrite: bool = False, batch_size: int = 1, queue_size: int = 8,
                     progress: Callable[[int], None] | None = None,
                     log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
                     warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> TranscodeResult:
    """open_video_job + run_video_job in one call."""
    job = open_video_job(input_path, output_path, encode, overwrite=overwrite, warn=warn)
    return run_video_job(job, backend, batch_size=batch_size, queue_size=queue_size, progress=progress,
                         log=log, warn=warn)
