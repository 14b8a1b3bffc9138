"""ONNX Runtime backend, `auto` selection, honest errors, and cartoonize-video parity between onnxruntime and torch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cartoonize.engines.backend import BackendConfig, Hardware, _auto_choice, describe, load_backend
from cartoonize.errors import BackendUnavailableError, BadInputError
from cartoonize.styles import generator_style, resolve_style
from cartoonize.tools.video import main as video_main

from engines_fixtures import decoded_frames, real_frames, tiny_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_weights(tmp_path_factory.mktemp("weights"), "fast")


def test_backend_runs_batches_with_thread_setting_and_matches_torch(weights, carphone_clip):
    frames = real_frames(carphone_clip, 3)
    with load_backend(BackendConfig(backend="onnxruntime", weights=weights, threads=1)) as ort_backend, \
            load_backend(BackendConfig(backend="torch", weights=weights)) as torch_backend:
        assert describe(ort_backend).startswith("onnxruntime cpu fp32")
        got = ort_backend.infer(frames)
        assert np.abs(got.astype(np.int16) - torch_backend.infer(frames)).max() <= 1
        # Batches are independent: frame 1 alone gives what it gave inside the batch.
        assert np.array_equal(ort_backend.infer(frames[1:2]), got[1:2])


def test_frames_below_the_padding_step_are_a_clear_error(weights):
    with load_backend(BackendConfig(backend="onnxruntime", weights=weights)) as backend:
        with pytest.raises(BadInputError, match="too small"):
            backend.infer(np.zeros((1, 3, 40, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            backend.infer(np.zeros((1, 8, 8, 3), np.float32))


def test_gpu_execution_provider_missing_is_an_error_with_install_hint(weights):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider; tests/test_engines_gpu.py covers it")
    with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
        load_backend(BackendConfig(backend="onnxruntime", weights=weights, device="cuda"))
    with pytest.raises(BadInputError, match="does not run on device"):
        load_backend(BackendConfig(backend="onnxruntime", weights=weights, execution_provider="tensorrt"))


def test_explicit_gpu_backends_name_what_is_missing(weights):
    if importlib.util.find_spec("tensorrt") is None:
        with pytest.raises(BackendUnavailableError, match=r"cartoonize\[trt\]"):
            load_backend(BackendConfig(backend="tensorrt", weights=weights))
    with pytest.raises(BadInputError, match="CUDA"):
        load_backend(BackendConfig(backend="torch-compiled", weights=weights, device="cpu"))
    with pytest.raises(BadInputError, match="filter"):
        load_backend(BackendConfig(backend="onnxruntime", style="classic"))


# --- auto ----------------------------------------------------------------------------------------------

CPU_ONLY = Hardware(cuda_gpu=None, tensorrt=None, tensorrt_missing="no GPU", triton=False, onnxruntime=True)


def choose(config, hardware):
    chosen, reason = _auto_choice(generator_style(config.weights) if config.weights else resolve_style(config.style),
                                  config, hardware)
    return chosen.backend, chosen.device, chosen.fp16, reason


@pytest.mark.parametrize("hardware, device, expected", [
    (CPU_ONLY, None, ("onnxruntime", "cpu", False)),
    (Hardware("NVIDIA H100", "10.8.0", "", True, True), None, ("tensorrt", "cuda", True)),
    (Hardware("NVIDIA H100", None, "TensorRT 10 not installed", True, True), None, ("torch-compiled", "cuda", True)),
    (Hardware("NVIDIA H100", None, "TensorRT 10 not installed", False, True), "cuda:0", ("torch", "cuda:0", True)),
    (Hardware(None, None, "no GPU", False, False), None, ("torch", "cpu", False)),
    (Hardware("NVIDIA H100", "10.8.0", "", True, True), "cpu", ("onnxruntime", "cpu", False)),
])
def test_auto_picks_by_hardware(weights, hardware, device, expected):
    backend, chosen_device, fp16, reason = choose(BackendConfig(weights=weights, device=device), hardware)
    assert (backend, chosen_device, fp16) == expected
    assert reason


def test_auto_keeps_the_classic_filter_on_opencv_and_refuses_a_missing_gpu(weights):
    assert choose(BackendConfig(style="classic"), Hardware("NVIDIA H100", "10.8.0", "", True, True))[0] == "opencv"
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        choose(BackendConfig(weights=weights, device="cuda"), CPU_ONLY)


def test_auto_on_a_cpu_only_machine_loads_onnxruntime_and_says_why(weights, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    lines = []
    with load_backend(BackendConfig(weights=weights), announce=lines.append) as backend:
        assert backend.name == "onnxruntime"
    assert len(lines) == 1 and lines[0].startswith("backend auto: onnxruntime cpu (no CUDA GPU")


# --- cartoonize-video ----------------------------------------------------------------------------------

def test_video_onnxruntime_and_torch_give_matching_outputs_on_a_real_clip(weights, carphone_clip, tmp_path):
    outputs = {}
    for backend in ("onnxruntime", "torch", "auto"):
        out = tmp_path / f"{backend}.mp4"
        # crf 0: lossless H.264, so the comparison sees the backends, not the encoder.
        result = CliRunner().invoke(video_main, [str(carphone_clip), str(out), "--weights", str(weights),
                                                 "--backend", backend, "--crf", "0", "--batch-size", "4"])
        assert result.exit_code == 0, result.output
        outputs[backend] = np.stack(decoded_frames(out))
        if backend == "auto":
            assert "backend auto: onnxruntime" in result.stderr or "backend auto: tensorrt" in result.stderr \
                or "backend auto: torch-compiled" in result.stderr
    source = np.stack(decoded_frames(carphone_clip))
    assert outputs["onnxruntime"].shape == outputs["torch"].shape == source.shape   # 120 frames of 176x144
    diff = np.abs(outputs["onnxruntime"].astype(np.int16) - outputs["torch"])
    # One-level rounding differences before encoding stay within a few levels after 4:2:0 chroma, and rare.
    assert diff.max() <= 3 and diff.mean() < 0.01
    assert np.abs(outputs["torch"].astype(np.int16) - source).mean() > 3   # the style did change the clip


def test_video_scale_option_runs_at_reduced_size_and_restores_full_size(weights, carphone_clip, tmp_path):
    out = tmp_path / "half.mp4"
    result = CliRunner().invoke(video_main, [str(carphone_clip), str(out), "--weights", str(weights),
                                             "--backend", "onnxruntime", "--scale", "0.5"])
    assert result.exit_code == 0, result.output
    assert "scale 0.5" in result.stderr
    frames = decoded_frames(out)
    assert len(frames) == 120 and frames[0].shape == (144, 176, 3)


def test_tensorrt_provider_caches_each_model_in_its_own_folder(tmp_path):
    """ONNX Runtime names cached TensorRT engines after the graph's structure: two models with the same graph
    and other weights (a style recalibrated in place) must not share a folder, or one loads the other's engine."""
    from cartoonize.engines.ort_backend import OnnxRuntimeBackend
    paths = set()
    for sha in ("a" * 64, "b" * 64):
        options = dict(OnnxRuntimeBackend._providers("tensorrt", 0, True, tmp_path, sha)[0][1])
        assert options["trt_engine_cache_path"] == options["trt_timing_cache_path"]
        assert Path(options["trt_engine_cache_path"]).is_dir()
        paths.add(options["trt_engine_cache_path"])
    assert len(paths) == 2
