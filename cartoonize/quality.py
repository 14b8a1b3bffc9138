"""Quality metrics for stylised video and images: temporal warping error and PSNR.

Usage:
    result = warping_error(source_frames, stylised_frames)   # iterables of uint8 (H, W, 3) RGB frames
    print(result.source, result.stylised, result.ratio)       # ratio 1.0: as stable as the source itself
    db = psnr(student_rgb_u8_hwc, teacher_rgb_u8_hwc)

Warping error (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018, eq. 9): optical
flow is computed on the *source* frames, from frame t back to frame t-k; the previous frame of a
video is warped along it onto frame t, and the error is the mean absolute difference between
frame t and that warped frame, counted only where the flow is trustworthy: a forward-backward
consistency check (Sundaram et al., ECCV 2010, as used by Ruder et al., GCPR 2016) drops occluded
and disoccluded pixels, and pixels whose flow leaves the frame are dropped too. Because the same
flow and mask are applied to the source and the stylised video, their errors compare directly:

    ratio = warping error of the stylised video / warping error of the source

The source's own error is not zero (flow is imperfect, lighting changes, compression noise), so
the ratio, not the raw number, says how much flicker the stylisation adds: 1.0 means none. Lai et
al. use squared differences on [0, 1]; this module uses mean absolute differences in 8-bit levels
(0..255), which reads directly as "levels of flicker per pixel" and is less dominated by the few
pixels where the flow is wrong. ``step=k`` > 1 gives the long-range variant (t against t-k), which
also catches slow drift that frame-to-frame numbers hide.

Flow is OpenCV's DIS (Kroeger et al., ECCV 2016) on grey frames scaled to at most
``WarpConfig.flow_max_side`` pixels, then scaled back up: the metric only needs flow that is right
where the mask keeps it, and the check drops the rest.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import cv2
import numpy as np

# DIS presets by name, so configs stay readable and JSON-friendly.
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of the same shape (inf when equal)."""
    if a.shape != b.shape:
        raise ValueError(f"psnr needs arrays of one shape, got {a.shape} and {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


# The engine-parity rule, against PyTorch fp32 as the reference (cartoonize-export's self-check, the GPU
# check, the engine tests): fp32 engines may differ by rounding only; fp16 ones by what stays invisible.
FP32_MAX_DIFF = 1          # levels (of 255)
FP16_MIN_PSNR_DB = 40.0    # dB over the whole frame


@dataclass(frozen=True)
class Parity:
    max_diff: int      # largest difference of any sample, levels
    psnr_db: float     # inf when identical
    ok: bool           # within the rule for the precision


def parity(got: np.ndarray, want: np.ndarray, fp16: bool) -> Parity:
    """Whether an engine's uint8 output ``got`` matches the fp32 reference ``want`` for its precision."""
    max_diff = int(np.abs(got.astype(np.int16) - want.astype(np.int16)).max())
    db = psnr(got, want)
    return Parity(max_diff, db, db >= FP16_MIN_PSNR_DB if fp16 else max_diff <= FP32_MAX_DIFF)


@dataclass(frozen=True)
class WarpConfig:
    flow_max_side: int = 640      # flow is computed with the longer side at most this many pixels, then upscaled
    preset: str = "medium"        # DIS preset: ultrafast | fast | medium (accuracy for the metric, not speed)
    fb_alpha: float = 0.01        # forward-backward check: |fb + bf|^2 <= alpha (|fb|^2 + |bf|^2) + beta
    fb_beta: float = 0.5          # ... (Sundaram et al. 2010's constants; beta in flow-resolution pixels^2)

    def __post_init__(self) -> None:
        if self.preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {self.preset!r}; one of {', '.join(DIS_PRESETS)}")
        if self.flow_max_side < 16:
            raise ValueError(f"flow_max_side must be at least 16, got {self.flow_max_side}")


@dataclass(frozen=True)
class ConsistentFlow:
    """Flow from frame t back to frame t-k at full resolution, with the pixels where it can be trusted."""
    map_xy_f32_hw2: np.ndarray    # for each pixel of frame t, where it was in frame t-k (absolute x, y): cv2.remap map
    mask_bool_hw: np.ndarray      # True where the forward-backward check passed and the match lies inside the frame

    def warp(self, previous_u8_hwc: np.ndarray) -> np.ndarray:
        """Frame t-k moved onto frame t's pixel grid (bilinear)."""
        return cv2.remap(previous_u8_hwc, self.map_xy_f32_hw2, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@functools.lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) float32 coordinates of every pixel, (H, W) each; cached per size and read-only."""
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid_x.flags.writeable = grid_y.flags.writeable = False
    return grid_x, grid_y


@functools.lru_cache(maxsize=8)
def pixel_grid_xy(height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y): the identity map of cv2.remap; cached per size, read-only."""
    grid = cv2.merge(list(pixel_grid(height, width)))
    grid.flags.writeable = False
    return grid


def grey_for_flow(rgb_u8_hwc: np.ndarray, max_side: int) -> np.ndarray:
    """uint8 grey frame with the longer side at most ``max_side`` (area averaging: no aliasing)."""
    h, w = rgb_u8_hwc.shape[:2]
    factor = max_side / max(h, w)
    if factor < 1.0:   # shrink first: the colour conversion then touches the small frame only
        rgb_u8_hwc = cv2.resize(rgb_u8_hwc, (max(8, round(w * factor)), max(8, round(h * factor))),
                                interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(rgb_u8_hwc, cv2.COLOR_RGB2GRAY)


@functools.lru_cache(maxsize=8)
def _low_res_grid_in_full_coordinates(low_h: int, low_w: int, height: int, width: int) -> np.ndarray:
    """Where each low-resolution pixel centre lies in the full-size frame, (low_h, low_w, 2) float32, read-only."""
    x = (np.arange(low_w, dtype=np.float32) + 0.5) * np.float32(width / low_w) - 0.5
    y = (np.arange(low_h, dtype=np.float32) + 0.5) * np.float32(height / low_h) - 0.5
    grid = cv2.merge(list(np.meshgrid(x, y)))
    grid.flags.writeable = False
    return grid


def fb_consistent(backward_f32_hw2: np.ndarray, forward_f32_hw2: np.ndarray,
                  alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """Bool (H, W) mask of pixels whose backward flow (t -> t-k) is undone by the forward flow (t-k -> t).

    A pixel x of frame t lands at x + b(x) in frame t-k; the forward flow there, f(x + b(x)), should
    bring it back: b + f ~ 0. Occluded pixels, and pixels where either flow is wrong, fail the
    check; the tolerance grows with the motion (Sundaram et al. 2010, eq. 5). Matches outside
    frame t-k fail too.
    """
    h, w = backward_f32_hw2.shape[:2]
    grid_x, grid_y = pixel_grid(h, w)
    # Channels split into contiguous planes: numpy reductions over a last axis of 2 are several times slower.
    bx, by = cv2.split(backward_f32_hw2)
    map_x, map_y = grid_x + bx, grid_y + by
    fx, fy = cv2.split(cv2.remap(forward_f32_hw2, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    round_trip = (bx + fx) ** 2 + (by + fy) ** 2
    tolerance = alpha * (bx * bx + by * by + fx * fx + fy * fy) + beta
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return (round_trip <= tolerance) & inside


class FlowEstimator:
    """DIS flow between two frames, at reduced resolution, checked forward-backward. One per thread."""

    def __init__(self, flow_max_side: int = 640, preset: str = "medium", fb_alpha: float = 0.01, fb_beta: float = 0.5,
                 *, finest_scale: int | None = None, refinement_iterations: int | None = None):
        """``finest_scale`` / ``refinement_iterations`` (None: the preset's) override two of the preset's DIS
        parameters: the finest pyramid level the patches are matched at (0 = the grey frame itself; the fast
        preset stops at 2, a quarter of it, and upsamples from there) and the variational refinement iterations
        per level (fast: 5), which cost most of the time at a finer level."""
        self.flow_max_side, self.fb_alpha, self.fb_beta = flow_max_side, fb_alpha, fb_beta
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        if finest_scale is not None:
            self._dis.setFinestScale(finest_scale)
        if refinement_iterations is not None:
            self._dis.setVariationalRefinementIterations(refinement_iterations)

    def grey(self, rgb_u8_hwc: np.ndarray) -> np.ndarray:
        return grey_for_flow(rgb_u8_hwc, self.flow_max_side)

    def low_res(self, grey_current: np.ndarray, grey_previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(backward flow t -> t-k, consistency mask), both at the grey frames' (reduced) size."""
        backward = self._dis.calc(grey_current, grey_previous, None)
        forward = self._dis.calc(grey_previous, grey_current, None)
        return backward, fb_consistent(backward, forward, self.fb_alpha, self.fb_beta)

    def backward_only(self, grey_current: np.ndarray, grey_previous: np.ndarray) -> np.ndarray:
        """Backward flow t -> t-k at the grey frames' (reduced) size, unchecked: half the cost of ``low_res``."""
        return self._dis.calc(grey_current, grey_previous, None)

    def full_res_map(self, backward_f32_hw2: np.ndarray, width: int, height: int) -> np.ndarray:
        """cv2.remap map (absolute source x, y per pixel) at ``width`` x ``height`` from a low-resolution flow.

        The absolute map is built at low resolution and upsampled in one bilinear pass: bilinear
        interpolation reproduces the pixel grid (a linear function) exactly, so this equals
        "upsample the flow, add the grid" except in the outermost half low-resolution pixel, where
        resize clamps (under 1 px of error at 2x, 2 px at 4x): one full-size pass instead of three.
        """
        low_h, low_w = backward_f32_hw2.shape[:2]
        if (low_w, low_h) == (width, height):
            return cv2.add(backward_f32_hw2, pixel_grid_xy(height, width))
        scale = np.float32((width / low_w, height / low_h))
        absolute = backward_f32_hw2 * scale + _low_res_grid_in_full_coordinates(low_h, low_w, height, width)
        return cv2.resize(absolute, (width, height), interpolation=cv2.INTER_LINEAR)

    def full_res(self, backward_f32_hw2: np.ndarray, mask_bool_hw: np.ndarray, width: int,
                 height: int) -> ConsistentFlow:
        """Upscale a low-resolution flow and mask to ``width`` x ``height`` (flow vectors scaled too)."""
        if mask_bool_hw.shape != (height, width):
            mask_bool_hw = cv2.resize(mask_bool_hw.astype(np.uint8), (width, height),
                                      interpolation=cv2.INTER_NEAREST).astype(bool)
        return ConsistentFlow(self.full_res_map(backward_f32_hw2, width, height), mask_bool_hw)

    def between(self, current_rgb_u8_hwc: np.ndarray, previous_rgb_u8_hwc: np.ndarray) -> ConsistentFlow:
        h, w = current_rgb_u8_hwc.shape[:2]
        backward, mask = self.low_res(self.grey(current_rgb_u8_hwc), self.grey(previous_rgb_u8_hwc))
        return self.full_res(backward, mask, w, h)


def masked_mad(current_u8_hwc: np.ndarray, warped_u8_hwc: np.ndarray, mask_bool_hw: np.ndarray) -> float:
    """Mean absolute difference in 8-bit levels over the masked pixels and all channels (nan if none)."""
    count = int(mask_bool_hw.sum())
    if count == 0:
        return float("nan")
    diff = cv2.absdiff(current_u8_hwc, warped_u8_hwc)
    return float(diff[mask_bool_hw].astype(np.float64).mean())


@dataclass(frozen=True)
class WarpingError:
    step: int                     # k: frame t compared with frame t-k
    source: float                 # mean warping error of the source video, 8-bit levels
    stylised: dict[str, float]    # ... of each stylised video, by name
    pairs: int                    # frame pairs averaged (pairs with an empty mask are skipped)
    mask_fraction: float          # mean share of pixels the consistency check kept

    def ratio(self, name: str | None = None) -> float:
        """Stylised error / source error (nan when the source does not move at all)."""
        value = self.stylised[name] if name is not None else next(iter(self.stylised.values()))
        return value / self.source if self.source > 0 else float("nan")

    def as_dict(self) -> dict:
        return {"step": self.step, "pairs": self.pairs, "mask_fraction": self.mask_fraction, "source": self.source,
                "stylised": dict(self.stylised), "ratio": {n: self.ratio(n) for n in self.stylised}}


@dataclass
class WarpingErrorMeter:
    """Streaming warping error: feed frames in order with ``add``; memory holds only the last ``step`` frames.

    ``meter.add(source_rgb, {"toon": toon_rgb, "classic": classic_rgb})`` per frame, then ``meter.result()``.
    Flow is computed once per frame pair and shared by every video, so several styles cost one flow.
    """
    step: int = 1
    config: WarpConfig = field(default_factory=WarpConfig)

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError(f"step must be at least 1, got {self.step}")
        self._flow = FlowEstimator(self.config.flow_max_side, self.config.preset, self.config.fb_alpha,
                                   self.config.fb_beta)
        self._history: deque = deque(maxlen=self.step)   # (grey, source, stylised dict) of the last k frames
        self._sums: dict[str, float] = {}
        self._source_sum = 0.0
        self._mask_sum = 0.0
        self._pairs = 0
        self._names: tuple[str, ...] | None = None

    def add(self, source_rgb_u8_hwc: np.ndarray, stylised: Mapping[str, np.ndarray]) -> None:
        names = tuple(stylised)
        if self._names is None:
            self._names = names
            self._sums = {n: 0.0 for n in names}
        elif names != self._names:
            raise ValueError(f"every frame needs the same stylised videos {self._names}, got {names}")
        for name, frame in stylised.items():
            if frame.shape != source_rgb_u8_hwc.shape or frame.dtype != np.uint8:
                raise ValueError(f"stylised frame {name!r} is {frame.dtype} {frame.shape}; "
                                 f"needs uint8 {source_rgb_u8_hwc.shape} like its source frame")
        grey = self._flow.grey(source_rgb_u8_hwc)
        if len(self._history) == self.step:
            old_grey, old_source, old_stylised = self._history[0]
            h, w = source_rgb_u8_hwc.shape[:2]
            flow = self._flow.full_res(*self._flow.low_res(grey, old_grey), w, h)
            source_error = masked_mad(source_rgb_u8_hwc, flow.warp(old_source), flow.mask_bool_hw)
            if not math.isnan(source_error):
                self._pairs += 1
                self._source_sum += source_error
                self._mask_sum += float(flow.mask_bool_hw.mean())
                for name, frame in stylised.items():
                    self._sums[name] += masked_mad(frame, flow.warp(old_stylised[name]), flow.mask_bool_hw)
        self._history.append((grey, source_rgb_u8_hwc, dict(stylised)))

    def result(self) -> WarpingError:
        if self._pairs == 0:
            raise ValueError(f"no frame pairs {self.step} apart with trustworthy flow: the clip needs at least "
                             f"{self.step + 1} frames")
        n = self._pairs
        return WarpingError(self.step, self._source_sum / n, {k: v / n for k, v in self._sums.items()}, n,
                            self._mask_sum / n)


def warping_errors(source_frames: Iterable[np.ndarray], stylised: Mapping[str, Iterable[np.ndarray]],
                   steps: Sequence[int] = (1,), config: WarpConfig = WarpConfig()) -> dict[int, WarpingError]:
    """Warping error of several stylised versions of one source, for each step k; frames are read once, in order."""
    meters = [WarpingErrorMeter(k, config) for k in steps]
    iterators = {name: iter(frames) for name, frames in stylised.items()}
    for index, source in enumerate(source_frames):
        frames = {}
        for name, it in iterators.items():
            frame = next(it, None)
            if frame is None:
                raise ValueError(f"stylised video {name!r} ends at frame {index}, before its source")
            frames[name] = frame
        for meter in meters:
            meter.add(source, frames)
    return {meter.step: meter.result() for meter in meters}


def warping_error(source_frames: Iterable[np.ndarray], stylised_frames: Iterable[np.ndarray], step: int = 1,
                  config: WarpConfig = WarpConfig()) -> WarpingError:
    """Warping error of one stylised video against its source; ``result.ratio()`` is the headline number."""
    return warping_errors(source_frames, {"stylised": stylised_frames}, (step,), config)[step]


def feature_distance(features, a_rgb_u8_hwc: np.ndarray, b_rgb_u8_hwc: np.ndarray, layer: str = "relu4_3") -> float:
    """Relative L1 distance of deep features: sum |F(a) - F(b)| / sum |F(b)| at ``layer`` (0 = same features).

    ``features(rgb_m11_nchw, [layer]) -> {layer: tensor}`` is a feature network such as
    ``cartoonize.train.vgg.load_vgg("vgg16", weights)``. Relative, so the number does not depend on
    the layer's activation scale: 0.1 reads as "features 10% off the reference's". Perceptual
    distance in the sense of Johnson et al. (ECCV 2016); torch is imported only when this is called.
    """
    import torch

    from .frames import rgb_u8_hwc_to_nchw

    if a_rgb_u8_hwc.shape != b_rgb_u8_hwc.shape:
        raise ValueError(f"feature_distance needs images of one shape, got {a_rgb_u8_hwc.shape} and "
                         f"{b_rgb_u8_hwc.shape}")
    with torch.no_grad():
        fa = features(rgb_u8_hwc_to_nchw(a_rgb_u8_hwc), [layer])[layer]
        fb = features(rgb_u8_hwc_to_nchw(b_rgb_u8_hwc), [layer])[layer]
        return float((fa - fb).abs().sum() / fb.abs().sum().clamp_min(1e-12))
