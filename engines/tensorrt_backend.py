"""TensorRT 10 inference of an exported generator: engines built once, cached, run with named tensors.

Usage: ``with TensorRTBackend(resolve_style("hayao"), fp16=True, sizes=[(1280, 720)]) as b: out = b.infer(rgb_u8_nhwc)``

Two small pieces, as in NVIDIA's samples: ``build_plan`` turns the uint8-in, uint8-out ONNX graph
into a serialized engine, and ``_RunningEngine`` runs one. Precision lives in the graph: fp16 uses
the fp16 ONNX export and a *strongly typed* network, so TensorRT keeps exactly the graph's types
(the weakly typed ``BuilderFlag.FP16`` is deprecated since TensorRT 10.12 and gone in 11). Running
uses only the TensorRT 10 named-tensor API (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``) on a CUDA stream; torch CUDA tensors serve as device buffers and pinned host
buffers, allocated once at the profile's largest shape and reused for every batch.

Engines live in the cache of ``trt_cache`` (ONNX hash + shape profile + builder settings +
precision + TensorRT version + GPU); ``cartoonize-export --engine trt --size 1280x720`` builds one ahead of time.
Without explicit sizes the profile is the first batch's frame size. TensorRT is imported here
only, and only when this backend is asked for.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from cartoonize.errors import BackendUnavailableError, BadInputError, CartoonizeError
from cartoonize.files import write_atomic
from cartoonize.frames import check_rgb_u8_nhwc
from cartoonize.styles import Style

from .onnx_export import INPUT_NAME, OUTPUT_NAME, model_for
from .trt_cache import BuildSettings, EngineCache, EngineKey, ShapeProfile, default_cache_dir, load_or_build

INSTALL_HINT = "pip install 'cartoonize[trt]' (TensorRT 10 for your CUDA version, an NVIDIA GPU and driver)"


def import_tensorrt():
    """The tensorrt module, or BackendUnavailableError saying how to get a usable one."""
    try:
        import tensorrt as trt
    except Exception as e:  # noqa: BLE001 - ImportError, or a stub/broken install failing to load its libraries
        raise BackendUnavailableError(f"backend tensorrt needs the TensorRT Python package "
                                      f"({type(e).__name__}: {e}): {INSTALL_HINT}") from None
    version = getattr(trt, "__version__", "0")
    if int(version.split(".")[0]) < 10:
        raise BackendUnavailableError(f"TensorRT {version} found; this backend uses the TensorRT 10 API: {INSTALL_HINT}")
    return trt


def build_plan(trt, onnx_bytes: bytes, profile: ShapeProfile, settings: BuildSettings, timing_cache: Path,
               log: Callable[[str], None]) -> bytes:
    """Parse the ONNX graph into a (strongly typed) network and build a serialized engine for ``profile``.

    Every setting comes from ``settings``, which is part of the engine's cache key.
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network_flags = 0
    for name in settings.network_flags:
        network_flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(network_flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(parser.get_error(i).desc() for i in range(parser.num_errors))
        raise CartoonizeError(f"TensorRT could not parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    for name in settings.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    shapes = builder.create_optimization_profile()
    shapes.set_shape(INPUT_NAME, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(shapes)
    # The timing cache remembers kernel timings across builds (other sizes, other styles) on this GPU.
    previous = b""
    if timing_cache.is_file():
        previous = timing_cache.read_bytes()
    cache = config.create_timing_cache(previous)
    if not config.set_timing_cache(cache, ignore_mismatch=False) and previous:
        log(f"tensorrt: timing cache {timing_cache} does not match this GPU/TensorRT; starting a new one")
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise CartoonizeError("TensorRT failed to build the engine (see the TensorRT messages above)")
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(bytes(config.get_timing_cache().serialize()), timing_cache)
    return bytes(plan)


class _RunningEngine:
    """One deserialized engine, its execution context, a CUDA stream and buffers for its largest shape."""

    def __init__(self, trt, engine, profile: ShapeProfile, device):
        import torch

        self.profile = profile
        self.engine = engine
        names = {engine.get_tensor_name(i): engine.get_tensor_mode(engine.get_tensor_name(i))
                 for i in range(engine.num_io_tensors)}
        if names != {INPUT_NAME: trt.TensorIOMode.INPUT, OUTPUT_NAME: trt.TensorIOMode.OUTPUT}:
            raise CartoonizeError(f"engine tensors {sorted(names)} are not {INPUT_NAME} -> {OUTPUT_NAME}")
        for name in names:
            if engine.get_tensor_dtype(name) != trt.DataType.UINT8:
                raise CartoonizeError(f"engine tensor {name} is {engine.get_tensor_dtype(name)}, expected uint8")
        self.context = engine.create_execution_context()
        if self.context is None:
            raise CartoonizeError("TensorRT could not create an execution context (out of GPU memory?)")
        self.stream = torch.cuda.Stream(device)
        self.device_in = torch.empty(profile.max, dtype=torch.uint8, device=device)
        self.device_out = torch.empty(profile.max, dtype=torch.uint8, device=device)
        # Pinned host memory lets the copies run asynchronously on the stream, at full PCIe speed.
        self.host_in = torch.empty(profile.max, dtype=torch.uint8, pin_memory=True)
        self.host_out = torch.empty(profile.max, dtype=torch.uint8, pin_memory=True)
        # The buffers never move, so their addresses are set once.
        if not (self.context.set_tensor_address(INPUT_NAME, self.device_in.data_ptr())
                and self.context.set_tensor_address(OUTPUT_NAME, self.device_out.data_ptr())):
            raise CartoonizeError("TensorRT refused the device buffer addresses")

    def run(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        """One batch within the profile: host -> device, execute, device -> host, all on one stream."""
        import torch

        shape = tuple(rgb_u8_nhwc.shape)
        count = rgb_u8_nhwc.size
        # Views on the front of each buffer: contiguous, same start address as the whole buffer.
        host_in = self.host_in.view(-1)[:count].view(shape)
        host_out = self.host_out.view(-1)[:count].view(shape)
        device_in = self.device_in.view(-1)[:count].view(shape)
        device_out = self.device_out.view(-1)[:count].view(shape)
        host_in.numpy()[...] = rgb_u8_nhwc
        if not self.context.set_input_shape(INPUT_NAME, shape):
            raise BadInputError(f"shape {shape} is outside the engine's profile ({self.profile.describe()})")
        with torch.cuda.stream(self.stream):
            device_in.copy_(host_in, non_blocking=True)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise CartoonizeError("TensorRT execution failed (see the TensorRT messages above)")
            host_out.copy_(device_out, non_blocking=True)
        self.stream.synchronize()
        # A copy: the pinned buffer is overwritten by the next batch while the caller still holds this one.
        return host_out.numpy().copy()


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, style: Style, device: str = "cuda", fp16: bool = True, max_batch: int = 1,
                 sizes: Sequence[tuple[int, int]] = (), cache_dir: Path | None = None, workspace_gib: float = 2.0,
                 log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)):
        """``sizes``: (width, height) frames the engine must take; empty = the first batch's size."""
        trt = import_tensorrt()
        from .torch_backend import resolve_torch_device  # torch CUDA tensors are the device buffers

        import torch

        dev = resolve_torch_device(device)
        if dev.type != "cuda":
            raise BadInputError(f"backend tensorrt runs on CUDA GPUs, not on {device!r}")
        if max_batch < 1:
            raise BadInputError(f"max batch must be at least 1, got {max_batch}")
        self.style = style.label
        self.device = str(dev)
        self.precision = "fp16" if fp16 else "fp32"
        self._trt = trt
        self._dev = dev
        self._max_batch = max_batch
        self._log = log
        self._settings = BuildSettings(workspace_bytes=int(workspace_gib * (1 << 30)))
        self._cache = EngineCache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
        self._model = model_for(style, fp16)
        major, minor = torch.cuda.get_device_capability(dev)
        self._gpu_name = torch.cuda.get_device_name(dev)
        self._capability = f"{major}.{minor}"
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine: _RunningEngine | None = None
        if sizes:
            self._load(ShapeProfile.for_sizes(list(sizes), max_batch))

    def key(self, profile: ShapeProfile) -> EngineKey:
        return EngineKey(onnx_sha256=self._model.sha256, profile=profile, build=self._settings, precision=self.precision,
                         tensorrt_version=self._trt.__version__, gpu_name=self._gpu_name,
                         compute_capability=self._capability)

    @property
    def engine_path(self) -> Path | None:
        """The cached plan file of the engine in use, if one is loaded."""
        if self._engine is None:
            return None
        return self._cache.paths(self.key(self._engine.profile), self._label)[0]

    @property
    def _label(self) -> str:
        return f"{self.style}-{self.precision}"

    def _load(self, profile: ShapeProfile) -> None:
        import torch

        trt = self._trt
        timing = self._cache.timing_cache_path(trt.__version__, self._gpu_name)

        with torch.cuda.device(self._dev):
            self._engine = None  # free the previous engine's memory before building another
            engine = load_or_build(self._cache, self.key(profile), self._label,
                                   build=lambda: build_plan(trt, self._model.onnx_bytes, profile, self._settings,
                                                            timing, self._log),
                                   deserialize=self._runtime.deserialize_cuda_engine, log=self._log)
            self._engine = _RunningEngine(trt, engine, profile, self._dev)

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        import torch

        check_rgb_u8_nhwc(rgb_u8_nhwc)
        n, height, width, _ = rgb_u8_nhwc.shape
        if min(height, width) < self._model.multiple:
            raise BadInputError(f"frame {width}x{height} is too small: sides of at least {self._model.multiple} px needed")
        if self._engine is None or not self._engine.profile.covers((1, height, width, 3)):
            if self._engine is not None:
                self._log(f"tensorrt: {width}x{height} frames are outside the engine's profile "
                          f"({self._engine.profile.describe()}); switching engines")
            own = ShapeProfile.for_sizes([(width, height)], self._max_batch)
            # An engine prebuilt for a range of sizes that includes this one is as good as a new one.
            self._load(self._cache.find_covering(self.key(own), self._label, own.max) or own)
        step = self._engine.profile.max[0]
        with torch.cuda.device(self._dev):
            chunks = [self._engine.run(np.ascontiguousarray(rgb_u8_nhwc[i:i + step])) for i in range(0, n, step)]
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def close(self) -> None:
        self._engine = None

    def __enter__(self) -> "TensorRTBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
