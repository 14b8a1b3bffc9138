"""Browser preview: MJPEG read back by real clients, several viewers, disconnects, stats JSON, page in Chromium."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest

from conftest import run_in_process

from cartoonize.engines.backend import BackendConfig, load_backend
from cartoonize.errors import BadInputError
from cartoonize.realtime.live import LiveConfig, LivePipeline
from cartoonize.realtime.live_source import LiveSourceConfig, open_live_source
from cartoonize.realtime.live_stats import LiveStats
from cartoonize.realtime.preview_server import PreviewSink

from test_live_pipeline import live_threads

BACKGROUND_RGB = (0x16, 0x18, 0x1D)     # the page's background colour (preview_server.PAGE)


@contextlib.contextmanager
def running_preview(source_config: LiveSourceConfig, hud: bool = False):
    """A live run of the classic style into a preview server on 127.0.0.1 (a free port), in a thread."""
    stats = LiveStats()
    sink = PreviewSink("127.0.0.1", 0, stats.snapshot)
    source = open_live_source(source_config)
    load = lambda name: load_backend(BackendConfig(style=name), announce=lambda m: None)  # noqa: E731
    pipeline = LivePipeline(source, [sink], load, ["classic"], LiveConfig(hud=hud, duration_s=300), stats=stats)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run()
        except BaseException as e:  # noqa: BLE001 - handed to the test's thread
            errors.append(e)

    thread = threading.Thread(target=run, name="test-live-run", daemon=True)
    thread.start()
    try:
        yield sink, pipeline
    finally:
        pipeline.stop()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the live run did not stop"
    if errors:
        raise errors[0]
    assert not live_threads()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=20) as r:
        assert r.headers["Content-Type"] == "application/json"
        return json.load(r)


def wait_for(predicate, what: str, tries: int = 300, pause_s: float = 0.1):
    """Poll server state a bounded number of times (an HTTP client has no event to wait on)."""
    for _ in range(tries):
        value = predicate()
        if value:
            return value
        time.sleep(pause_s)
    pytest.fail(f"timed out waiting for {what}")


class MjpegViewer:
    """A minimal multipart/x-mixed-replace client over http.client, reading whole JPEG parts."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        self.conn.request("GET", "/stream.mjpg")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        assert self.resp.headers["Content-Type"].startswith("multipart/x-mixed-replace; boundary=")

    def frame(self) -> np.ndarray:
        boundary = self.resp.readline().strip()
        assert boundary.startswith(b"--"), boundary
        length = None
        while (line := self.resp.readline().strip()):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        jpeg = self.resp.read(length)
        assert self.resp.readline() == b"\r\n"
        return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


@pytest.fixture()
def clip_preview(bikes_clip):
    with running_preview(LiveSourceConfig(kind="file", target=str(bikes_clip), loop=True)) as running:
        yield running


def test_mjpeg_stream_is_read_back_by_opencv_with_frames_of_the_clip_size(clip_preview):
    sink, pipeline = clip_preview
    assert sink.host == "127.0.0.1" and sink.url.startswith("http://127.0.0.1:")
    cap = cv2.VideoCapture(sink.url + "stream.mjpg", cv2.CAP_FFMPEG,
                           [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 30000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 30000])
    try:
        assert cap.isOpened()
        frames = []
        for _ in range(4):
            ok, bgr = cap.read()
            assert ok
            frames.append(bgr)
    finally:
        cap.release()
    assert all(f.shape == (272, 640, 3) for f in frames)          # bikes.mp4 is 640x272
    assert frames[0].std() > 20                                   # a picture, not a flat frame
    assert any(np.abs(f.astype(int) - frames[0]).mean() > 1 for f in frames[1:])   # it moves


