"""``cartoonize-image IN... (-o OUT | --out-dir DIR)``: cartoonize photos, keeping alpha, EXIF and colour profile.

Usage: ``cartoonize-image holiday/ --out-dir holiday_cartoon/ --style classic``

Inputs are files, folders (the images directly inside) and glob patterns. Each picture is read
upright (EXIF orientation applied), stylised on its RGB channels, and written in the format of the
output's extension, alpha and metadata kept where the format allows (cartoonize/images.py). The
video rules hold: the input is never written, an existing output needs --overwrite, outputs are
written atomically. In a batch a bad file is reported in one line and the others go on; the run
ends with a summary and exit code 1 or 2 if any failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.engines.backend import BACKEND_NAMES, BackendConfig, describe, load_backend, trained_side_of
from cartoonize.engines.resize import ResolutionConfig, with_resolution
from cartoonize.images import (IMAGE_EXTENSIONS, QUALITY_FORMATS, check_output_image, first_line, output_format,
                               read_image, write_image)
from cartoonize.styles import BUNDLED_STYLES, DEFAULT_STYLE

from .common import reported_errors, resolution_options
from .inputs import expand_inputs

EXAMPLES = """
\b
Examples:
  cartoonize-image photo.jpg -o photo_cartoon.jpg
  cartoonize-image logo.png -o logo_cartoon.webp --quality 95
  cartoonize-image holiday/ 'scans/*.tif' --out-dir cartoons/ --ext png
  cartoonize-image panorama.jpg -o pano_cartoon.jpg --max-side 2048 --tile 1024
