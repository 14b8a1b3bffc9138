"""``cartoonize-live``: cartoonize a camera (or a file, stream or test pattern) live, into any mix of outputs.

Usage: ``cartoonize-live --camera 0 --preview`` then open http://127.0.0.1:8080/
"""

from __future__ import annotations

import platform
from dataclasses import replace
from pathlib import Path

import click

from cartoonize.engines.backend import (BACKEND_NAMES, BackendConfig, check_request, for_video, load_backend,
                                        trained_side_of)
from cartoonize.errors import BadInputError
from cartoonize.realtime.live import LiveConfig, LivePipeline
from cartoonize.realtime.live_source import LiveSourceConfig, open_live_source
from cartoonize.realtime.live_stats import LiveStats
from cartoonize.realtime.temporal import DEFAULT_STRENGTH, temporal_config
from cartoonize.engines.resize import ResolutionConfig
from cartoonize.styles import BUNDLED_STYLES, LIVE_STYLE, resolve_style

from .common import DEVICE_HELP, reported_errors, temporal_options

EXAMPLES = """
\b
Examples:
  cartoonize-live --camera 0 --window                      webcam to a window (needs a display)
  cartoonize-live --camera 0 --vcam --mirror               webcam to a virtual camera for video calls
  cartoonize-live --camera /dev/video2 --width 1280 --height 720 --fps 30 --preview --hud
  cartoonize-live --input clip.mp4 --loop --preview --port 8080   then open http://127.0.0.1:8080/
  cartoonize-live --pattern --y4m | ffplay -
  cartoonize-live --camera 0 --record session.mp4 --duration 60

\b
Ctrl-C (or SIGTERM) ends a session normally: outputs are closed, the recording is finished,
a summary is printed, exit code 0.
"""


def _styles_to_cycle(first: str, backend: str) -> list[str]:
    """The first style, then the other bundled styles this backend can run (the 's' hotkey)."""
    # auto picks an engine per style; an explicit engine runs filters (opencv) or networks (the others).
    kinds = {"filter", "generator"} if backend == "auto" else {"filter"} if backend == "opencv" else {"generator"}
    others = [name for name in sorted(BUNDLED_STYLES) if name != first and BUNDLED_STYLES[name].kind in kinds]
    return [first] + others


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--camera", metavar="INDEX|PATH", help="Camera index (0, 1, ...) or device path (/dev/video0).")
@click.option("--input", "input_target", metavar="FILE|URL", help="A video file or stream URL as the source.")
@click.option("--pattern", is_flag=True, help="The built-in moving test pattern as the source.")
@click.option("--loop", is_flag=True, help="--input file: start again at the end.")
@click.option("--width", type=click.IntRange(16, 8192), help="Camera: width to request. Pattern: width (640).")
@click.option("--height", type=click.IntRange(16, 8192), help="Camera: height to request. Pattern: height (480).")
@click.option("--fps", type=click.FloatRange(1, 240), help="Camera: rate to request. Pattern: rate (30).")
@click.option("--reconnect-s", type=click.FloatRange(0, 3600), default=10.0, show_default=True,
              help="How long to keep reopening a camera that stopped delivering.")
@click.option("--style", default=LIVE_STYLE, show_default=True,
              help=f"Bundled style to start with: {', '.join(sorted(BUNDLED_STYLES))} (the default keeps up with "
                   f"a camera on a CPU).")
@click.option("--weights", type=click.Path(path_type=Path), help="Generator weights (.safetensors) instead of --style.")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True,
              help="Inference engine; auto says what it picked and why.")
@click.option("--device", help=DEVICE_HELP)
@click.option("--fp16", is_flag=True, help="Half precision (CUDA); an error where it cannot run.")
@click.option("--mirror", is_flag=True, help="Flip left-right, like a mirror (self view).")
@click.option("--max-fps", type=click.FloatRange(0.5, 240), help="Cartoonize at most this many frames per second.")
@click.option("--scale", type=float,
              help="Run the style at this fraction of the size, 0 < F <= 1 (faster; guided upsampling back, "
                   "as cartoonize-video); outputs keep the source size. Default: a neural style runs at the size it "
                   "was trained at on a CPU (said in its line), full size on a GPU; 1 = full size.")
@temporal_options(DEFAULT_STRENGTH, "along the optical flow; window hotkey t",
                  "0 starts it off, the hotkey t still turns it on")
@click.option("--window", is_flag=True,
              help="Show a window (hotkeys: o original/cartoon, s next style, t stabilisation, q quit).")
