"""The TensorRT engine cache without TensorRT: keys, sidecars, corrupt and stale entries, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from cartoonize.engines import trt_cache
from cartoonize.engines.trt_cache import (BuildSettings, EngineCache, EngineKey, ShapeProfile, key_fields,
                                          load_or_build)

PROFILE = ShapeProfile.for_sizes([(1280, 720)], max_batch=4)
KEY = EngineKey(onnx_sha256="a" * 64, profile=PROFILE, build=BuildSettings(workspace_bytes=2 << 30), precision="fp16",
                tensorrt_version="10.8.0.43", gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
CHANGED = {
    "onnx_sha256": "b" * 64,
    "profile": ShapeProfile.for_sizes([(1920, 1080)], max_batch=4),
    "build": BuildSettings(workspace_bytes=4 << 30),
    "precision": "fp32",
    "tensorrt_version": "10.9.0.34",
    "gpu_name": "NVIDIA L4",
    "compute_capability": "8.9",
}


class FakeRuntime:
    """Stands in for TensorRT: a 'plan' is valid when it starts with PLAN; counts builds."""

    def __init__(self):
        self.builds = 0

    def build(self) -> bytes:
        self.builds += 1
        return b"PLAN" + bytes(range(256)) * 40

    @staticmethod
    def deserialize(plan: bytes):
        return ("engine", len(plan)) if plan.startswith(b"PLAN") else None


def test_profile_covers_sizes_and_batches():
    profile = ShapeProfile.for_sizes([(1280, 720), (640, 360)], max_batch=4)
    assert profile.min == (1, 360, 640, 3) and profile.opt == profile.max == (4, 720, 1280, 3)
    assert profile.covers((2, 480, 800, 3)) and not profile.covers((5, 720, 1280, 3))
    assert not profile.covers((1, 1080, 1920, 3))


def test_every_key_component_changes_the_digest_and_the_file():
    assert sorted(CHANGED) == sorted(key_fields())   # the test knows every component
    cache = EngineCache("/nonexistent")
    digests = {KEY.digest()}
    for name, value in CHANGED.items():
        changed = dataclasses.replace(KEY, **{name: value})
        digests.add(changed.digest())
        assert cache.paths(changed, "fast-fp16") != cache.paths(KEY, "fast-fp16")
    assert len(digests) == 1 + len(CHANGED)
    assert KEY.digest() == dataclasses.replace(KEY).digest()   # and it is stable


@pytest.mark.parametrize("settings", [BuildSettings(workspace_bytes=1 << 30),
                                      BuildSettings(workspace_bytes=2 << 30, network_flags=()),
                                      BuildSettings(workspace_bytes=2 << 30, builder_flags=("TF32",))])
def test_every_build_setting_is_in_the_key(settings, tmp_path):
    other = dataclasses.replace(KEY, build=settings)
    assert other.digest() != KEY.digest()
    cache, fake, lines = EngineCache(tmp_path), FakeRuntime(), []
    load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lines.append)
    lines.clear()
    load_or_build(cache, other, "fast-fp16", fake.build, fake.deserialize, lines.append)
    assert fake.builds == 2 and "stale" in lines[0] and "build" in lines[0]


def test_build_once_then_hit_with_sidecar(tmp_path):
    cache, fake, lines = EngineCache(tmp_path), FakeRuntime(), []
    first = load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lines.append)
    second = load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lines.append)
    assert first == second and fake.builds == 1
    plan_path, sidecar_path = cache.paths(KEY, "fast-fp16")
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["key"]["gpu_name"] == KEY.gpu_name and sidecar["plan_bytes"] == plan_path.stat().st_size
    assert "no cached fast-fp16 engine" in lines[0] and "loaded cached engine" in lines[-1]


@pytest.mark.parametrize("damage, reason", [
    (lambda plan, side: plan.write_bytes(plan.read_bytes()[:-10]), "corrupt"),
    (lambda plan, side: plan.write_bytes(b"JUNK" + plan.read_bytes()[4:]), "corrupt"),
    (lambda plan, side: side.unlink(), "no sidecar"),
    (lambda plan, side: side.write_text("{not json"), "unreadable"),
    (lambda plan, side: side.write_text(json.dumps({**json.loads(side.read_text()),
                                                    "key": {**KEY.as_dict(), "precision": "fp32"}})),
     "another engine: precision 'fp32' -> 'fp16'"),
])
def test_damaged_entry_is_rebuilt_with_one_line_saying_why(tmp_path, damage, reason):
    cache, fake, lines = EngineCache(tmp_path), FakeRuntime(), []
    load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lines.append)
    damage(*cache.paths(KEY, "fast-fp16"))
    lines.clear()
    engine = load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lines.append)
    assert engine == fake.deserialize(fake.build()) and fake.builds == 3
    assert reason in lines[0] and lines[0].startswith("tensorrt: building")
    assert cache.lookup(KEY, "fast-fp16").plan is not None   # repaired


def test_plan_the_runtime_refuses_is_rebuilt(tmp_path):
    cache, fake, lines = EngineCache(tmp_path), FakeRuntime(), []
    cache.store(KEY, "fast-fp16", b"NOT A PLAN FOR THIS RUNTIME")   # checksums fine, content stale
    load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lines.append)
    assert fake.builds == 1 and "could not deserialize" in lines[0]


def test_a_runtime_that_raises_keeps_its_own_error_text(tmp_path):
    cache, fake, lines = EngineCache(tmp_path), FakeRuntime(), []
    cache.store(KEY, "fast-fp16", b"PLAN from an older TensorRT")

    def deserialize(plan: bytes):
        raise RuntimeError("Serialization assertion magicTagRead == kMAGIC_TAG failed.\nmore detail")

    with pytest.raises(RuntimeError, match="just built .RuntimeError: Serialization assertion magicTagRead"):
        load_or_build(cache, KEY, "fast-fp16", fake.build, deserialize, lines.append)
    assert "could not deserialize the cached plan (RuntimeError: Serialization assertion magicTagRead" in lines[0]
    assert "more detail" not in lines[0]      # one line
    assert cache.lookup(KEY, "fast-fp16").plan is None   # the plan it could not load is not kept


def test_stale_engine_names_what_changed(tmp_path):
    cache, fake, lines = EngineCache(tmp_path), FakeRuntime(), []
    load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lines.append)
    upgraded = dataclasses.replace(KEY, tensorrt_version="10.9.0.34")
    lines.clear()
    load_or_build(cache, upgraded, "fast-fp16", fake.build, fake.deserialize, lines.append)
    assert "stale" in lines[0] and "tensorrt_version '10.8.0.43' -> '10.9.0.34'" in lines[0]


def test_interrupted_write_leaves_the_old_entry_and_no_temp_files(tmp_path, monkeypatch):
    cache, fake = EngineCache(tmp_path), FakeRuntime()
    load_or_build(cache, KEY, "fast-fp16", fake.build, fake.deserialize, lambda line: None)
    plan_path, _ = cache.paths(KEY, "fast-fp16")
    before = plan_path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        cache.store(KEY, "fast-fp16", b"PLAN-new")
    monkeypatch.undo()
    assert plan_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in cache.paths(KEY, "fast-fp16"))
    assert cache.lookup(KEY, "fast-fp16").plan == before


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CARTOONIZE_CACHE_DIR", str(tmp_path / "engines"))
    assert trt_cache.default_cache_dir() == tmp_path / "engines"
    monkeypatch.delenv("CARTOONIZE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert trt_cache.default_cache_dir() == tmp_path / "xdg" / "cartoonize" / "engines"


def test_an_engine_prebuilt_for_a_size_range_is_found_for_a_size_inside_it(tmp_path):
    cache, fake = EngineCache(tmp_path), FakeRuntime()
    wide = dataclasses.replace(KEY, profile=ShapeProfile.for_sizes([(640, 360), (1920, 1080)], max_batch=4))
    load_or_build(cache, wide, "fast-fp16", fake.build, fake.deserialize, lambda line: None)
    assert cache.find_covering(KEY, "fast-fp16", (4, 720, 1280, 3)) == wide.profile
    assert cache.find_covering(KEY, "fast-fp16", (4, 1440, 2560, 3)) is None             # outside the range
    other_gpu = dataclasses.replace(KEY, gpu_name="NVIDIA L4")
    assert cache.find_covering(other_gpu, "fast-fp16", (1, 720, 1280, 3)) is None       # only for the same GPU...
    assert cache.find_covering(KEY, "fast-fp32", (1, 720, 1280, 3)) is None             # ...and the same label
