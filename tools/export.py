"""``cartoonize-export``: a style or weights file to ONNX (uint8 NHWC in and out), or to a cached TensorRT engine.

Usage: ``cartoonize-export --weights my_style.safetensors -o my_style.onnx --fp16``
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.styles import BUNDLED_STYLES, generator_style, resolve_style

from .common import parse_size, reported_errors

EXAMPLES = """
\b
Examples:
  cartoonize-export --weights my_style.safetensors -o my_style.onnx
  cartoonize-export --style hayao --fp16 -o hayao-fp16.onnx
  cartoonize-export --style hayao-full --engine trt --fp16 --size 1280x720 --size 1920x1080 --batch-size 4
  cartoonize-export --style hayao-full --statistics steady --engine trt --fp16 --size 1920x1080   # for video
"""


def _style(style: str | None, weights: Path | None):
    if (style is None) == (weights is None):
        raise BadInputError("give exactly one of --style NAME or --weights FILE.safetensors")
    if weights is not None:
        from cartoonize.weights import read_metadata

        read_metadata(weights)
        return generator_style(weights)
    chosen = resolve_style(style)
    if chosen.kind != "generator":
        raise BadInputError(f"style {style!r} is a filter, not a neural network: there is nothing to export")
    return chosen


def self_check(exported, style) -> str:
    """Run the exported graph in ONNX Runtime against PyTorch on a structured frame; one line of result."""
    import torch

    from cartoonize.engines.onnx_export import INPUT_NAME
    from cartoonize.engines.ort_backend import import_onnxruntime
    from cartoonize.generators import RgbU8Model
    from cartoonize.quality import parity
    from cartoonize.weights import load_generator

    ort = import_onnxruntime()
    height, width = 70, 94   # not multiples of 4: the padding inside the graph is exercised too
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([(x * 255) // width, (y * 255) // height, ((x // 8 + y // 8) % 2) * 255], -1).astype(np.uint8)
    batch = frame[None]
    session = ort.InferenceSession(exported.onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: batch})[0]
    generator, _ = load_generator(style.weights, style.statistics)
    with torch.inference_mode():
        want = RgbU8Model(generator.eval()).eval()(torch.from_numpy(batch)).numpy()
    check = parity(got, want, fp16=exported.precision == "fp16")
    verdict = "ok" if check.ok else "MISMATCH"
    line = f"check vs PyTorch fp32: max diff {check.max_diff}/255, PSNR {check.psnr_db:.1f} dB: {verdict}"
    if not check.ok:
        raise CartoonizeError(f"exported model does not match PyTorch ({line}); please report it as a bug")
    return line


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--style", help=f"Bundled neural style ({', '.join(sorted(BUNDLED_STYLES))}).")
@click.option("--weights", type=click.Path(path_type=Path), help="Generator weights (.safetensors) instead of --style.")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="ONNX file to write (--engine onnx); default STYLE[-fp16].onnx in the current folder.")
@click.option("--engine", type=click.Choice(["onnx", "trt"]), default="onnx", show_default=True,
              help="onnx: write an ONNX file. trt: build the TensorRT engine into the engine cache.")
@click.option("--fp16", is_flag=True, help="Half-precision compute (input and output stay uint8).")
@click.option("--statistics", type=click.Choice(["frame", "steady"]), default="frame", show_default=True,
              help="steady: the CartoonGAN styles' stored norm statistics, as a stabilised video (cartoonize-video's "
                   "default) runs them; frame: each frame's own, as pictures run them.")
@click.option("--opset", type=click.IntRange(17, None), default=17, show_default=True, help="ONNX opset.")
@click.option("--size", "sizes", multiple=True, help="WIDTHxHEIGHT the TensorRT engine must take (repeatable).")
@click.option("--batch-size", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Largest batch the TensorRT engine takes (use cartoonize-video's --batch-size).")
@click.option("--device", default="cuda", show_default=True, help="GPU for --engine trt.")
@click.option("--cache-dir", type=click.Path(path_type=Path),
              help="TensorRT engine cache; default $CARTOONIZE_CACHE_DIR or ~/.cache/cartoonize/engines.")
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="Errors only.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(style: str | None, weights: Path | None, output: Path | None, engine: str, fp16: bool, statistics: str,
         opset: int,
         sizes: tuple[str, ...], batch_size: int, device: str, cache_dir: Path | None, overwrite: bool,
         quiet: bool, debug: bool) -> None:
    """Export a neural style for ONNX Runtime or TensorRT.

    The ONNX model takes uint8 RGB frames (batch, height, width, 3) of any size and returns the
    cartoon in the same layout: conversion, normalisation and padding are inside the graph. It is
    checked with onnx.checker and against PyTorch before it is written.
    """
    log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    with reported_errors(debug):
        chosen = _style(style, weights)
        if statistics == "steady":
            from dataclasses import replace

            from cartoonize.styles import has_steady_statistics
            if not has_steady_statistics(chosen):
                raise BadInputError(f"style {chosen.name!r} has no steady norm statistics (only the calibrated "
                                    f"CartoonGAN generators do: cartoonize-prep steady-statistics)")
            chosen = replace(chosen, statistics="steady")
        if engine == "trt":
            if output is not None:
                raise BadInputError("--output applies to --engine onnx; TensorRT engines go to the cache (--cache-dir)")
            if not sizes:
                raise BadInputError("--engine trt needs at least one --size WIDTHxHEIGHT (the frames it will run)")
            frame_sizes = [parse_size(text) for text in sizes]
            from cartoonize.engines.tensorrt_backend import TensorRTBackend

            with TensorRTBackend(chosen, device=device, fp16=fp16, max_batch=batch_size, sizes=frame_sizes,
                                 cache_dir=cache_dir, log=log) as built:
                click.echo(f"engine ready: {built.engine_path}")
            return
        from cartoonize.engines.onnx_export import export_onnx
        from cartoonize.files import write_atomic

        steady = "-steady" if chosen.statistics == "steady" else ""
        output = output or Path(f"{chosen.name}{steady}{'-fp16' if fp16 else ''}.onnx")
        if output.exists() and not overwrite:
            raise BadInputError(f"{output}: already exists (use --overwrite to replace it)")
        if output.is_dir():
            raise BadInputError(f"{output}: is a directory; give an .onnx file name")
        if not output.parent.is_dir():
            raise BadInputError(f"{output.parent}: output folder does not exist")
        exported = export_onnx(chosen, fp16=fp16, opset=opset)
        log(self_check(exported, chosen))
        write_atomic(exported.onnx_bytes, output)
        click.echo(f"wrote {output}: {exported.precision}, opset {opset}, {len(exported.onnx_bytes) / 1e6:.2f} MB, "
                   f"sha256 {exported.sha256[:16]}")


if __name__ == "__main__":
    main()