@click.option("--vcam", is_flag=True, help="Send to a virtual camera (pip install 'cartoonize[vcam]').")
@click.option("--vcam-device", help="Virtual camera device, e.g. /dev/video10; default: the first one found.")
@click.option("--vcam-backend", help="pyvirtualcam backend: v4l2loopback, obs, unitycapture; default: any.")
@click.option("--preview", is_flag=True, help="Serve a browser preview: page, MJPEG stream, JSON stats.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Preview address; 0.0.0.0 exposes it.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Preview port; 0 picks a free one.")
@click.option("--y4m", is_flag=True, help="Write raw y4m video to stdout (pipe into ffmpeg/ffplay).")
@click.option("--record", type=click.Path(path_type=Path), help="Also record the output to this video file.")
@click.option("--overwrite", is_flag=True, help="Replace the --record file if it exists.")
@click.option("--hud", is_flag=True, help="Draw live stats on the window and preview.")
@click.option("--duration", type=click.FloatRange(0.1, None), help="Stop after this many seconds.")
@click.option("--frames", "max_frames", type=click.IntRange(1, None), help="Stop after this many output frames.")
@click.option("--quiet", "-q", is_flag=True, help="Errors only (no startup lines or summary).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(camera, input_target, pattern, loop, width, height, fps, reconnect_s, style, weights, backend, device,
         fp16, mirror, max_fps, scale, temporal, temporal_strength, window, vcam, vcam_device, vcam_backend, preview,
         host, port, y4m, record,
         overwrite, hud, duration, max_frames, quiet, debug) -> None:
    """Cartoonize a live source into a window, a virtual camera, a browser preview, y4m or a file.

    Exactly one source: --camera, --input or --pattern. At least one output: --window, --vcam,
    --preview, --y4m or --record. Each stage works on the newest frame: when the style is
    slower than the source, stale frames are dropped (and counted) instead of piling up, so the
    delay stays short.
    """
    log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    with reported_errors(debug):
        sources = [name for name, given in (("--camera", camera is not None), ("--input", input_target is not None),
                                            ("--pattern", pattern)) if given]
        if len(sources) != 1:
            raise BadInputError("choose exactly one source: --camera INDEX|PATH, --input FILE|URL or --pattern"
                                + (f" (got {' and '.join(sources)})" if sources else ""))
        if not (window or vcam or preview or y4m or record):
            raise BadInputError("choose at least one output: --window, --vcam, --preview, --y4m or --record PATH")
        if loop and input_target is None:
            raise BadInputError("--loop applies to --input files only")
        ResolutionConfig(scale=scale)   # the one validation of --scale (engines/resize.py), before a camera opens
        if weights is not None:
            first_style = None
        else:
            first_style = resolve_style(style).name

        # Everything that can be refused is checked before a camera or device is opened.
        config = BackendConfig(backend=backend, style=first_style or LIVE_STYLE, weights=weights,
                               device=device, fp16=fp16)
        check_request(config)
        sinks = []
        stats = LiveStats()
        window_sink = None
        if window:
            from cartoonize.realtime.window import WindowSink, check_display
            check_display()
            window_sink = WindowSink()
        if y4m:
            from cartoonize.realtime.y4m import Y4MSink, check_pipe
            check_pipe()
            sinks.append(Y4MSink())
        if record is not None:
            from cartoonize.realtime.live_record import RecordSink
            sinks.append(RecordSink(record, overwrite=overwrite, log=log))
        if vcam:
            from cartoonize.realtime.vcam import VirtualCameraSink
            sinks.append(VirtualCameraSink(device=vcam_device, backend=vcam_backend, log=log))
        preview_sink = None
        if preview:
            from cartoonize.realtime.preview_server import PreviewSink
            preview_sink = PreviewSink(host=host, port=port, stats=stats.snapshot)
            sinks.append(preview_sink)

        styles = [weights.stem] if weights is not None else _styles_to_cycle(first_style, backend)

        def wanted(name: str) -> BackendConfig:
            # Live output is video: a style with steady norm statistics always uses them (engines/backend.for_video),
            # whatever the stabiliser's state, which the hotkey toggles at run time (the network is loaded once).
            chosen = config if weights is not None or name == first_style else replace(config, style=name)
            return for_video(chosen, stabilised=True)

        def load_style(name: str):
            return load_backend(wanted(name), announce=log)

        kind = "camera" if camera is not None else "file" if input_target is not None else "pattern"
        source_config = LiveSourceConfig(kind=kind, target=camera or input_target or "", width=width, height=height,
                                         fps=fps, loop=loop, reconnect_s=reconnect_s)
        try:
            source = open_live_source(source_config, log=log)
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
        log(source.info.description)
        if preview_sink is not None:
            shown = preview_sink.url if host not in ("0.0.0.0", "::") else \
                f"{preview_sink.url} (all interfaces; this machine: http://{platform.node()}:{preview_sink.port}/)"
            log(f"preview: {shown}  (stream {preview_sink.url}stream.mjpg, stats {preview_sink.url}stats.json)")
        live = LiveConfig(mirror=mirror, max_fps=max_fps, scale=scale, hud=hud, max_frames=max_frames,
                          duration_s=duration, temporal=temporal_config(temporal, temporal_strength))
        pipeline = LivePipeline(source, sinks, load_style, styles, live, window=window_sink, stats=stats, log=log,
                                trained_side=lambda name: trained_side_of(wanted(name)))
        try:
            pipeline.run()
        finally:
            # Also after a failure (camera lost): what ran until then is worth knowing.
            if pipeline.interrupted:
                log("stopped by Ctrl-C / SIGTERM")
            if stats.frames_captured:
                log(stats.summary())


if __name__ == "__main__":
    main()
