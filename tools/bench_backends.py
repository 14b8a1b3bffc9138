"""Per-backend inference speed on the CPU at 360p, 720p and 1080p, all backends in one run.

Usage: ``cartoonize-bench clip.mp4 --weights fast.safetensors --backends`` or
``python -m cartoonize.tools.bench_backends clip.mp4 --untrained fast``

Each backend is loaded once; frames are real frames of the clip resized to each size. Timing
rounds are interleaved (one call of every backend per round) so that a background load on a
shared machine hits all backends alike; the table reports the median per call and the ratio to
PyTorch with channels_last, the baseline. Loading and warm-up calls are not timed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import click
import cv2
import numpy as np

from cartoonize.engines.backend import BackendConfig, load_backend
from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.styles import BUNDLED_STYLES, DEFAULT_STYLE, LIVE_STYLE, resolve_style

from .common import reported_errors, untrained_weights

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


@dataclass(frozen=True)
class Variant:
    label: str
    config: BackendConfig   # style/weights filled in by the caller


CPU_VARIANTS = (
    Variant("torch fp32 channels_last (baseline)", BackendConfig(backend="torch", device="cpu", channels_last=True)),
    Variant("torch fp32 NCHW", BackendConfig(backend="torch", device="cpu", channels_last=False)),
    Variant("onnxruntime fp32", BackendConfig(backend="onnxruntime", device="cpu")),
    Variant("onnxruntime fp16", BackendConfig(backend="onnxruntime", device="cpu", fp16=True)),
)


def clip_frame(clip: Path) -> np.ndarray:
    """A frame from the middle of the first second of ``clip`` (or its last), uint8 (H, W, 3) RGB."""
    from cartoonize.realtime.video_source import grab_frame

    return grab_frame(clip, 12)[0]


def neural_style(style: str | None, weights: Path | None) -> str:
    """The style to time: the one asked for, which must be neural; else the default style when it is
    neural, else cartoonize-live's. A filter would make every row "unavailable"."""
    if weights is not None:
        return style or DEFAULT_STYLE    # not used: the weights file is timed
    if style is not None:
        if resolve_style(style).kind != "generator":
            raise BadInputError(f"style {style!r} is a filter, not a neural network: this table times neural "
                                f"engines; give a neural style, --weights or --untrained")
        return style
    for name in (DEFAULT_STYLE, LIVE_STYLE, *sorted(BUNDLED_STYLES)):
        if name in BUNDLED_STYLES and BUNDLED_STYLES[name].kind == "generator":
            return name
    raise BadInputError("this installation bundles no neural style: give --weights or --untrained")


def measure_backends(base: BackendConfig, frame: np.ndarray, sizes=("360p", "720p", "1080p"), rounds: int = 5,
                     warmup: int = 2, variants=CPU_VARIANTS, log=lambda line: None) -> list[dict]:
    """Median seconds per single-frame call of each variant at each size; one row per (size, variant)."""
    loaded = []
    for variant in variants:
        config = replace(variant.config, style=base.style, weights=base.weights, threads=base.threads)
        try:
            loaded.append((variant, load_backend(config)))
        except CartoonizeError as e:   # e.g. fp16 unsupported here: a row saying so, not a crash
            loaded.append((variant, str(e)))
    rows = []
    try:
        for size in sizes:
            width, height = SIZES[size]
            batch = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)[None]
            times: dict[str, list[float]] = {v.label: [] for v, b in loaded if not isinstance(b, str)}
            for _ in range(warmup):
                for variant, backend in loaded:
                    if not isinstance(backend, str):
                        backend.infer(batch)
            for r in range(rounds):
                for variant, backend in loaded:
                    if isinstance(backend, str):
                        continue
                    start = time.perf_counter()
                    backend.infer(batch)
                    times[variant.label].append(time.perf_counter() - start)
                log(f"{size}: round {r + 1}/{rounds}")
            baseline = statistics.median(times[variants[0].label]) if variants[0].label in times else None
            for variant, backend in loaded:
                if isinstance(backend, str):
                    rows.append({"size": size, "backend": variant.label, "error": backend})
                    continue
                median = statistics.median(times[variant.label])
                rows.append({"size": size, "backend": variant.label, "ms": median * 1000, "fps": 1 / median,
                             "vs_baseline": baseline / median if baseline else None})
    finally:
        for _, backend in loaded:
            if not isinstance(backend, str):
                backend.close()
    return rows


def backend_table(rows: list[dict]) -> str:
    lines = ["| size | backend | ms / frame | fps | speed vs baseline |", "|---|---|---:|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['size']} | {row['backend']} | - | - | unavailable: {row['error']} |")
        else:
            lines.append(f"| {row['size']} | {row['backend']} | {row['ms']:.1f} | {row['fps']:.2f} | "
                         f"{row['vs_baseline']:.2f}x |")
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("clip", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--style", help="Bundled neural style to time (default: the default style if neural, else "
                               "cartoonize-live's).")
@click.option("--weights", type=click.Path(path_type=Path), help="Generator weights instead of --style.")
@click.option("--untrained", type=click.Choice(["fast", "cartoongan"]),
              help="Time a randomly initialised generator of this architecture (default arguments).")
@click.option("--sizes", default="360p,720p,1080p", show_default=True, help="Comma-separated: 360p, 720p, 1080p.")
@click.option("--rounds", type=click.IntRange(1, 100), default=5, show_default=True, help="Timed calls per backend.")
@click.option("--threads", type=click.IntRange(1, 256), help="Intra-op threads for every backend (default: library's).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(clip: Path, style: str | None, weights: Path | None, untrained: str | None, sizes: str, rounds: int,
         threads: int | None, debug: bool) -> None:
    """Inference speed of each CPU backend at several sizes, on a real frame of CLIP."""
    with reported_errors(debug), tempfile.TemporaryDirectory() as scratch:
        chosen = [s.strip() for s in sizes.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in SIZES]
        if unknown:
            raise click.BadParameter(f"unknown size(s) {unknown}; use {', '.join(SIZES)}", param_hint="--sizes")
        if untrained:
            weights = untrained_weights(untrained, Path(scratch))
        style = neural_style(style, weights)
        rows = measure_backends(BackendConfig(style=style, weights=weights, threads=threads), clip_frame(clip),
                                tuple(chosen), rounds=rounds, log=lambda line: click.echo(line, err=True))
        name = f"untrained {untrained} generator (default args)" if untrained else (weights or style)
        click.echo(f"{name}, one frame per call, median of {rounds} interleaved rounds")
        click.echo(backend_table(rows))


if __name__ == "__main__":
    main()
