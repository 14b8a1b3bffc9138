"""Counters and latency percentiles of a live run, safe to read from any thread.

Usage:
    stats = LiveStats(backend="opencv cpu uint8", style="classic")
    stats.captured(); stats.processed(infer_s=0.02); stats.delivered("preview", t_capture)
    stats.snapshot()   # JSON-ready dict: fps, drops, latency p50/p95, backend, style
    print(stats.summary())

Rates (fps) are measured over the last ``window_s`` seconds so the page and the HUD show what is
happening now; the summary on exit uses the whole run. Latency is the time from the moment a frame
was captured to the moment a sink finished writing it (the figure a person in a call feels).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

import numpy as np

_RECENT_LATENCIES = 300        # percentiles on the page/HUD: the last ~10 s at 30 fps
_RUN_LATENCIES = 100_000       # percentiles in the summary: about an hour at 30 fps, bounded memory


def _percentile_ms(values_s, q: float) -> float | None:
    return round(float(np.percentile(np.fromiter(values_s, float), q)) * 1000.0, 1) if values_s else None


class _Rate:
    """Events per second over a sliding window of timestamps."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.times: deque[float] = deque()

    def add(self, t: float) -> None:
        self.times.append(t)
        self._trim(t)

    def _trim(self, now: float) -> None:
        while self.times and self.times[0] < now - self.window_s:
            self.times.popleft()

    def per_second(self, now: float) -> float:
        self._trim(now)
        if len(self.times) < 2:
            return 0.0
        span = max(now - self.times[0], self.times[-1] - self.times[0])
        return (len(self.times) - 1) / span if span > 0 else 0.0


class LiveStats:
    def __init__(self, backend: str = "", style: str = "", window_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.backend = backend
        self.style = style
        self.started = clock()
        self._lock = threading.Lock()
        self._in = _Rate(window_s)
        self._out = _Rate(window_s)
        self.frames_captured = 0     # frames the source delivered
        self.frames_skipped = 0      # left out on purpose by --max-fps
        self.frames_dropped = 0      # stale: replaced by a newer frame before inference took them
        self.frames_processed = 0    # cartoonized (or passed through as the original)
        self.reconnects = 0          # times a lost camera was reopened (the capture thread copies the source's count)
        self.sinks: dict[str, dict[str, int]] = {}   # per sink: frames written, frames dropped as stale
        self._recent_latency: deque[float] = deque(maxlen=_RECENT_LATENCIES)
        self._run_latency: deque[float] = deque(maxlen=_RUN_LATENCIES)
        self._recent_infer: deque[float] = deque(maxlen=_RECENT_LATENCIES)

    def restart(self, backend: str, style: str) -> None:
        """Start the clock now (after the backend loaded) and name what runs."""
        with self._lock:
            self.backend, self.style, self.started = backend, style, self.clock()

    def captured(self) -> None:
        with self._lock:
            self.frames_captured += 1
            self._in.add(self.clock())

    def skipped(self) -> None:
        with self._lock:
            self.frames_skipped += 1

    def dropped(self, sink: str | None = None) -> None:
        """A stale frame replaced before inference (sink None) or before a sink took it."""
        with self._lock:
            if sink is None:
                self.frames_dropped += 1
            else:
                self.sinks.setdefault(sink, {"frames": 0, "dropped": 0})["dropped"] += 1

    def processed(self, infer_s: float) -> None:
        with self._lock:
            self.frames_processed += 1
            self._out.add(self.clock())
            self._recent_infer.append(infer_s)

    def delivered(self, sink: str, t_capture: float) -> None:
        with self._lock:
            latency = self.clock() - t_capture
            self._recent_latency.append(latency)
            self._run_latency.append(latency)
            self.sinks.setdefault(sink, {"frames": 0, "dropped": 0})["frames"] += 1

    def snapshot(self) -> dict:
        """What the page, the JSON endpoint and the HUD show: current rates and recent latency."""
        with self._lock:
            now = self.clock()
            return {
                "backend": self.backend,
                "style": self.style,
                "uptime_s": round(now - self.started, 2),
                "input_fps": round(self._in.per_second(now), 2),
                "output_fps": round(self._out.per_second(now), 2),
                "frames_captured": self.frames_captured,
                "frames_processed": self.frames_processed,
                "frames_dropped": self.frames_dropped,
                "frames_skipped_max_fps": self.frames_skipped,
                "latency_ms_p50": _percentile_ms(self._recent_latency, 50),
                "latency_ms_p95": _percentile_ms(self._recent_latency, 95),
                "infer_ms_p50": _percentile_ms(self._recent_infer, 50),
                "reconnects": self.reconnects,
                "sinks": {name: dict(counts) for name, counts in self.sinks.items()},
            }

    def run_latency_ms(self) -> tuple[float | None, float | None]:
        """p50 and p95 latency over the whole run."""
        with self._lock:
            return _percentile_ms(self._run_latency, 50), _percentile_ms(self._run_latency, 95)

    def summary(self) -> str:
        """One line for the end of a run: whole-run averages and latency percentiles.

        "out:" counts, per output, the frames it really received: a slow output skips stale frames
        (shown as "+N stale"), so its count can be below the number of frames cartoonized.
        """
        p50, p95 = self.run_latency_ms()
        with self._lock:
            elapsed = max(1e-9, self.clock() - self.started)
            sinks = ", ".join(f"{name} {c['frames']}" + (f" (+{c['dropped']} stale)" if c["dropped"] else "")
                              for name, c in self.sinks.items()) or "none"
            latency = f"latency p50 {p50:.0f} ms, p95 {p95:.0f} ms" if p50 is not None else "latency n/a"
            return (f"live: {elapsed:.1f} s, {self.frames_captured} frames in ({self.frames_captured / elapsed:.1f} fps), "
                    f"{self.frames_processed} cartoonized ({self.frames_processed / elapsed:.1f} fps), "
                    f"{self.frames_dropped} dropped as stale"
                    + (f", {self.frames_skipped} skipped by --max-fps" if self.frames_skipped else "")
                    + (f", {self.reconnects} camera reconnects" if self.reconnects else "")
                    + f"; {latency}; {self.backend}, style {self.style}; out: {sinks}")


def hud_lines(snapshot: dict) -> list[str]:
    """The on-screen HUD text for a stats snapshot."""
    p50, p95 = snapshot["latency_ms_p50"], snapshot["latency_ms_p95"]
    latency = f"latency p50 {p50:.0f} / p95 {p95:.0f} ms" if p50 is not None else "latency --"
    return [f"in {snapshot['input_fps']:.1f} fps  out {snapshot['output_fps']:.1f} fps  "
            f"dropped {snapshot['frames_dropped']}",
            f"{latency}  {snapshot['backend']}  {snapshot['style']}"]
