"""``cartoonize-bench``: where the time goes when cartoonizing a clip, measured in one run.

Usage: ``cartoonize-bench clip.mp4 --style classic --json``

Five measurements on the same clip, back to back in one process so they share the machine's
state: decode only (demux + decode + YUV->RGB), inference only (the backend on frames already in
memory), encode only (RGB->YUV + encode + mux, with the audio copy), a naive sequential loop
(decode -> infer -> encode in one thread) and the threaded pipeline that ``cartoonize-video``
runs. The pipeline should approach the slowest stage and beat the sequential loop. Every stage uses
the bare engine at the clip's full size: this measures the pipeline's structure, not
``cartoonize-video``'s defaults (a network at its trained scale on a CPU, the stabiliser), whose
end-to-end cost docs/BENCHMARKS.md measures with the real command.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from cartoonize.engines.backend import BACKEND_NAMES, BackendConfig, describe, load_backend
from cartoonize.realtime.transcode import open_video_job, run_video_job
from cartoonize.realtime.video_sink import EncodeConfig, VideoWriter
from cartoonize.realtime.video_source import VideoFrameItem, VideoSource
from cartoonize.styles import DEFAULT_STYLE

from .common import DEVICE_HELP, reported_errors


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_stages(clip: Path, backend, encode: EncodeConfig, batch_size: int, scratch: Path) -> dict[str, float]:
    """fps of each stage alone, of a sequential loop and of the threaded pipeline, on ``clip``."""
    quiet = lambda m: None  # noqa: E731
    source = VideoSource.open(clip, warn=quiet)
    frames: list[VideoFrameItem] = []
    t_decode = _timed(lambda: frames.extend(source.frames()))
    n = len(frames)

    backend.infer(np.stack([frames[0].rgb_u8_hwc] * batch_size))   # warm-up: first-call allocations
    cartoons: list[np.ndarray] = []

    def infer_all() -> None:
        for i in range(0, n, batch_size):
            cartoons.extend(backend.infer(np.stack([f.rgb_u8_hwc for f in frames[i:i + batch_size]])))
    t_infer = _timed(infer_all)

    def encode_all() -> None:
        writer = VideoWriter(scratch / "encode_only.mp4", source.info, encode, log=quiet, warn=quiet)
        for item, rgb in zip(frames, cartoons):
            writer.write(VideoFrameItem(item.index, rgb, item.pts, item.time_base, item.duration))
        writer.close()
    t_encode = _timed(encode_all)
    frames.clear()      # free the decoded clip before the next measurements
    cartoons.clear()

    def sequential() -> None:
        writer = VideoWriter(scratch / "sequential.mp4", source.info, encode, log=quiet, warn=quiet)
        batch: list[VideoFrameItem] = []

        def infer_and_write() -> None:
            for it, rgb in zip(batch, backend.infer(np.stack([b.rgb_u8_hwc for b in batch]))):
                writer.write(VideoFrameItem(it.index, rgb, it.pts, it.time_base, it.duration))
            batch.clear()

        for item in source.frames():
            batch.append(item)
            if len(batch) == batch_size:
                infer_and_write()
        if batch:
            infer_and_write()
        writer.close()
    t_sequential = _timed(sequential)

    job = open_video_job(clip, scratch / "pipeline.mp4", encode, overwrite=True, warn=quiet)
    t_pipeline = _timed(lambda: run_video_job(job, backend, batch_size=batch_size, log=quiet, warn=quiet))
    return {"frames": n, "decode_fps": n / t_decode, "infer_fps": n / t_infer, "encode_fps": n / t_encode,
            "sequential_fps": n / t_sequential, "pipeline_fps": n / t_pipeline}


def stage_table(r: dict[str, float]) -> str:
    slowest = min(r["decode_fps"], r["infer_fps"], r["encode_fps"])
    rows = [("decode only", r["decode_fps"]), ("inference only", r["infer_fps"]), ("encode only", r["encode_fps"]),
            ("sequential loop", r["sequential_fps"]), ("threaded pipeline", r["pipeline_fps"])]
    lines = ["| stage | fps |", "|---|---:|"] + [f"| {name} | {fps:.1f} |" for name, fps in rows]
    lines.append(f"\npipeline / slowest stage = {r['pipeline_fps'] / slowest:.2f}   "
                 f"pipeline / sequential = {r['pipeline_fps'] / r['sequential_fps']:.2f}")
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("--style", help=f"Bundled style to run (default {DEFAULT_STYLE}; with --backends: the default style "
                                "if it is neural, else a bundled neural style).")
@click.option("--weights", type=click.Path(path_type=Path), help="Generator weights instead of --style.")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True)
@click.option("--device", help=DEVICE_HELP)
@click.option("--fp16", is_flag=True)
@click.option("--batch-size", type=click.IntRange(1, 256), default=1, show_default=True)
@click.option("--codec", default="libx264", show_default=True)
@click.option("--preset", default=None, help="Encoder preset (default: cartoonize-video's default).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--backends", "per_backend", is_flag=True,
              help="Instead: inference fps of every CPU backend at 360p/720p/1080p on a frame of CLIP "
                   "(tools/bench_backends.py).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(clip: Path, style: str | None, weights: Path | None, backend: str, device: str | None, fp16: bool, batch_size: int,
         codec: str, preset: str | None, as_json: bool, per_backend: bool, debug: bool) -> None:
    """Measure decode, inference, encode, a sequential loop and the threaded pipeline on CLIP."""
    with reported_errors(debug):
        # The clip is checked before any engine loads: a bad path is a one-line error at once.
        VideoSource.open(clip, warn=lambda m: None)
        if per_backend:
            from .bench_backends import backend_table, clip_frame, measure_backends, neural_style

            base = BackendConfig(style=neural_style(style, weights), weights=weights)
            rows = measure_backends(base, clip_frame(clip))
            click.echo(json.dumps(rows, indent=2) if as_json else backend_table(rows))
            return
        config = BackendConfig(backend=backend, style=style or DEFAULT_STYLE, weights=weights, device=device, fp16=fp16)
        with load_backend(config, announce=lambda m: click.echo(m, err=True)) as engine, \
                tempfile.TemporaryDirectory() as scratch:
            result = measure_stages(clip, engine, EncodeConfig(codec=codec, preset=preset), batch_size, Path(scratch))
            result.update({"clip": str(clip), "backend": describe(engine), "batch_size": batch_size,
                           "codec": codec})
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            click.echo(f"{clip} ({result['frames']} frames), {result['backend']}, batch {batch_size}, {codec}")
            click.echo(stage_table(result))


if __name__ == "__main__":
    main()
