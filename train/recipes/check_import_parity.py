"""One-off check: the imported CartoonGAN generators against the upstream TensorFlow graph itself.

Usage (in a separate environment with tensorflow-cpu, torch and this project; not part of CI):
  python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install torch tensorflow-cpu opencv-python-headless \
      tf-keras safetensors click tqdm && /tmp/tfenv/bin/pip install --no-deps -e .
  git -C <mirror> archive HEAD style_transfer | tar -x -C /tmp/upstream     # mnicnc404/CartoonGan-tensorflow
  TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python train/recipes/check_import_parity.py /tmp/upstream data/sets/heldout --max-side 512

Upstream's graph code is written for the Keras 2 API (TensorFlow 2.0), so it runs unmodified under
tf-keras (TF_USE_LEGACY_KERAS=1; the script sets it). For each style and photo it builds upstream's ``load_model(style)`` (Keras layers fed straight from
the .npy files, the graph ``cartoonize.py`` uses), feeds it the photo as upstream does (BGR float
in [0, 255]), and compares its float output with this project's generator imported by
``cartoonize-prep cartoongan`` (RGB in [-1, 1]; fp32 and the fp16-stored copy), both before any
rounding to uint8. PSNR is over the [0, 255] scale. Prints a table; exits 1 if any fp32 pair is
below 45 dB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from cartoonize.train.import_cartoongan import STYLES, import_cartoongan
from cartoonize.weights import load_generator, save_generator


def psnr_255(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def load_photo(path: Path, max_side: int) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = bgr.shape[:2]
    s = min(1.0, max_side / max(h, w))
    # Multiples of 4 so that both graphs see the same size (upstream returns 4 * ceil(side / 4) otherwise).
    size = (max(4, int(w * s) // 4 * 4), max(4, int(h * s) // 4 * 4))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream", type=Path, help="folder holding style_transfer/cartoongan/ of CartoonGan-tensorflow")
    ap.add_argument("photos", type=Path, help="folder of real photos")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--count", type=int, default=4, help="photos per style")
    ap.add_argument("--styles", default=",".join(STYLES))
    args = ap.parse_args()
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")   # before TensorFlow is imported
    sys.path.insert(0, str(args.upstream))
    from style_transfer.cartoongan import cartoongan as upstream   # noqa: E402 - the reference graph

    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:args.count]
    torch.set_num_threads(2)
    worst = float("inf")
    print(f"{'style':8} {'photo':44} {'size':>9} {'fp32 dB':>8} {'fp16 dB':>8} {'max |d| fp32':>12}")
    for style in args.styles.split(","):
        reference = upstream.load_model(style)
        ours, meta = import_cartoongan(args.upstream / "style_transfer/cartoongan/pretrained_weights" / style, style)
        with tempfile.TemporaryDirectory() as tmp:
            stored = Path(tmp) / f"{style}.safetensors"
            save_generator(ours, stored, half=True, **meta)
            ours16, _ = load_generator(stored)   # fp16 tensors, computed in fp32 like the CPU backends do
        for path in photos:
            bgr = load_photo(path, args.max_side)
            ref_bgr = reference(bgr[None].astype(np.float32)).numpy()[0]      # BGR in [-1, 1]
            ref_rgb_255 = (ref_bgr[..., ::-1] + 1.0) * 127.5
            x = torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1])).permute(2, 0, 1)[None].float() / 127.5 - 1.0
            with torch.inference_mode():
                out = {name: (g(x)[0].permute(1, 2, 0).numpy() + 1.0) * 127.5 for name, g in
                       (("fp32", ours), ("fp16", ours16))}
            p32, p16 = psnr_255(out["fp32"], ref_rgb_255), psnr_255(out["fp16"], ref_rgb_255)
            worst = min(worst, p32)
            h, w = bgr.shape[:2]
            print(f"{style:8} {path.name[:44]:44} {w:>4}x{h:<4} {p32:8.2f} {p16:8.2f} "
                  f"{np.abs(out['fp32'] - ref_rgb_255).max():12.4f}", flush=True)
    print(f"worst fp32 PSNR: {worst:.2f} dB")
    return 0 if worst >= 45 else 1


if __name__ == "__main__":
    sys.exit(main())
