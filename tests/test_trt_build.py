"""build_plan against a stand-in for the TensorRT 10 Python API: the calls, their order and arguments.

The real thing runs in tests/test_engines_gpu.py where TensorRT exists; this catches mistakes in
our half of the contract (strong typing, profile on the named input, workspace, timing cache) anywhere.
"""

from __future__ import annotations

import types

import pytest

from cartoonize.engines.onnx_export import INPUT_NAME
from cartoonize.engines.tensorrt_backend import build_plan
from cartoonize.engines.trt_cache import BuildSettings, ShapeProfile
from cartoonize.errors import CartoonizeError


def fake_tensorrt(calls: list, parse_ok: bool = True, plan: bytes | None = b"PLAN"):
    class Logger:
        WARNING = "warning"

        def __init__(self, level):
            calls.append(("logger", level))

    class TimingCache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return memoryview(b"TIMING:" + self.data)

    class Config:
        def __init__(self):
            self.cache = None

        def set_memory_pool_limit(self, pool, size):
            calls.append(("workspace", pool, size))

        def set_flag(self, flag):
            calls.append(("builder_flag", flag))

        def add_optimization_profile(self, profile):
            calls.append(("add_profile", profile.shapes))

        def create_timing_cache(self, data):
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            self.shapes = (name, lo, opt, hi)

    class Parser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network, logger):
            pass

        def parse(self, data):
            calls.append(("parse", len(data)))
            return parse_ok

        def get_error(self, i):
            return types.SimpleNamespace(desc=lambda: "Unsupported node Foo")

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls.append(("network_flags", flags))
            return object()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls.append(("build",))
            return None if plan is None else memoryview(plan)

    return types.SimpleNamespace(
        Logger=Logger, Builder=Builder, OnnxParser=Parser,
        NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=1),
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="workspace"), BuilderFlag=types.SimpleNamespace(TF32="tf32"))


def test_build_plan_is_strongly_typed_with_profile_workspace_and_timing_cache(tmp_path):
    calls: list = []
    profile = ShapeProfile.for_sizes([(1280, 720)], max_batch=2)
    timing = tmp_path / "timing.cache"
    timing.write_bytes(b"old")
    plan = build_plan(fake_tensorrt(calls), b"onnx-bytes", profile, BuildSettings(1 << 30), timing,
                      log=lambda line: None)
    assert plan == b"PLAN"
    assert ("network_flags", 1 << 1) in calls                 # STRONGLY_TYPED: precision comes from the graph
    assert ("workspace", "workspace", 1 << 30) in calls
    assert ("add_profile", (INPUT_NAME, (1, 720, 1280, 3), (2, 720, 1280, 3), (2, 720, 1280, 3))) in calls
    assert timing.read_bytes() == b"TIMING:old"              # previous timings fed in, updated cache written back
    assert [c[0] for c in calls].index("parse") < [c[0] for c in calls].index("build")
    assert not [c for c in calls if c[0] == "builder_flag"]   # none by default


def test_build_plan_takes_every_setting_from_the_settings_in_the_key(tmp_path):
    calls: list = []
    profile = ShapeProfile.for_sizes([(64, 64)], max_batch=1)
    settings = BuildSettings(workspace_bytes=123, network_flags=(), builder_flags=("TF32",))
    build_plan(fake_tensorrt(calls), b"onnx", profile, settings, tmp_path / "t", log=lambda line: None)
    assert ("network_flags", 0) in calls and ("builder_flag", "tf32") in calls
    assert ("workspace", "workspace", 123) in calls


def test_parse_and_build_failures_are_one_line_errors(tmp_path):
    profile = ShapeProfile.for_sizes([(64, 64)], max_batch=1)
    with pytest.raises(CartoonizeError, match="could not parse the ONNX model: Unsupported node Foo"):
        build_plan(fake_tensorrt([], parse_ok=False), b"x", profile, BuildSettings(1), tmp_path / "t", log=print)
    with pytest.raises(CartoonizeError, match="failed to build"):
        build_plan(fake_tensorrt([], plan=None), b"x", profile, BuildSettings(1), tmp_path / "t", log=print)
