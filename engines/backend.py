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

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from cartoonize.errors import BackendUnavailableError, BadInputError
from cartoonize.styles import DEFAULT_STYLE, Style, generator_style, resolve_style
from cartoonize.weights import read_metadata

BACKEND_NAMES = ("auto", "torch", "opencv")


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
    backend: str = "auto"          # auto | torch | opencv
    style: str = DEFAULT_STYLE     # bundled style name (ignored when weights is set)
    weights: Path | None = None    # a generator .safetensors file instead of a bundled style
    device: str = "cpu"            # cpu | cuda | cuda:N (torch backend)
    fp16: bool = False             # half-precision inference; refused where it cannot run
    channels_last: bool = True     # NHWC memory format for convolutions (faster on CPU and tensor cores)
    threads: int | None = None     # intra-op threads for CPU backends; None = library default


def describe(backend: Backend) -> str:
    """One line saying what runs: 'torch cpu fp32, style fast'."""
    return f"{backend.name} {backend.device} {backend.precision}, style {backend.style}"


def _style_of(config: BackendConfig) -> Style:
    if config.weights is None:
        return resolve_style(config.style)
    read_metadata(config.weights)   # a bad file fails here, before anything is announced or loaded
    return generator_style(config.weights)


def load_backend(config: BackendConfig, announce=lambda line: print(line, file=sys.stderr)) -> Backend:
    """Build the backend the config asks for. ``auto`` announces its choice and reason in one line."""
    style = _style_of(config)
    choice = config.backend
    if choice == "auto":
        choice, reason = _auto_choice(style, config)
        announce(f"backend auto: {choice} ({reason})")
    match choice:
        case "opencv":
            if style.kind != "filter":
                raise BadInputError(f"backend opencv runs only filter styles (classic); {style.name!r} is a "
                                    f"neural style: use --backend torch or auto")
            if config.fp16:
                raise BadInputError("--fp16 does not apply to the classic filter (it runs in uint8 on the CPU)")
            if config.device != "cpu":
                raise BadInputError(f"the classic filter runs on the CPU only, not on {config.device!r}")
            from .opencv_backend import OpenCVBackend
            return OpenCVBackend(style.name, threads=config.threads)
        case "torch":
            if style.kind != "generator":
                raise BadInputError(f"style {style.name!r} is a filter, not a neural network: use --backend opencv "
                                    f"or auto")
            from .torch_backend import TorchBackend
            return TorchBackend(style, device=config.device, fp16=config.fp16,
                                channels_last=config.channels_last, threads=config.threads)
        case _:
            raise BadInputError(f"unknown backend {config.backend!r}; choose from {', '.join(BACKEND_NAMES)}")


def _auto_choice(style: Style, config: BackendConfig) -> tuple[str, str]:
    if style.kind == "filter":
        return "opencv", f"style {style.name!r} is a non-neural filter"
    return "torch", f"PyTorch on {config.device}"
