"""PyTorch with ``torch.compile`` on CUDA (FP16 by default, CUDA graphs): a compiled engine without TensorRT.

Usage: ``with CompiledTorchBackend(resolve_style("hayao"), device="cuda", fp16=True) as b: out = b.infer(rgb_u8_nhwc)``

Inductor fuses the uint8 -> float conversion, padding and the generator's element-wise work into
Triton kernels; ``mode="reduce-overhead"`` records the whole forward as a CUDA graph, so a frame
costs one graph launch instead of dozens of kernel launches. CUDA graphs need static shapes: a
video keeps one frame size, and a short last batch is padded up to the batch size already
compiled instead of triggering a second compilation. The first batch of each shape compiles
(tens of seconds); later ones run at full speed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from cartoonize.errors import BackendUnavailableError, BadInputError
from cartoonize.frames import check_rgb_u8_nhwc
from cartoonize.generators import RgbU8Model
from cartoonize.styles import Style
from cartoonize.weights import load_generator

from .torch_backend import resolve_torch_device


class CompiledTorchBackend:
    name = "torch-compiled"

    def __init__(self, style: Style, device: str = "cuda", fp16: bool = True, channels_last: bool = True,
                 cuda_graphs: bool = True):
        if style.weights is None:
            raise ValueError(f"style {style.name!r} has no generator weights")
        if style.weights.suffix.lower() == ".onnx":
            raise BadInputError(f"{style.weights}: backend torch-compiled needs .safetensors weights, "
                                f"not ONNX; use --backend onnxruntime or tensorrt")
        dev = resolve_torch_device(device)
        if dev.type != "cuda":
            raise BadInputError(f"backend torch-compiled runs on CUDA GPUs, not on {device!r}; "
                                f"use --backend onnxruntime or torch on the CPU")
        if importlib.util.find_spec("triton") is None:
            raise BackendUnavailableError("torch.compile on CUDA needs Triton, which this PyTorch lacks: "
                                          "pip install triton (matching your torch version)")
        self.style = style.label
        self.device = str(dev)
        self.precision = "fp16" if fp16 else "fp32"
        dtype = torch.float16 if fp16 else torch.float32
        generator, self.metadata = load_generator(style.weights, style.statistics)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = RgbU8Model(generator.to(device=dev, dtype=dtype, memory_format=memory_format), compute_dtype=dtype)
        self._model = model.eval()
        self._cuda_graphs = cuda_graphs
        mode = "reduce-overhead" if cuda_graphs else "max-autotune-no-cudagraphs"
        # dynamic=False: one specialised graph per frame shape, which is what CUDA graphs require.
        self._compiled = torch.compile(self._model, mode=mode, dynamic=False, fullgraph=True)
        self._dev = dev
        self._batch_for: dict[tuple[int, int], int] = {}   # (height, width) -> batch size compiled for it

    @torch.inference_mode()
    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        check_rgb_u8_nhwc(rgb_u8_nhwc)
        n, height, width, _ = rgb_u8_nhwc.shape
        compiled_batch = self._batch_for.setdefault((height, width), n)
        if n > compiled_batch:   # a larger batch than before: compile for it once and keep using it
            self._batch_for[(height, width)] = compiled_batch = n
        batch = rgb_u8_nhwc
        if n < compiled_batch:   # pad a short (last) batch with copies of its last frame; cropped below
            batch = np.concatenate([batch, np.repeat(batch[-1:], compiled_batch - n, axis=0)])
        # uint8 frames are small; a plain copy costs less than pinning fresh host memory every call.
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self._dev)
        if self._cuda_graphs:
            # Tells the CUDA-graph runtime that outputs of the previous call are no longer in use.
            torch.compiler.cudagraph_mark_step_begin()
        out = self._compiled(x)
        # .cpu() copies before the next replay overwrites the graph's output buffer.
        return out[:n].cpu().numpy()

    def close(self) -> None:
        self._compiled = None
        self._model = None
        torch.cuda.empty_cache()

    def __enter__(self) -> "CompiledTorchBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
