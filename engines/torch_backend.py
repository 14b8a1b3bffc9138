"""PyTorch inference of a generator: CPU or CUDA, fp32 or fp16, channels_last, batched.

Usage: ``with TorchBackend(resolve_style("hayao"), device="cpu") as b: out = b.infer(rgb_u8_nhwc)``
"""

from __future__ import annotations

import numpy as np
import torch

from cartoonize.errors import BackendUnavailableError, BadInputError
from cartoonize.frames import check_rgb_u8_nhwc
from cartoonize.generators import RgbU8Model
from cartoonize.styles import Style
from cartoonize.weights import load_generator


def resolve_torch_device(device: str) -> torch.device:
    """Parse ``cpu``/``cuda``/``cuda:N``; BackendUnavailableError if CUDA is asked for and absent."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise BadInputError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device {device!r} asked for but no CUDA GPU is usable by this PyTorch "
                f"({torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); install a CUDA build of torch "
                f"or use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        if dev.index >= torch.cuda.device_count():
            raise BackendUnavailableError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise BadInputError(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    return dev


class TorchBackend:
    name = "torch"

    def __init__(self, style: Style, device: str = "cpu", fp16: bool = False,
                 channels_last: bool = True, threads: int | None = None):
        if style.weights is None:
            raise ValueError(f"style {style.name!r} has no generator weights")
        self.style = style.label
        dev = resolve_torch_device(device)
        self.device = str(dev)
        self.precision = "fp16" if fp16 else "fp32"
        if threads is not None:
            torch.set_num_threads(threads)
        dtype = torch.float16 if fp16 else torch.float32
        if fp16 and dev.type == "cpu" and not _cpu_supports_fp16_conv():
            raise BackendUnavailableError("fp16 convolutions are not supported by this PyTorch on the CPU; "
                                          "drop --fp16 or use a CUDA device")
        generator, self.metadata = load_generator(style.weights, style.statistics)
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._model = RgbU8Model(generator.to(device=dev, dtype=dtype, memory_format=self._memory_format),
                                 compute_dtype=dtype).eval()
        self._dev = dev

    @torch.inference_mode()
    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        check_rgb_u8_nhwc(rgb_u8_nhwc)
        batch = torch.from_numpy(np.ascontiguousarray(rgb_u8_nhwc)).to(self._dev, non_blocking=True)
        # uint8 NHWC permuted to NCHW is already channels_last in memory; keep it that way.
        out = self._model(batch)
        return out.cpu().numpy()

    def close(self) -> None:
        self._model = None
        if self._dev.type == "cuda":
            torch.cuda.empty_cache()

    def __enter__(self) -> "TorchBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cpu_supports_fp16_conv() -> bool:
    try:
        x = torch.zeros(1, 1, 4, 4, dtype=torch.float16)
        torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3, dtype=torch.float16))
        return True
    except RuntimeError:
        return False
