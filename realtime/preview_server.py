"""Browser preview: an MJPEG stream, a page that shows it with live stats, and a JSON stats endpoint.

Usage:
    sink = PreviewSink(host="127.0.0.1", port=8080, stats=live_stats.snapshot)   # binds now
    print(sink.url)       # http://127.0.0.1:8080/  (open it in a browser)

Routes: ``/`` the page, ``/stream.mjpg`` the stream (multipart/x-mixed-replace, one JPEG per part),
``/frame.jpg`` the newest frame, ``/stats.json`` the stats. The standard library's
ThreadingHTTPServer gives each viewer its own thread. Each frame is JPEG-encoded once, in the
sink's thread, and every viewer thread sends the newest encoded frame when it is ready for one: a
slow viewer skips frames, a viewer that leaves ends only its own thread, and the pipeline never
waits on the network. Binds 127.0.0.1 unless told otherwise (``--host 0.0.0.0`` exposes it).
"""

from __future__ import annotations

import errno
import json
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import cv2
import numpy as np

from cartoonize.errors import BadInputError

from .live_source import SourceInfo

_BOUNDARY = "cartoonizeframe"
_VIEWER_WAIT_S = 1.0      # a viewer thread re-checks for shutdown this often while no frame comes
_SEND_TIMEOUT_S = 10.0    # a viewer that stops reading for this long is disconnected

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cartoonize live</title>
<style>
 body { margin: 0; background: #16181d; color: #e8e8e8; font: 14px system-ui, sans-serif; }
 main { display: flex; flex-wrap: wrap; gap: 16px; padding: 16px; align-items: flex-start; }
 #stream { max-width: 100%; background: #000; display: block; }
 table { border-collapse: collapse; min-width: 240px; }
 td { padding: 3px 8px; border-bottom: 1px solid #333; }
 td:first-child { color: #9aa; }
 h1 { font-size: 16px; margin: 0 0 8px; }
</style></head>
<body><main>
 <img id="stream" src="/stream.mjpg" alt="cartoon stream">
 <section><h1>cartoonize live</h1><table id="stats"><tbody></tbody></table></section>
</main>
<script>
const rows = [["input fps", "input_fps"], ["output fps", "output_fps"], ["dropped (stale)", "frames_dropped"],
  ["latency p50 ms", "latency_ms_p50"], ["latency p95 ms", "latency_ms_p95"], ["inference p50 ms", "infer_ms_p50"],
  ["backend", "backend"], ["style", "style"], ["frames in", "frames_captured"], ["frames out", "frames_processed"],
  ["viewers", "viewers"], ["uptime s", "uptime_s"]];
const body = document.querySelector("#stats tbody");
async function refresh() {
  try {
    const s = await (await fetch("/stats.json", {cache: "no-store"})).json();
    body.innerHTML = rows.map(([label, key]) =>
      `<tr><td>${label}</td><td>${s[key] === null || s[key] === undefined ? "-" : s[key]}</td></tr>`).join("");
  } catch (e) { body.innerHTML = "<tr><td>stats</td><td>unavailable</td></tr>"; }
}
refresh(); setInterval(refresh, 500);
</script></body></html>
"""


class _LatestJpeg:
    """The newest encoded frame and its sequence number; viewers wait here for a newer one."""

    def __init__(self):
        self._cond = threading.Condition()
        self.jpeg: bytes | None = None
        self.seq = 0
        self.closed = False

    def publish(self, jpeg: bytes) -> None:
        with self._cond:
            self.jpeg, self.seq = jpeg, self.seq + 1
            self._cond.notify_all()

    def wait_newer(self, seen: int, timeout: float) -> tuple[bytes | None, int]:
        with self._cond:
            self._cond.wait_for(lambda: self.seq > seen or self.closed, timeout)
            if self.closed or self.seq <= seen:
                return None, seen
            return self.jpeg, self.seq

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server: "_PreviewHTTPServer"
    timeout = _SEND_TIMEOUT_S

    def log_message(self, format: str, *args) -> None:   # noqa: A002 - the base class's name
        pass    # one line per request would drown the terminal; the stats page says who watches

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode())
        elif path == "/stats.json":
            self._send(HTTPStatus.OK, "application/json", json.dumps(self.server.stats_json()).encode())
        elif path == "/frame.jpg":
            jpeg = self.server.latest.jpeg
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            else:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found: try / /stream.mjpg /stats.json\n")

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass    # the viewer left; nothing to do

    def _stream(self) -> None:
        server = self.server
        server.viewer_joined()
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = 0
            while not server.latest.closed:
                jpeg, seen = server.latest.wait_newer(seen, _VIEWER_WAIT_S)
                if jpeg is None:
                    continue
                self.wfile.write(f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode() + jpeg + b"\r\n")
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass    # a viewer that leaves (or stalls) ends its own thread only
        finally:
            server.viewer_left()


class _PreviewHTTPServer(ThreadingHTTPServer):
    daemon_threads = True       # viewer threads never keep the program alive

    def __init__(self, address, stats: Callable[[], dict]):
        super().__init__(address, _Handler)
        self.latest = _LatestJpeg()
        self.stats = stats
        self.size: tuple[int, int] | None = None
        self._viewers = 0
        self._lock = threading.Lock()

    def viewer_joined(self) -> None:
        with self._lock:
            self._viewers += 1

    def viewer_left(self) -> None:
        with self._lock:
            self._viewers -= 1

    def stats_json(self) -> dict:
        with self._lock:
            viewers = self._viewers
        width, height = self.size or (None, None)
        return {**self.stats(), "viewers": viewers, "width": width, "height": height}


class PreviewSink:
    """The browser preview as a live sink. Binds at construction so a busy port fails before any camera opens."""

    name = "preview"
    shows_hud = True

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, stats: Callable[[], dict] = dict,
                 jpeg_quality: int = 80):
        self.jpeg_quality = jpeg_quality
        try:
            self._server = _PreviewHTTPServer((host, port), stats)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise BadInputError(f"port {port} on {host} is in use (another cartoonize-live?): choose another "
                                    f"with --port, or --port 0 for any free port") from None
            if e.errno == errno.EACCES:
                raise BadInputError(f"port {port} on {host}: permission denied (ports below 1024 need root); "
                                    f"use --port 8080") from None
            raise BadInputError(f"cannot serve the preview on {host}:{port} ({e.strerror or e})") from None
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="cartoonize-live-preview-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def open(self, info: SourceInfo) -> None:
        self._server.size = (info.width, info.height)

    def write(self, rgb_u8_hwc: np.ndarray, frame) -> None:
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb_u8_hwc, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        self._server.latest.publish(jpeg.tobytes())

    def close(self) -> None:
        self._server.latest.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
