"""Generators, the weights format, the classic filter and backend selection."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from cartoonize.classic import ClassicFilter
from cartoonize.errors import BadInputError
from cartoonize.frames import nchw_to_rgb_u8_nhwc, rgb_u8_nhwc_to_nchw
from cartoonize.generators import CartoonGANGenerator, FastGenerator, RgbU8Model, build_generator
from cartoonize.weights import load_generator, read_metadata, save_generator
from cartoonize.engines import BackendConfig, load_backend

from conftest import pattern_rgb


def test_cartoongan_generator_matches_the_paper_shape():
    g = CartoonGANGenerator()
    n_params = sum(p.numel() for p in g.parameters())
    assert 10_000_000 < n_params < 12_000_000          # ~11 M at base 64, 8 residual blocks
    assert len(g.res) == 8
    y = g(torch.zeros(1, 3, 64, 96))
    assert y.shape == (1, 3, 64, 96) and y.abs().max() <= 1


def test_fast_generator_any_size_through_uint8_wrapper():
    model = RgbU8Model(FastGenerator(width=8, blocks=1)).eval()
    for h, w in [(37, 53), (64, 64), (1, 5)]:
        out = model(torch.zeros(2, h, w, 3, dtype=torch.uint8))
        assert out.shape == (2, h, w, 3) and out.dtype == torch.uint8


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown generator architecture"):
        build_generator("picasso", {})


def test_frame_conversions_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    t = rgb_u8_nhwc_to_nchw(torch.from_numpy(rgb), torch.float32)
    assert t.shape == (2, 3, 5, 7) and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(nchw_to_rgb_u8_nhwc(t).numpy(), rgb)


def test_weights_round_trip_with_metadata(tmp_path):
    g = FastGenerator(width=8, blocks=1)
    path = tmp_path / "tiny.safetensors"
    save_generator(g, path, architecture="fast", args={"width": 8, "blocks": 1}, style="tiny",
                   license="CC0-1.0", recipe={"steps": 0})
    meta = read_metadata(path)
    assert meta["architecture"] == "fast" and meta["style"] == "tiny" and meta["license"] == "CC0-1.0"
    loaded, _ = load_generator(path)
    for (k, a), (_, b) in zip(g.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.safetensors"]    # no temp file left


def test_weights_half_storage_loads_as_float(tmp_path):
    path = tmp_path / "half.safetensors"
    save_generator(FastGenerator(width=8, blocks=1), path, architecture="fast", args={"width": 8, "blocks": 1},
                   style="h", license="CC0-1.0", half=True)
    g, _ = load_generator(path)
    assert all(p.dtype == torch.float32 for p in g.parameters())


def test_weights_errors(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        read_metadata(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk" * 10)
    with pytest.raises(BadInputError, match="not a safetensors"):
        read_metadata(junk)
    # A valid safetensors file without our metadata (e.g. someone else's checkpoint).
    from safetensors.torch import save_file
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(BadInputError, match="without cartoonize metadata"):
        read_metadata(foreign)
    # Metadata saying one architecture, tensors of another.
    wrong = tmp_path / "wrong.safetensors"
    save_file({"w": torch.zeros(2)}, str(wrong),
              metadata={"cartoonize": json.dumps({"format": 1, "architecture": "fast", "args": {}})})
    with pytest.raises(BadInputError, match="do not match architecture"):
        load_generator(wrong)


def test_classic_filter_flattens_and_draws_lines():
    rng = np.random.default_rng(0)
    base = pattern_rgb(160, 120, 0)
    noisy = np.clip(base.astype(int) + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    out = ClassicFilter().apply(noisy)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    # Flat regions: local variation inside a uniform area drops (noise smoothed away).
    patch = (slice(5, 25), slice(5, 25))
    def channel_std(img):
        return img[patch].reshape(-1, 3).astype(float).std(axis=0).mean()

    assert channel_std(out) < channel_std(noisy) * 0.6
    # Dark lines appear along strong edges: the darkest pixels sit next to colour boundaries.
    luminance = out.mean(axis=2)
    assert luminance.min() < 40


def test_load_backend_selection_is_explicit(tmp_path):
    lines: list[str] = []
    with load_backend(BackendConfig(style="classic"), announce=lines.append) as b:
        assert b.name == "opencv" and b.precision == "uint8"
        out = b.infer(np.stack([pattern_rgb(32, 24, 0)] * 2))
        assert out.shape == (2, 24, 32, 3)
    assert lines and "auto" in lines[0] and "opencv" in lines[0]
    with pytest.raises(BadInputError, match="filter"):
        load_backend(BackendConfig(backend="torch", style="classic"))
    with pytest.raises(BadInputError, match="fp16"):
        load_backend(BackendConfig(backend="opencv", style="classic", fp16=True))
    with pytest.raises(BadInputError, match="unknown style"):
        load_backend(BackendConfig(style="nope"))


def test_torch_backend_runs_weights_file_and_refuses_missing_cuda(tmp_path):
    path = tmp_path / "tiny.safetensors"
    g = FastGenerator(width=8, blocks=1)
    save_generator(g, path, architecture="fast", args={"width": 8, "blocks": 1}, style="tiny", license="CC0-1.0")
    frames = np.stack([pattern_rgb(40, 30, t) for t in range(3)])
    with load_backend(BackendConfig(backend="torch", weights=path)) as b:
        out = b.infer(frames)
    expected = RgbU8Model(g.eval())(torch.from_numpy(frames)).numpy()
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    if not torch.cuda.is_available():
        with pytest.raises(BadInputError, match="CUDA"):
            load_backend(BackendConfig(backend="torch", weights=path, device="cuda"))


def test_atomic_outputs_get_umask_permissions_not_private(tmp_path):
    from cartoonize.files import temp_file_beside, write_atomic

    umask = os.umask(0)
    os.umask(umask)
    expected = 0o666 & ~umask
    tmp = temp_file_beside(tmp_path / "out.mp4", suffix=".partial.mp4")
    assert tmp.parent == tmp_path and tmp.name.startswith(".out.mp4.") and tmp.name.endswith(".partial.mp4")
    assert tmp.stat().st_mode & 0o777 == expected
    weights = tmp_path / "w.safetensors"
    save_generator(FastGenerator(width=8, blocks=1), weights, architecture="fast", args={"width": 8, "blocks": 1},
                   style="w", license="CC0-1.0")
    blob = tmp_path / "model.onnx"
    write_atomic(b"bytes", blob)
    assert weights.stat().st_mode & 0o777 == expected and blob.stat().st_mode & 0o777 == expected
    assert blob.read_bytes() == b"bytes"
