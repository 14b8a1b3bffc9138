"""The preview window's display check (the window itself is driven through a fake GUI in test_live_pipeline)."""

from __future__ import annotations

import pytest

from cartoonize.errors import BadInputError
from cartoonize.realtime.window import check_display, opencv_has_gui


def test_no_display_and_no_gui_are_both_named_in_one_line():
    with pytest.raises(BadInputError) as error:
        check_display(env={}, system="Linux", has_gui=False)
    message = str(error.value)
    assert "\n" not in message
    assert "no display (DISPLAY and WAYLAND_DISPLAY are unset)" in message
    assert "no GUI support (opencv-python-headless; pip install opencv-python)" in message
    assert message.endswith("use --preview to watch in a browser")


@pytest.mark.parametrize("env", [{"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}])
def test_a_display_and_a_gui_build_pass(env):
    check_display(env=env, system="Linux", has_gui=True)


def test_headless_opencv_is_refused_even_with_a_display():
    with pytest.raises(BadInputError, match="no GUI support"):
        check_display(env={"DISPLAY": ":0"}, system="Linux", has_gui=False)


def test_other_systems_need_no_display_variable():
    check_display(env={}, system="Darwin", has_gui=True)


# Excerpts of real cv2.getBuildInformation() output: opencv-python-headless, and opencv-python on Linux.
HEADLESS = """
  Video I/O:
    FFMPEG:                      YES
  GUI:                           NONE
  Media I/O:
"""
WITH_GTK = """
  GUI:                           GTK3
    GTK+:                        YES (ver 3.24.33)
"""


@pytest.mark.parametrize("build_information, expected", [(HEADLESS, False), (WITH_GTK, True),
                                                         ("  Media I/O:\n", True)])
def test_gui_detection_reads_the_gui_line_of_the_build_information(build_information, expected):
    assert opencv_has_gui(build_information) is expected


def test_the_installed_opencv_is_read_right():
    # Independent knowledge: which OpenCV distribution pip installed (the headless one has no GUI).
    import importlib.metadata
    names = {d.metadata["Name"] for d in importlib.metadata.distributions() if "opencv" in (d.metadata["Name"] or "")}
    if names != {"opencv-python-headless"}:
        pytest.skip(f"installed: {sorted(names)}; only the headless build has a known answer")
    assert opencv_has_gui() is False
