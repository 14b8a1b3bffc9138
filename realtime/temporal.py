"""Run-time temporal stabilisation: blend the previous output, moved along the optical flow, into each new frame.

Usage:
    stabiliser = TemporalStabiliser(TemporalConfig(strength=0.6))
    for source_rgb_u8_hwc, cartoon_rgb_u8_hwc in frames:
        shown_rgb_u8_hwc = stabiliser.step(source_rgb_u8_hwc, cartoon_rgb_u8_hwc)
    engine = with_resolution_and_temporal(load_backend(config), ResolutionConfig(), 640, TemporalConfig())
                                                         # the same as a Backend (file mode), at the painted size

Stylising each frame on its own makes video shimmer: a flat area changes colour band, a line
appears and disappears, although the source barely changed. This module works after any style and
any backend (it sees only uint8 frames): for frame t it

1. computes DIS optical flow (Kroeger et al., ECCV 2016) from the *source* frame t back to t-1 at
   reduced resolution (``flow_max_side``), matched finer than DIS's fast preset because sharp cartoon
   lines show sub-pixel flow errors; with ``fb_check`` also forwards, keeping the pixels that
   pass the forward-backward check (Sundaram et al., ECCV 2010). That check is off by default: step 2
   refuses occluded and badly matched pixels as well (tested on fast motion and on cuts) and one
   flow costs half of two;
2. warps the previous source frame along that flow and compares it with the current one: where
   they differ (new content, occlusion, lighting change, a flow error) the pixel is not
   blended, fading out between ``error_low`` and ``error_high`` grey levels; this gate is what
   stops ghosting, because the output is only pulled towards the previous output where the
   previous *source* really looks like the current one there;
3. treats a frame where fewer than ``cut_fraction`` of the pixels are reliable as a scene cut and
   starts again from the plain stylised frame (nothing is blended across a cut);
4. elsewhere outputs ``(1 - k) * stylised_t + k * warp(output_{t-1})`` with ``k = s w``, ``s`` the
   strength and ``w`` the reliability in [0, 1]. That is an exponential moving average along motion
   paths (the recurrence of Lai et al. 2018's and Ruder et al. 2016's short-term consistency, done
   at run time instead of in training): per-frame flicker of variance v drops to about
   v (1 - k) / (1 + k), while real changes still arrive within a few frames;
5. where the source did not change at all (warped error at most ``error_still`` grey levels) every
   change of the output is flicker, and ``k`` rises to the higher ``still_strength`` (0.75 at the
   default strength): still backgrounds are where shimmer shows most and where holding the picture
   cannot ghost. Not higher: a slow pan is "still" after motion compensation, and every frame held
   there is resampled once more along the flow (bilinear), so the held picture softens and drifts;
   and a slow fade arrives late (docs/QUALITY.md measures both).

Cost: one DIS flow at ``flow_max_side`` (2.7-3.3 ms at 320 px; 1.2-1.5 with the fast preset's own matching;
two with ``fb_check``), plus one remap and blend at the size of the frames it is given
(``with_resolution_and_temporal`` gives it the painted size: 640 px for a network at its trained scale on a
CPU, full size for a filter or on a GPU); memory: one previous frame and its small grey copy. In
``cartoonize-video`` this runs on a thread of its own, beside the network painting the next frame
(``TemporalBackend.start``, engines/backend.start_infer), which hides most of it on a 2-core CPU
(docs/BENCHMARKS.md, "Temporal stabilisation").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from cartoonize.errors import BadInputError
from cartoonize.engines.backend import WrappedBackend, start_infer
from cartoonize.engines.resize import with_resolution
from cartoonize.frames import check_rgb_u8_nhwc
from cartoonize.quality import DIS_PRESETS, FlowEstimator

DEFAULT_STRENGTH = 0.6


@dataclass(frozen=True)
class TemporalConfig:
    strength: float = DEFAULT_STRENGTH  # share of the warped previous output kept where flow is reliable; 0 = off
    flow_max_side: int = 320            # flow runs with the longer side at most this (cost vs. accuracy at edges)
    work_max_side: int | None = None    # warp and blend with the longer side at most this (None: the size given);
                                        # larger frames get the low-resolution correction upsampled. Off by default:
                                        # at 640 px the thin lines of the classic filter's 720p frame keep flickering
                                        # (docs/QUALITY.md); a network painted at 640 px is stabilised at 640 px
                                        # anyway, before its guided upsampling
    preset: str = "fast"                # DIS preset. One fast flow costs about what two ultrafast ones did, and its
                                        # sub-pixel accuracy matters: where the flow is off by a fraction of a pixel, a
                                        # sharp line blended onto itself still moves (docs/QUALITY.md)
    flow_finest_scale: int | None = 1   # DIS overrides of the preset (None: the preset's own; fast: 2 and 5). With 1
    flow_refinement: int | None = 2     # and 2 the flow matches down to half the flow size instead of a quarter: where a
                                        # style draws sharp lines, a flow off by a fraction of a pixel moves the held
                                        # line (CartoonGAN generators on bikes.mp4 0.95-1.03 instead of 1.13-1.17,
                                        # classic 0.78 instead of 0.92) for +1.4 ms a frame (+2.7 ms CPU), which the
                                        # completing thread of cartoonize-video hides (docs/QUALITY.md, "Sharper flow")
    fb_check: bool = False              # also compute the forward flow and drop pixels failing the forward-backward
                                        # check. Off: the warped-source gate below already refuses occlusions and bad
                                        # matches (tests: fast motion, cuts), and one flow instead of two halves the cost
    fb_alpha: float = 0.01              # forward-backward check constants (Sundaram et al. 2010)
    fb_beta: float = 0.5
    error_low: float = 6.0              # warped source differs by less than this (grey levels): blend fully...
    error_high: float = 18.0            # ...by more than this: do not blend (new content, lighting, bad flow)
    still_gain: float = 1.25            # where the source did not change (warped error <= error_still, rising from
    error_still: float = 2.0            # error_low) keep min(0.95, strength x still_gain) instead of strength
    cut_fraction: float = 0.35          # fewer reliable pixels than this share: a scene cut, start afresh

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise BadInputError(f"--temporal-strength must be in [0, 1) (1 would freeze the picture), "
                                f"got {self.strength}")
        if self.preset not in DIS_PRESETS:
            raise BadInputError(f"unknown flow preset {self.preset!r}; one of {', '.join(DIS_PRESETS)}")
        if min(self.flow_finest_scale or 0, self.flow_refinement or 0) < 0:
            raise BadInputError(f"flow_finest_scale and flow_refinement must be at least 0, got "
                                f"{self.flow_finest_scale}, {self.flow_refinement}")
        if self.flow_max_side < 16:
            raise BadInputError(f"flow_max_side must be at least 16 pixels, got {self.flow_max_side}")
        if not 0.0 <= self.error_still < self.error_low < self.error_high:
            raise BadInputError(f"need 0 <= error_still < error_low < error_high, got {self.error_still}, "
                                f"{self.error_low}, {self.error_high}")
        if self.still_gain < 1.0:
            raise BadInputError(f"still_gain must be at least 1, got {self.still_gain}")

    @property
    def still_strength(self) -> float:
        """The share kept where the source is still: any change of the output there is flicker, so keep more."""
        return max(self.strength, min(0.95, self.strength * self.still_gain))

    def describe(self) -> str:
        if self.strength == 0:
            return "temporal off"
        default_flow = (TemporalConfig.flow_finest_scale, TemporalConfig.flow_refinement)   # the fields' defaults
        note = "" if (self.flow_finest_scale, self.flow_refinement) == default_flow else ", custom flow"
        return f"temporal {self.strength:g}{note}"


@dataclass
class StepInfo:
    """What the last step did (tests, stats)."""
    blended: bool = False            # False: first frame, a size change, a reset or a scene cut
    scene_cut: bool = False
    reliable_fraction: float = 0.0   # mean blending weight before the strength factor


class TemporalStabiliser:
    """Stateful: feed frames in display order, one stream per instance (not thread-safe)."""

    def __init__(self, config: TemporalConfig = TemporalConfig()):
        self.config = config
        self._flow = FlowEstimator(config.flow_max_side, config.preset, config.fb_alpha, config.fb_beta,
                                   finest_scale=config.flow_finest_scale, refinement_iterations=config.flow_refinement)
        self.last = StepInfo()
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next frame comes out as stylised (after a style switch, a seek...)."""
        self._previous_grey: np.ndarray | None = None
        self._previous_out: np.ndarray | None = None

    def _remember(self, grey: np.ndarray, out_small: np.ndarray, info: StepInfo, out: np.ndarray) -> np.ndarray:
        """Keep this frame's grey source and its output at work size for the next step; return ``out``."""
        self._previous_grey, self._previous_out, self.last = grey, out_small, info
        return out

    def reliability(self, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(backward flow t -> t-1, share of the previous output to keep, mean reliability in [0, 1]), the first
        two at flow resolution, against the remembered frame."""
        c = self.config
        if c.fb_check:
            backward, consistent = self._flow.low_res(grey, self._previous_grey)
        else:
            backward, consistent = self._flow.backward_only(grey, self._previous_grey), np.float32(1.0)
        warped_grey = cv2.remap(self._previous_grey, self._flow.full_res_map(backward, *grey.shape[::-1]), None,
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = cv2.absdiff(grey, warped_grey).astype(np.float32)
        weight = np.clip((c.error_high - error) / (c.error_high - c.error_low), 0.0, 1.0) * consistent
        keep = weight * c.strength
        if c.still_strength > c.strength:
            # Where the source did not change at all, any change of the output is flicker: keep more.
            still = np.clip((c.error_low - error) / (c.error_low - c.error_still), 0.0, 1.0) * consistent
            keep += still * (c.still_strength - c.strength)
        # Shrink by a pixel (3x3 minimum), then soften the edges (3x3 mean). Shrunk: at flow resolution a pixel
        # spans several of a large frame, and the DIS flow is smooth across motion boundaries, so the rim of a
        # moving object must not be blended (test: no ghost of fast motion). Softened: a hard seam between
        # blended and fresh pixels would itself flicker.
        return backward, cv2.blur(cv2.erode(keep, np.ones((3, 3), np.uint8)), (3, 3)), float(weight.mean())

    def step(self, source_rgb_u8_hwc: np.ndarray, stylised_rgb_u8_hwc: np.ndarray) -> np.ndarray:
        """The stabilised version of ``stylised_rgb_u8_hwc`` (a new array; inputs are not modified)."""
        if source_rgb_u8_hwc.shape != stylised_rgb_u8_hwc.shape:
            raise ValueError(f"source {source_rgb_u8_hwc.shape} and stylised {stylised_rgb_u8_hwc.shape} "
                             f"frames differ in size")
        grey = self._flow.grey(source_rgb_u8_hwc)
        h, w = stylised_rgb_u8_hwc.shape[:2]
        work_w, work_h = work_size(w, h, self.config.work_max_side)
        small = stylised_rgb_u8_hwc if (work_w, work_h) == (w, h) else \
            cv2.resize(stylised_rgb_u8_hwc, (work_w, work_h), interpolation=cv2.INTER_AREA)
        previous = self._previous_out
        if (self.config.strength == 0.0 or previous is None or previous.shape != small.shape
                or self._previous_grey.shape != grey.shape):
            return self._remember(grey, small, StepInfo(), stylised_rgb_u8_hwc)
        backward, keep, reliable = self.reliability(grey)
        if reliable < self.config.cut_fraction:
            return self._remember(grey, small, StepInfo(False, True, reliable), stylised_rgb_u8_hwc)
        warped = cv2.remap(previous, self._flow.full_res_map(backward, work_w, work_h), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        # The weights as uint8, made at flow resolution, enlarged in one channel, then made three: saturating uint8
        # multiplies are SIMD in OpenCV, several times faster here than blendLinear or float arithmetic, and building
        # the weights small saves full-size passes (rounding costs at most 1 level).
        keep_u8 = cv2.resize(cv2.convertScaleAbs(keep, alpha=255.0), (work_w, work_h), interpolation=cv2.INTER_LINEAR)
        keep_u8_hwc = cv2.merge([keep_u8, keep_u8, keep_u8])
        out_small = cv2.add(cv2.multiply(warped, keep_u8_hwc, scale=1 / 255),
                            cv2.multiply(small, cv2.bitwise_not(keep_u8_hwc), scale=1 / 255))
        if (work_w, work_h) == (w, h):
            return self._remember(grey, out_small, StepInfo(True, False, reliable), out_small)
        # Larger frames: the change the blend made, upsampled, added to the full-size stylised frame.
        correction_i16_hwc = cv2.subtract(out_small, small, dtype=cv2.CV_16S)
        out = cv2.add(stylised_rgb_u8_hwc, cv2.resize(correction_i16_hwc, (w, h), interpolation=cv2.INTER_LINEAR),
                      dtype=cv2.CV_8U)
        return self._remember(grey, out_small, StepInfo(True, False, reliable), out)


def work_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) the blend runs at: the frame's, or scaled so the longer side is ``max_side``."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)
    return max(8, round(width * factor)), max(8, round(height * factor))


class TemporalBackend(WrappedBackend):
    """Wraps a backend: stylise, then stabilise each frame in order (frames must arrive in order).

    ``enabled`` (live mode): asked on every call; while it says no, frames pass unstabilised and the
    stabiliser forgets the past, so turning it back on never blends a stale frame. The style line then
    does not mention the stabiliser, since it can change while running.
    """

    def __init__(self, inner, config: TemporalConfig, enabled: Callable[[], bool] | None = None):
        super().__init__(inner, config.describe())
        if enabled is not None:
            self.style = inner.style
        self.config = config
        self.enabled = enabled
        self.stabiliser = TemporalStabiliser(config)

    def start(self, rgb_u8_nhwc: np.ndarray) -> Callable[[], np.ndarray]:
        """Stylise now; the stabiliser runs in the call returned (engines/backend.start_infer), in frame order."""
        check_rgb_u8_nhwc(rgb_u8_nhwc)
        stylised_later = start_infer(self.inner, rgb_u8_nhwc)

        def stabilised() -> np.ndarray:
            stylised = stylised_later()
            if self.enabled is not None and not self.enabled():
                self.stabiliser.reset()
                return stylised
            return np.stack([self.stabiliser.step(s, o) for s, o in zip(rgb_u8_nhwc, stylised)])
        return stabilised


def temporal_config(enabled: bool, strength: float | None, default_on: bool = False) -> TemporalConfig | None:
    """The command-line flags: ``--temporal`` (default strength), ``--no-temporal`` and/or ``--temporal-strength F``
    (0 = off). ``default_on``: the command stabilises without flags, so ``enabled`` False was asked for."""
    if strength is not None:
        if default_on and not enabled and strength > 0:
            raise BadInputError(f"--no-temporal and --temporal-strength {strength:g} contradict each other")
        return TemporalConfig(strength=strength) if strength > 0 else None
    return TemporalConfig() if enabled else None


def with_temporal(backend, config: TemporalConfig | None):
    """``backend`` itself when stabilisation is off (None or strength 0), else wrapped in a TemporalBackend."""
    return TemporalBackend(backend, config) if config is not None and config.strength > 0 else backend


def with_resolution_and_temporal(backend, resolution, work_side: int | None, config: TemporalConfig | None):
    """The file-mode engine: ``backend`` at the resolution asked for (engines/resize.py), stabilised.

    The stabiliser runs on the frames the style really paints: inside the resolution wrapper, before
    guided upsampling, when the style runs at a reduced size (a student at its trained 640 px on a
    1280x720 video warps and blends a quarter of the pixels: measured 4-8 ms a frame instead of 21-23,
    ratios 0.49-0.56 instead of 0.46-0.52 on the 720p sample, docs/QUALITY.md). The upsampling adds
    no flicker of its own: its detail comes from the source frame. With tiles the stabiliser stays
    outside, since the inner backend then sees one tile after another, not frames in order.
    """
    if resolution.tile is not None:
        return with_temporal(with_resolution(backend, resolution, work_side), config)
    return with_resolution(with_temporal(backend, config), resolution, work_side)
