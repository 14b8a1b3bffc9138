"""The per-backend inference table of cartoonize-bench (speed is measured there, never asserted here)."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from cartoonize.tools.bench import main as bench_main
from cartoonize.tools.bench_backends import main as bench_backends_main

from engines_fixtures import tiny_weights


def test_bench_backends_table_has_every_cpu_backend_with_ratios(tmp_path, carphone_clip):
    weights = tiny_weights(tmp_path, "fast")
    result = CliRunner().invoke(bench_backends_main, [str(carphone_clip), "--weights", str(weights),
                                                      "--sizes", "360p", "--rounds", "2"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 360p")]
    assert len(rows) == 4
    assert rows[0].startswith("| 360p | torch fp32 channels_last (baseline)") and rows[0].endswith("| 1.00x |")
    assert any("onnxruntime fp32" in row for row in rows) and all(row.endswith("x |") for row in rows)


def test_cartoonize_bench_backends_option_prints_json_rows(tmp_path, carphone_clip, monkeypatch):
    import json

    from cartoonize.tools import bench_backends

    monkeypatch.setattr(bench_backends, "SIZES", {"360p": (160, 90), "720p": (320, 180), "1080p": (480, 270)})
    result = CliRunner().invoke(bench_main, [str(carphone_clip), "--weights", str(tiny_weights(tmp_path, "fast")),
                                             "--backends", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["size"] for row in rows} == {"360p", "720p", "1080p"} and len(rows) == 12
    assert all(row["fps"] > 0 for row in rows)


def test_gpu_check_without_a_gpu_says_so_in_one_line():
    import torch

    from cartoonize.tools.gpu_check import main as gpu_check_main

    if torch.cuda.is_available():
        import pytest

        pytest.skip("a CUDA GPU is present: run tools/gpu_check.py itself")
    result = CliRunner().invoke(gpu_check_main, ["--no-tests"])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no CUDA GPU")


def test_gpu_table_reports_parity_verdicts_and_unavailable_backends():
    import numpy as np

    from cartoonize.tools.gpu_check import gpu_table, parity

    frame = np.full((1, 8, 8, 3), 100, np.uint8)
    off_by_two = frame + 2
    assert parity(off_by_two, frame, fp16=False)["ok"] is False      # fp32 must be within 1/255
    assert parity(off_by_two, frame, fp16=True)["ok"] is True        # 2 levels everywhere is 42 dB
    row = {"backend": "tensorrt fp16", "size": "1280x720", **parity(off_by_two, frame, True), "median_ms": 2.0,
           "p90_ms": 2.5, "fps": 500.0, "vs_torch_fp32": 4.0}
    table = gpu_table([row, {"backend": "onnxruntime cuda fp32", "unavailable": "no CUDAExecutionProvider"}])
    assert "| tensorrt fp16 | 1280x720 | ok: max 2, 42.1 dB | 2.00 | 2.50 | 500.0 | 4.00x |" in table
    assert "unavailable: no CUDAExecutionProvider" in table


def test_bench_checks_its_clip_before_loading_any_engine(tmp_path):
    # tensorrt cannot load here: the error must be about the clip, found before any engine is tried.
    for args in (["--backend", "tensorrt"], ["--backends"]):
        result = CliRunner().invoke(bench_main, [str(tmp_path / "missing.mp4"), *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == f"error: {tmp_path / 'missing.mp4'}: no such file"


def test_backends_table_times_a_neural_style_and_refuses_a_filter():
    import pytest

    from cartoonize.errors import BadInputError
    from cartoonize.styles import BUNDLED_STYLES
    from cartoonize.tools.bench_backends import neural_style

    if any(style.kind == "generator" for style in BUNDLED_STYLES.values()):
        assert BUNDLED_STYLES[neural_style(None, None)].kind == "generator"   # the default is never a filter
    with pytest.raises(BadInputError, match="'classic' is a filter"):
        neural_style("classic", None)


def test_device_defaults_to_auto_in_every_command_that_runs_a_style():
    import click

    from cartoonize.tools import bench, bench_live, live, video

    for command in (video.main, live.main, bench.main, bench_live.main):
        # None: auto decides (a GPU when there is one); live and bench-live used to say cpu.
        ctx = command.make_context(command.name, ["in.mp4", "out.mp4"][:sum(isinstance(p, click.Argument)
                                                                            for p in command.params)])
        assert ctx.params["device"] is None, command.name


def test_gpu_check_times_the_stabiliser_on_the_cpu():
    from cartoonize.tools.gpu_check import time_stabiliser
    frame = np.random.default_rng(0).integers(0, 256, (72, 128, 3), dtype=np.uint8)
    timing = time_stabiliser(frame, iters=4)
    assert 0 < timing["median_ms"] <= timing["p90_ms"]
