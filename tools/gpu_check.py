"""The GPU check: run the hardware tests, then check parity and time every GPU backend at 720p and 1080p.

Usage: ``python tools/gpu_check.py --weights fast.safetensors --json gpu_check.json``
(or ``python -m cartoonize.tools.gpu_check``; needs the package installed, e.g. ``pip install -e .``)

One command for anyone with a CUDA GPU. Step 1 runs ``pytest -m gpu`` (tests/test_engines_gpu.py:
CUDA, torch.compile, ONNX Runtime CUDA/TensorRT providers, TensorRT engines and their cache).
Step 2 loads each backend this machine can run (torch fp32/fp16, torch-compiled fp16, onnxruntime
CUDA, tensorrt fp16/fp32), checks it against PyTorch fp32 on the CPU on a real frame (fp32: max
difference <= 1/255; fp16: PSNR >= 40 dB: cartoonize.quality.parity), and times it at each size: warm-up calls first, then
CUDA events around each call (uint8 frames in host memory in and out, as the pipeline uses it),
median and 90th percentile. It prints a table and writes JSON. Backends that cannot run here are
listed with the reason. Step 3 times the run-time stabiliser (realtime/temporal.py, on by default in
cartoonize-video) on this machine's CPU at each size: on a GPU a style runs at full size, so its
stabiliser does too, beside the GPU inference; the JSON's ``stabiliser`` says what that adds per frame.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import cv2
import numpy as np

from cartoonize.engines.backend import BackendConfig, load_backend
from cartoonize.quality import parity as quality_parity
from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.tools.common import parse_size, reported_errors, untrained_weights

REPO = Path(__file__).resolve().parent.parent

GPU_VARIANTS = (
    ("torch fp32", BackendConfig(backend="torch", device="cuda")),
    ("torch fp16", BackendConfig(backend="torch", device="cuda", fp16=True)),
    ("torch-compiled fp16", BackendConfig(backend="torch-compiled", device="cuda", fp16=True)),
    ("onnxruntime cuda fp32", BackendConfig(backend="onnxruntime", device="cuda")),
    ("onnxruntime cuda fp16", BackendConfig(backend="onnxruntime", device="cuda", fp16=True)),
    ("onnxruntime tensorrt-ep fp16", BackendConfig(backend="onnxruntime", device="cuda", fp16=True,
                                                   execution_provider="tensorrt")),
    ("tensorrt fp16", BackendConfig(backend="tensorrt", device="cuda", fp16=True)),
    ("tensorrt fp32", BackendConfig(backend="tensorrt", device="cuda")),
)


def real_frame(clip: Path | None) -> tuple[np.ndarray, str]:
    """A real frame (the given clip, else the bundled-sample Big Buck Bunny); a pattern only as the last resort."""
    try:
        from cartoonize.realtime.video_source import grab_frame   # needs PyAV, which GPU machines may lack

        if clip is None:
            from cartoonize.samples import sample_clip

            clip = sample_clip("bigbuckbunny.mp4")
        frame, index = grab_frame(clip, 40)
        return frame, f"{Path(clip).name} frame {index}"
    except (ImportError, BadInputError) as e:
        height, width = 720, 1280
        y, x = np.mgrid[0:height, 0:width]
        pattern = np.stack([(x * 255) // width, (y * 255) // height, ((x // 40 + y // 40) % 2) * 200 + 30], -1)
        return pattern.astype(np.uint8), f"SYNTHETIC pattern (no real clip: {e})"


def run_gpu_tests() -> dict:
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-ra", "-q", str(REPO / "tests" / "test_engines_gpu.py")]
    click.echo(f"$ {' '.join(command)}", err=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    click.echo(done.stdout[-4000:] + done.stderr[-2000:], err=True)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return {"command": " ".join(command), "returncode": done.returncode, "summary": summary}


def time_backend(backend, batch: np.ndarray, warmup: int, iters: int) -> dict:
    import torch

    for _ in range(warmup):
        backend.infer(batch)
    torch.cuda.synchronize()
    times_ms = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        backend.infer(batch)   # synchronous: uint8 frames back in host memory when it returns
        end.record()
        end.synchronize()
        times_ms.append(start.elapsed_time(end))
    median = statistics.median(times_ms)
    return {"median_ms": median, "p90_ms": float(np.percentile(times_ms, 90)), "fps": len(batch) * 1000 / median}


def time_stabiliser(frame: np.ndarray, iters: int) -> dict:
    """CPU time of one TemporalStabiliser step (default settings) on ``frame`` and a copy moved by 2 px."""
    import time

    from cartoonize.realtime.temporal import TemporalStabiliser
    moved = np.roll(frame, 2, axis=1)
    stabiliser, times_ms = TemporalStabiliser(), []
    stabiliser.step(frame, frame)
    for i in range(iters + 2):
        source = moved if i % 2 else frame
        start = time.perf_counter()
        stabiliser.step(source, source)
        if i >= 2:   # two warm-up steps
            times_ms.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times_ms), "p90_ms": float(np.percentile(times_ms, 90))}


def parity(got: np.ndarray, want: np.ndarray, fp16: bool) -> dict:
    """The project's parity rule (cartoonize.quality.parity) as a JSON-ready row."""
    check = quality_parity(got, want, fp16)
    return {"max_diff": check.max_diff, "psnr_db": None if check.psnr_db == float("inf") else check.psnr_db,
            "ok": bool(check.ok)}   # JSON has no inf


