"""``cartoonize-video IN OUT``: turn a video file into a cartoon, keeping audio and timing.

Usage: ``cartoonize-video holiday.mp4 holiday_cartoon.mp4 --style classic``
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from cartoonize.engines.backend import BACKEND_NAMES, BackendConfig, describe, for_video, load_backend, trained_side_of
from cartoonize.engines.resize import ResolutionConfig
from cartoonize.errors import BadInputError
from cartoonize.images import IMAGE_EXTENSIONS, is_image_path
from cartoonize.realtime.temporal import DEFAULT_STRENGTH, temporal_config, with_resolution_and_temporal
from cartoonize.realtime.transcode import open_video_job, run_video_job
from cartoonize.realtime.encoder import EncodeConfig, crf_defaults
from cartoonize.styles import BUNDLED_STYLES, DEFAULT_STYLE

from .common import DEVICE_HELP, reported_errors, resolution_options, temporal_options

EXAMPLES = """
\b
Examples:
  cartoonize-video in.mp4 out.mp4
  cartoonize-video in.mov out.mkv --style classic --crf 18 --preset slow
  cartoonize-video in.mp4 out.mp4 --weights my_style.safetensors --device cuda --fp16 --batch-size 8
  cartoonize-video in.mp4 out.webm --codec libvpx-vp9
  cartoonize-video in_4k.mp4 out.mp4 --weights my_style.safetensors --max-side 1280
  cartoonize-video in.mp4 out.mp4 --no-temporal
"""


# Files are stabilised unless --no-temporal: docs/QUALITY.md "Should it be on by default for video?".
STABILISED_BY_DEFAULT = True


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.argument("output_path", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--style", default=DEFAULT_STYLE, show_default=True,
              help=f"Bundled style: {', '.join(sorted(BUNDLED_STYLES))}.")
@click.option("--weights", type=click.Path(path_type=Path),
              help="Generator weights (.safetensors; or .onnx from cartoonize-export for onnxruntime/tensorrt) "
                   "instead of --style.")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True,
              help="Inference engine; auto says what it picked and why.")
@click.option("--device", help=DEVICE_HELP)
@click.option("--fp16", is_flag=True, help="Half precision (CUDA); an error where it cannot run.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Frames per inference call.")
@resolution_options
@temporal_options(DEFAULT_STRENGTH, "by blending the previous output along the optical flow where it is reliable "
                                    "- docs/QUALITY.md; it costs 2-11% of the fps on 2 CPU cores", default_on=STABILISED_BY_DEFAULT)
@click.option("--codec", default="libx264", show_default=True, help="Video encoder (FFmpeg name).")
@click.option("--crf", type=click.IntRange(0, 63),
              help=f"Constant quality (lower = better). Default: {crf_defaults()}.")
@click.option("--preset", help="Encoder speed preset (x264/x265: ultrafast..veryslow); default veryfast.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or notes; only warnings and errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(input_path: Path, output_path: Path, style: str, weights: Path | None, backend: str, device: str | None,
         fp16: bool, batch_size: int, scale: float | None, max_side: int | None, tile: int | None, temporal: bool,
         temporal_strength: float | None, codec: str,
         crf: int | None, preset: str | None, overwrite: bool, quiet: bool, debug: bool) -> None:
    """Cartoonize the video IN into OUT (the container follows OUT's extension).

    Every frame is stylized and re-encoded with its original timestamp; audio and subtitle
    streams are copied unchanged. OUT appears only when the whole video is done.
    """
    log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    warn = lambda m: click.echo(m, err=True)  # noqa: E731 - warnings about lost data show even with --quiet
    with reported_errors(debug):
        if is_image_path(input_path) or output_path.suffix.lower() in IMAGE_EXTENSIONS:
            # A picture through the video path ends as a one-frame video or a PyAV error: point to the right tool.
            picture = input_path if is_image_path(input_path) else output_path
            raise BadInputError(f"{picture}: is a picture, and cartoonize-video makes videos; use "
                                f"cartoonize-image IN -o OUT for photos")
        config = BackendConfig(backend=backend, style=style, weights=weights, device=device, fp16=fp16,
                               max_batch=batch_size)
        # Tiles overlap by a quarter of their side up to 32 px: enough context for the generators' receptive field.
        resolution = ResolutionConfig(scale=scale, max_side=max_side, tile=tile, overlap=min(32, (tile or 128) // 4))
        encode = EncodeConfig(codec=codec, crf=crf, preset=preset)
        stabilise = temporal_config(temporal, temporal_strength, default_on=STABILISED_BY_DEFAULT)
        config = for_video(config, stabilise is not None)   # steady norm statistics for the CartoonGAN generators
        job = open_video_job(input_path, output_path, encode, overwrite=overwrite, warn=warn)
        with load_backend(config, announce=log) as loaded:
            engine = with_resolution_and_temporal(loaded, resolution, trained_side_of(config), stabilise)
            log(f"{input_path} -> {output_path}: {describe(engine)}")
            bar = tqdm(total=job.source.info.frames or None, unit="frame", disable=quiet, file=sys.stderr,
                       dynamic_ncols=True, smoothing=0.1)
            try:
                result = run_video_job(job, engine, batch_size=batch_size, progress=bar.update, log=log, warn=warn)
            finally:
                bar.close()
        log(f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s "
            f"({result.fps:.1f} fps), {result.copied_packets} audio/subtitle packets copied")


if __name__ == "__main__":
    main()
