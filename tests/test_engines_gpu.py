"""CUDA and TensorRT engines: parity with PyTorch fp32 on the CPU, the real engine cache, compiled FP16.

These need hardware and skip visibly without it (the reason is printed by ``-ra``). On a GPU
machine run ``python tools/gpu_check.py``: it runs this file, then checks parity and times every
available backend at 720p and 1080p.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from cartoonize.engines.backend import BackendConfig, load_backend
from cartoonize.quality import parity, psnr as psnr_u8

from engines_fixtures import real_frames, tiny_weights

HAS_CUDA = torch.cuda.is_available()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU visible to PyTorch; run tools/gpu_check.py on a GPU machine"),
]
needs_tensorrt = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None,
                                    reason="TensorRT not installed (pip install 'cartoonize[trt]')")
needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="no Triton for torch.compile")


def ort_has(provider: str) -> bool:
    import onnxruntime

    return provider in onnxruntime.get_available_providers()


@pytest.fixture(scope="module")
def setup(tmp_path_factory, carphone_clip):
    folder = tmp_path_factory.mktemp("gpu")
    weights = tiny_weights(folder, "fast", width=16, blocks=2)
    frames = real_frames(carphone_clip, 4)
    with load_backend(BackendConfig(backend="torch", weights=weights, device="cpu")) as cpu:
        reference = cpu.infer(frames)
    return weights, frames, reference, folder


def check(backend, frames, reference, fp16):
    got = backend.infer(frames)
    assert got.shape == frames.shape and got.dtype == np.uint8
    result = parity(got, reference, fp16)   # fp16: >= 40 dB; fp32: within 1 level (cartoonize.quality)
    assert result.ok, result


@pytest.mark.parametrize("fp16", [False, True])
def test_torch_cuda(setup, fp16):
    weights, frames, reference, _ = setup
    with load_backend(BackendConfig(backend="torch", weights=weights, device="cuda", fp16=fp16)) as backend:
        check(backend, frames, reference, fp16)


@needs_triton
def test_compiled_fp16_with_cuda_graphs_and_a_short_last_batch(setup):
    weights, frames, reference, _ = setup
    with load_backend(BackendConfig(backend="torch-compiled", weights=weights, fp16=True)) as backend:
        assert backend.precision == "fp16" and backend.device.startswith("cuda")
        check(backend, frames, reference, True)
        short = backend.infer(frames[:1])   # padded to the compiled batch inside, cropped back
        assert short.shape == frames[:1].shape and psnr_u8(short, reference[:1]) >= 40.0


@pytest.mark.parametrize("fp16", [False, True])
def test_onnxruntime_cuda_with_io_binding(setup, fp16):
    if not ort_has("CUDAExecutionProvider"):
        pytest.skip("onnxruntime without CUDAExecutionProvider (pip install onnxruntime-gpu)")
    weights, frames, reference, _ = setup
    with load_backend(BackendConfig(backend="onnxruntime", weights=weights, device="cuda", fp16=fp16)) as backend:
        check(backend, frames, reference, fp16)


def test_onnxruntime_tensorrt_provider(setup):
    if not ort_has("TensorrtExecutionProvider"):
        pytest.skip("onnxruntime without TensorrtExecutionProvider")
    weights, frames, reference, folder = setup
    with load_backend(BackendConfig(backend="onnxruntime", weights=weights, device="cuda", fp16=True,
                                    execution_provider="tensorrt", cache_dir=folder / "ort-cache")) as backend:
        check(backend, frames, reference, True)


@needs_tensorrt
@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_builds_caches_and_reuses_engines(setup, fp16):
    weights, frames, reference, folder = setup
    cache = folder / f"trt-{fp16}"
    lines: list[str] = []
    config = BackendConfig(backend="tensorrt", weights=weights, fp16=fp16, max_batch=2, cache_dir=cache)
    with load_backend(config, announce=lines.append) as backend:
        check(backend, frames, reference, fp16)   # batch 4 runs as two batches of 2
        plan = backend.engine_path
    assert any("building" in line for line in lines) and plan.is_file() and plan.with_suffix(".json").is_file()
    lines.clear()
    with load_backend(config, announce=lines.append) as backend:
        check(backend, frames, reference, fp16)
    assert any("loaded cached engine" in line for line in lines) and not any("building" in line for line in lines)
    # A corrupt plan is noticed and rebuilt, with the reason.
    plan.write_bytes(plan.read_bytes()[: plan.stat().st_size // 2])
    lines.clear()
    with load_backend(config, announce=lines.append) as backend:
        check(backend, frames, reference, fp16)
    assert any("corrupt" in line for line in lines)


@needs_tensorrt
def test_tensorrt_switches_engine_for_another_frame_size(setup):
    weights, frames, reference, folder = setup
    lines: list[str] = []
    with load_backend(BackendConfig(backend="tensorrt", weights=weights, fp16=True, cache_dir=folder / "trt-sizes"),
                      announce=lines.append) as backend:
        check(backend, frames, reference, True)
        crop = np.ascontiguousarray(frames[:, :64, :96])
        assert backend.infer(crop).shape == crop.shape
    assert any("outside the engine's profile" in line for line in lines)


def test_auto_uses_the_gpu_in_fp16_and_says_so(setup):
    weights, frames, reference, _ = setup
    lines: list[str] = []
    with load_backend(BackendConfig(weights=weights), announce=lines.append) as backend:
        assert backend.device.startswith("cuda") and backend.precision == "fp16"
        if backend.name == "torch-compiled":
            pytest.skip("auto picked torch-compiled: compiling here would repeat test_compiled_fp16")
        check(backend, frames, reference, True)
    assert lines[0].startswith("backend auto: ") and "fp16" in lines[0]


@pytest.fixture(scope="module")
def steady_setup(tmp_path_factory, carphone_clip):
    """A tiny CartoonGAN generator with steady statistics, and its CPU fp32 steady output."""
    from cartoonize.train.steady_statistics import with_steady_statistics
    from cartoonize.weights import load_generator, save_generator
    folder = tmp_path_factory.mktemp("gpu-steady")
    frames = real_frames(carphone_clip, 4)
    generator, meta = load_generator(tiny_weights(folder, "cartoongan"))
    weights = folder / "calibrated.safetensors"
    save_generator(with_steady_statistics(generator, frames), weights, architecture="cartoongan",
                   args={**meta["args"], "steady_statistics": True}, style="calibrated", license="MIT")
    with load_backend(BackendConfig(backend="torch", weights=weights, device="cpu", statistics="steady")) as cpu:
        reference = cpu.infer(frames)
    return weights, frames, reference, folder


@pytest.mark.parametrize("backend, fp16", [("torch", True), ("onnxruntime", True), ("tensorrt", True)])
def test_steady_statistics_on_the_gpu_engines(steady_setup, backend, fp16):
    """Video's steady statistics (a per-channel multiply-add in the export) on every GPU engine, in FP16."""
    if backend == "tensorrt" and importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT not installed (pip install 'cartoonize[trt]')")
    if backend == "onnxruntime" and not ort_has("CUDAExecutionProvider"):
        pytest.skip("onnxruntime without the CUDA execution provider (pip install onnxruntime-gpu)")
    weights, frames, reference, folder = steady_setup
    config = BackendConfig(backend=backend, weights=weights, device="cuda", fp16=fp16, statistics="steady",
                           max_batch=4, cache_dir=folder / "trt")
    with load_backend(config) as engine:
        assert "steady statistics" in engine.style
        check(engine, frames, reference, fp16)
