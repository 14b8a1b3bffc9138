"""``cartoonize-eval``: measure temporal stability (warping error) of stylised video, and student vs teacher on images.

Usage: ``cartoonize-eval video SOURCE.mp4 STYLISED.mp4``, ``cartoonize-eval video SOURCE.mp4 --style toon --temporal``,
       ``cartoonize-eval images photos/ --student fast --teacher classic --vgg-weights vgg16.safetensors``

What the numbers mean: docs/QUALITY.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import click
import numpy as np
from tqdm import tqdm

from cartoonize.errors import BadInputError

from .common import reported_errors

VIDEO_EXAMPLES = """
\b
Examples:
  cartoonize-eval video in.mp4 in_cartoon.mp4                      source and output files
  cartoonize-eval video "$(cartoonize sample bikes.mp4)" --style toon --temporal --json
  cartoonize-eval video in.mp4 --style classic --steps 1,5,10 --frames 60
"""


def parse_steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give frame distances like 1,5") from None
    if not steps or steps[0] < 1:
        raise click.BadParameter(f"{text!r}: frame distances must be 1 or more")
    return steps


def _frames(path: Path, limit: int | None) -> tuple[Iterator[np.ndarray], int]:
    """Open ``path`` now (bad input fails before any work) and return (its frames, how many will come or 0)."""
    from cartoonize.realtime.video_source import VideoSource
    source = VideoSource.open(path, warn=lambda m: click.echo(m, err=True))

    def frames() -> Iterator[np.ndarray]:
        for index, item in enumerate(source.frames()):
            if limit is not None and index >= limit:
                return
            yield item.rgb_u8_hwc

    total = source.info.frames
    return frames(), min(total, limit) if total and limit else (limit or total)


def _backend_config(spec: str, backend: str, device: str | None):
    """A bundled style name or a weights file -> BackendConfig."""
    from cartoonize.engines.backend import BackendConfig
    from cartoonize.styles import BUNDLED_STYLES
    if spec in BUNDLED_STYLES:
        return BackendConfig(backend=backend, style=spec, device=device)
    path = Path(spec)
    if path.suffix.lower() in (".safetensors", ".onnx"):
        if not path.is_file():
            raise BadInputError(f"{path}: weights file not found")
        return BackendConfig(backend=backend, weights=path, device=device)
    raise BadInputError(f"{spec!r} is neither a bundled style ({', '.join(sorted(BUNDLED_STYLES))}) "
                        f"nor a .safetensors/.onnx weights file")


def _format(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 4)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Quality measurements: flicker of stylised video (video), student vs teacher on photos (images)."""


@main.command(epilog=VIDEO_EXAMPLES)
@click.argument("source_path", metavar="SOURCE", type=click.Path(path_type=Path))
@click.argument("stylised_path", metavar="[STYLISED]", required=False, type=click.Path(path_type=Path))
@click.option("--style", "style_spec", metavar="NAME|WEIGHTS",
              help="Stylise SOURCE with this bundled style or weights file instead of reading STYLISED.")
@click.option("--temporal", is_flag=True, help="With --style: also measure the output with run-time stabilisation "
              "(as cartoonize-video runs it: a CartoonGAN style with its steady norm statistics, also measured alone).")
@click.option("--temporal-strength", type=click.FloatRange(0, 1, max_open=True),
              help="Stabilisation strength for --temporal (default: cartoonize-video's).")
@click.option("--backend", default="auto", show_default=True, help="Inference engine for --style.")
@click.option("--device", help="Device for --style (cpu, cuda...).")
@click.option("--steps", "steps_text", default="1,5", show_default=True,
              help="Compare frame t with t-k for each k (1: frame to frame; larger: long-range drift).")
