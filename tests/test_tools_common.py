"""What every command shares (tools/common.py): one-line errors, exit codes, the --debug hint."""

from __future__ import annotations

import pytest

from cartoonize.errors import BadInputError
from cartoonize.tools.common import reported_errors


def run_failing(exc: BaseException, debug: bool, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as code:
        with reported_errors(debug):
            raise exc
    return code.value.code, capsys.readouterr().err


def test_an_unexpected_error_is_one_line_that_points_at_debug(capsys):
    code, err = run_failing(ValueError("bad thing\nsecond line"), debug=False, capsys=capsys)
    assert code == 1 and err == "error: ValueError: bad thing (run with --debug for details)\n"


def test_with_debug_the_traceback_shows_and_the_message_does_not_suggest_debug(capsys):
    code, err = run_failing(ValueError("bad thing"), debug=True, capsys=capsys)
    lines = err.strip().splitlines()
    assert code == 1 and lines[0].startswith("Traceback") and lines[-1] == "error: ValueError: bad thing"
    assert "--debug" not in err


def test_bad_input_exits_2_and_interrupts_130(capsys):
    assert run_failing(BadInputError("x.mp4: no such file"), debug=False, capsys=capsys) == \
        (2, "error: x.mp4: no such file\n")
    code, err = run_failing(KeyboardInterrupt(), debug=False, capsys=capsys)
    assert code == 130 and err.startswith("interrupted")
