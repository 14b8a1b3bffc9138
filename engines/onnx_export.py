"""Export a generator to ONNX that takes and returns uint8 NHWC RGB frames.

Usage: ``exported = export_onnx(resolve_style("hayao"), fp16=True); write_onnx(exported, Path("hayao-fp16.onnx"))``

Everything a frame goes through is inside the graph: uint8 -> float, [-1, 1] normalisation,
reflection padding to the generator's multiple, the generator, cropping, rounding and the cast
back to uint8. Batch, height and width are dynamic, so one file serves every resolution, and the
pipeline, ONNX Runtime and TensorRT all move uint8 frames only (4x less host<->device traffic
than float32). The fp16 variant computes in half precision between the two casts; its weights
are stored as float16.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

import cartoonize
from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.frames import nchw_to_rgb_u8_nhwc, rgb_u8_nhwc_to_nchw
from cartoonize.generators import RgbU8Model
from cartoonize.styles import Style
from cartoonize.weights import load_generator

INPUT_NAME = "rgb_u8_nhwc"
OUTPUT_NAME = "cartoon_rgb_u8_nhwc"
DEFAULT_OPSET = 17
# Keys of the model's metadata_props; values are strings (ONNX allows nothing else).
META_PREFIX = "cartoonize."


@dataclass(frozen=True)
class ExportedModel:
    onnx_bytes: bytes           # a checked ONNX ModelProto, serialized
    precision: str              # "fp32" or "fp16" (compute precision; input and output are uint8)
    multiple: int               # frame sides are padded to a multiple of this inside the graph
    metadata: dict[str, str]    # what went into metadata_props

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.onnx_bytes).hexdigest()


class ExportableRgbU8Model(RgbU8Model):
    """The computation of ``RgbU8Model``, written so that tracing keeps every size symbolic.

    ``RgbU8Model`` decides in Python whether to pad; a tracer would freeze that decision for the
    example frame. Here the pad amounts are always computed from the traced shape (zero when the
    side is already a multiple), so the exported graph is right for any height and width.
    The results equal ``RgbU8Model``'s for frames of at least ``multiple`` pixels a side.
    """

    def forward(self, rgb_u8_nhwc: torch.Tensor) -> torch.Tensor:
        x = rgb_u8_nhwc_to_nchw(rgb_u8_nhwc, self.compute_dtype)
        h, w = x.shape[-2], x.shape[-1]
        pad_h = (self.multiple - h % self.multiple) % self.multiple
        pad_w = (self.multiple - w % self.multiple) % self.multiple
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        y = self.generator(x)[..., :h, :w]
        return nchw_to_rgb_u8_nhwc(y)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_onnx(style: Style, fp16: bool = False, opset: int = DEFAULT_OPSET) -> ExportedModel:
    """Trace the style's generator into a checked ONNX model with uint8 NHWC input and output."""
    import onnx  # a dependency of the package, imported here so `import cartoonize.engines` stays light

    if style.weights is None:
        raise BadInputError(f"style {style.name!r} is a filter, not a neural network: nothing to export")
    if opset < 17:
        raise BadInputError(f"opset {opset} is too old; use 17 or newer")
    generator, weights_meta = load_generator(style.weights, style.statistics)
    dtype = torch.float16 if fp16 else torch.float32
    # deepcopy: .half() converts in place, and the caller may still hold the float32 generator.
    model = ExportableRgbU8Model(copy.deepcopy(generator).to(dtype), dtype).eval()
    # A frame that is not a multiple of the padding step, so the traced graph contains the padding.
    example = torch.zeros(1, 4 * model.multiple + 1, 6 * model.multiple + 3, 3, dtype=torch.uint8)
    dynamic = {0: "batch", 1: "height", 2: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        # The TorchScript exporter warns that it is deprecated and that traced sizes are "constants"
        # in Python arithmetic; the graph check below is what tells us the export is sound.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic}, do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())
    # The tracer cannot see that the output keeps 3 channels (it comes out of a Transpose); say so,
    # so that consumers (TensorRT, shape inference) get a fully described output.
    proto.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 3
    metadata = {
        "style": style.name,
        "architecture": str(weights_meta.get("architecture")),
        "args": json.dumps(weights_meta.get("args", {}), sort_keys=True),
        "license": str(weights_meta.get("license", "")),
        "weights_sha256": file_sha256(style.weights),
        "statistics": style.statistics,
        "precision": "fp16" if fp16 else "fp32",
        "multiple": str(model.multiple),
        "input": f"{INPUT_NAME}: uint8 (batch, height, width, 3) RGB",
        "output": f"{OUTPUT_NAME}: uint8 (batch, height, width, 3) RGB",
        "exporter": f"cartoonize {cartoonize.__version__}, torch {torch.__version__}",
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, value
    proto.producer_name = "cartoonize"
    proto.doc_string = f"cartoonize style {style.name!r} ({metadata['architecture']}, {metadata['precision']})"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise CartoonizeError(f"exported ONNX model failed onnx.checker: {str(e).splitlines()[0]}") from None
    return ExportedModel(proto.SerializeToString(), metadata["precision"], model.multiple, metadata)


def read_onnx_metadata(onnx_bytes: bytes) -> dict[str, str]:
    """The ``cartoonize.*`` metadata props of a serialized model, without the prefix."""
    import onnx

    proto = onnx.load_from_string(onnx_bytes)
    return {p.key[len(META_PREFIX):]: p.value for p in proto.metadata_props if p.key.startswith(META_PREFIX)}


def load_onnx_file(path: Path, fp16: bool) -> ExportedModel:
    """An ONNX file written by ``cartoonize-export``; refuses files of other tools or the wrong precision."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: ONNX file not found")
    data = path.read_bytes()
    try:
        metadata = read_onnx_metadata(data)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError and friends for junk files
        raise BadInputError(f"{path}: not an ONNX model ({type(e).__name__})") from None
    if "precision" not in metadata:
        raise BadInputError(f"{path}: not exported by cartoonize-export (no cartoonize metadata); "
                            f"export it with cartoonize-export --weights WEIGHTS.safetensors")
    wanted = "fp16" if fp16 else "fp32"
    if metadata["precision"] != wanted:
        fix = "export one with --fp16, or leave out --fp16" if fp16 else "export one without --fp16, or add --fp16"
        raise BadInputError(f"{path}: is an {metadata['precision']} model but {wanted} was asked for; {fix}")
    return ExportedModel(data, metadata["precision"], int(metadata.get("multiple", "1")), metadata)


def model_for(style: Style, fp16: bool) -> ExportedModel:
    """The ONNX model of a style: the file itself for ``.onnx`` weights, else a fresh export in memory."""
    if style.weights is not None and style.weights.suffix.lower() == ".onnx":
        return load_onnx_file(style.weights, fp16)
    return export_onnx(style, fp16=fp16)
