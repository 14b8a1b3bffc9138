"""Render the README picture: frames of the sample clips | the default style | other bundled styles.

Usage: python train/recipes/readme_picture.py docs/images/before_after.jpg [--styles classic,hayao,shinkai,hayao-full]

Rows: a Big Buck Bunny frame (animated), a bikes.mp4 frame and the astronaut photo (real, both held
out of training: train/recipes/make_sets.py); columns: each style as cartoonize-video runs it on a
CPU, at the style's trained scale with guided upsampling back to the frame size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from cartoonize.engines.backend import BackendConfig, load_backend, trained_side_of
from cartoonize.engines.resize import ResolutionConfig, with_resolution
from cartoonize.samples import sample_clip
from cartoonize.train.data import read_image, read_video_frames
from grids import label, stack_rows   # train/recipes/grids.py (this script's folder is on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--styles", default="classic,hayao,shinkai,hayao-full")
    ap.add_argument("--tile-height", type=int, default=216)
    ap.add_argument("--photo", type=Path, default=Path("data/sets/heldout/skimage_astronaut.png"))
    args = ap.parse_args()
    frames = [read_video_frames(sample_clip("bigbuckbunny.mp4"), 4)[1], read_video_frames(sample_clip("bikes.mp4"), 3)[1],
              read_image(args.photo)]
    columns = [("input", frames)]
    for name in args.styles.split(","):
        config = BackendConfig(style=name, device="cpu")
        with load_backend(config, announce=lambda m: None) as backend:
            engine = with_resolution(backend, ResolutionConfig(), trained_side_of(config))
            columns.append((name, [engine.infer(f[None])[0] for f in frames]))
    rows = []
    for i in range(len(frames)):
        h, w = frames[i].shape[:2]
        size = (round(w * args.tile_height / h), args.tile_height)
        rows.append(np.concatenate([label(cv2.resize(outs[i], size, interpolation=cv2.INTER_AREA), name)
                                    for name, outs in columns], axis=1))
    grid = stack_rows(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(args.out, grid.shape[1], "x", grid.shape[0])


if __name__ == "__main__":
    main()
