"""Flicker of the bundled styles: warping-error ratios (cartoonize.quality) on real clips and a slow pan.

Usage: python train/recipes/flicker_styles.py --styles hayao,shinkai,classic [--frames 40] [--full-frames 12]

Each style runs as cartoonize-video runs it on a CPU (its trained scale, guided upsampling back).
Clips: bikes.mp4 and carphone_pristine.mp4 (real footage, in no training set), bigbuckbunny.mp4
(animated), and "pan": a held-out photo (skimage astronaut) seen through a 480x320 window that moves
0.35 px right and 0.2 px down per frame, the slow camera pan on which the CartoonGAN generators
flicker most. Prints a markdown table of ratio = stylised warping error / source warping error
(1.0: as steady as the source). ``-full`` styles take seconds per frame on a CPU: they get only
``--full-frames`` frames.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import av
import cv2
import numpy as np

from cartoonize.engines.backend import BackendConfig, load_backend, trained_side_of
from cartoonize.engines.resize import ResolutionConfig, with_resolution
from cartoonize.quality import WarpingErrorMeter
from cartoonize.samples import sample_clip


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [f.to_ndarray(format="rgb24") for f in itertools.islice(container.decode(stream), count)]


def pan_frames(photo: Path, count: int, size=(480, 320), step=(0.35, 0.2)) -> list[np.ndarray]:
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    frames = []
    for t in range(count):
        m = np.float32([[1, 0, -t * step[0]], [0, 1, -t * step[1]]])   # sub-pixel moves, bicubic
        frames.append(cv2.warpAffine(rgb, m, size, flags=cv2.INTER_CUBIC))
    return frames


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--styles", default="hayao,shinkai,classic")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--full-frames", type=int, default=12)
    ap.add_argument("--clips", default="bikes,carphone,bunny,pan")
    ap.add_argument("--pan-photo", type=Path, default=Path("data/sets/heldout/skimage_astronaut.png"))
    args = ap.parse_args()
    styles = args.styles.split(",")
    sources = {"bikes": lambda n: clip_frames(sample_clip("bikes.mp4"), n),
               "carphone": lambda n: clip_frames(sample_clip("carphone_pristine.mp4"), n),
               "bunny": lambda n: clip_frames(sample_clip("bigbuckbunny.mp4"), n),
               "pan": lambda n: pan_frames(args.pan_photo, n)}
    engines = {}
    for name in styles:
        config = BackendConfig(style=name, device="cpu")
        backend = load_backend(config, announce=lambda m: None)
        engines[name] = with_resolution(backend, ResolutionConfig(), trained_side_of(config))
    print("| clip | frames | " + " | ".join(styles) + " |")
    print("|---|---:|" + "---:|" * len(styles))
    for clip in args.clips.split(","):
        ratios = []
        for name in styles:
            count = args.full_frames if name.endswith("-full") else args.frames
            frames = sources[clip](count)
            meter = WarpingErrorMeter()
            for frame in frames:
                meter.add(frame, {name: engines[name].infer(frame[None])[0]})
            ratios.append(meter.result().ratio(name))
        print(f"| {clip} | {args.frames} | " + " | ".join(f"{r:.2f}" for r in ratios) + " |", flush=True)
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