def versions() -> dict:
    import torch

    found = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda}
    for name in ("onnxruntime", "tensorrt", "triton"):
        if importlib.util.find_spec(name) is not None:
            try:
                found[name] = __import__(name).__version__
            except Exception as e:  # noqa: BLE001 - a broken install is worth reporting, not fatal
                found[name] = f"broken ({type(e).__name__})"
    return found


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--style", default=None, help="Bundled neural style (default: an untrained fast generator).")
@click.option("--weights", type=click.Path(path_type=Path), help="Generator weights instead of --style.")
@click.option("--clip", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Video to take the test frame from (default: the Big Buck Bunny sample).")
@click.option("--size", "sizes", multiple=True, default=("1280x720", "1920x1080"), show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--warmup", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--iters", type=click.IntRange(3, 10000), default=50, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=Path("gpu_check.json"), show_default=True)
@click.option("--no-tests", is_flag=True, help="Skip step 1 (pytest -m gpu).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="TensorRT engine cache (default: a temporary one).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(style: str | None, weights: Path | None, clip: Path | None, sizes: tuple[str, ...], batch_size: int,
         warmup: int, iters: int, json_path: Path, no_tests: bool, cache_dir: Path | None, debug: bool) -> None:
    """Check and time every GPU backend this machine can run; print a table, write JSON."""
    import torch

    with reported_errors(debug), tempfile.TemporaryDirectory() as scratch:
        if not torch.cuda.is_available():
            raise CartoonizeError(f"no CUDA GPU visible to PyTorch {torch.__version__} (CUDA build: "
                                  f"{torch.version.cuda or 'no'}): nothing to check on this machine")
        gpu = torch.cuda.get_device_name(0)
        report = {"gpu": gpu, "compute_capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
                  "versions": versions(), "batch_size": batch_size, "rows": []}
        click.echo(f"GPU: {gpu}; {report['versions']}", err=True)
        report["tests"] = None if no_tests else run_gpu_tests()

        if weights is None and style is None:
            weights = untrained_weights("fast", Path(scratch))
        base = dict(style=style or "classic", weights=weights, max_batch=batch_size,
                    cache_dir=cache_dir or Path(scratch) / "engines")
        frame, frame_source = real_frame(clip)
        report["model"], report["frame"] = str(weights or style), frame_source
        batches = {}
        with load_backend(BackendConfig(backend="torch", device="cpu", style=base["style"], weights=weights)) as cpu:
            for text in sizes:
                width, height = parse_size(text)
                batch = np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)] * batch_size)
                batches[text] = (batch, cpu.infer(batch[:1]))   # the reference: PyTorch fp32 on the CPU
        baseline: dict[str, float] = {}
        for label, variant in GPU_VARIANTS:
            config = dataclasses.replace(variant, **base)
            try:
                backend = load_backend(config, announce=lambda m: click.echo(m, err=True))
            except CartoonizeError as e:
                report["rows"].append({"backend": label, "unavailable": str(e)})
                click.echo(f"{label}: unavailable: {e}", err=True)
                continue
            with backend:
                for text, (batch, want) in batches.items():
                    try:
                        check = parity(backend.infer(batch[:1]), want, config.fp16)
                        timing = time_backend(backend, batch, warmup, iters)
                    except Exception as e:  # noqa: BLE001 - one failing backend must not hide the others
                        report["rows"].append({"backend": label, "size": text, "error": f"{type(e).__name__}: {e}"})
                        continue
                    if label == "torch fp32":
                        baseline[text] = timing["median_ms"]
                    speedup = baseline[text] / timing["median_ms"] if text in baseline else None
                    report["rows"].append({"backend": label, "size": text, **check, **timing, "vs_torch_fp32": speedup})
                    click.echo(f"{label} {text}: {timing['median_ms']:.2f} ms, parity {check}", err=True)
        report["stabiliser"] = {text: time_stabiliser(batch[0], iters) for text, (batch, _) in batches.items()}
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"{gpu} (compute {report['compute_capability']}), batch {batch_size}, frame: {frame_source}")
        click.echo(gpu_table(report["rows"]))
        click.echo("stabiliser on the CPU (cartoonize-video's default): " + ", ".join(
            f"{text} {t['median_ms']:.1f} ms" for text, t in report["stabiliser"].items()))
        click.echo(f"wrote {json_path}")
        failed = [r for r in report["rows"] if "error" in r or r.get("ok") is False]
        if failed or (report["tests"] and report["tests"]["returncode"] not in (0, 5)):
            raise CartoonizeError(f"{len(failed)} backend check(s) failed; pytest: "
                                  f"{report['tests']['summary'] if report['tests'] else 'not run'}")


def gpu_table(rows: list[dict]) -> str:
    lines = ["| backend | size | parity vs torch CPU fp32 | median ms | p90 ms | fps | vs torch fp32 |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if "unavailable" in r:
            lines.append(f"| {r['backend']} | - | unavailable: {r['unavailable']} | | | | |")
        elif "error" in r:
            lines.append(f"| {r['backend']} | {r['size']} | ERROR {r['error']} | | | | |")
        else:
            verdict = "ok" if r["ok"] else "FAIL"
            ratio = f"{r['vs_torch_fp32']:.2f}x" if r["vs_torch_fp32"] else "-"
            psnr = "identical" if r["psnr_db"] is None else f"{r['psnr_db']:.1f} dB"
            lines.append(f"| {r['backend']} | {r['size']} | {verdict}: max {r['max_diff']}, {psnr} | "
                         f"{r['median_ms']:.2f} | {r['p90_ms']:.2f} | {r['fps']:.1f} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
