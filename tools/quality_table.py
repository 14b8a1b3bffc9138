"""Regenerate the tables of docs/QUALITY.md: warping-error ratio of every bundled style, without and with
run-time stabilisation, on the sample clips; optionally the end-to-end fps cost and a ghosting crop.

Usage: ``python -m cartoonize.tools.quality_table [--frames 60] [--fps] [--crop docs/images/temporal_bikes.jpg]
[--cache runs/stylised]``

Style-agnostic: it measures whatever ``cartoonize.styles.BUNDLED_STYLES`` holds when it runs (rerun it
when the bundled styles change). Each clip is decoded once; every style's raw and stabilised output
is measured against flow computed once from the source (cartoonize.quality.WarpingErrorMeter).
The fps rows run the real ``cartoonize-video`` pipeline (decode, stylise, complete, encode threads) on each
clip with and without ``--temporal``, alternating the two so background load hits both alike.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import click
import numpy as np

from .common import reported_errors

CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def load_frames(path: Path, limit: int | None) -> list[np.ndarray]:
    from cartoonize.realtime.video_source import VideoSource
    source = VideoSource.open(path, warn=lambda m: None)
    return [item.rgb_u8_hwc for index, item in zip(range(limit or 10 ** 9), source.frames())]


@contextlib.contextmanager
def style_engine(style: str, temporal=None, painted_only: bool = False) -> Iterator:
    """The style as cartoonize-video runs it by default: at its trained scale on a CPU, guided upsampling back,
    stabilised (inside, at the painted size) with the TemporalConfig ``temporal``, and then with steady norm
    statistics where the style has them (engines/backend.for_video). ``painted_only``: the bare network, to be
    fed frames already at ``cpu_resolution``'s size (steady statistics too when ``temporal`` is given)."""
    from cartoonize.engines.backend import BackendConfig, for_video, load_backend, trained_side_of
    from cartoonize.engines.resize import ResolutionConfig
    from cartoonize.realtime.temporal import with_resolution_and_temporal
    config = for_video(BackendConfig(style=style), stabilised=temporal is not None)
    with load_backend(config, announce=lambda m: None) as loaded:
        yield loaded if painted_only else with_resolution_and_temporal(loaded, ResolutionConfig(),
                                                                       trained_side_of(config), temporal)


def cpu_resolution(style: str):
    """The ResolutionConfig cartoonize-video uses for ``style`` on a CPU (the trained scale of a network)."""
    from cartoonize.engines.backend import BackendConfig, trained_side_of
    from cartoonize.engines.resize import ResolutionConfig, at_trained_scale
    return at_trained_scale(ResolutionConfig(), trained_side_of(BackendConfig(style=style)), "cpu")


def style_fingerprint(style: str, steady: bool = False) -> str:
    """Name + the first bytes of the weights' SHA-256 (classic: its name), + "-steady" for steady statistics:
    a cache key that changes with the style."""
    import hashlib

    from cartoonize.styles import resolve_style
    weights = resolve_style(style).weights
    key = style if weights is None else f"{style}-{hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}"
    return f"{key}-steady" if steady else key


