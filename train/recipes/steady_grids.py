"""How the CartoonGAN styles look with steady norm statistics (video) next to each frame's own (pictures).

Usage: python train/recipes/steady_grids.py data/sets/heldout --styles hayao-full,shinkai-full [--grids docs/styles]
       [--clip bikes.mp4 --clip-frames 0,29]

Prints a Markdown table: PSNR of the steady output against the frame-statistics output, per held-out
photo at 640 px (the input's own PSNR against it for scale). With --grids writes
<style>_steady_<k>.jpg: input | frame statistics | steady statistics, four photos a grid, and with
--clip one more grid of that sample clip's frames (the same frames a video run would paint).
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from cartoonize.generators import RgbU8Model, set_statistics
from cartoonize.images import read_image
from cartoonize.quality import psnr
from cartoonize.styles import resolve_style
from cartoonize.weights import load_generator

from cartoonize.train.data import IMAGE_SUFFIXES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_students import run  # noqa: E402 - one image through an RgbU8Model, as the student cards do
from grids import label, stack_rows  # noqa: E402


def clip_frames(name: str, indices: list[int], side: int) -> list[tuple[str, np.ndarray]]:
    import av

    from cartoonize.samples import sample_clip
    out = []
    with av.open(str(sample_clip(name))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in indices:
                img = frame.to_ndarray(format="rgb24")
                s = min(1.0, side / max(img.shape[:2]))
                out.append((f"{name} frame {i}", cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                                            interpolation=cv2.INTER_AREA)))
            if i >= max(indices):
                break
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("heldout", type=Path)
    ap.add_argument("--styles", default="hayao-full,hosoda-full,paprika-full,shinkai-full")
    ap.add_argument("--side", type=int, default=640)
    ap.add_argument("--grids", type=Path)
    ap.add_argument("--row-height", type=int, default=180)
    ap.add_argument("--clip", help="a sample clip (cartoonize.samples) for one more grid")
    ap.add_argument("--clip-frames", default="0,29")
    args = ap.parse_args()
    files = sorted(f for f in args.heldout.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    photos = []
    for f in files:
        img = read_image(f).rgb_u8_hwc
        s = min(1.0, args.side / max(img.shape[:2]))
        photos.append((f.name, cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                          interpolation=cv2.INTER_AREA)))
    clip = clip_frames(args.clip, [int(i) for i in args.clip_frames.split(",")], args.side) if args.clip else []
    print("| style | photo | steady vs frame statistics (dB) | input vs frame statistics (dB) |")
    print("|---|---|---:|---:|")
    for name in args.styles.split(","):
        generator, _ = load_generator(resolve_style(name).weights)
        model = RgbU8Model(generator).eval()
        scores, rows, clip_rows = [], [], []
        for photo_name, img, from_clip in [(n, i, False) for n, i in photos] + [(n, i, True) for n, i in clip]:
            set_statistics(generator, "frame")
            own = run(model, img)
            set_statistics(generator, "steady")
            steady = run(model, img)
            rh = args.row_height
            rw = round(img.shape[1] * rh / img.shape[0])
            tiles = [label(cv2.resize(x, (rw, rh), interpolation=cv2.INTER_AREA), t)
                     for t, x in (("input", img), ("frame statistics", own), ("steady statistics", steady))]
            if from_clip:
                clip_rows.append(np.concatenate(tiles, axis=1))
                continue
            scores.append(psnr(steady, own))
            print(f"| {name} | {photo_name} | {scores[-1]:.2f} | {psnr(img, own):.2f} |", flush=True)
            rows.append(np.concatenate(tiles, axis=1))
        print(f"| {name} | **mean** | **{np.mean(scores):.2f}** | |", flush=True)
        if args.grids:
            args.grids.mkdir(parents=True, exist_ok=True)
            groups = [rows[k:k + 4] for k in range(0, len(rows), 4)] + ([clip_rows] if clip_rows else [])
            for k, group in enumerate(groups):
                suffix = "clip" if clip_rows and k == len(groups) - 1 else str(k + 1)
                cv2.imwrite(str(args.grids / f"{name}_steady_{suffix}.jpg"),
                            cv2.cvtColor(stack_rows(group), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return 0


if __name__ == "__main__":
    sys.exit(main())
