"""The Backend protocol every inference engine implements, and explicit backend selection.

Usage:
    with load_backend(BackendConfig(style="classic")) as backend:
        rgb_u8_nhwc_out = backend.infer(rgb_u8_nhwc_in)

A backend turns a batch of uint8 RGB frames (N, H, W, 3) into cartoon frames of the same shape
and dtype. Conversions to float and normalisation happen inside the backend, so the pipeline only
moves uint8 frames. Asking for a backend that cannot run here is an error naming what is missing;
nothing is substituted silently.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from cartoonize.errors import BackendUnavailableError, BadInputError
from cartoonize.styles import (DEFAULT_STYLE, Style, generator_style, has_steady_statistics, resolve_style,
                               trained_side)
from cartoonize.weights import read_metadata

BACKEND_NAMES = ("auto", "torch", "torch-compiled", "onnxruntime", "tensorrt", "opencv")


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs from an inference engine."""

    name: str        # "torch", "opencv", ...
    device: str      # "cpu", "cuda:0", ...
    precision: str   # "fp32", "fp16", "uint8" (filters)
    style: str       # style name, or the weights file's stem

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) RGB -> uint8 (N, H, W, 3) RGB. Thread-safe for one caller at a time."""
        ...

    def close(self) -> None:
        """Release devices and memory. Idempotent."""
        ...

    def __enter__(self) -> "Backend": ...

    def __exit__(self, *exc) -> None: ...


@dataclass(frozen=True)
class BackendConfig:
    backend: str = "auto"          # one of BACKEND_NAMES
    style: str = DEFAULT_STYLE     # bundled style name (ignored when weights is set)
    weights: Path | None = None    # generator .safetensors (any backend) or cartoonize-export .onnx (onnxruntime,
                                   # tensorrt) instead of a bundled style
    device: str | None = None      # cpu | cuda | cuda:N; None: auto picks, torch and onnxruntime use the CPU,
                                   # tensorrt and torch-compiled the first CUDA GPU
    fp16: bool = False             # half-precision inference; refused where it cannot run
    channels_last: bool = True     # NHWC memory format for convolutions (faster on CPU and tensor cores)
    threads: int | None = None     # intra-op threads for CPU backends; None = library default
    execution_provider: str | None = None  # onnxruntime: cpu | cuda | tensorrt; None follows device
    max_batch: int = 1             # most frames per infer call a TensorRT engine is built for
    frame_sizes: tuple[tuple[int, int], ...] = ()  # (width, height) TensorRT engines must take; () = first frame's
    cache_dir: Path | None = None  # TensorRT engine cache; None = $CARTOONIZE_CACHE_DIR or ~/.cache/cartoonize/engines
    statistics: str = "frame"      # "steady": the style's stored norm statistics instead of each frame's own
                                   # (CartoonGAN generators, for video: see for_video)


class WrappedBackend:
    """Base of the backends that wrap another (reduced resolution, temporal stabilisation): they keep the
    inner backend's name, device and precision, add their setting to its style, and close it with them.

    Subclasses implement ``start`` (see ``start_infer``): the inner backend's part now, their own work
    (upsampling, stabilising) in the call it returns; ``infer`` is the two run back to back."""

    def __init__(self, inner: Backend, setting: str):
        self.inner = inner
        self.name = inner.name
        self.device = inner.device
        self.precision = inner.precision
        self.style = f"{inner.style} ({setting})"

    def start(self, rgb_u8_nhwc: np.ndarray) -> Callable[[], np.ndarray]:
        raise NotImplementedError

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        return self.start(rgb_u8_nhwc)()

    def close(self) -> None:
        self.inner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_infer(backend: Backend, rgb_u8_nhwc: np.ndarray) -> Callable[[], np.ndarray]:
    """Stylise a batch in two parts, for a pipeline that runs them on two threads: the network runs now, on the
    caller's thread; the call returned does what the wrappers add after it (stabilising, guided upsampling) and
    returns the frames, as ``backend.infer`` would have.

    The returned calls must each be made once, in the order the batches were started (a stabiliser carries
    each frame's output to the next), but may overlap the next ``start_infer``: cartoonize-video completes
    frame t on its own thread while the network paints frame t+1, which hides most of the stabiliser's cost
    on a 2-core CPU (docs/BENCHMARKS.md)."""
    if isinstance(backend, WrappedBackend):
        return backend.start(rgb_u8_nhwc)
    rgb_u8_nhwc_out = backend.infer(rgb_u8_nhwc)
    return lambda: rgb_u8_nhwc_out


def describe(backend: Backend) -> str:
    """One line saying what runs: 'torch cpu fp32, style hayao'."""
    return f"{backend.name} {backend.device} {backend.precision}, style {backend.style}"


def _style_of(config: BackendConfig) -> Style:
    style = _named_style(config)
    if config.statistics == "frame":
        return style
    if config.statistics != "steady":
        raise BadInputError(f"statistics must be 'frame' or 'steady', got {config.statistics!r}")
    if not has_steady_statistics(style):
        raise BadInputError(f"style {style.name!r} has no steady norm statistics (only the calibrated CartoonGAN "
                            f"generators do: cartoonize-prep steady-statistics)")
    return replace(style, statistics="steady")


def _named_style(config: BackendConfig) -> Style:
    if config.weights is None:
        return resolve_style(config.style)
    if Path(config.weights).suffix.lower() == ".onnx":
        from .onnx_export import load_onnx_file
        model = load_onnx_file(config.weights, config.fp16)   # a bad or mismatched file fails here, before loading
        # Exported with steady statistics (cartoonize-export --statistics steady): they are in the graph; say so.
        return replace(generator_style(config.weights), statistics=model.metadata.get("statistics", "frame"))
    read_metadata(config.weights)   # a bad file fails here, before anything is announced or loaded
    return generator_style(config.weights)


def for_video(config: BackendConfig, stabilised: bool) -> BackendConfig:
    """The config a video runs with: stabilised, a style that holds steady norm statistics uses them.

    A CartoonGAN generator normalises each frame by its own statistics, so anything entering the
    picture re-grades all of it; the flow-guided stabiliser cannot hold that back (bikes.mp4: 2.3-3.4x
    the source's flicker with it, 0.88-1.17x with steady statistics too; docs/QUALITY.md). So stabilising a
    video means both. Without stabilisation (--no-temporal) every frame gets the generator as trained.
    """
    if not stabilised or config.statistics != "frame":
        return config
    # Only the weights' header is read here (an .onnx file has none to offer: its graph is fixed); the full
    # checks are load_backend's.
    style = resolve_style(config.style) if config.weights is None else generator_style(config.weights)
    return replace(config, statistics="steady") if has_steady_statistics(style) else config


def trained_side_of(config: BackendConfig) -> int | None:
    """The trained working size of the config's style (None for filters and ONNX files); see engines/resize.py."""
    if config.weights is not None and Path(config.weights).suffix.lower() == ".onnx":
        return None
    return trained_side(_style_of(config))


def load_backend(config: BackendConfig, announce=lambda line: print(line, file=sys.stderr)) -> Backend:
    """Build the backend the config asks for. ``auto`` announces its choice and reason in one line."""
    style = _style_of(config)
    if config.backend == "auto":
        hardware = probe_hardware(config.device) if style.kind == "generator" else None
        config, reason = _auto_choice(style, config, hardware)
        announce(f"backend auto: {config.backend} {config.device}{' fp16' if config.fp16 else ''} ({reason})")
    if config.backend not in ("opencv", "auto") and style.kind != "generator":
        raise BadInputError(f"style {style.name!r} is a filter, not a neural network: use --backend opencv or auto")
    onnx_weights = style.weights is not None and style.weights.suffix.lower() == ".onnx"
    if onnx_weights and config.backend not in ("onnxruntime", "tensorrt"):
        raise BadInputError(f"{style.weights}: ONNX weights run on --backend onnxruntime or tensorrt, "
                            f"not {config.backend}; give the .safetensors file for {config.backend}")
    match config.backend:
        case "opencv":
            if style.kind != "filter":
                raise BadInputError(f"backend opencv runs only filter styles (classic); {style.name!r} is a "
                                    f"neural style: use --backend torch or auto")
            _check_filter_request(style, config)
            from .opencv_backend import OpenCVBackend
            return OpenCVBackend(style.name, threads=config.threads)
        case "torch":
            from .torch_backend import TorchBackend
            return TorchBackend(style, device=config.device or "cpu", fp16=config.fp16,
                                channels_last=config.channels_last, threads=config.threads)
        case "torch-compiled":
            from .compiled_torch import CompiledTorchBackend
            return CompiledTorchBackend(style, device=config.device or "cuda", fp16=config.fp16,
                                        channels_last=config.channels_last)
        case "onnxruntime":
            from .ort_backend import OnnxRuntimeBackend
            return OnnxRuntimeBackend(style, device=config.device or "cpu", fp16=config.fp16, threads=config.threads,
                                      provider=config.execution_provider, cache_dir=config.cache_dir)
        case "tensorrt":
            from .tensorrt_backend import TensorRTBackend
            return TensorRTBackend(style, device=config.device or "cuda", fp16=config.fp16, max_batch=config.max_batch,
                                   sizes=config.frame_sizes, cache_dir=config.cache_dir, log=announce)
        case _:
            raise BadInputError(f"unknown backend {config.backend!r}; choose from {', '.join(BACKEND_NAMES)}")


def check_request(config: BackendConfig) -> None:
    """What load_backend refuses without loading anything (unknown style, bad weights file, a filter with
    --fp16 or a GPU device): for commands that must refuse before opening a camera or other device."""
    style = _style_of(config)
    if style.kind == "filter" and config.backend in ("auto", "opencv"):
        _check_filter_request(style, config)


def _check_filter_request(style: Style, config: BackendConfig) -> None:
    """A filter runs in uint8 on the CPU: --fp16 or a GPU --device is refused, never silently dropped."""
    if config.fp16:
        raise BadInputError(f"--fp16 does not apply to the {style.name} filter (it runs in uint8 on the CPU)")
    if config.device not in (None, "cpu"):
        raise BadInputError(f"style {style.name!r} is a filter that runs on the CPU only, not on "
                            f"{config.device!r}: leave out --device or pick a neural style")


@dataclass(frozen=True)
class Hardware:
    """What ``auto`` decides on; ``probe_hardware`` fills it in, tests make their own."""

    cuda_gpu: str | None     # name of the CUDA GPU torch would use, None without one
    tensorrt: str | None     # TensorRT version when a TensorRT 10+ imports (probed only with a GPU)
    tensorrt_missing: str    # why not, for the announcement
    triton: bool             # torch.compile can generate CUDA kernels
    onnxruntime: bool        # ONNX Runtime imports


def probe_hardware(device: str | None) -> Hardware:
    """Look at this machine; GPU software is only probed when a GPU may be used (device not cpu)."""
    import torch

    gpu = None
    if device != "cpu" and torch.cuda.is_available():
        index = torch.device(device).index if device and ":" in device else torch.cuda.current_device()
        gpu = torch.cuda.get_device_name(index)
    trt_version, trt_missing = None, "no GPU"
    if gpu is not None:
        try:
            from .tensorrt_backend import import_tensorrt
            trt_version = import_tensorrt().__version__
        except BackendUnavailableError:
            trt_missing = "TensorRT 10 not installed"
    has_ort = importlib.util.find_spec("onnxruntime") is not None
    return Hardware(gpu, trt_version, trt_missing, importlib.util.find_spec("triton") is not None, has_ort)


def _auto_choice(style: Style, config: BackendConfig, hw: Hardware | None) -> tuple[BackendConfig, str]:
    """The fastest backend this machine runs, as a concrete config, and the reason in a few words.

    GPU: TensorRT, else torch.compile, else eager PyTorch, always FP16 (the announcement says so).
    CPU: ONNX Runtime (about 1.4x+ PyTorch on CPUs, see docs/BENCHMARKS.md), else PyTorch.
    An explicit --device is respected: cpu keeps auto on the CPU, cuda requires a GPU.
    """
    if style.kind == "filter":
        _check_filter_request(style, config)   # before the announcement: nothing is said about a refused run
        return replace(config, backend="opencv", device="cpu"), f"style {style.name!r} is a non-neural filter"
    onnx_weights = style.weights is not None and style.weights.suffix.lower() == ".onnx"
    if config.device not in (None, "cpu") and hw.cuda_gpu is None:
        raise BackendUnavailableError(f"--device {config.device} asked for but PyTorch sees no CUDA GPU; "
                                      f"install a CUDA build of torch or use --device cpu")
    if hw.cuda_gpu is not None and config.device != "cpu":
        gpu = replace(config, device=config.device or "cuda", fp16=True)
        if hw.tensorrt is not None:
            return replace(gpu, backend="tensorrt"), f"CUDA GPU {hw.cuda_gpu}, TensorRT {hw.tensorrt}"
        if onnx_weights:
            return replace(gpu, backend="onnxruntime", fp16=config.fp16), f"CUDA GPU, ONNX weights, {hw.tensorrt_missing}"
        if hw.triton:
            return replace(gpu, backend="torch-compiled"), f"CUDA GPU {hw.cuda_gpu}, {hw.tensorrt_missing}"
        return replace(gpu, backend="torch"), f"CUDA GPU {hw.cuda_gpu}, {hw.tensorrt_missing}, no Triton for torch.compile"
    why_cpu = "--device cpu" if config.device == "cpu" else "no CUDA GPU"
    if hw.onnxruntime:
        return replace(config, backend="onnxruntime", device="cpu"), f"{why_cpu}; ONNX Runtime is the fastest CPU engine"
    if onnx_weights:
        raise BackendUnavailableError("ONNX weights need ONNX Runtime: pip install onnxruntime")
    return replace(config, backend="torch", device="cpu"), f"{why_cpu}; ONNX Runtime not installed"