"""


@dataclass(frozen=True)
class ImageTask:
    """One picture to make: where it comes from and where it goes."""

    input_path: Path
    output_path: Path


def plan_outputs(inputs: list[Path], output: Path | None, out_dir: Path | None,
                 ext: str | None) -> tuple[list[ImageTask], list[str]]:
    """Pair each input with its output path; two inputs that would write one file are an error for the second."""
    if output is not None:
        if not inputs:
            return [], []
        if len(inputs) != 1:
            raise BadInputError(f"-o names one output but {len(inputs)} images were given; use --out-dir DIR")
        return [ImageTask(inputs[0], output)], []
    tasks, errors, taken = [], [], {}
    suffix = None if ext is None else "." + ext.lower().lstrip(".")
    for path in inputs:
        target = out_dir / (path.stem + (suffix or path.suffix.lower()))
        if target in taken:
            errors.append(f"{path}: would write {target}, like {taken[target]}; rename one or use separate runs")
            continue
        taken[target] = path
        tasks.append(ImageTask(path, target))
    return tasks, errors


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", metavar="IN...", nargs=-1, required=True)
@click.option("-o", "--output", "output", type=click.Path(path_type=Path),
              help="Output file (one input); its extension picks the format.")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Output folder (created if missing): each IN is written there under its own name.")
@click.option("--ext", type=click.Choice(sorted({e.lstrip('.') for e in IMAGE_EXTENSIONS}), case_sensitive=False),
              help="With --out-dir: output format for every image (default: each input's own).")
@click.option("--quality", type=click.IntRange(1, 100), help="JPEG/WebP quality (default 92 JPEG, 90 WebP).")
@click.option("--style", default=DEFAULT_STYLE, show_default=True,
              help=f"Bundled style: {', '.join(sorted(BUNDLED_STYLES))}.")
@click.option("--weights", type=click.Path(path_type=Path), help="Generator weights (.safetensors or .onnx).")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True,
              help="Inference engine; auto says what it picked and why.")
@click.option("--device", help="cpu, cuda or cuda:N (neural styles); default: auto picks.")
@click.option("--fp16", is_flag=True, help="Half precision (CUDA); an error where it cannot run.")
@resolution_options
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist.")
@click.option("--quiet", "-q", is_flag=True, help="No per-image lines or notes; only warnings and errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(inputs: tuple[str, ...], output: Path | None, out_dir: Path | None, ext: str | None, quality: int | None,
         style: str, weights: Path | None, backend: str, device: str | None, fp16: bool, scale: float | None,
         max_side: int | None, tile: int | None, overwrite: bool, quiet: bool, debug: bool) -> None:
    """Cartoonize the pictures IN... into OUT or into DIR (JPEG, PNG, WebP, BMP, TIFF).

    Orientation from EXIF is applied, an alpha channel is kept (the style changes RGB only), EXIF
    and the colour profile are carried over where the output format holds them.
    """
    log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    warn = lambda m: click.echo(m, err=True)  # noqa: E731 - lost data is worth a line even with --quiet
    with reported_errors(debug):
        if (output is None) == (out_dir is None):
            raise BadInputError("give exactly one of -o OUT (one image) or --out-dir DIR")
        if ext is not None and out_dir is None:
            raise BadInputError("--ext goes with --out-dir; with -o the extension of OUT picks the format")
        paths, errors = expand_inputs(inputs, IMAGE_EXTENSIONS, "image")
        tasks, plan_errors = plan_outputs(paths, output, out_dir, ext)
        errors += plan_errors
        if quality is not None:
            for fmt in {output_format(t.output_path) for t in tasks}:
                if fmt not in QUALITY_FORMATS:
                    raise BadInputError(f"--quality applies to JPEG and WebP outputs, not {fmt}")
        preread = None
        if output is not None and not errors:
            # One image: every problem is the command's, found before a model loads (like cartoonize-video).
            check_output_image(tasks[0].input_path, tasks[0].output_path, overwrite)
            preread = read_image(tasks[0].input_path, note=log)
        elif out_dir is not None and not out_dir.exists() and tasks:
            try:
                out_dir.mkdir(parents=True)
            except OSError as e:
                raise BadInputError(f"{out_dir}: cannot create the output folder ({e.strerror})") from None
        if not tasks and len(errors) == 1:
            raise BadInputError(errors[0])
        for message in errors:
            warn(f"error: {message}")
        if not tasks:
            raise BadInputError("no images to cartoonize")

        config = BackendConfig(backend=backend, style=style, weights=weights, device=device, fp16=fp16)
        # Tiles overlap by a quarter of their side up to 32 px: enough context for the generators' receptive field.
        resolution = ResolutionConfig(scale=scale, max_side=max_side, tile=tile, overlap=min(32, (tile or 128) // 4))
        failed_codes = [2] * len(errors)
        written = 0
        with load_backend(config, announce=log) as loaded:
            engine = with_resolution(loaded, resolution, trained_side_of(config))
            log(f"{len(tasks)} image(s): {describe(engine)}")
            for task in tasks:
                try:
                    photo = preread if preread is not None else read_image(task.input_path, note=log)
                    styled = photo.with_rgb(engine.infer(photo.rgb_u8_hwc[None])[0])
                    write_image(styled, task.output_path, input_path=task.input_path, overwrite=overwrite,
                                quality=quality, warn=warn)
                except CartoonizeError as e:
                    if len(tasks) + len(errors) == 1:
                        raise
                    warn(f"error: {e}")
                    failed_codes.append(e.exit_code)
                    continue
                except Exception as e:  # noqa: BLE001 - one picture failing must not stop the others
                    if len(tasks) + len(errors) == 1:
                        raise
                    if debug:
                        import traceback
                        traceback.print_exc()
                    warn(f"error: {task.input_path}: {type(e).__name__}: {first_line(e)}")
                    failed_codes.append(1)
                    continue
                written += 1
                h, w = photo.rgb_u8_hwc.shape[:2]
                log(f"wrote {task.output_path} ({w}x{h}{', alpha kept' if photo.alpha_u8_hw is not None else ''})")
        if len(tasks) + len(errors) > 1 or failed_codes:
            click.echo(f"{written} image(s) written, {len(failed_codes)} failed", err=True)
        if failed_codes:
            # 2 when only bad input failed (fix the files), 1 when something broke while running.
            raise SystemExit(1 if 1 in failed_codes else 2)


if __name__ == "__main__":
    main()