@click.option("--frames", "max_frames", type=click.IntRange(2, None), help="Only the first N frames.")
@click.option("--flow-max-side", type=click.IntRange(16, None), default=640, show_default=True,
              help="Optical flow runs with the longer side at most this many pixels.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout instead of the table.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def video(source_path: Path, stylised_path: Path | None, style_spec: str | None, temporal: bool,
          temporal_strength: float | None, backend: str, device: str | None, steps_text: str,
          max_frames: int | None, flow_max_side: int, as_json: bool, quiet: bool, debug: bool) -> None:
    """Warping error of SOURCE and of its stylised version, and their ratio (1.0 = no added flicker).

    Flow comes from SOURCE (OpenCV DIS) with a forward-backward mask; each stylised frame is compared
    with the previous one warped onto it (Lai et al., ECCV 2018). Give STYLISED, or --style to stylise
    SOURCE here (with --temporal the stabilised output is measured too, from the same frames; a style with
    steady norm statistics is then also run with them, as cartoonize-video does, and that output measured
    with and without the stabiliser).
    """
    with reported_errors(debug):
        from cartoonize.quality import WarpConfig, WarpingErrorMeter
        steps = parse_steps(steps_text)
        if (stylised_path is None) == (style_spec is None):
            raise BadInputError("give either STYLISED (a video file) or --style NAME|WEIGHTS, not both or neither")
        if (temporal or temporal_strength is not None) and style_spec is None:
            raise BadInputError("--temporal needs --style (a STYLISED file is measured as it is)")
        meters = [WarpingErrorMeter(k, WarpConfig(flow_max_side=flow_max_side)) for k in steps]
        source_frames, total = _frames(source_path, max_frames)
        stylised_frames = _frames(stylised_path, max_frames)[0] if stylised_path is not None else None
        label = stylised_path.name if stylised_path is not None else style_spec
        bar = tqdm(total=total or None, unit="frame", disable=quiet, file=sys.stderr, dynamic_ncols=True)
        try:
            if stylised_path is not None:
                names = [label]
                for index, src in enumerate(source_frames):
                    out = next(stylised_frames, None)
                    if out is None:
                        raise BadInputError(f"{stylised_path}: ends at frame {index}, before {source_path}")
                    if out.shape != src.shape:
                        raise BadInputError(f"{stylised_path}: frames are {out.shape[1]}x{out.shape[0]}, "
                                            f"{source_path}'s {src.shape[1]}x{src.shape[0]}")
                    for meter in meters:
                        meter.add(src, {label: out})
                    bar.update(1)
            else:
                from cartoonize.engines.backend import for_video, load_backend, trained_side_of
                from cartoonize.engines.resize import (ResolutionConfig, at_trained_scale, back_to_full_size,
                                                       painted_input)
                from cartoonize.realtime.temporal import TemporalStabiliser, temporal_config
                config = temporal_config(temporal, temporal_strength)
                stabiliser = TemporalStabiliser(config) if config is not None else None
                backend_config = _backend_config(style_spec, backend, device)
                # Stabilised, a style with steady norm statistics runs with them, as in cartoonize-video: then
                # both networks run, and the steady one is measured alone too.
                steady_config = for_video(backend_config, config is not None)
                steady = steady_config != backend_config
                names = ([label] + ([f"{label} steady statistics"] if steady else [])
                         + ([f"{label} +temporal {config.strength:g}"] if config is not None else []))
                with contextlib.ExitStack() as stack:
                    engine = stack.enter_context(load_backend(backend_config, announce=lambda m: None))
                    steady_engine = (stack.enter_context(load_backend(steady_config, announce=lambda m: None))
                                     if steady else engine)
                    # As cartoonize-video runs the style: at its trained size on a CPU, stabilised there, guided
                    # upsampling back (engines/resize.py, realtime/temporal.with_resolution_and_temporal).
                    resolution = at_trained_scale(ResolutionConfig(), trained_side_of(backend_config), engine.device)
                    for src in source_frames:
                        small = painted_input(src, resolution)
                        out = engine.infer(small[None])[0]
                        videos = {label: back_to_full_size(small, out, src, resolution)}
                        if steady:
                            out = steady_engine.infer(small[None])[0]
                            videos[names[1]] = back_to_full_size(small, out, src, resolution)
                        if stabiliser is not None:
                            videos[names[-1]] = back_to_full_size(small, stabiliser.step(small, out), src, resolution)
                        for meter in meters:
                            meter.add(src, videos)
                        bar.update(1)
        finally:
            bar.close()
        try:
            results = [meter.result() for meter in meters]
        except ValueError as e:
            raise BadInputError(f"{source_path}: {e}") from None
        if as_json:
            click.echo(json.dumps({
                "source": str(source_path), "stylised": names,
                "steps": {str(r.step): {"pairs": r.pairs, "mask_fraction": _json_number(r.mask_fraction),
                                        "source_error": _json_number(r.source),
                                        "stylised_error": {n: _json_number(r.stylised[n]) for n in names},
                                        "ratio": {n: _json_number(r.ratio(n)) for n in names}}
                          for r in results}}, indent=2))
            return
        click.echo(f"warping error (mean |difference| in 8-bit levels where the flow is reliable), {source_path.name}")
        for r in results:
            click.echo(f"t vs t-{r.step}: {r.pairs} frame pairs, {100 * r.mask_fraction:.0f}% of pixels reliable; "
                       f"source {_format(r.source)}")
            for n in names:
                click.echo(f"  {n}: {_format(r.stylised[n])}  ratio {_format(r.ratio(n))}")


