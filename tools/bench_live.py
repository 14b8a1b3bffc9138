"""``cartoonize-bench-live``: latency and frame rate of the live pipeline on a paced source.

Usage: ``cartoonize-bench-live --seconds 20 --json`` (640x480 @ 30 fps test pattern, fast style if bundled)

The source delivers frames in real time like a camera (test pattern, or --input clip looped at its
own rate), the live pipeline cartoonizes the newest frame, and a sink takes it: nothing (measures
the pipeline), or the browser preview's JPEG encoding (--preview). Reported: input and output fps,
frames dropped as stale, latency (capture -> sink done) p50/p95 over the whole run, inference
time p50. The first second is a warm-up and not counted.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from cartoonize.engines.backend import BACKEND_NAMES, BackendConfig, load_backend, trained_side_of
from cartoonize.realtime.live import LiveConfig, LivePipeline, NullSink
from cartoonize.realtime.live_source import LiveSourceConfig, open_live_source
from cartoonize.realtime.live_stats import LiveStats
from cartoonize.styles import LIVE_STYLE

from .common import DEVICE_HELP, reported_errors, untrained_weights

_WARMUP_S = 1.0


def measure_live(source_config: LiveSourceConfig, backend_config: BackendConfig, seconds: float,
                 live: LiveConfig = LiveConfig(), preview: bool = False) -> dict:
    """Run the live pipeline for a warm-up, then ``seconds`` more; the second run's stats."""
    load = lambda name: load_backend(backend_config, announce=lambda m: None)  # noqa: E731
    side = lambda name: trained_side_of(backend_config)  # noqa: E731 - the style's trained size, as cartoonize-live
    # Warm-up run: first-call costs (allocations, thread pools, JIT) stay out of the numbers.
    style = backend_config.weights.stem if backend_config.weights is not None else backend_config.style
    LivePipeline(open_live_source(source_config), [NullSink()], load, [style],
                 LiveConfig(duration_s=_WARMUP_S, scale=live.scale), trained_side=side).run()
    stats = LiveStats()
    sinks = [NullSink()]
    if preview:
        from cartoonize.realtime.preview_server import PreviewSink
        sinks = [PreviewSink("127.0.0.1", 0, stats.snapshot)]
    source = open_live_source(source_config)
    run = LiveConfig(mirror=live.mirror, max_fps=live.max_fps, scale=live.scale, duration_s=seconds)
    LivePipeline(source, sinks, load, [style], run, stats=stats, trained_side=side).run()
    p50, p95 = stats.run_latency_ms()
    elapsed = max(1e-9, stats.clock() - stats.started)
    snapshot = stats.snapshot()
    return {
        "source": source.info.description, "backend": stats.backend, "style": stats.style,
        "seconds": round(elapsed, 2), "scale": live.scale, "sink": "preview (JPEG)" if preview else "none",
        "input_fps": round(stats.frames_captured / elapsed, 2), "output_fps": round(stats.frames_processed / elapsed, 2),
        "frames_captured": stats.frames_captured, "frames_processed": stats.frames_processed,
        "frames_dropped": stats.frames_dropped, "latency_ms_p50": p50, "latency_ms_p95": p95,
        "infer_ms_p50": snapshot["infer_ms_p50"],
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--input", "input_target", metavar="FILE", help="Loop this clip at its own rate instead of the pattern.")
@click.option("--width", type=click.IntRange(16, 8192), default=640, show_default=True, help="Pattern width.")
@click.option("--height", type=click.IntRange(16, 8192), default=480, show_default=True, help="Pattern height.")
@click.option("--fps", type=click.FloatRange(1, 240), default=30.0, show_default=True, help="Pattern rate.")
@click.option("--style", default=LIVE_STYLE, show_default=True, help="Style to run (default: cartoonize-live's).")
@click.option("--weights", type=click.Path(path_type=Path), help="Generator weights instead of --style.")
@click.option("--untrained", type=click.Choice(["fast", "cartoongan"]),
              help="Time a randomly initialised generator of this architecture (speed only, no real style).")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True)
@click.option("--device", help=DEVICE_HELP)
@click.option("--fp16", is_flag=True)
@click.option("--scale", type=float, help="As cartoonize-live --scale (default: the style's trained size on a CPU).")
@click.option("--preview", is_flag=True, help="Include the browser preview's JPEG encoding as the sink.")
@click.option("--seconds", type=click.FloatRange(1, 3600), default=20.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(input_target, width, height, fps, style, weights, untrained, backend, device, fp16, scale, preview, seconds,
         as_json, debug) -> None:
    """Measure live latency (p50/p95) and output fps on a real-time 640x480 @ 30 fps source."""
    with reported_errors(debug), tempfile.TemporaryDirectory() as scratch:
        if untrained is not None:
            weights = untrained_weights(untrained, Path(scratch))
            click.echo(f"note: timing an untrained {untrained} generator (random weights): speed only", err=True)
        source = (LiveSourceConfig(kind="file", target=input_target, loop=True) if input_target else
                  LiveSourceConfig(kind="pattern", width=width, height=height, fps=fps))
        config = BackendConfig(backend=backend, style=style, weights=weights, device=device, fp16=fp16)
        result = measure_live(source, config,
                              seconds, LiveConfig(scale=scale), preview=preview)
        if as_json:
            click.echo(json.dumps(result, indent=2))
            return
        click.echo(f"{result['source']}; {result['backend']}, style {result['style']}"
                   f"{'' if scale is None else f', scale {scale:g}'}, "
                   f"sink {result['sink']}, {result['seconds']:.1f} s")
        rows = [("input fps", result["input_fps"]), ("output fps", result["output_fps"]),
                ("dropped as stale", result["frames_dropped"]), ("latency p50 ms", result["latency_ms_p50"]),
                ("latency p95 ms", result["latency_ms_p95"]), ("inference p50 ms", result["infer_ms_p50"])]
        click.echo("\n".join(["| measure | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in rows]))


if __name__ == "__main__":
    main()
