"""cartoonize-live end to end: y4m to stdout, recording, usage errors, no display, SIGTERM."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import av
import pytest

from conftest import read_video, run_in_process

LIVE = [sys.executable, "-m", "cartoonize.tools.live"]


def run_live(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(LIVE + list(args), capture_output=True, timeout=timeout, **kw)


def live_in_process(*args, env=None) -> subprocess.CompletedProcess:
    from cartoonize.tools.live import main
    return run_in_process(main, args, env=env)


def one_error_line(stderr: bytes | str) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.mark.parametrize("size", [(96, 64), (95, 63)])
def test_y4m_to_stdout_is_read_back_by_ffmpeg(size):
    w, h = size
    result = run_live("--pattern", "--width", str(w), "--height", str(h), "--fps", "25", "--y4m", "--frames", "5")
    assert result.returncode == 0, result.stderr.decode()
    with av.open(io.BytesIO(result.stdout), format="yuv4mpegpipe") as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        assert stream.average_rate == 25
    # 5 frames processed; the y4m sink writes each unless a newer one replaced it first (counted as stale).
    written = int(re.search(r"out: y4m (\d+)", result.stderr.decode()).group(1))
    assert len(frames) == written and 3 <= written <= 5
    assert frames[0].shape == (h + h % 2, w + w % 2, 3)      # 4:2:0 needs even sides: padded by one


def test_y4m_reader_that_leaves_ends_the_run_normally():
    reader = "import sys; sys.stdin.buffer.read(100000)"      # reads a few frames' worth, then exits
    producer = subprocess.Popen(LIVE + ["--pattern", "--y4m", "--duration", "60"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    consumer = subprocess.run([sys.executable, "-c", reader], stdin=producer.stdout, timeout=120)
    producer.stdout.close()
    _, stderr = producer.communicate(timeout=120)
    assert consumer.returncode == 0
    assert producer.returncode == 0, stderr.decode()
    assert "stopping: the y4m reader closed the pipe" in stderr.decode()
    assert "Traceback" not in stderr.decode() and "Exception ignored" not in stderr.decode()


def test_recording_keeps_capture_timing(tmp_path):
    out = tmp_path / "session.mp4"
    result = run_live("--pattern", "--width", "160", "--height", "120", "--record", str(out), "--frames", "12")
    assert result.returncode == 0, result.stderr.decode()
    written = int(re.search(r"out: record (\d+)", result.stderr.decode()).group(1))
    info = read_video(out)
    assert info["size"] == (160, 120) and len(info["times"]) == written and 8 <= written <= 12
    times = [float(t) for t in info["times"]]
    assert times == sorted(set(times)) and times[0] == 0.0
    # Timestamps are capture times, not frame counts: the kept frames span about their 30 fps
    # capture spacing (10% slack for the pacing of a loaded machine), not 1/1000 s or 0.
    assert times[-1] >= 0.9 * (written - 1) / 30
    again = live_in_process("--pattern", "--record", str(out), "--frames", "2")
    assert again.returncode == 2
    assert one_error_line(again.stderr) == f"error: {out}: already exists (use --overwrite to replace it)"


@pytest.mark.parametrize("args, message", [
    ([], "error: choose exactly one source: --camera INDEX|PATH, --input FILE|URL or --pattern"),
    (["--pattern", "--camera", "0", "--y4m"], "error: choose exactly one source"),
    (["--pattern"], "error: choose at least one output: --window, --vcam, --preview, --y4m or --record PATH"),
    (["--pattern", "--loop", "--preview"], "error: --loop applies to --input files only"),
    (["--pattern", "--preview", "--style", "nope"], "error: unknown style 'nope'"),
    (["--input", "/no/such/clip.mp4", "--preview", "--port", "0"], "error: /no/such/clip.mp4: no such file"),
    (["--pattern", "--y4m", "--scale", "1.5"], "error: --scale must be in (0, 1], got 1.5"),   # engines/resize.py's
    (["--pattern", "--y4m", "--style", "classic", "--device", "cuda"], "error: style 'classic' is a filter"),
])
def test_usage_errors_are_one_line_and_exit_2(args, message):
    result = live_in_process(*args)
    assert result.returncode == 2
    assert one_error_line(result.stderr).startswith(message)


def test_window_without_a_display_says_so_in_one_line_and_exits_2():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = live_in_process("--pattern", "--window", env=env)
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert line.startswith("error: --window cannot open: no display (DISPLAY and WAYLAND_DISPLAY are unset)")
    assert line.endswith("use --preview to watch in a browser")


def test_sigterm_stops_every_thread_finishes_the_recording_and_prints_the_summary(tmp_path):
    out = tmp_path / "rec.mkv"
    proc = subprocess.Popen(LIVE + ["--pattern", "--width", "160", "--height", "120", "--preview", "--port", "0",
                                    "--record", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    collected: list[str] = []

    def read_stderr() -> None:
        for line in proc.stderr:
            collected.append(line)
            lines.put(line)
    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        url = None
        while url is None:
            line = lines.get(timeout=120)
            if line.startswith("preview: "):
                url = line.split()[1]
        for _ in range(600):        # bounded: until the recording has frames (the server has no event to wait on)
            with urllib.request.urlopen(url + "stats.json", timeout=20) as r:
                if json.load(r)["sinks"].get("record", {}).get("frames", 0) >= 5:
                    break
            threading.Event().wait(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=30)
    stderr = "".join(collected)
    assert "stopped by Ctrl-C / SIGTERM" in stderr
    assert "live:" in stderr and "record" in stderr
    assert len(read_video(out)["times"]) >= 5                # the recording was finished, it plays


def test_live_benchmark_reports_latency_percentiles_and_rates():
    from cartoonize.engines.backend import BackendConfig
    from cartoonize.realtime.live_source import LiveSourceConfig
    from cartoonize.tools.bench_live import measure_live
    result = measure_live(LiveSourceConfig(kind="pattern", width=160, height=120, fps=30),
                          BackendConfig(style="classic"), seconds=1.0, preview=True)
    assert result["backend"] == "opencv cpu uint8" and result["style"] == "classic"
    assert result["frames_processed"] > 0 and 0 < result["output_fps"] <= result["input_fps"] * 1.05
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p95"]
    assert result["frames_captured"] >= result["frames_processed"] + result["frames_dropped"]


def test_recording_with_an_unknown_container_is_bad_input(tmp_path):
    result = live_in_process("--pattern", "--record", str(tmp_path / "out.notacontainer"), "--frames", "3")
    assert result.returncode == 2
    errors = [line for line in result.stderr.decode().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no container format for extension '.notacontainer'" in errors[0]
    assert not (tmp_path / "out.notacontainer").exists()


def test_next_style_cycles_through_styles_the_chosen_engine_can_run(monkeypatch):
    from cartoonize import styles
    from cartoonize.tools import live
    fake = {"classic": styles.Style("classic", "filter", None, ""),
            "fast": styles.Style("fast", "generator", None, ""), "hayao": styles.Style("hayao", "generator", None, "")}
    monkeypatch.setattr(live, "BUNDLED_STYLES", fake)
    assert live._styles_to_cycle("fast", "auto") == ["fast", "classic", "hayao"]
    assert live._styles_to_cycle("fast", "onnxruntime") == ["fast", "hayao"]
    assert live._styles_to_cycle("classic", "opencv") == ["classic"]
