"""Render the style-card grids of docs/STYLES.md: input | classic | each neural style, on held-out images.

Usage: python train/recipes/style_grid.py data/sets/heldout docs/styles [--styles fast,toon] [--height 240]

Every image, and two frames (at 1/3 and 2/3) of each video, in the held-out folder becomes one row.
The held-out files are never in any style's training set (train/recipes/make_sets.py).
"""

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from cartoonize.classic import ClassicFilter
from cartoonize.generators import RgbU8Model
from cartoonize.styles import resolve_style
from cartoonize.train.data import VIDEO_SUFFIXES, list_media, read_image, read_video_frames
from cartoonize.weights import load_generator


def label(rgb_u8_hwc: np.ndarray, text: str) -> np.ndarray:
    out = rgb_u8_hwc.copy()
    cv2.rectangle(out, (0, 0), (8 + 9 * len(text), 20), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("heldout", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--styles", default="fast,toon")
    parser.add_argument("--height", type=int, default=240, help="row height of the grid, px")
    parser.add_argument("--work-side", type=int, default=640, help="images are stylised at this longer side")
    args = parser.parse_args()
    names = args.styles.split(",")
    models = {}
    for name in names:
        generator, _ = load_generator(resolve_style(name).weights)
        models[name] = RgbU8Model(generator).eval()
    classic = ClassicFilter()
    rows = []
    for f in list_media([args.heldout]):
        images = (read_video_frames(f, 4)[1:3] if f.suffix.lower() in VIDEO_SUFFIXES else [read_image(f)])
        for img in images:
            h, w = img.shape[:2]
            s = args.work_side / max(h, w)
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            outs = [("input", img), ("classic", classic.apply(img))]
            with torch.inference_mode():
                for name, model in models.items():
                    outs.append((name, model(torch.from_numpy(img)[None])[0].numpy()))
            rh = args.height
            rw = round(img.shape[1] * rh / img.shape[0])
            tiles = [label(cv2.resize(o, (rw, rh), interpolation=cv2.INTER_AREA), t) for t, o in outs]
            rows.append((f.stem, np.concatenate(tiles, axis=1)))
    args.out.mkdir(parents=True, exist_ok=True)
    # Grids of three rows each keep the files small and readable.
    for k in range(0, len(rows), 3):
        chunk = rows[k:k + 3]
        width = max(r.shape[1] for _, r in chunk)
        grid = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                               for _, r in chunk], axis=0)
        path = args.out / f"heldout_{k // 3 + 1}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(path, ", ".join(n for n, _ in chunk))


if __name__ == "__main__":
    main()
