"""Live sources: pacing, looping files, cameras (granted size/rate, cannot open, lost and reopened)."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cartoonize.errors import BadInputError
from cartoonize.realtime import live_source
from cartoonize.realtime.live import LiveConfig, LivePipeline
from cartoonize.realtime.live_source import CameraLostError, LiveSourceConfig, open_live_source

from conftest import pattern_rgb, run_in_process, write_clip
from test_live_pipeline import FakeBackend, ListSink, live_threads


class FakeCapture:
    """Stands in for cv2.VideoCapture: ``frames`` reads succeed, then the camera is gone."""

    def __init__(self, frames: int = 1000, opened: bool = True, size=(320, 240), fps: float = 30.0):
        self.left, self.opened, self.size, self.fps = frames, opened, size, fps
        self.requests: dict[int, float] = {}
        self.released = False

    def isOpened(self):  # noqa: N802 - cv2's name
        return self.opened

    def set(self, prop, value):
        self.requests[prop] = value
        return True

    def get(self, prop):
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        bgr = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        bgr[..., 0] = 200                   # blue in BGR order
        return True, bgr

    def release(self):
        self.released = True


def opener(*captures):
    """An open_capture function handing out ``captures`` in turn (the last one repeats)."""
    made = []

    def open_capture(target):
        made.append(target)
        return captures[min(len(made) - 1, len(captures) - 1)]
    open_capture.calls = made
    return open_capture


def camera(open_capture, reconnect_s=10.0, log=lambda m: None, **request):
    return open_live_source(LiveSourceConfig(kind="camera", target="0", reconnect_s=reconnect_s, **request),
                            log=log, open_capture=open_capture)


def test_pattern_source_is_paced_to_its_rate_and_answers_stop_at_once():
    source = open_live_source(LiveSourceConfig(kind="pattern", width=64, height=48, fps=30))
    stop = threading.Event()
    started = time.monotonic()
    frames = [source.read(stop) for _ in range(10)]
    assert time.monotonic() - started >= 9 / 30 - 0.01          # never faster than real time
    assert all(f.shape == (48, 64, 3) for f in frames)
    assert not np.array_equal(frames[0], frames[5])              # it moves
    stop.set()
    assert source.read(stop) is None


def test_file_source_plays_in_real_time_and_loops(tmp_path):
    clip = write_clip(tmp_path / "ten.mp4", pts=[i * 40 for i in range(10)])    # 10 frames, 0.4 s
    stop = threading.Event()
    once = open_live_source(LiveSourceConfig(kind="file", target=str(clip)))
    assert [once.read(stop) is not None for _ in range(11)] == [True] * 10 + [False]
    once.close()
    looping = open_live_source(LiveSourceConfig(kind="file", target=str(clip), loop=True))
    assert "looping" in looping.info.description and looping.info.width == 96
    started = time.monotonic()
    frames = [looping.read(stop) for _ in range(25)]
    assert all(f is not None and f.shape == (64, 96, 3) for f in frames)
    assert np.array_equal(frames[0], frames[10])                 # the second loop starts over
    assert time.monotonic() - started >= 24 * 0.04 - 0.05         # the loop keeps real-time pacing
    looping.close()


@pytest.mark.parametrize("content", [None, b"", b"not a video at all"])
def test_file_source_bad_input_is_a_clear_error(tmp_path, content):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadInputError, match="clip.mp4"):
        open_live_source(LiveSourceConfig(kind="file", target=str(path)))


def test_camera_reports_requested_and_granted_size_and_rate():
    cap = FakeCapture(size=(320, 240), fps=30.0)
    source = camera(opener(cap), width=1280, height=720, fps=60)
    assert source.info.description == "camera 0: requested 1280x720 @ 60 fps, granted 320x240 @ 30 fps"
    assert (source.info.width, source.info.height, source.info.fps) == (320, 240, 30.0)
    assert cap.requests == {cv2.CAP_PROP_FRAME_WIDTH: 1280, cv2.CAP_PROP_FRAME_HEIGHT: 720, cv2.CAP_PROP_FPS: 60}
    rgb = source.read(threading.Event())
    assert rgb.shape == (240, 320, 3) and rgb[0, 0].tolist() == [0, 0, 200]      # BGR turned into RGB
    source.close()
    assert cap.released


def test_camera_that_cannot_be_opened_is_bad_input():
    with pytest.raises(BadInputError, match="camera 0: cannot be opened"):
        camera(opener(FakeCapture(opened=False)))
    with pytest.raises(BadInputError, match="opened but delivers no frames"):
        camera(opener(FakeCapture(frames=0)))


def test_lost_camera_is_retried_with_growing_pauses_then_a_clear_error():
    messages: list[str] = []
    gone = FakeCapture(opened=False)
    open_capture = opener(FakeCapture(frames=5), gone)
    source = camera(open_capture, reconnect_s=1.2, log=messages.append)
    sink = ListSink()
    with pytest.raises(CameraLostError, match="stopped delivering frames and could not be reopened for 1.2 s"):
        LivePipeline(source, [sink], lambda n: FakeBackend(), ["invert"], LiveConfig(duration_s=60)).run()
    pauses = [float(m.split("reopening in ")[1].split(" s")[0]) for m in messages if "reopening in" in m]
    assert len(pauses) >= 2 and pauses[0] < pauses[1]            # backoff: 0.25 s, 0.5 s, ...
    assert len(open_capture.calls) >= 3                          # first open + at least two reopen attempts
    assert 1 <= len(sink.frames) <= 5
    assert not live_threads()


def test_camera_that_comes_back_is_reopened_and_counted():
    open_capture = opener(FakeCapture(frames=3), FakeCapture(opened=False), FakeCapture(frames=1000))
    source = camera(open_capture, reconnect_s=30)
    stats = LivePipeline(source, [ListSink()], lambda n: FakeBackend(), ["invert"], LiveConfig(max_frames=8)).run()
    assert stats.reconnects == 1 and stats.frames_processed == 8


def test_cli_camera_lost_exits_1_with_one_line(monkeypatch, tmp_path):
    from cartoonize.tools.live import main
    monkeypatch.setattr(live_source, "_open_cv_capture", opener(FakeCapture(frames=4), FakeCapture(opened=False)))
    result = CliRunner().invoke(main, ["--camera", "0", "--reconnect-s", "0.6", "--record", "/nonexistent-dir/x.mp4"])
    assert result.exit_code == 2 and "no such directory" in result.output    # outputs are checked before the camera
    result = CliRunner().invoke(main, ["--camera", "0", "--reconnect-s", "0.6", "--record", str(tmp_path / "x.mp4")])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: camera 0 stopped delivering frames and could not be reopened for 0.6 s "
                      "(unplugged or taken by another program?)"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("target, message", [("63", "error: camera 63: cannot be opened"),
                                             ("/dev/video-missing", "error: camera /dev/video-missing: no such device")])
def test_cli_camera_that_cannot_open_exits_2_with_one_line(target, message):
    from cartoonize.tools.live import main
    result = run_in_process(main, ["--camera", target, "--preview", "--port", "0"])
    if target == "63" and result.returncode == 0:
        pytest.skip("this machine has a camera at index 63")
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(message)


def test_stream_url_source_reads_over_http(tmp_path):
    import functools
    import http.server
    clip = write_clip(tmp_path / "served.mp4", pts=[i * 40 for i in range(10)])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
        source = open_live_source(LiveSourceConfig(kind="file", target=url))
        assert source.info.description.startswith(f"stream {url}: 96x64")
        frames = [source.read(threading.Event()) for _ in range(11)]
        source.close()
        assert [f is not None for f in frames] == [True] * 10 + [False]
        with pytest.raises(BadInputError, match="--loop applies to files, not stream URLs"):
            open_live_source(LiveSourceConfig(kind="file", target=url, loop=True))
    finally:
        server.shutdown()
        server.server_close()


def test_camera_path_through_real_opencv_capture_reopens_and_then_gives_up(tmp_path):
    # No camera here: a video file stands in for the device path, so the real cv2.VideoCapture code
    # runs. Its end looks like an unplugged camera; while the file exists, reopening succeeds.
    clip = write_clip(tmp_path / "fake-device.mp4", pts=[i * 40 for i in range(10)])
    messages: list[str] = []
    source = open_live_source(LiveSourceConfig(kind="camera", target=str(clip), width=640, height=480,
                                               reconnect_s=0.8), log=messages.append)
    assert source.info.description.startswith(f"camera {clip}: requested 640x480 @ ? fps, granted 96x64 @ 25 fps")
    stop = threading.Event()
    frames = [source.read(stop) for _ in range(14)]
    assert all(f.shape == (64, 96, 3) for f in frames) and source.reconnects == 1
    expected = pattern_rgb(96, 64, 0).astype(int)                       # what write_clip encoded first
    assert np.abs(frames[0] - expected).mean() < np.abs(frames[0][..., ::-1] - expected).mean() / 2   # RGB, not BGR
    clip.unlink()                                                        # now the "camera" is gone for good
    with pytest.raises(CameraLostError):
        for _ in range(20):
            source.read(stop)
    source.close()
    assert any("reopened" in m for m in messages)
