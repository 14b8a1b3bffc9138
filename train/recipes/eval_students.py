"""Students against their teachers on held-out photos: PSNR table and input | teacher | student grids.

Usage: python train/recipes/eval_students.py data/sets/heldout \
           --pair hayao=cartoonize/styles/hayao.safetensors:cartoonize/styles/hayao-full.safetensors \
           [--pair shinkai=...] [--grids docs/styles] [--side 640] [--cache runs/teacher_cache]

A student may also be a training checkpoint (``runs/hayao/checkpoint.pt``), to follow a run. Every
held-out image (videos are skipped: the flicker numbers come from cartoonize-eval) is brought to
``--side`` px on its longer side, as the styles run on CPUs, and stylised by both; the teacher's
outputs are cached like in training. Prints a markdown table: PSNR student vs teacher, and input
vs teacher for scale (how far the look is from the photo).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from cartoonize.generators import RgbU8Model, build_generator
from cartoonize.quality import psnr
from cartoonize.train.data import IMAGE_SUFFIXES, list_media, read_image
from cartoonize.train.teacher_cache import cached_teacher_outputs
from cartoonize.weights import load_generator
from grids import label, stack_rows   # train/recipes/grids.py (this script's folder is on sys.path)


def load_student(path: Path) -> torch.nn.Module:
    if path.suffix == ".pt":   # a run's checkpoint: the config names the architecture
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
        config = checkpoint["config"]
        generator = build_generator(config["architecture"], config["generator_args"])
        generator.load_state_dict(checkpoint["generator"])
        return generator.eval()
    return load_generator(path)[0]


def run(model: RgbU8Model, rgb_u8_hwc: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(rgb_u8_hwc))[None])[0].numpy()


def heldout_photos(folder: Path, side: int) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 RGB) of every image under ``folder`` (videos skipped), brought to ``side`` px on its
    longer side as the styles run on CPUs (never enlarged)."""
    photos = []
    for f in list_media([folder]):
        if f.suffix.lower() in IMAGE_SUFFIXES:
            img = read_image(f)
            h, w = img.shape[:2]
            s = min(1.0, side / max(h, w))
            photos.append((f.name, cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)))
    return photos


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("heldout", type=Path)
    ap.add_argument("--pair", action="append", required=True, help="NAME=STUDENT:TEACHER")
    ap.add_argument("--side", type=int, default=640)
    ap.add_argument("--cache", type=Path, default=Path("runs/teacher_cache"))
    ap.add_argument("--grids", type=Path, help="write NAME_heldout_K.jpg grids here")
    ap.add_argument("--row-height", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    photos = heldout_photos(args.heldout, args.side)
    print("| style | photo | student vs teacher (dB) | input vs teacher (dB) |")
    print("|---|---|---:|---:|")
    summary = []
    for pair in args.pair:
        name, _, paths = pair.partition("=")
        student_path, _, teacher_path = paths.partition(":")
        student = RgbU8Model(load_student(Path(student_path)))
        teacher = RgbU8Model(load_generator(Path(teacher_path))[0])
        targets = cached_teacher_outputs(teacher_path, lambda img: run(teacher, img), [p for _, p in photos],
                                         args.cache, progress=False)
        scores, rows = [], []
        for (photo_name, img), target in zip(photos, targets):
            out = run(student, img)
            s, base = psnr(out, target), psnr(img, target)
            scores.append(s)
            print(f"| {name} | {photo_name} | {s:.2f} | {base:.2f} |", flush=True)
            rh = args.row_height
            rw = round(img.shape[1] * rh / img.shape[0])
            tiles = [label(cv2.resize(x, (rw, rh), interpolation=cv2.INTER_AREA), t)
                     for t, x in (("input", img), (f"{name}-full (teacher)", target), (f"{name} (student)", out))]
            rows.append(np.concatenate(tiles, axis=1))
        print(f"| {name} | **mean** | **{np.mean(scores):.2f}** | |", flush=True)
        summary.append((name, float(np.mean(scores)), float(np.min(scores))))
        if args.grids:
            args.grids.mkdir(parents=True, exist_ok=True)
            for k in range(0, len(rows), 4):
                grid = stack_rows(rows[k:k + 4])
                cv2.imwrite(str(args.grids / f"{name}_heldout_{k // 4 + 1}.jpg"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
    for name, mean, worst in summary:
        print(f"{name}: mean {mean:.2f} dB, worst {worst:.2f} dB over {len(photos)} held-out photos", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
