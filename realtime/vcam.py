"""Virtual camera output through pyvirtualcam (extra ``[vcam]``): video-call apps see the cartoon as a webcam.

Usage:
    sink = VirtualCameraSink(device=None, backend=None)    # fails early when pyvirtualcam is missing
    # the live pipeline calls sink.open(info), sink.write(rgb_u8_hwc, frame), sink.close()

pyvirtualcam drives v4l2loopback on Linux and the OBS (or Unity Capture) virtual camera on macOS
and Windows. When no device exists, the error is one line with the exact setup steps for this
system. Frames are sent as RGB at the source's size; the announced rate is the source's rate.
"""

from __future__ import annotations

import platform
from typing import Callable

import numpy as np

from cartoonize.errors import BadInputError

from .live_source import SourceInfo

INSTALL_HINT = "the virtual camera needs pyvirtualcam: pip install 'cartoonize[vcam]'"


def setup_steps(system: str | None = None) -> str:
    """How to create a virtual camera device on this operating system, in one line."""
    system = system or platform.system()
    if system == "Linux":
        return ("create one with v4l2loopback: sudo apt install v4l2loopback-dkms (Fedora: akmod-v4l2loopback), "
                "then sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=Cartoonize; "
                "pick it with --vcam-device /dev/videoN if there are several")
    if system == "Darwin":
        return ("install OBS Studio 30 or newer, click Start Virtual Camera once and Stop again "
                "(macOS asks to allow the system extension), then run this again")
    return ("install OBS Studio 26 or newer (or Unity Capture with --vcam-backend unitycapture), click "
            "Start Virtual Camera once and Stop again, then run this again")


def import_pyvirtualcam():
    try:
        import pyvirtualcam
    except ImportError:
        raise BadInputError(INSTALL_HINT) from None
    return pyvirtualcam


class VirtualCameraSink:
    name = "vcam"
    shows_hud = False          # the people in the call see clean frames

    def __init__(self, device: str | None = None, backend: str | None = None,
                 log: Callable[[str], None] = lambda m: None):
        self._pyvirtualcam = import_pyvirtualcam()
        known = sorted(self._pyvirtualcam.camera.BACKENDS)
        if backend is not None and backend not in known:
            raise BadInputError(f"unknown virtual camera backend {backend!r}; this system has: "
                                f"{', '.join(known) or 'none'}")
        self.device = device
        self.backend = backend
        self._log = log
        self._camera = None

    def open(self, info: SourceInfo) -> None:
        pvc = self._pyvirtualcam
        try:
            self._camera = pvc.Camera(info.width, info.height, info.fps, fmt=pvc.PixelFormat.RGB,
                                      device=self.device, backend=self.backend)
        except RuntimeError as e:
            reasons = "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or "no backend"
            target = f"device {self.device}" if self.device else "virtual camera device"
            raise BadInputError(f"no usable {target} ({reasons}); {setup_steps()}") from None
        self._log(f"virtual camera: {self._camera.device} ({self._camera.backend}), "
                  f"{info.width}x{info.height} @ {info.fps:g} fps")

    def write(self, rgb_u8_hwc: np.ndarray, frame) -> None:
        self._camera.send(np.ascontiguousarray(rgb_u8_hwc))

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
