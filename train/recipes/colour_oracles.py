"""How much of a teacher's look is a colour map of the photo? Oracle fits on held-out photos.

Usage: python train/recipes/colour_oracles.py data/sets/heldout --teacher cartoonize/styles/hayao-full.safetensors \
           [--student cartoonize/styles/hayao.safetensors] [--side 640] [--cache runs/teacher_cache]

For each photo (brought to ``--side`` px on its longer side, as the styles run on CPUs) the teacher's
output is fitted, knowing it, by:
- one affine colour map for the whole photo (least squares, 3x3 matrix and offset);
- a local affine map: He et al.'s colour guided filter (ECCV 2010) with the photo as guide and the
  teacher's output as target, windows of radius r px; the coefficients vary smoothly over the frame,
  which is what an HDRNet-style head (Gharbi et al. 2017) predicts.
These are ceilings: they see the answer. With ``--student`` it also prints the student's own global
grade (FastGenerator's colour head, applied to the photo alone) and its whole output, for scale.
PSNR on uint8 RGB against the teacher, one row per photo and the mean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from cartoonize.frames import nchw_to_rgb_u8_nhwc, rgb_u8_nhwc_to_nchw
from cartoonize.generators import RgbU8Model
from cartoonize.quality import psnr
from cartoonize.train.teacher_cache import cached_teacher_outputs
from cartoonize.weights import load_generator
from eval_students import heldout_photos, run   # train/recipes/eval_students.py (this script's folder is on sys.path)

RADII = (32, 16, 8)


def box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def global_affine(guide: np.ndarray, target: np.ndarray) -> np.ndarray:
    """float (H, W, 3) in [0, 1] -> the best single affine colour map of ``guide`` to ``target``."""
    x = np.concatenate([guide.reshape(-1, 3), np.ones((guide.shape[0] * guide.shape[1], 1), np.float32)], 1)
    m, *_ = np.linalg.lstsq(x, target.reshape(-1, 3), rcond=None)
    return (x @ m).reshape(target.shape)


def local_affine(guide: np.ndarray, target: np.ndarray, r: int, eps: float = 1e-3) -> np.ndarray:
    """The colour guided filter: per window a 3x3 + 1 affine map of ``guide`` fitted to ``target``,
    the coefficients averaged over the windows covering each pixel."""
    h, w, _ = guide.shape
    mean_g = box(guide, r)
    cov = np.empty((h, w, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            cov[..., i, j] = box(guide[..., i] * guide[..., j], r) - mean_g[..., i] * mean_g[..., j]
    cov += eps * np.eye(3, dtype=np.float32)
    out = np.empty_like(target)
    for c in range(3):
        mean_t = box(target[..., c], r)
        cross = np.stack([box(guide[..., i] * target[..., c], r) - mean_g[..., i] * mean_t for i in range(3)], -1)
        a = np.linalg.solve(cov, cross[..., None])[..., 0]
        b = mean_t - (a * mean_g).sum(-1)
        out[..., c] = (box(a, r) * guide).sum(-1) + box(b, r)
    return out


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def student_grade_and_output(generator: torch.nn.Module, rgb_u8_hwc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The student's global colour grade alone, and its whole output, on a photo cropped to a multiple of 4."""
    h, w = rgb_u8_hwc.shape[0] // 4 * 4, rgb_u8_hwc.shape[1] // 4 * 4
    x = rgb_u8_nhwc_to_nchw(torch.from_numpy(np.ascontiguousarray(rgb_u8_hwc[:h, :w]))[None], torch.float32)
    with torch.inference_mode():
        features = generator.down(x)
        graded = generator._grade(x, features) if generator.colour is not None else x
        return nchw_to_rgb_u8_nhwc(graded)[0].numpy(), nchw_to_rgb_u8_nhwc(generator(x))[0].numpy()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("heldout", type=Path)
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--student", type=Path)
    ap.add_argument("--side", type=int, default=640)
    ap.add_argument("--cache", type=Path, default=Path("runs/teacher_cache"))
    args = ap.parse_args()
    photos = heldout_photos(args.heldout, args.side)
    teacher = RgbU8Model(load_generator(Path(args.teacher))[0])
    targets = cached_teacher_outputs(args.teacher, lambda img: run(teacher, img), [p for _, p in photos], args.cache,
                                     progress=False)
    student = load_generator(args.student)[0] if args.student else None
    columns = ["input", "global affine"] + [f"local affine r={r}" for r in RADII]
    columns += ["student's grade", "student"] if student is not None else []
    print("| photo | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    rows = []
    for (name, img), target in zip(photos, targets):
        guide, goal = img.astype(np.float32) / 255, target.astype(np.float32) / 255
        row = [psnr(img, target), psnr(to_u8(global_affine(guide, goal)), target)]
        row += [psnr(to_u8(local_affine(guide, goal, r)), target) for r in RADII]
        if student is not None:
            graded, out = student_grade_and_output(student, img)
            row += [psnr(graded, target[:graded.shape[0], :graded.shape[1]]),
                    psnr(out, target[:out.shape[0], :out.shape[1]])]
        rows.append(row)
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{v:.2f}**" for v in np.mean(rows, axis=0)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
