"""Training images from folders and video files, and random augmented crops of them.

Usage: ``pool = ImagePool.load([Path("data/photos"), Path("clip.mp4")], max_side=640)``
       ``crops_u8_nhwc = pool.sample(rng, batch=8, crop=192)``

Everything is decoded once into memory at a working resolution (the longer side at most
``max_side``, close to the frame sizes the styles run on), so a training step costs no disk I/O.
Videos contribute ``frames_per_video`` frames spread evenly over the clip. A file that cannot be
read is skipped with a warning; a path that does not exist, or a set with no usable image, is an
error that says what was looked at.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
import torch

from cartoonize.colour import decoded_rgb, stream_colour
from cartoonize.errors import BadInputError
from cartoonize.frames import rgb_u8_nhwc_to_nchw

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"}


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def list_media(paths: Iterable[Path]) -> list[Path]:
    """Image and video files named directly or found (recursively, sorted) in the given folders."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not found:
                raise BadInputError(f"{path}: folder has no images or videos "
                                    f"({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise BadInputError(f"{path}: no such file or folder")
    return files


MAX_PIXELS = 40_000_000   # larger images (poster-size clip art) would take gigabytes to decode


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG header without decoding; None for other files."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def read_image(path: Path) -> np.ndarray | None:
    """uint8 RGB (H, W, 3); transparent pixels (clip art) are laid on white. None if unreadable
    or larger than MAX_PIXELS."""
    size = png_size(path)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        return None
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        return None
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1, int(img.max())))
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[..., 3:].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_video_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over the clip, uint8 RGB; [] if it cannot be decoded."""
    import av
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            # Decoded like the inference pipeline decodes (matrix and range), so training sees the same colours.
            colour = stream_colour(stream.codec_context)
            total = stream.frames  # from the container header; 0 when unknown
            if total > 0:          # keep only the picked frames while decoding (constant memory)
                picks = set(np.linspace(0, total - 1, num=min(count, total)).round().astype(int).tolist())
                return [decoded_rgb(f, colour) for i, f in enumerate(container.decode(stream)) if i in picks]
            frames = [decoded_rgb(f, colour) for f in container.decode(stream)]
    except (av.FFmpegError, IndexError, OSError):
        return []
    picks = np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))] if frames else []


def fit_size(rgb_u8_hwc: np.ndarray, max_side: int, min_side: int) -> np.ndarray:
    """Shrink so the longer side is at most ``max_side``; grow if the shorter one is under ``min_side``."""
    h, w = rgb_u8_hwc.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    scale = max(scale, min_side / min(h, w))
    if abs(scale - 1.0) < 1e-6:
        return rgb_u8_hwc
    size = (max(min_side, round(w * scale)), max(min_side, round(h * scale)))
    return cv2.resize(rgb_u8_hwc, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


@dataclass(frozen=True)
class Jitter:
    brightness: float = 0.08   # +- fraction added to all channels
    contrast: float = 0.1      # +- fraction of contrast change around the crop's mean
    saturation: float = 0.1    # +- fraction of chroma change around grey


class ImagePool:
    """In-memory uint8 RGB images with random crops, flips and light colour jitter."""

    def __init__(self, images: list[np.ndarray], names: list[str]):
        if not images:
            raise BadInputError("no usable training images")
        self.images = images
        self.names = names

    @classmethod
    def load(cls, paths: Iterable[Path], max_side: int = 640, min_side: int = 256, frames_per_video: int = 24,
             limit: int | None = None, seed: int = 0, transform: Callable[[np.ndarray], np.ndarray] | None = None,
             warn: Callable[[str], None] = _warn) -> "ImagePool":
        """Decode the media under ``paths``; ``limit`` keeps a seeded random subset of the files."""
        paths = list(paths)
        files = list_media(paths)
        if limit is not None and len(files) > limit:
            keep = np.random.default_rng(seed).choice(len(files), size=limit, replace=False)
            files = [files[i] for i in sorted(keep)]
        images, names = [], []
        for f in files:
            if f.suffix.lower() in VIDEO_SUFFIXES:
                frames = read_video_frames(f, frames_per_video)
                if not frames:
                    warn(f"{f}: cannot decode video, skipped")
                named = [(fr, f"{f.name}#{i}") for i, fr in enumerate(frames)]
            else:
                img = read_image(f)
                if img is None:
                    warn(f"{f}: cannot read image, skipped")
                named = [] if img is None else [(img, f.name)]
            for img, name in named:
                h, w = img.shape[:2]
                if max(h, w) > 4 * min(h, w):   # banners and strips: upscaling them costs gigabytes
                    warn(f"{name}: {w}x{h} is too elongated for square crops, skipped")
                    continue
                img = fit_size(img, max_side, min_side)
                images.append(transform(img) if transform else img)
                names.append(name)
        if not images:
            raise BadInputError(f"no readable image or video among {len(files)} file(s) under "
                                f"{', '.join(map(str, paths))}")
        return cls(images, names)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, batch: int, crop: int, flip: bool = True,
               jitter: Jitter | None = Jitter(), paired: list[np.ndarray] | None = None
               ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """uint8 (batch, crop, crop, 3) random crops; with ``paired`` (images aligned with this pool's)
        the same crops of those too, without colour jitter (for teacher outputs made in advance)."""
        out = np.empty((batch, crop, crop, 3), np.uint8)
        out2 = np.empty_like(out) if paired is not None else None
        for b in range(batch):
            i = int(rng.integers(len(self.images)))
            img = self.images[i]
            h, w = img.shape[:2]
            c = min(crop, h, w)
            y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
            do_flip = flip and bool(rng.integers(2))
            patches = [img] if paired is None else [img, paired[i]]
            for k, src in enumerate(patches):
                p = src[y:y + c, x:x + c]
                if c != crop:
                    p = cv2.resize(p, (crop, crop), interpolation=cv2.INTER_CUBIC)
                if do_flip:
                    p = p[:, ::-1]
                (out if k == 0 else out2)[b] = p
            if jitter is not None and paired is None:
                out[b] = color_jitter(out[b], rng, jitter)
        return out if paired is None else (out, out2)


def color_jitter(rgb_u8_hwc: np.ndarray, rng: np.random.Generator, jitter: Jitter) -> np.ndarray:
    """Small random brightness, contrast and saturation changes (robustness to camera differences)."""
    x = rgb_u8_hwc.astype(np.float32)
    b, c, s = rng.uniform(-1, 1, size=3) * (jitter.brightness, jitter.contrast, jitter.saturation)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * (1.0 + s)
    x = (x - x.mean()) * (1.0 + c) + x.mean() + 255.0 * b
    return np.clip(x, 0, 255).round().astype(np.uint8)


def to_tensor(batch_u8_nhwc: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1] on ``device``."""
    return rgb_u8_nhwc_to_nchw(torch.from_numpy(np.ascontiguousarray(batch_u8_nhwc)), torch.float32).to(device)