def stylised_frames(engine_style: str, clip: str, source: list[np.ndarray], cache: Path | None,
                    steady: bool = False) -> list[np.ndarray]:
    """The network's raw output for each (painted-size) source frame (``steady``: with steady norm statistics).
    With ``cache`` (a folder) the frames are kept there as one .npy per clip and style (the first N frames), so
    that reruns (a new stabiliser setting, another strength) skip the network: the CartoonGAN generators take
    seconds a frame on a CPU."""
    from cartoonize.files import write_atomic
    from cartoonize.realtime.temporal import TemporalConfig
    path = None
    if cache is not None:
        path = Path(cache) / f"{Path(clip).stem}-{style_fingerprint(engine_style, steady)}.npy"
        if path.is_file():
            stored = np.load(path, mmap_mode="r", allow_pickle=False)   # the first N frames of the clip
            if len(stored) >= len(source) and stored.shape[1:] == source[0].shape:
                return [np.array(frame) for frame in stored[:len(source)]]
    with style_engine(engine_style, temporal=TemporalConfig() if steady else None, painted_only=True) as engine:
        out = [engine.infer(src[None])[0] for src in source]
    if path is not None:
        import io
        buffer = io.BytesIO()
        np.save(buffer, np.stack(out), allow_pickle=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(buffer.getvalue(), path)
    return out


def ratio_rows(clips: list[str], styles: list[str], frames: int | None, config, log=lambda m: None,
               cache: Path | None = None) -> list[dict]:
    """Warping-error rows for every clip and style: raw output, and stabilised with the TemporalConfig ``config``."""
    from cartoonize.engines.backend import BackendConfig, for_video
    from cartoonize.engines.resize import back_to_full_size, painted_input
    from cartoonize.quality import WarpingErrorMeter
    from cartoonize.realtime.temporal import TemporalStabiliser
    from cartoonize.samples import sample_clip
    rows = []
    for clip in clips:
        source = load_frames(sample_clip(clip), frames)
        for style in styles:
            started = time.perf_counter()
            meters = [WarpingErrorMeter(1), WarpingErrorMeter(5)]
            # As cartoonize-video runs it: the network and the stabiliser at the painted size, then guided
            # upsampling back to the frame (engines/resize.py, realtime/temporal.with_resolution_and_temporal).
            # Stabilised, a style with steady norm statistics runs with them (engines/backend.for_video).
            video_config = for_video(BackendConfig(style=style), stabilised=True)
            with_steady = video_config.statistics == "steady"
            stabiliser = TemporalStabiliser(config)
            resolution = cpu_resolution(style)
            small = [painted_input(src, resolution) for src in source]
            raw = stylised_frames(style, clip, small, cache)
            steady = stylised_frames(style, clip, small, cache, steady=True) if with_steady else raw
            for src, low_src, out, out_steady in zip(source, small, raw, steady):
                videos = {"raw": back_to_full_size(low_src, out, src, resolution),
                          "steady": back_to_full_size(low_src, out_steady, src, resolution),
                          "temporal": back_to_full_size(low_src, stabiliser.step(low_src, out_steady), src, resolution)}
                for meter in meters:
                    meter.add(src, videos)
            short, long = (m.result() for m in meters)
            rows.append({"clip": clip, "style": style, "frames": len(source), "source_error": short.source,
                         "ratio_raw": short.ratio("raw"), "ratio_temporal": short.ratio("temporal"),
                         "ratio_steady": short.ratio("steady") if with_steady else None,
                         "ratio5_raw": long.ratio("raw"), "ratio5_temporal": long.ratio("temporal"),
                         "mask_fraction": short.mask_fraction})
            log(f"{clip} {style}: {rows[-1]['ratio_raw']:.3f} -> {rows[-1]['ratio_temporal']:.3f} "
                f"({time.perf_counter() - started:.0f} s)")
    return rows


def fps_rows(clips: list[str], styles: list[str], strength: float, rounds: int, log=lambda m: None) -> list[dict]:
    from cartoonize.realtime.temporal import TemporalConfig
    from cartoonize.realtime.transcode import open_video_job, run_video_job
    from cartoonize.samples import sample_clip
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for clip in clips:
            for style in styles:
                fps: dict[str, list[float]] = {"off": [], "on": []}
                cpu: dict[str, list[float]] = {"off": [], "on": []}
                size: dict[str, int] = {}
                for _ in range(rounds):
                    for mode in ("off", "on"):
                        out = Path(folder) / f"{mode}.mp4"
                        config = TemporalConfig(strength=strength) if mode == "on" else None
                        with style_engine(style, config) as engine:
                            job = open_video_job(sample_clip(clip), out, overwrite=True, warn=lambda m: None)
                            cpu_started = time.process_time()
                            result = run_video_job(job, engine, log=lambda m: None, warn=lambda m: None)
                            cpu[mode].append((time.process_time() - cpu_started) / result.frames * 1000)
                        fps[mode].append(result.fps)
                        size[mode] = os.path.getsize(out)
                off, on = float(np.median(fps["off"])), float(np.median(fps["on"]))
                # A round's two runs follow each other, the rounds lie minutes apart: on a shared VM the speed drifts
                # more between rounds than within one, so the cost is the median of each round's own ratio.
                costs = [1 - b / a for a, b in zip(fps["off"], fps["on"])]
                rows.append({"clip": clip, "style": style, "fps_off": off, "fps_on": on,
                             "cost": float(np.median(costs)), "cost_min": min(costs), "cost_max": max(costs),
                             "cpu_ms_off": float(np.median(cpu["off"])), "cpu_ms_on": float(np.median(cpu["on"])),
                             "bytes_off": size["off"], "bytes_on": size["on"]})
                log(f"{clip} {style}: {off:.2f} -> {on:.2f} fps")
    return rows


def ghosting_crop(out_path: Path, strength: float, frames_to_scan: int = 120) -> None:
    """bikes.mp4 at its fastest blended motion: source | stylised | stabilised | 4x their difference, cropped."""
    import cv2

    from cartoonize.files import write_atomic
    from cartoonize.realtime.temporal import TemporalConfig, TemporalStabiliser
    from cartoonize.samples import sample_clip
    from cartoonize.styles import DEFAULT_STYLE
    frames = load_frames(sample_clip("bikes.mp4"), frames_to_scan)
    stabiliser = TemporalStabiliser(TemporalConfig(strength=strength))
    best = None   # (change from the previous frame, index, raw, steady): a ghost would show where motion is largest
    with style_engine(DEFAULT_STYLE) as engine:
        for i, src in enumerate(frames):
            raw = engine.infer(src[None])[0]
            steady = stabiliser.step(src, raw)
            if i and stabiliser.last.blended:   # scene cuts are reset, not blended: nothing to see there
                change = float(np.abs(src.astype(np.int16) - frames[i - 1]).mean())
                if best is None or change > best[0]:
                    best = (change, i, raw, steady)
    if best is None:
        raise RuntimeError("no blended frame in the scanned part of bikes.mp4")
    _, target, raw, steady = best
    moving = np.abs(frames[target].astype(np.int16) - frames[target - 1]).mean(-1).astype(np.float32)
    y, x = np.unravel_index(np.argmax(cv2.blur(moving, (81, 81))), moving.shape)
    h, w = min(200, moving.shape[0]), 240
    y0, x0 = int(np.clip(y - h // 2, 0, moving.shape[0] - h)), int(np.clip(x - w // 2, 0, moving.shape[1] - w))
    difference = np.clip(np.abs(steady.astype(np.int16) - raw) * 4, 0, 255).astype(np.uint8)
    crops = [a[y0:y0 + h, x0:x0 + w] for a in (frames[target], raw, steady, difference)]
    gap = np.full((h, 6, 3), 255, np.uint8)
    panel = np.concatenate([c for crop in crops for c in (crop, gap)][:-1], axis=1)
    panel = cv2.resize(panel, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)   # pixels stay visible
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(panel, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    write_atomic(data.tobytes(), out_path)
    click.echo(f"wrote {out_path}: bikes.mp4 frame {target} (mean change {best[0]:.1f} levels from frame "
               f"{target - 1}), crop x {x0}..{x0 + w}, y {y0}..{y0 + h}: source | {DEFAULT_STYLE} | "
               f"{DEFAULT_STYLE} --temporal | 4x |difference|", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--frames", type=click.IntRange(6, None), help="Only the first N frames of each clip (default: all).")
@click.option("--styles", "styles_text", help="Comma-separated styles (default: every bundled style).")
@click.option("--clips", "clips_text", default=",".join(CLIPS), show_default=True)
@click.option("--strength", type=click.FloatRange(0, 1, max_open=True), help="Default: cartoonize-video's.")
@click.option("--fps", "with_fps", is_flag=True, help="Also time cartoonize-video end to end, off and on.")
@click.option("--fps-clips", default="bigbuckbunny.mp4", show_default=True)
@click.option("--rounds", type=click.IntRange(1, 9), default=1, show_default=True, help="fps runs per mode (median).")
@click.option("--crop", type=click.Path(path_type=Path), help="Write the ghosting crop image here.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              help="Keep each style's raw frames here (.npy) and reuse them on reruns (the -full styles are slow). "
                   "Keyed by the weights' SHA-256; the classic filter by name: empty the folder after changing it.")
@click.option("--debug", is_flag=True)
def main(frames, styles_text, clips_text, strength, with_fps, fps_clips, rounds, crop, cache, debug) -> None:
    """Print the QUALITY.md / BENCHMARKS.md tables as Markdown (progress on stderr)."""
    with reported_errors(debug):
        from cartoonize.realtime.temporal import DEFAULT_STRENGTH
        from cartoonize.styles import BUNDLED_STYLES
        strength = DEFAULT_STRENGTH if strength is None else strength
        styles = styles_text.split(",") if styles_text else sorted(BUNDLED_STYLES)
        log = lambda m: click.echo(m, err=True)  # noqa: E731
        load = os.getloadavg()[0]
        if crop is not None:
            ghosting_crop(crop, strength)
        click.echo(f"Warping-error ratio (stylised / source), strength {strength:g}, "
                   f"{'first ' + str(frames) + ' frames' if frames else 'whole clips'}; "
                   f"1-minute load average {load:.1f} at the start.\n")
        click.echo("| clip | style | frames | source error | ratio t-1 | steady statistics | **with --temporal** | "
                   "ratio t-5 | with --temporal (t-5) |")
        click.echo("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        from cartoonize.realtime.temporal import TemporalConfig
        for r in ratio_rows(clips_text.split(","), styles, frames, TemporalConfig(strength=strength), log, cache):
            click.echo(f"| {r['clip']} | {r['style']} | {r['frames']} | {r['source_error']:.2f} | "
                       f"{r['ratio_raw']:.2f} | "
                       f"{'-' if r['ratio_steady'] is None else format(r['ratio_steady'], '.2f')} | "
                       f"**{r['ratio_temporal']:.2f}** | {r['ratio5_raw']:.2f} | {r['ratio5_temporal']:.2f} |")
        sys.stdout.flush()
        if with_fps:
            click.echo(f"\nEnd-to-end cartoonize-video fps, without and with --temporal (strength {strength:g}), "
                       f"median of {rounds} alternating rounds (cost: the median of each round's own, and their "
                       f"range); 1-minute load average {os.getloadavg()[0]:.1f} at the start.\n")
            click.echo("| clip | style | fps | fps --temporal | cost | cost range | CPU ms/frame | "
                       "CPU ms/frame --temporal | output size change |")
            click.echo("|---|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in fps_rows(fps_clips.split(","), styles, strength, rounds, log):
                click.echo(f"| {r['clip']} | {r['style']} | {r['fps_off']:.2f} | {r['fps_on']:.2f} | "
                           f"{100 * r['cost']:.0f}% | {100 * r['cost_min']:.0f} to {100 * r['cost_max']:.0f}% | "
                           f"{r['cpu_ms_off']:.0f} | {r['cpu_ms_on']:.0f} | "
                           f"{100 * (r['bytes_on'] / r['bytes_off'] - 1):+.0f}% |")
            click.echo(f"\n(1-minute load average {os.getloadavg()[0]:.1f} at the end.)")


if __name__ == "__main__":
    main()
