"""cartoonize.quality: PSNR and the warping error (flow on the source, forward-backward mask) on real clips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartoonize.quality import (FlowEstimator, WarpConfig, WarpingErrorMeter, fb_consistent, masked_mad, psnr,
                                warping_error, warping_errors)
from cartoonize.realtime.video_source import VideoSource


def read_frames(path, count: int) -> list[np.ndarray]:
    source = VideoSource.open(path, warn=lambda m: None)
    return [item.rgb_u8_hwc for item, _ in zip(source.frames(), range(count))]


def with_noise(frames: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    """Independent Gaussian noise on each frame: the worst flicker a stylisation could add."""
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]


@pytest.fixture(scope="module")
def bikes5(bikes_clip) -> list[np.ndarray]:
    return read_frames(bikes_clip, 5)


@pytest.fixture(scope="module")
def carphone12(carphone_clip) -> list[np.ndarray]:
    return read_frames(carphone_clip, 12)


def test_psnr_known_values():
    a = np.zeros((4, 5, 3), np.uint8)
    assert psnr(a, a) == math.inf
    b = a.copy()
    b[...] = 1                                     # MSE 1 -> 20 log10(255)
    assert psnr(a, b) == pytest.approx(48.1308, abs=1e-3)
    with pytest.raises(ValueError):
        psnr(a, b[:, :4])


@pytest.mark.parametrize("clip", ["bikes5", "carphone12"])
def test_clip_against_itself_is_one_and_noise_is_over_five(clip, request):
    frames = request.getfixturevalue(clip)
    results = warping_errors(frames, {"self": frames, "noise": with_noise(frames, 25)}, steps=(1,))
    r = results[1]
    assert r.pairs == len(frames) - 1
    assert 0 < r.source < 5                        # real footage, flow right where the mask keeps it
    assert round(r.ratio("self"), 2) == 1.00
    assert r.ratio("noise") > 5
    assert 0.5 < r.mask_fraction <= 1.0


def test_warping_beats_no_warping_on_a_shifted_frame(bikes5):
    # A frame and the same frame moved 6 px right, 3 px down: warping along the flow must undo the move.
    frame = bikes5[0]
    moved = np.roll(frame, (3, 6), axis=(0, 1))
    flow = FlowEstimator().between(moved, frame)
    unwarped = masked_mad(moved, frame, flow.mask_bool_hw)
    warped = masked_mad(moved, flow.warp(frame), flow.mask_bool_hw)
    assert warped < 0.25 * unwarped
    # The wrapped-around strips have no match in the other frame: most of them must be masked out.
    assert flow.mask_bool_hw[:, :6].mean() < 0.5


def test_forward_backward_check():
    h, w = 10, 12
    zero = np.zeros((h, w, 2), np.float32)
    assert fb_consistent(zero, zero).all()
    right = zero.copy()
    right[..., 0] = 2.0                            # t -> t-1 goes 2 px right, and t-1 -> t goes back 2 px left
    left = -right
    mask = fb_consistent(right, left)
    assert mask[:, : w - 2].all() and not mask[:, w - 2:].any()   # matches beyond the right border fail
    assert not fb_consistent(right, right)[:, : w - 2].any()      # flows that do not undo each other fail


def test_long_range_step_sees_more_motion(carphone12):
    results = warping_errors(carphone12, {"self": carphone12}, steps=(1, 4))
    assert results[4].pairs == len(carphone12) - 4
    assert results[4].source > results[1].source
    assert results[4].ratio("self") == pytest.approx(1.0)


def test_single_video_helper_and_bad_input(carphone12):
    r = warping_error(carphone12[:4], carphone12[:4], step=2, config=WarpConfig(flow_max_side=64, preset="fast"))
    assert r.pairs == 2 and r.ratio() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 5 frames"):
        warping_error(carphone12[:3], carphone12[:3], step=4)
    with pytest.raises(ValueError, match="ends at frame 2"):
        warping_error(carphone12[:4], carphone12[:2])
    meter = WarpingErrorMeter()
    meter.add(carphone12[0], {"a": carphone12[0]})
    with pytest.raises(ValueError, match="same stylised videos"):
        meter.add(carphone12[1], {"b": carphone12[1]})
    with pytest.raises(ValueError, match="uint8"):
        meter.add(carphone12[1], {"a": carphone12[1].astype(np.float32)})
    with pytest.raises(ValueError):
        WarpConfig(preset="slowest")
