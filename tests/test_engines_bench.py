"""The per-backend inference table of cartoonize-bench (speed is measured there, never asserted here)."""

from __future__ import annotations

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
