"""Virtual camera output: a pyvirtualcam backend registered by the test receives the frames; setup errors."""

from __future__ import annotations

import glob
import re
import sys
import time

import numpy as np
import pytest

from conftest import run_in_process
from click.testing import CliRunner

pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="pyvirtualcam missing: pip install -e '.[test]'")

from cartoonize.errors import BadInputError  # noqa: E402
from cartoonize.realtime.vcam import VirtualCameraSink, setup_steps  # noqa: E402
from cartoonize.tools.live import main  # noqa: E402


class RecordingCamera:
    """A pyvirtualcam backend (the interface of pyvirtualcam.camera.Backend) that keeps what it is sent."""

    instances: list["RecordingCamera"] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc, self._device = width, height, fps, fourcc, device
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = False
        RecordingCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())
        self.times.append(time.monotonic())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device or "recording-camera"

    def native_fourcc(self):
        return None


@pytest.fixture()
def recording_backend():
    RecordingCamera.instances.clear()
    pyvirtualcam.register_backend("cartoonize-test", RecordingCamera)
    yield RecordingCamera
    pyvirtualcam.camera.BACKENDS.pop("cartoonize-test", None)


def test_registered_backend_receives_frames_of_the_right_shape_and_rate(recording_backend):
    result = CliRunner().invoke(main, ["--pattern", "--width", "320", "--height", "240", "--fps", "15",
                                       "--vcam", "--vcam-backend", "cartoonize-test", "--frames", "20",
                                       "--style", "classic"])   # a cheap style: the sink's pacing is under test
    assert result.exit_code == 0, result.output
    assert "virtual camera: recording-camera (cartoonize-test), 320x240 @ 15 fps" in result.output
    [camera] = recording_backend.instances
    assert (camera.width, camera.height, camera.fps) == (320, 240, 15)
    assert camera.fourcc == pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.RGB.value)
    assert camera.closed
    # 20 processed; the vcam sink sends each unless a newer one replaced it first (counted as stale).
    sent = int(re.search(r"out: vcam (\d+)", result.output).group(1))
    assert len(camera.frames) == sent and 10 <= sent <= 20
    frames = [f.reshape(240, 320, 3) for f in camera.frames]      # pyvirtualcam hands backends flat RGB
    assert all(f.dtype == np.uint8 and f.size == 240 * 320 * 3 for f in camera.frames)
    assert any(np.abs(f.astype(int) - frames[0]).mean() > 1 for f in frames[1:])     # the pattern moves
    # Rate: frames arrive at the source's pace, never faster (a 15 fps pattern), and not far slower.
    rate = (len(camera.times) - 1) / (camera.times[-1] - camera.times[0])
    assert 15 * 0.4 < rate < 15 * 1.15, rate


def test_no_virtual_camera_device_is_one_line_with_setup_steps():
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has /dev/video devices; the missing-device error cannot be provoked")
    result = run_in_process(main, ["--pattern", "--vcam", "--frames", "3"])
    stderr = result.stderr.decode()
    assert result.returncode == 2
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr
    assert errors[0].startswith("error: no usable virtual camera device (")
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in errors[0]


def test_unknown_backend_and_missing_pyvirtualcam_are_bad_input(monkeypatch):
    with pytest.raises(BadInputError, match="unknown virtual camera backend 'nope'"):
        VirtualCameraSink(backend="nope")
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)       # as if it were not installed
    with pytest.raises(BadInputError, match=r"pip install 'cartoonize\[vcam\]'"):
        VirtualCameraSink()


@pytest.mark.parametrize("system, words", [("Linux", "modprobe v4l2loopback"), ("Darwin", "OBS Studio"),
                                           ("Windows", "Start Virtual Camera")])
def test_setup_steps_name_the_tool_for_each_system(system, words):
    assert words in setup_steps(system) and "\n" not in setup_steps(system)