def test_several_viewers_and_a_viewer_leaving_or_stalling_do_not_disturb_the_others(clip_preview):
    sink, pipeline = clip_preview
    viewers = [MjpegViewer(sink.port) for _ in range(3)]
    for viewer in viewers:
        assert viewer.frame().shape == (272, 640, 3)
    assert wait_for(lambda: get_json(sink.url + "stats.json")["viewers"] == 3, "3 viewers")
    viewers[0].close()                                          # one leaves mid-stream
    stalled = MjpegViewer(sink.port)                            # one connects and never reads again
    processed_before = pipeline.stats.frames_processed
    seen = [viewers[1].frame() for _ in range(5)] + [viewers[2].frame() for _ in range(5)]
    assert all(f.shape == (272, 640, 3) for f in seen)
    assert pipeline.stats.frames_processed > processed_before
    assert wait_for(lambda: get_json(sink.url + "stats.json")["viewers"] == 3, "viewer count after one left")
    for viewer in viewers[1:] + [stalled]:
        viewer.close()
    assert wait_for(lambda: get_json(sink.url + "stats.json")["viewers"] == 0, "all viewers gone")


def test_stats_endpoint_page_and_single_frame(clip_preview):
    sink, pipeline = clip_preview
    stats = wait_for(lambda: (s := get_json(sink.url + "stats.json"))["frames_processed"] >= 3 and s, "frames")
    assert stats["backend"] == "opencv cpu uint8" and stats["style"] == "classic"
    assert (stats["width"], stats["height"]) == (640, 272)
    for key in ("input_fps", "output_fps", "frames_dropped", "latency_ms_p50", "latency_ms_p95"):
        assert isinstance(stats[key], (int, float)), key
    with urllib.request.urlopen(sink.url, timeout=20) as r:
        page = r.read().decode()
    assert '<img id="stream" src="/stream.mjpg"' in page and "/stats.json" in page
    with urllib.request.urlopen(sink.url + "frame.jpg", timeout=20) as r:
        jpeg = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
    assert jpeg.shape == (272, 640, 3)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(sink.url + "nope", timeout=20)
    assert missing.value.code == 404


def test_busy_port_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BadInputError, match=f"port {port} on 127.0.0.1 is in use"):
            PreviewSink("127.0.0.1", port)
        from cartoonize.tools.live import main
        result = run_in_process(main, ["--pattern", "--preview", "--port", str(port)])
    assert result.returncode == 2
    assert result.stderr.decode().strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use (another cartoonize-live?): choose another with --port, "
        f"or --port 0 for any free port"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_preview_page_shows_the_stream_in_headless_chromium(tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI") or os.environ.get("CARTOONIZE_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is missing, but .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium); CI installs it and runs this test")
    shot = tmp_path / "preview.png"
    source = LiveSourceConfig(kind="pattern", width=320, height=240, fps=30)
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with running_preview(source, hud=True) as (sink, pipeline):
        wait_for(lambda: pipeline.stats.frames_processed >= 2, "first frames")
        result = subprocess.run(flags + [f"--user-data-dir={tmp_path / 'profile'}", "--window-size=800,600",
                                         f"--screenshot={shot}", sink.url], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        # The page's script fills the stats table from /stats.json: read the rendered DOM back.
        dom = subprocess.run(flags + [f"--user-data-dir={tmp_path / 'profile2'}", "--virtual-time-budget=3000",
                                      "--dump-dom", sink.url], capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        viewers_seen = get_json(sink.url + "stats.json")
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td>([^<]*)</td></tr>", dom.stdout))
    assert rows.get("backend") == "opencv cpu uint8" and rows.get("style") == "classic", rows
    assert float(rows["input fps"]) > 0 and int(rows["frames out"]) >= 2 and int(rows["viewers"]) >= 1
    image = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    assert image.shape[:2] == (600, 800)
    stream_area = image[16:16 + 240, 16:16 + 320].astype(int)           # where the page puts the <img>
    differs = np.abs(stream_area - np.array(BACKGROUND_RGB)).sum(axis=-1) > 60
    assert differs.mean() > 0.8, "the stream area of the screenshot is (nearly) blank"
    assert stream_area.std() > 30                                        # colour bars, not one colour
    below = image[300:, :].astype(int)
    assert (np.abs(below - np.array(BACKGROUND_RGB)).sum(axis=-1) > 60).mean() < 0.05   # page, not noise
    assert viewers_seen["frames_processed"] >= 2
