"""Reduced internal resolution with guided upsampling, and overlapping tiles."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cartoonize.engines.backend import BackendConfig, load_backend
from cartoonize.quality import psnr as psnr_u8
from cartoonize.engines.opencv_backend import OpenCVBackend
from cartoonize.engines.resize import (ResolutionConfig, guided_upsample, infer_tiled, internal_size,
                                       with_resolution)
from cartoonize.errors import BadInputError

from engines_fixtures import real_frames, tiny_weights


@pytest.fixture(scope="module")
def bunny_frames(bunny_clip):
    # Two real 720p frames brought to 640x360 to keep the classic filter quick.
    return np.stack([cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in real_frames(bunny_clip, 2, 50)])


def test_internal_size_respects_scale_and_max_side():
    assert internal_size(1920, 1080, ResolutionConfig(scale=0.5)) == (960, 540)
    assert internal_size(1920, 1080, ResolutionConfig(max_side=1280)) == (1280, 720)
    assert internal_size(1920, 1080, ResolutionConfig(scale=0.5, max_side=1280)) == (960, 540)
    assert internal_size(640, 360, ResolutionConfig(max_side=1280)) == (640, 360)   # never upscales
    for bad in ({"scale": 0.0}, {"scale": 1.5}, {"max_side": 4}, {"tile": 40, "overlap": 32}):
        with pytest.raises(BadInputError):
            ResolutionConfig(**bad)


def test_guided_upsampling_beats_bilinear_against_full_resolution(bunny_frames):
    """The classic filter (strong edges, flat colours) at half size, brought back two ways."""
    classic = OpenCVBackend()
    for frame in bunny_frames:
        full = classic.infer(frame[None])[0]
        small = cv2.resize(frame, (320, 180), interpolation=cv2.INTER_AREA)
        small_out = classic.infer(small[None])[0]
        bilinear = cv2.resize(small_out, (640, 360), interpolation=cv2.INTER_LINEAR)
        guided = guided_upsample(small, small_out, frame)
        assert psnr_u8(guided, full) > psnr_u8(bilinear, full) + 0.5


def test_guided_upsampling_reproduces_a_locally_linear_style_exactly_enough():
    """If the style is an affine colour change, the guided filter recovers it at full resolution."""
    rng = np.random.default_rng(0)
    full = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (0, 0), 2)
    style = lambda f: np.clip(f.astype(np.float32) * 0.6 + 60, 0, 255).round().astype(np.uint8)  # noqa: E731
    small = cv2.resize(full, (80, 60), interpolation=cv2.INTER_AREA)
    assert psnr_u8(guided_upsample(small, style(small), full), style(full)) > 40


def test_tiles_match_the_whole_frame(tmp_path, carphone_clip):
    identity = lambda batch: batch.copy()  # noqa: E731
    frames = real_frames(carphone_clip, 2)
    assert np.array_equal(infer_tiled(identity, frames, 64, 16), frames)   # weights sum to one everywhere
    with load_backend(BackendConfig(backend="onnxruntime", weights=tiny_weights(tmp_path, "fast"))) as backend:
        whole = backend.infer(frames)
        tiled = infer_tiled(backend.infer, frames, 96, 32)
        assert tiled.shape == whole.shape
        assert psnr_u8(tiled, whole) > 35


def test_wrapper_keeps_shape_and_names_the_setting(tmp_path, bunny_frames):
    # The plain tiny generator: its random output is far from the input, so "close to full resolution,
    # far from the input" below is a clear-cut check (the norm/colour options pull a random net toward it).
    weights = tiny_weights(tmp_path, "fast", detail=False, norm=False, colour=False)
    with load_backend(BackendConfig(backend="onnxruntime", weights=weights)) as backend:
        assert with_resolution(backend, ResolutionConfig()) is backend
        wrapped = with_resolution(backend, ResolutionConfig(max_side=320, tile=128, overlap=16))
        out = wrapped.infer(bunny_frames)
        assert out.shape == bunny_frames.shape and out.dtype == np.uint8
        assert "max side 320" in wrapped.style and wrapped.name == "onnxruntime"
        # Close to running at full resolution, far from the unstyled input.
        full = backend.infer(bunny_frames)
        assert psnr_u8(out, full) > psnr_u8(bunny_frames, full) + 3


class _SizeRecorder:
    """A CPU or GPU stand-in backend that records the frame sizes it is given."""

    name, precision, style = "recorder", "fp32", "rec"

    def __init__(self, device: str):
        self.device = device
        self.sizes: list[tuple[int, int]] = []

    def infer(self, rgb_u8_nhwc):
        self.sizes.append(rgb_u8_nhwc.shape[1:3])
        return rgb_u8_nhwc

    def close(self):
        pass


def test_a_style_runs_at_its_trained_scale_on_a_cpu_unless_told_otherwise():
    from cartoonize.engines.resize import at_trained_scale
    open_ = ResolutionConfig()
    chosen = at_trained_scale(open_, 640, "cpu")
    assert chosen.max_side == 640 and chosen.trained_side and "trained scale" in chosen.describe()
    assert at_trained_scale(open_, 640, "cuda:0") == ResolutionConfig(scale=1.0)     # GPUs: full size
    assert at_trained_scale(open_, None, "cpu") == ResolutionConfig(scale=1.0)        # nothing recorded
    assert at_trained_scale(ResolutionConfig(scale=1.0), 640, "cpu") == ResolutionConfig(scale=1.0)  # explicit
    assert at_trained_scale(ResolutionConfig(max_side=320), 640, "cpu").max_side == 320
    frame = np.zeros((1, 720, 1280, 3), np.uint8)
    cpu, gpu = _SizeRecorder("cpu"), _SizeRecorder("cuda:0")
    with_resolution(cpu, open_, 640).infer(frame)
    with_resolution(gpu, open_, 640).infer(frame)
    assert cpu.sizes == [(360, 640)] and gpu.sizes == [(720, 1280)]


def test_trained_side_comes_from_the_weights_metadata(tmp_path):
    from cartoonize.engines.backend import trained_side_of
    from cartoonize.generators import build_generator
    from cartoonize.weights import save_generator
    net = build_generator("fast", {"width": 8, "blocks": 1})
    with_side, without = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_generator(net, with_side, architecture="fast", args={"width": 8, "blocks": 1}, style="a", license="MIT",
                   work_side=512)
    save_generator(net, without, architecture="fast", args={"width": 8, "blocks": 1}, style="b", license="MIT")
    assert trained_side_of(BackendConfig(weights=with_side)) == 512
    assert trained_side_of(BackendConfig(weights=without)) is None
    assert trained_side_of(BackendConfig(style="classic")) is None


def test_painted_halves_are_the_resolution_backend(bunny_frames):
    # The measuring tools (cartoonize-eval --style, quality_table) stabilise between the two halves; with
    # nothing in between they must give exactly what cartoonize-video's wrapper gives.
    from cartoonize.engines.resize import ResolutionBackend, back_to_full_size, painted_input
    config = ResolutionConfig(max_side=320)
    engine = ResolutionBackend(OpenCVBackend(), config)
    frame = bunny_frames[0]                                       # 640x360
    small = painted_input(frame, config)
    assert small.shape == (180, 320, 3)
    halves = back_to_full_size(small, OpenCVBackend().infer(small[None])[0], frame, config)
    assert np.array_equal(halves, engine.infer(frame[None])[0])
    assert painted_input(small, config) is small                 # already at the painted size: untouched
