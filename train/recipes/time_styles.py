"""Model-only ONNX Runtime time of several styles on one frame, calls interleaved (same load for all).

Usage: python train/recipes/time_styles.py hayao shinkai [path/to/other.safetensors ...] [--size 640x360] [--rounds 40]

Each style (a bundled name or a weights file) is exported to ONNX and loaded once (2 threads, no
spinning, as cartoonize-video runs it); then each round calls every model once on the same random
uint8 frame. Prints the median time of each (after 5 warm-up rounds) and its ratio to the first.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from cartoonize.engines.onnx_export import export_onnx
from cartoonize.styles import BUNDLED_STYLES, generator_style, resolve_style


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("styles", nargs="+")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    width, height = map(int, args.size.split("x"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {}
    for name in args.styles:
        style = resolve_style(name) if name in BUNDLED_STYLES else generator_style(Path(name))
        sessions[name] = ort.InferenceSession(export_onnx(style).onnx_bytes, options,
                                              providers=["CPUExecutionProvider"])
    frame = np.random.default_rng(0).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    times = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {session.get_inputs()[0].name: frame})
            times[name].append(time.perf_counter() - start)
    first = float(np.median(times[args.styles[0]][5:]))
    for name, values in times.items():
        median = float(np.median(values[5:]))
        print(f"{name}: {median * 1000:.1f} ms ({1 / median:.1f} fps), {median / first:.2f}x the time of {args.styles[0]}")


if __name__ == "__main__":
    main()
