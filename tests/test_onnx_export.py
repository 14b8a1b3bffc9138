"""ONNX export: a checked graph with uint8 NHWC in/out, dynamic sizes, metadata, and parity with PyTorch on real frames."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from cartoonize.engines.backend import BackendConfig, load_backend
from cartoonize.engines.onnx_export import (INPUT_NAME, OUTPUT_NAME, export_onnx, load_onnx_file,
                                            read_onnx_metadata)
from cartoonize.engines.ort_backend import OnnxRuntimeBackend
from cartoonize.errors import BadInputError
from cartoonize.quality import psnr as psnr_u8
from cartoonize.styles import generator_style, resolve_style
from cartoonize.tools.export import main as export_main

from engines_fixtures import bundled_generator_styles, real_frames, tiny_weights


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="module")
def bikes_frames(bikes_clip):
    # 640x272 real footage, cropped to sides that are not multiples of 4: the in-graph padding runs.
    return real_frames(bikes_clip, 2)[:, :270, :637]


def torch_reference(style, frames: np.ndarray) -> np.ndarray:
    with load_backend(BackendConfig(backend="torch", weights=style.weights)) as backend:
        return backend.infer(frames)


def test_export_is_checked_uint8_nhwc_with_dynamic_axes_and_metadata(weights_dir):
    weights = tiny_weights(weights_dir, "fast")
    exported = export_onnx(generator_style(weights))
    model = onnx.load_from_string(exported.onnx_bytes)
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    for value, name in ((model.graph.input[0], INPUT_NAME), (model.graph.output[0], OUTPUT_NAME)):
        assert value.name == name
        tensor = value.type.tensor_type
        assert tensor.elem_type == onnx.TensorProto.UINT8
        dims = tensor.shape.dim
        assert [d.dim_param for d in dims[:3]] == ["batch", "height", "width"] and dims[3].dim_value == 3
    meta = read_onnx_metadata(exported.onnx_bytes)
    assert meta["architecture"] == "fast" and meta["precision"] == "fp32" and meta["multiple"] == "4"
    assert meta["style"] == weights.stem
    assert meta["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()


@pytest.mark.parametrize("architecture", ["fast", "cartoongan"])
def test_onnxruntime_matches_torch_within_one_level_on_real_frames(weights_dir, bikes_frames, architecture):
    style = generator_style(tiny_weights(weights_dir, architecture))
    want = torch_reference(style, bikes_frames)
    with OnnxRuntimeBackend(style, threads=2) as backend:
        got = backend.infer(bikes_frames)
    assert got.shape == bikes_frames.shape and got.dtype == np.uint8
    # The generator really changes the frames, so agreement is not trivial.
    assert np.abs(want.astype(np.int16) - bikes_frames).mean() > 5
    assert np.abs(got.astype(np.int16) - want).max() <= 1


@pytest.mark.parametrize("architecture", ["fast", "cartoongan"])
def test_fp16_export_stays_above_40_db_of_fp32(weights_dir, bikes_frames, architecture):
    style = generator_style(tiny_weights(weights_dir, architecture))
    with OnnxRuntimeBackend(style) as fp32, OnnxRuntimeBackend(style, fp16=True) as fp16:
        assert fp16.precision == "fp16"
        weights = [t for t in onnx.load_from_string(fp16.model.onnx_bytes).graph.initializer if t.dims]
        assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
        assert psnr_u8(fp16.infer(bikes_frames), fp32.infer(bikes_frames)) >= 40.0


def test_dynamic_shapes_one_model_many_sizes(weights_dir, carphone_clip):
    style = generator_style(tiny_weights(weights_dir, "fast"))
    frames = real_frames(carphone_clip, 3)
    with OnnxRuntimeBackend(style) as ort_backend, load_backend(BackendConfig(backend="torch", weights=style.weights)) as ref:
        for batch in (frames, frames[:1, :37, :53], frames[:2, :4, :4]):
            out = ort_backend.infer(batch)
            assert out.shape == batch.shape
            assert np.abs(out.astype(np.int16) - ref.infer(batch)).max() <= 1


# Every student, and one of the four CartoonGAN generators: the -full styles share one architecture and
# differ only in tensor values, so one of them covers the export path (each costs ~4.5 s here).
EXPORTED = [n for n in bundled_generator_styles() if not n.endswith("-full")] + ["hayao-full"]


@pytest.mark.parametrize("name", EXPORTED)
def test_every_bundled_style_exports_with_parity(name, carphone_clip):
    style = resolve_style(name)
    frames = real_frames(carphone_clip, 2)
    want = torch_reference(style, frames)
    with OnnxRuntimeBackend(style) as fp32, OnnxRuntimeBackend(style, fp16=True) as fp16:
        assert np.abs(fp32.infer(frames).astype(np.int16) - want).max() <= 1
        assert psnr_u8(fp16.infer(frames), want) >= 40.0


# --- cartoonize-export -------------------------------------------------------------------------------

def run_export(*args):
    return CliRunner().invoke(export_main, [str(a) for a in args])


def test_cli_writes_checked_fp16_onnx_that_the_backend_runs(weights_dir, tmp_path, carphone_clip):
    weights = tiny_weights(weights_dir, "fast")
    out = tmp_path / "tiny-fp16.onnx"
    result = run_export("--weights", weights, "-o", out, "--fp16")
    assert result.exit_code == 0, result.output
    assert "check vs PyTorch fp32" in result.stderr and "ok" in result.stderr
    assert read_onnx_metadata(out.read_bytes())["precision"] == "fp16"
    assert list(tmp_path.iterdir()) == [out]   # no temporary file left beside it
    frames = real_frames(carphone_clip, 2)
    with load_backend(BackendConfig(backend="onnxruntime", weights=out, fp16=True)) as from_file, \
            load_backend(BackendConfig(backend="torch", weights=weights)) as ref:
        assert psnr_u8(from_file.infer(frames), ref.infer(frames)) >= 40.0


@pytest.mark.parametrize("case", ["exists", "no-source", "missing-weights", "filter-style", "trt-without-size"])
def test_cli_bad_input_is_one_line_exit_2(weights_dir, tmp_path, case):
    weights = tiny_weights(weights_dir, "fast")
    existing = tmp_path / "x.onnx"
    existing.write_bytes(b"keep me")
    args = {
        "exists": ["--weights", weights, "-o", existing],
        "no-source": ["-o", tmp_path / "y.onnx"],
        "missing-weights": ["--weights", tmp_path / "nope.safetensors"],
        "filter-style": ["--style", "classic"],
        "trt-without-size": ["--weights", weights, "--engine", "trt"],
    }[case]
    result = run_export(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    assert existing.read_bytes() == b"keep me"


def test_onnx_file_with_the_wrong_precision_or_origin_is_refused(weights_dir, tmp_path):
    weights = tiny_weights(weights_dir, "fast")
    fp32 = tmp_path / "tiny.onnx"
    fp32.write_bytes(export_onnx(generator_style(weights)).onnx_bytes)
    with pytest.raises(BadInputError, match="fp32 model but fp16 was asked for; export one with --fp16, or leave out"):
        load_onnx_file(fp32, fp16=True)
    fp16 = tmp_path / "tiny-fp16.onnx"
    fp16.write_bytes(export_onnx(generator_style(weights), fp16=True).onnx_bytes)
    with pytest.raises(BadInputError, match="fp16 model but fp32 was asked for; export one without --fp16, or add --fp16"):
        load_onnx_file(fp16, fp16=False)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(BadInputError, match="junk.onnx"):
        load_backend(BackendConfig(backend="onnxruntime", weights=junk))
    with pytest.raises(BadInputError, match="onnxruntime or tensorrt"):
        load_backend(BackendConfig(backend="torch", weights=fp32))