@dataclass(frozen=True)
class ImagePair:
    name: str
    psnr_db: float
    feature_distance: float | None


@main.command()
@click.argument("photos", type=click.Path(path_type=Path))
@click.option("--student", required=True, metavar="NAME|WEIGHTS", help="The style being judged.")
@click.option("--teacher", required=True, metavar="NAME|WEIGHTS", help="The reference style.")
@click.option("--vgg-weights", type=click.Path(path_type=Path),
              help="VGG16 state dict for the feature distance (cartoonize-prep vgg); without it only PSNR.")
@click.option("--layer", default="relu4_3", show_default=True, help="VGG16 layer for the feature distance.")
@click.option("--max-side", type=click.IntRange(16, None), default=512, show_default=True,
              help="Shrink photos to this longer side first.")
@click.option("--backend", default="auto", show_default=True, help="Inference engine.")
@click.option("--device", help="Device (cpu, cuda...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout instead of the table.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def images(photos: Path, student: str, teacher: str, vgg_weights: Path | None, layer: str, max_side: int,
           backend: str, device: str | None, as_json: bool, debug: bool) -> None:
    """PSNR and VGG feature distance of a student style's output against its teacher's, on every photo in PHOTOS.

    Higher PSNR and lower feature distance: the student is closer to the teacher.
    """
    with reported_errors(debug):
        import cv2

        from cartoonize.engines.backend import load_backend
        from cartoonize.quality import feature_distance, psnr
        from cartoonize.train.data import IMAGE_SUFFIXES, read_image
        if not photos.is_dir():
            raise BadInputError(f"{photos}: not a folder of photos")
        files = sorted(p for p in photos.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise BadInputError(f"{photos}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        vgg = None
        if vgg_weights is not None:
            from cartoonize.train.vgg import load_vgg
            vgg = load_vgg("vgg16", vgg_weights)
            if layer not in vgg.index:
                raise BadInputError(f"vgg16 has no layer {layer!r} (e.g. relu3_3, relu4_3)")
        pairs: list[ImagePair] = []
        with load_backend(_backend_config(student, backend, device), announce=lambda m: None) as s_engine, \
                load_backend(_backend_config(teacher, backend, device), announce=lambda m: None) as t_engine:
            for path in files:
                rgb = read_image(path)
                if rgb is None:
                    raise BadInputError(f"{path}: not a readable image")
                h, w = rgb.shape[:2]
                if max(h, w) > max_side:
                    f = max_side / max(h, w)
                    rgb = cv2.resize(rgb, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
                s_out, t_out = s_engine.infer(rgb[None])[0], t_engine.infer(rgb[None])[0]
                distance = feature_distance(vgg, s_out, t_out, layer) if vgg is not None else None
                pairs.append(ImagePair(path.name, psnr(s_out, t_out), distance))
        finite = [p.psnr_db for p in pairs if math.isfinite(p.psnr_db)]
        mean_psnr = float(np.mean(finite)) if finite else float("inf")
        mean_distance = float(np.mean([p.feature_distance for p in pairs])) if vgg is not None else None
        if as_json:
            click.echo(json.dumps({
                "student": student, "teacher": teacher, "layer": layer if vgg is not None else None,
                "mean_psnr_db": _json_number(mean_psnr),
                "mean_feature_distance": None if mean_distance is None else _json_number(mean_distance),
                "images": [{"name": p.name, "psnr_db": _json_number(p.psnr_db),
                            "feature_distance": None if p.feature_distance is None
                            else _json_number(p.feature_distance)}
                           for p in pairs]}, indent=2))
            return
        for p in pairs:
            extra = f"  feature distance {p.feature_distance:.3f}" if p.feature_distance is not None else ""
            click.echo(f"{p.name}: PSNR {p.psnr_db:.2f} dB{extra}")
        summary = f"mean over {len(pairs)} images: PSNR {mean_psnr:.2f} dB"
        if mean_distance is not None:
            summary += f", {layer} feature distance {mean_distance:.3f}"
        else:
            summary += " (no --vgg-weights: no feature distance)"
        click.echo(summary)


if __name__ == "__main__":
    main()
