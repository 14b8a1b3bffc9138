"""Run a backend at a reduced internal resolution, or in overlapping tiles, and return full-size frames.

Usage: ``engine = with_resolution(load_backend(config), ResolutionConfig(max_side=640))``

Reduced resolution (``--scale`` / ``--max-side``): the frame is shrunk (area averaging), stylized,
and brought back with *guided upsampling*: a fast guided filter (He & Sun 2015, "Fast Guided
Filter", arXiv:1505.00996) fits, in each small window of the low-resolution pair (input, output),
a per-channel linear map output = a * input + b; the maps a and b are smooth, so they are
upsampled bilinearly and applied to the full-resolution input. Edges then come from the sharp
full-resolution frame instead of being blurred by interpolation, while colours and flat regions
come from the stylized output.

Tiling (``--tile``): frames too large for the device are cut into tiles of at most ``tile``
pixels a side that overlap by ``overlap`` pixels; each tile is stylized on its own and the
overlaps are cross-faded linearly, hiding seams. Generators with instance normalisation
(CartoonGAN) normalise per tile, so tiles can differ slightly in tone; the fast generator has no
normalisation and tiles agree closely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from cartoonize.errors import BadInputError
from cartoonize.frames import check_rgb_u8_nhwc

from .backend import WrappedBackend, start_infer


@dataclass(frozen=True)
class ResolutionConfig:
    scale: float | None = None    # the generator sees frames scaled by this factor per side (0 < scale <= 1);
                                  # None (and no max_side): the style's trained scale on a CPU, else 1
    max_side: int | None = None   # ...and at most this many pixels on the longer side (both may be given)
    tile: int | None = None       # run (scaled) frames in tiles of at most tile x tile pixels; None = whole
    overlap: int = 32             # pixels shared by neighbouring tiles, cross-faded to hide seams
    radius: int = 2               # guided filter window radius, in low-resolution pixels
    eps: float = 1e-3             # guided filter regularisation on [0, 1] intensities: larger = smoother, fewer
                                  # details of the input come back; smaller = sharper, more of the input's texture

    trained_side: bool = False    # max_side was chosen from the style's trained scale (said in describe())

    def __post_init__(self) -> None:
        if self.scale is not None and not 0.0 < self.scale <= 1.0:
            raise BadInputError(f"--scale must be in (0, 1], got {self.scale}")
        if self.max_side is not None and self.max_side < 16:
            raise BadInputError(f"--max-side must be at least 16 pixels, got {self.max_side}")
        if self.overlap < 0:
            raise BadInputError(f"tile overlap must be >= 0, got {self.overlap}")
        if self.tile is not None and self.tile < max(32, 2 * self.overlap + 8):
            raise BadInputError(f"--tile {self.tile} is too small for an overlap of {self.overlap} px: "
                                f"use at least {max(32, 2 * self.overlap + 8)}")

    @property
    def resizes(self) -> bool:
        return (self.scale or 1.0) < 1.0 or self.max_side is not None

    @property
    def active(self) -> bool:
        return self.resizes or self.tile is not None

    def describe(self) -> str:
        parts = []
        if (self.scale or 1.0) < 1.0:
            parts.append(f"scale {self.scale:g}")
        if self.max_side is not None and self.trained_side:
            parts.append(f"at the style's trained scale, max side {self.max_side}, guided upsampling; "
                         f"--scale 1 for full resolution")
        elif self.max_side is not None:
            parts.append(f"max side {self.max_side}")
        if self.tile is not None:
            parts.append(f"tiles {self.tile}px overlap {self.overlap}")
        return ", ".join(parts) or "full resolution"


def internal_size(width: int, height: int, config: ResolutionConfig) -> tuple[int, int]:
    """The (width, height) the generator runs at; never larger than the frame."""
    factor = config.scale or 1.0
    if config.max_side is not None:
        factor = min(factor, config.max_side / max(width, height))
    if factor >= 1.0:
        return width, height
    return max(8, round(width * factor)), max(8, round(height * factor))


def guided_upsample(low_in: np.ndarray, low_out: np.ndarray, full_in: np.ndarray,
                    radius: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Upsample ``low_out`` to ``full_in``'s size, guided by the frame (all uint8 (H, W, 3) RGB).

    Channel c of the output is a locally linear function of channel c of the full-resolution input,
    with coefficients fitted at low resolution (fast guided filter, He & Sun 2015).
    """
    height, width = full_in.shape[:2]
    window = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:   # mean over each window
        return cv2.boxFilter(a, -1, window, borderType=cv2.BORDER_REFLECT)

    guide = low_in.astype(np.float32) * (1 / 255)
    target = low_out.astype(np.float32) * (1 / 255)
    mean_guide, mean_target = box(guide), box(target)
    covariance = box(guide * target) - mean_guide * mean_target
    variance = box(guide * guide) - mean_guide * mean_guide
    a = covariance / (variance + eps)
    b = mean_target - a * mean_guide
    # Averaging the coefficients over windows (the guided filter's second step) keeps them smooth,
    # which is what makes bilinear upsampling of a and b (not of the image) harmless.
    a_full = cv2.resize(box(a), (width, height), interpolation=cv2.INTER_LINEAR)
    b_full = cv2.resize(box(b) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
    # Full resolution is where the time goes: fused OpenCV calls, no numpy temporaries.
    out = cv2.multiply(full_in, a_full, dtype=cv2.CV_32F)
    cv2.add(out, b_full, dst=out)
    cv2.max(out, 0.0, dst=out)          # convertScaleAbs takes |x|: clamp negatives first
    return cv2.convertScaleAbs(out)     # rounds to nearest and saturates at 255


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length``, neighbours sharing >= ``overlap``."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    # Spread the tiles evenly; the last one ends exactly at the border.
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _ramp(size: int, fade_in: int, fade_out: int) -> np.ndarray:
    """1-D weights: linear from ~0 to 1 over the first ``fade_in`` pixels, 1, back down over ``fade_out``."""
    w = np.ones(size, np.float32)
    if fade_in:
        w[:fade_in] = (np.arange(fade_in, dtype=np.float32) + 0.5) / fade_in
    if fade_out:
        w[size - fade_out:] = np.minimum(w[size - fade_out:], (np.arange(fade_out, 0, -1, dtype=np.float32) - 0.5) / fade_out)
    return w


def infer_tiled(infer: Callable[[np.ndarray], np.ndarray], rgb_u8_nhwc: np.ndarray, tile: int,
                overlap: int) -> np.ndarray:
    """Stylize a batch tile by tile (all frames of the batch at once per tile) and cross-fade overlaps."""
    n, height, width, _ = rgb_u8_nhwc.shape
    rows, cols = _tile_starts(height, tile, overlap), _tile_starts(width, tile, overlap)
    if len(rows) == 1 and len(cols) == 1:
        return infer(rgb_u8_nhwc)
    total = np.zeros((n, height, width, 3), np.float32)
    weight = np.zeros((height, width, 1), np.float32)
    th, tw = min(tile, height), min(tile, width)
    for i, y in enumerate(rows):
        for j, x in enumerate(cols):
            out = infer(np.ascontiguousarray(rgb_u8_nhwc[:, y:y + th, x:x + tw]))
            # Fade only across the overlap actually shared with the neighbour on each side.
            up = rows[i - 1] + th - y if i > 0 else 0
            down = y + th - rows[i + 1] if i + 1 < len(rows) else 0
            left = cols[j - 1] + tw - x if j > 0 else 0
            right = x + tw - cols[j + 1] if j + 1 < len(cols) else 0
            w = _ramp(th, up, down)[:, None, None] * _ramp(tw, left, right)[None, :, None]
            total[:, y:y + th, x:x + tw] += out.astype(np.float32) * w
            weight[y:y + th, x:x + tw] += w
    return np.clip(total / weight + 0.5, 0, 255).astype(np.uint8)


class ResolutionBackend(WrappedBackend):
    """Wraps a backend: shrink, stylize (maybe in tiles), guided-upsample. Same protocol as any backend."""

    def __init__(self, inner, config: ResolutionConfig):
        super().__init__(inner, config.describe())
        self.config = config

    def _start(self, batch: np.ndarray) -> Callable[[], np.ndarray]:
        if self.config.tile is None:
            return start_infer(self.inner, batch)
        tiled = infer_tiled(self.inner.infer, batch, self.config.tile, self.config.overlap)
        return lambda: tiled

    def start(self, rgb_u8_nhwc: np.ndarray) -> Callable[[], np.ndarray]:
        """Shrink and paint now; the guided upsampling runs in the call returned (backend.start_infer)."""
        check_rgb_u8_nhwc(rgb_u8_nhwc)
        height, width = rgb_u8_nhwc.shape[1:3]
        if internal_size(width, height, self.config) == (width, height):
            return self._start(rgb_u8_nhwc)      # painted at full size: no copy of the batch
        small = np.stack([painted_input(frame, self.config) for frame in rgb_u8_nhwc])
        styled_later = self._start(small)
        return lambda: np.stack([back_to_full_size(s, o, f, self.config)
                                 for s, o, f in zip(small, styled_later(), rgb_u8_nhwc)])


def painted_input(rgb_u8_hwc: np.ndarray, config: ResolutionConfig) -> np.ndarray:
    """The frame at the size the style paints it (``internal_size``): shrunk by area averaging, or itself."""
    height, width = rgb_u8_hwc.shape[:2]
    size = internal_size(width, height, config)
    return rgb_u8_hwc if size == (width, height) else cv2.resize(rgb_u8_hwc, size, interpolation=cv2.INTER_AREA)


def back_to_full_size(small_in: np.ndarray, small_out: np.ndarray, full_in: np.ndarray,
                      config: ResolutionConfig) -> np.ndarray:
    """The painted output at ``full_in``'s size (guided upsampling), or itself when it was painted at full size.

    With ``painted_input``, the two halves of ``ResolutionBackend.infer``, for callers that work on the painted
    frames in between (the measuring tools stabilise there, as cartoonize-video does)."""
    if small_in.shape == full_in.shape:
        return small_out
    return guided_upsample(small_in, small_out, full_in, config.radius, config.eps)


def at_trained_scale(config: ResolutionConfig, work_side: int | None, device: str) -> ResolutionConfig:
    """Fill in a scale the user left open (``scale=None`` and no ``max_side``).

    A style learns strokes of a given size in pixels. On a CPU it runs at the size it was trained at
    (``work_side``: its longer side, from the weights' metadata), so that a 1080p video does not get
    strokes three times finer than a 360p one, and guided upsampling restores full size. On a GPU it
    runs at full resolution (the fast path can afford it). An explicit --scale or --max-side wins.
    """
    if config.scale is not None or config.max_side is not None:
        return config
    if work_side is not None and device.startswith("cpu"):
        return replace(config, scale=1.0, max_side=work_side, trained_side=True)
    return replace(config, scale=1.0)


def with_resolution(backend, config: ResolutionConfig, work_side: int | None = None):
    """``backend`` itself when ``config`` changes nothing, else wrapped in a ResolutionBackend.

    ``work_side`` is the style's trained size (``cartoonize.styles.trained_side``), used when the
    config leaves the scale open (see ``at_trained_scale``).
    """
    config = at_trained_scale(config, work_side, backend.device)
    return ResolutionBackend(backend, config) if config.active else backend
