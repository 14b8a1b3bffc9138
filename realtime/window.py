"""The OpenCV preview window with hotkeys: o original/cartoon, s next style, t stabilisation, q or Esc quit.

Usage:
    check_display()                 # BadInputError (exit 2) at once when no window can open
    window = WindowSink()           # LivePipeline(..., window=window) drives it from the caller's thread

OpenCV's GUI calls must all come from one thread, so the pipeline calls write() and handle_keys()
from the thread that called run(), never from a sink thread. ``gui`` can be replaced (tests).
"""

from __future__ import annotations

import os
import platform

import cv2
import numpy as np

from cartoonize.errors import BadInputError

from .live_source import SourceInfo

TITLE = "cartoonize live  [o] original/cartoon  [s] next style  [t] stabilise  [q] quit"
KEYS = {ord("o"): "toggle_original", ord("s"): "next_style", ord("t"): "toggle_temporal", ord("q"): "quit", 27: "quit"}


def opencv_has_gui(build_information: str | None = None) -> bool:
    """Whether this OpenCV was built with a GUI backend: its build information says "GUI: NONE" when
    not (opencv-python-headless). Without a GUI line at all, assume one (older builds)."""
    text = cv2.getBuildInformation() if build_information is None else build_information
    for line in text.splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() != "NONE"
    return True


def check_display(env=None, system: str | None = None, has_gui: bool | None = None) -> None:
    """One-line BadInputError when no window can be shown here, saying why and what to use instead."""
    env = os.environ if env is None else env
    system = system or platform.system()
    reasons = []
    if system == "Linux" and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        reasons.append("no display (DISPLAY and WAYLAND_DISPLAY are unset)")
    if not (opencv_has_gui() if has_gui is None else has_gui):
        reasons.append("this OpenCV has no GUI support (opencv-python-headless; pip install opencv-python)")
    if reasons:
        raise BadInputError(f"--window cannot open: {'; '.join(reasons)}; use --preview to watch in a browser")


class WindowSink:
    name = "window"
    shows_hud = True

    def __init__(self, gui=cv2):
        self.gui = gui
        self._open = False

    def open(self, info: SourceInfo) -> None:
        self.gui.namedWindow(TITLE, cv2.WINDOW_NORMAL)
        self.gui.resizeWindow(TITLE, info.width, info.height)
        self._open = True

    def write(self, rgb_u8_hwc: np.ndarray, frame) -> None:
        self.gui.imshow(TITLE, cv2.cvtColor(rgb_u8_hwc, cv2.COLOR_RGB2BGR))

    def handle_keys(self, pipeline) -> bool:
        """Act on a pressed key; False when the person asked to quit or closed the window."""
        key = self.gui.waitKey(1)
        action = KEYS.get(key & 0xFF) if key >= 0 else None
        if action == "quit":
            return False
        if action is not None:
            getattr(pipeline, action)()
        return self.gui.getWindowProperty(TITLE, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        if self._open:
            self._open = False
            self.gui.destroyWindow(TITLE)
            self.gui.waitKey(1)      # lets the GUI actually remove the window
