"""ONNX Runtime inference of an exported generator: CPU threads, or CUDA / TensorRT execution providers.

Usage: ``with OnnxRuntimeBackend(resolve_style("hayao"), threads=2) as b: out = b.infer(rgb_u8_nhwc)``

The session is built once from the uint8-in, uint8-out graph of ``onnx_export`` (exported in
memory from the weights, or read from an ``.onnx`` file made by ``cartoonize-export``). Inputs and
outputs go through an IO binding: on a GPU the output stays in device memory until one copy back,
on the CPU it is the same code path, which is what the CPU tests exercise. A requested execution
provider that ONNX Runtime lacks, or drops while building the session, is an error: ONNX Runtime
would otherwise fall back to the CPU with only a log warning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cartoonize.errors import BackendUnavailableError, BadInputError
from cartoonize.frames import check_rgb_u8_nhwc
from cartoonize.styles import Style

from .onnx_export import INPUT_NAME, OUTPUT_NAME, ExportedModel, model_for

PROVIDER_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                  "tensorrt": "TensorrtExecutionProvider"}
GPU_HINT = "pip uninstall onnxruntime && pip install onnxruntime-gpu (needs an NVIDIA driver and CUDA)"


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise BackendUnavailableError("backend onnxruntime needs ONNX Runtime: pip install onnxruntime "
                                      "(or onnxruntime-gpu for CUDA)") from None
    return onnxruntime


def parse_device(device: str) -> tuple[str, int]:
    """'cpu' -> ('cpu', 0); 'cuda' -> ('cuda', 0); 'cuda:1' -> ('cuda', 1). No torch needed."""
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise BadInputError(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    return kind, int(index or 0)


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, style: Style, device: str = "cpu", fp16: bool = False, threads: int | None = None,
                 provider: str | None = None, cache_dir: Path | None = None):
        """``provider``: cpu | cuda | tensorrt; None follows ``device``. ``cache_dir`` keeps TensorRT EP engines."""
        ort = import_onnxruntime()
        kind, index = parse_device(device)
        provider = provider or kind
        if provider not in PROVIDER_NAMES:
            raise BadInputError(f"unknown execution provider {provider!r}; choose cpu, cuda or tensorrt")
        if (provider == "cpu") != (kind == "cpu"):
            raise BadInputError(f"execution provider {provider} does not run on device {device!r}")
        wanted = PROVIDER_NAMES[provider]
        if wanted not in ort.get_available_providers():
            raise BackendUnavailableError(
                f"onnxruntime {ort.__version__} has no {wanted} (it offers {', '.join(ort.get_available_providers())}); "
                f"{GPU_HINT}")
        self.style = style.label
        self.precision = "fp16" if fp16 else "fp32"
        self.device = "cpu" if kind == "cpu" else f"cuda:{index}"
        self.provider = provider
        self.model: ExportedModel = model_for(style, fp16)

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One graph, run operator after operator: parallelism comes from inside each convolution.
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads is not None:
            if threads < 1:
                raise BadInputError(f"threads must be at least 1, got {threads}")
            options.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spinning: in cartoonize-video the decode and encode threads
        # share the cores, and spinning cost them enough to halve the pipeline's frame rate on 2 cores
        # (Big Buck Bunny 720p, fast generator: 2.1-2.7 fps spinning, 3.6-4.8 fps not) for ~7% of
        # inference-only speed.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: fallbacks are checked below, not left to the log
        self._session = ort.InferenceSession(self.model.onnx_bytes, options,
                                             providers=self._providers(provider, index, fp16, cache_dir,
                                                                       self.model.sha256))
        active = self._session.get_providers()
        if active[0] != wanted:
            raise BackendUnavailableError(f"onnxruntime could not start {wanted} on {device} (running: "
                                          f"{', '.join(active)}); check the CUDA/cuDNN/TensorRT libraries, or {GPU_HINT}")
        self._binding = self._session.io_binding()
        self._output_device = "cpu" if kind == "cpu" else "cuda"
        self._device_id = index

    @staticmethod
    def _providers(provider: str, index: int, fp16: bool, cache_dir: Path | None, model_sha256: str = "") -> list:
        match provider:
            case "cpu":
                return ["CPUExecutionProvider"]
            case "cuda":
                return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
            case "tensorrt":
                from .trt_cache import default_cache_dir

                # One folder per exported model: ONNX Runtime names its cached engines after the graph's
                # structure, so two models that differ only in weights (a style recalibrated or retrained
                # in place) would otherwise share, and load, one engine.
                root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
                folder = root / "ort-trt" / model_sha256[:16]
                folder.mkdir(parents=True, exist_ok=True)
                trt_options = {"device_id": index, "trt_fp16_enable": fp16,
                               "trt_engine_cache_enable": True, "trt_engine_cache_path": str(folder),
                               "trt_timing_cache_enable": True, "trt_timing_cache_path": str(folder)}
                # CUDA runs whatever TensorRT cannot take; the CPU only the shape arithmetic.
                return [("TensorrtExecutionProvider", trt_options),
                        ("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        raise AssertionError(provider)

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        check_rgb_u8_nhwc(rgb_u8_nhwc)
        height, width = rgb_u8_nhwc.shape[1:3]
        if min(height, width) < self.model.multiple:
            raise BadInputError(f"frame {width}x{height} is too small for this model: sides of at least "
                                f"{self.model.multiple} pixels are needed")
        binding = self._binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        binding.bind_cpu_input(INPUT_NAME, np.ascontiguousarray(rgb_u8_nhwc))
        # Let ONNX Runtime allocate the output where the graph ends (the GPU for CUDA providers).
        binding.bind_output(OUTPUT_NAME, self._output_device, self._device_id)
        self._session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def close(self) -> None:
        self._session = None
        self._binding = None

    def __enter__(self) -> "OnnxRuntimeBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
