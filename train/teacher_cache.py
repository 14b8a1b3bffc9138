"""Teacher outputs computed once and kept on disk, keyed by teacher, image content and size.

Usage: ``targets = cached_teacher_outputs("hayao-full.safetensors", teacher, images, Path("runs/teacher_cache"))``

A CartoonGAN teacher costs seconds per 640 px image on a CPU, so a distillation run computes each
target once: ``<cache>/<teacher key>/<image key>.png`` (lossless). The teacher key hashes the
weights' architecture and tensors (or the filter spec); the image key hashes the pixels and the shape, so a
different working size or colour jitter is a different entry. An interrupted run keeps what it
wrote (each file appears whole, by rename), and the next run computes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from cartoonize.files import write_atomic
from cartoonize.weights import read_metadata

Teacher = Callable[[np.ndarray], np.ndarray]


def teacher_key(spec: str) -> str:
    """A short hash naming the teacher: what decides its outputs, nothing else.

    For a weights file: the architecture, its arguments and the tensor bytes (the safetensors data
    section), not the rest of the metadata, so that a renamed style or an edited licence line keeps
    its cache. For a filter: the spec itself.
    """
    path = Path(spec)
    digest = hashlib.sha256()
    if path.is_file():
        meta = read_metadata(path)
        digest.update(json.dumps([meta.get("architecture"), meta.get("args")], sort_keys=True).encode())
        with open(path, "rb") as f:
            header_size = int.from_bytes(f.read(8), "little")   # safetensors: u64 header length, JSON header, data
            f.seek(8 + header_size)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(spec.encode())
    return digest.hexdigest()[:16]


def image_key(rgb_u8_hwc: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(rgb_u8_hwc).tobytes())
    digest.update(repr(rgb_u8_hwc.shape).encode())
    return digest.hexdigest()[:20]


def cached_teacher_outputs(spec: str, teacher: Teacher, images: list[np.ndarray], cache: Path,
                           progress: bool = True) -> list[np.ndarray]:
    """The teacher's output for every image, from ``cache`` where present, computed (and stored) otherwise."""
    folder = Path(cache) / teacher_key(spec)
    folder.mkdir(parents=True, exist_ok=True)
    outputs = []
    for img in tqdm(images, desc="teacher", unit="image", disable=not progress, file=sys.stderr):
        path = folder / f"{image_key(img)}.png"
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if bgr is not None and bgr.shape == img.shape:
            outputs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            continue
        out = teacher(img)
        ok, png = cv2.imencode(".png", cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
        if ok:
            write_atomic(png.tobytes(), path)
        outputs.append(out)
    return outputs
