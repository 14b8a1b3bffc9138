"""cartoonize-video when the world misbehaves: the disk fills up while writing, SIGTERM or Ctrl-C mid-run.

Disk full is a file-size limit (RLIMIT_FSIZE) on the process: writes past it fail with EFBIG the way a
full disk fails with ENOSPC, without needing a small file system mounted. Corrupted inputs are
tests/test_fuzz.py's.
"""

from __future__ import annotations

import hashlib
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

VIDEO = [sys.executable, "-m", "cartoonize", "video"]

# cartoonize-video with an engine that takes 40 ms a frame and no CPU: a run long enough to be
# interrupted midway, on any machine, without spending the CPU a real style would.
SLOW_VIDEO = """
import sys, time
from cartoonize.tools import video

class Slow:
    name, device, precision, style = "slow", "cpu", "uint8", "slow"
    def infer(self, batch):
        time.sleep(0.04)
        return 255 - batch
    def close(self):
        pass
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        pass

video.load_backend = lambda config, announce: Slow()
video.main(sys.argv[1:])
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def full_size(carphone_clip, tmp_path_factory) -> int:
    """Size of carphone's cartoon when nothing stops the writing."""
    out = tmp_path_factory.mktemp("full") / "o.mp4"
    done = subprocess.run(VIDEO + [str(carphone_clip), str(out), "--style", "classic", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out.stat().st_size


@pytest.mark.parametrize("where", ["midway", "at the trailer"])
def test_disk_full_while_writing_is_one_line_leaves_nothing_and_keeps_the_input(carphone_clip, full_size, tmp_path,
                                                                                 where):
    source = tmp_path / "in" / "clip.mp4"
    source.parent.mkdir()
    source.write_bytes(carphone_clip.read_bytes())
    before = digest(source)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "o.mp4"
    limit = full_size // 3 if where == "midway" else full_size - 50    # the index (moov) is written last
    done = subprocess.run(VIDEO + [str(source), str(out), "--style", "classic", "--quiet"], capture_output=True,
                          text=True, timeout=300,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {out}: writing failed (File too large), nothing was written; "
                     f"free some space or write to another folder"], done.stderr
    assert list((tmp_path / "out").iterdir()) == []          # no partial output, no temporary file
    assert digest(source) == before and list(source.parent.iterdir()) == [source]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_stop_cleanly_and_leave_no_output(carphone_clip, tmp_path, signum):
    out = tmp_path / "o.mp4"
    # SIGINT back to its default in the child, as in a terminal: a shell that starts the tests in the
    # background (cmd &) ignores it, and Python then installs no Ctrl-C handler.
    proc = subprocess.Popen([sys.executable, "-c", SLOW_VIDEO, str(carphone_clip), str(out), "--quiet"],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.endswith(".partial.mp4") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline and proc.poll() is None, "no partial output appeared"
            time.sleep(0.02)
        time.sleep(0.3)             # some frames written: the signal lands mid-run, not at the start
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted: stopped, no output written" and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
