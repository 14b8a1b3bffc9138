"""``cartoonize-batch INPUTS... --out-dir DIR``: many videos at once on Ray, long ones split at keyframes.

Usage: ``cartoonize-batch clips/ --out-dir cartoons/ --style classic --workers 4``

Each input is a Ray task (a local Ray runtime by default, ``--address`` joins a cluster); a video
longer than --segment-frames is cut at keyframes into segments cartoonized in parallel and joined
without re-encoding (realtime/segments.py). The output folder holds a job manifest: a rerun skips
finished, verified outputs and segments, so a run that was killed completes only what is missing.
A failed task is retried once, then reported. docs/BATCH.md explains what runs where.
"""

from __future__ import annotations

import glob
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import click

from cartoonize.engines.backend import BACKEND_NAMES, BackendConfig, for_video
from cartoonize.engines.resize import ResolutionConfig
from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.images import first_line
from cartoonize.realtime.encoder import EncodeConfig, check_encoder
from cartoonize.realtime.segments import plan_segments, segment_is_complete
from cartoonize.realtime.temporal import DEFAULT_STRENGTH, temporal_config
from cartoonize.realtime.transcode import check_container_extension, check_output_path
from cartoonize.styles import BUNDLED_STYLES, DEFAULT_STYLE

from .batch_jobs import (MANIFEST_NAME, PRIME_FRAMES, WORK_DIR_NAME, BatchSettings, Manifest, output_is_finished,
                         run_join, run_segment, run_whole, segment_path)
from .common import reported_errors, temporal_options
from .inputs import VIDEO_EXTENSIONS, expand_inputs

INSTALL_HINT = "cartoonize-batch runs on Ray, which is not installed: pip install 'cartoonize[batch]'"
RETRIES = 1   # a failed task runs once more (a worker that died, a full disk freed meanwhile), then is reported

EXAMPLES = """
\b
Examples:
  cartoonize-batch clips/ --out-dir cartoons/
  cartoonize-batch 'footage/*.mov' --out-dir out/ --ext mp4 --style classic --workers 2
  cartoonize-batch long.mp4 --out-dir out/ --segment-frames 600       # split at keyframes, parallel
  cartoonize-batch /shared/clips --out-dir /shared/out --address ray-head:6379 --device cuda
"""


def import_ray():
    try:
        import ray
    except ImportError:
        raise BadInputError(INSTALL_HINT) from None
    return ray


@dataclass
class InputJob:
    """One input's progress through the run, and its line in the summary table."""

    source: Path
    output: Path | None
    status: str = "pending"          # pending | skipped | done | failed
    detail: str = ""
    frames: int = 0
    segments: int = 0
    seconds: float = 0.0
    exit_code: int = 0
    plan: object = None
    entry: dict | None = None
    resumed: bool = False            # the manifest had this input with the same settings, source and cuts
    segment_results: dict[int, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Work:
    kind: str        # "whole" | "segment" | "join"
    job: int         # index into the job list
    segment: int = -1
    attempt: int = 0


def needs_gpu(config: BackendConfig, cluster_gpus: float) -> bool:
    """Whether each task must hold a GPU: CUDA asked for, a GPU-only backend, or auto where GPUs exist."""
    if config.device is not None and config.device.startswith("cuda"):
        return True
    if config.backend in ("tensorrt", "torch-compiled"):
        return True
    if config.backend == "auto" and config.device is None and cluster_gpus > 0:
        from cartoonize.engines.backend import _style_of
        return _style_of(config).kind == "generator"   # the classic filter runs on CPUs wherever it is
    return False


# Files are stabilised unless --no-temporal: docs/QUALITY.md "Should it be on by default for video?".
STABILISED_BY_DEFAULT = True


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", metavar="INPUTS...", nargs=-1, required=True)
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder (created if missing); also holds the job manifest.")
@click.option("--ext", help="Output container for every input, e.g. mp4 (default: each input's own extension).")
@click.option("--style", default=DEFAULT_STYLE, show_default=True,
              help=f"Bundled style: {', '.join(sorted(BUNDLED_STYLES))}.")
@click.option("--weights", type=click.Path(path_type=Path),
              help="Generator weights (.safetensors or .onnx); every node must see this path.")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True,
              help="Inference engine, decided in each task on its node.")
@click.option("--device", help="cpu, cuda or cuda:N. cuda makes every task ask Ray for GPUs.")
@click.option("--fp16", is_flag=True, help="Half precision (CUDA).")
@click.option("--batch-size", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Frames per inference call inside a task.")
@click.option("--max-side", type=click.IntRange(16, None), help="Run the style with the longer side at most N px.")
@click.option("--tile", type=click.IntRange(32, None), help="Run the style in overlapping tiles of at most N px.")
@temporal_options(DEFAULT_STRENGTH, f"as cartoonize-video; each segment first sees the {PRIME_FRAMES} "
                                    f"frames before its cut, so cuts do not show", default_on=STABILISED_BY_DEFAULT)
@click.option("--codec", default="libx264", show_default=True, help="Video encoder (FFmpeg name).")
@click.option("--crf", type=click.IntRange(0, 63), help="Constant quality; the codec's default if unset.")
@click.option("--preset", help="Encoder speed preset.")
@click.option("--segment-frames", type=click.IntRange(0, None), default=1800, show_default=True,
              help="Split videos into segments of about this many frames, cut at keyframes (0: never split).")
@click.option("--workers", type=click.IntRange(1, None),
              help="Tasks running at once (default: as many as the cluster's CPUs, or GPUs, allow).")
@click.option("--cpus-per-task", type=click.IntRange(1, None), default=1, show_default=True,
              help="CPUs Ray reserves for each task (also the threads a CPU engine uses).")
@click.option("--gpus-per-task", type=click.FloatRange(0, None, min_open=True), default=1.0, show_default=True,
              help="GPUs Ray reserves for each task that needs CUDA (fractions share a GPU).")
@click.option("--address", help="Join this Ray cluster (host:port, or 'auto') instead of starting a local runtime.")
@click.option("--overwrite", is_flag=True, help="Replace outputs this job did not make (its own are always reused).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or notes; the summary and errors still show.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(inputs: tuple[str, ...], out_dir: Path, ext: str | None, style: str, weights: Path | None, backend: str,
         device: str | None, fp16: bool, batch_size: int, max_side: int | None, tile: int | None, temporal: bool,
         temporal_strength: float | None, codec: str,
         crf: int | None, preset: str | None, segment_frames: int, workers: int | None, cpus_per_task: int,
         gpus_per_task: float, address: str | None, overwrite: bool, quiet: bool, debug: bool) -> None:
    """Cartoonize the videos INPUTS (files, folders, globs) into DIR, in parallel on Ray.

    Outputs keep every frame's timestamp and the audio, like cartoonize-video. Rerunning the same
    command skips what is finished; a killed run completes only what is missing.
    """
    log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    with reported_errors(debug):
        ray = import_ray()
        settings = BatchSettings(
            backend=BackendConfig(backend=backend, style=style, weights=weights.resolve() if weights else None,
                                  device=device, fp16=fp16, max_batch=batch_size,
                                  threads=cpus_per_task if device in (None, "cpu") else None),
            encode=EncodeConfig(codec=codec, crf=crf, preset=preset),
            resolution=ResolutionConfig(max_side=max_side, tile=tile, overlap=min(32, (tile or 128) // 4)),
            batch_size=batch_size,
            temporal=temporal_config(temporal, temporal_strength, default_on=STABILISED_BY_DEFAULT))
        settings = replace(settings, backend=for_video(settings.backend, settings.temporal is not None))
        check_encoder(settings.encode)
        from cartoonize.engines.backend import _style_of
        _style_of(settings.backend)          # an unknown style or a bad weights file: one line, before Ray starts

        paths, errors = expand_inputs(inputs, VIDEO_EXTENSIONS, "video")
        jobs = [InputJob(Path(p).resolve(), None) for p in paths]
        jobs += [InputJob(Path(message.split(":")[0]), None, "failed", message, exit_code=2) for message in errors]
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInputError(f"{out_dir}: cannot create the output folder ({e.strerror})") from None
        out_dir = out_dir.resolve()
        manifest = Manifest.load(out_dir / MANIFEST_NAME, settings.fingerprint())
        work_dir = out_dir / WORK_DIR_NAME
        suffix = None if ext is None else "." + ext.lower().lstrip(".")
        taken: dict[Path, Path] = {}
        for job in jobs:
            if job.status == "failed":
                continue
            job.output = out_dir / (job.source.stem + (suffix or job.source.suffix.lower()))
            _prepare(job, taken, manifest, segment_frames, overwrite)
        manifest.save()
        _remove_stale_partials(out_dir, work_dir, jobs)

        todo = [job for job in jobs if job.status == "pending"]
        started_ray = False
        if todo:
            if not ray.is_initialized():
                # log_to_driver off: task output would interleave with the progress bar; results carry warnings.
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning",
                         configure_logging=True)
                started_ray = True
                # Ray's driver installs its own SIGTERM handler (a stack dump and exit); ours ends the run
                # like Ctrl-C: tasks cancelled, the runtime stopped, finished work kept for a rerun.
                signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
            try:
                _run(ray, jobs, todo, settings, manifest, work_dir, workers, cpus_per_task, gpus_per_task,
                     quiet, log, debug)
            except KeyboardInterrupt:
                click.echo("interrupted: finished outputs and segments are kept; run the same command again "
                           "to complete the rest", err=True)
                raise SystemExit(130) from None
            finally:
                if started_ray:
                    ray.shutdown()
        _summary(jobs)
        codes = [job.exit_code for job in jobs if job.status == "failed"]
        if codes:
            raise SystemExit(1 if 1 in codes else 2)


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _remove_stale_partials(out_dir: Path, work_dir: Path, jobs: list[InputJob]) -> None:
    """Temp files of workers that were killed (SIGKILL leaves them): ours by name, never complete."""
    stale = list(work_dir.glob(".*.partial*")) if work_dir.is_dir() else []
    for job in jobs:
        if job.output is not None:
            stale += out_dir.glob(f".{glob.escape(job.output.name)}.*.partial{glob.escape(job.output.suffix)}")
    for path in stale:
        path.unlink(missing_ok=True)


def _prepare(job: InputJob, taken: dict[Path, Path], manifest: Manifest, segment_frames: int,
             overwrite: bool) -> None:
    """Check one input and its output, plan its segments, and mark it skipped if its output is verified."""
    try:
        if job.output in taken:
            raise BadInputError(f"{job.source}: would write {job.output}, like {taken[job.output]}; "
                                f"rename one or use separate runs")
        taken[job.output] = job.source
        plan = plan_segments(job.source, segment_frames, warn=lambda m: None)
        job.plan, job.segments = plan, len(plan.segments)
        earlier = manifest.record(job.output)
        ours = earlier is not None and earlier.get("source") == str(job.source)
        check_output_path(job.source, job.output, overwrite=overwrite or ours)
        check_container_extension(job.output)
        job.entry = manifest.begin(job.source, job.output, plan)
        job.resumed = job.entry is earlier    # same settings, same source file, same cuts as the earlier run
        # Outputs are published by rename, so a complete file of this job counts even if the run was
        # killed between the rename and the manifest update.
        if job.resumed and output_is_finished(job.entry, job.output):
            job.status, job.detail, job.frames = "skipped", "finished earlier (verified)", plan.frames
            job.entry["done"] = True
        else:
            job.entry["done"] = False
    except CartoonizeError as e:
        job.status, job.detail, job.exit_code = "failed", str(e), e.exit_code


def _run(ray, jobs: list[InputJob], todo: list[InputJob], settings: BatchSettings, manifest: Manifest,
         work_dir: Path, workers: int | None, cpus_per_task: int, gpus_per_task: float, quiet: bool, log,
         debug: bool) -> None:
    """Submit the work, at most ``workers`` tasks at a time; retry a failure once; record progress."""
    from tqdm import tqdm

    resources = ray.cluster_resources()
    gpu = needs_gpu(settings.backend, resources.get("GPU", 0))
    if gpu and resources.get("GPU", 0) < gpus_per_task:
        raise BadInputError("the engine needs CUDA but the Ray cluster has no GPU; use --device cpu or a cluster "
                            "with GPUs")
    options = {"num_cpus": cpus_per_task, "max_retries": 0}   # retries are decided here (bad input is never retried)
    if gpu:
        options["num_gpus"] = gpus_per_task
    if workers is None:
        workers = max(1, int(resources.get("GPU", 0) // gpus_per_task) if gpu
                      else int(resources.get("CPU", 1) // cpus_per_task))
    whole_task = ray.remote(run_whole).options(**options)
    segment_task = ray.remote(run_segment).options(**options)
    join_task = ray.remote(run_join).options(num_cpus=1, max_retries=0)   # copies packets: no engine, no GPU
    log(f"{len(todo)} video(s) to do on Ray ({_describe(resources)}), {workers} task(s) at a time"
        f"{', 1 GPU each' if gpu else ''}")

    queue: list[Work] = []
    index_of = {id(job): i for i, job in enumerate(jobs)}
    for job in todo:
        i = index_of[id(job)]
        job.status = "running"
        if len(job.plan.segments) == 1:
            queue.append(Work("whole", i))
            continue
        done = set(job.entry.get("segments_done", []))
        for segment in job.plan.segments:
            path = segment_path(work_dir, job.output, segment.index)
            if (segment.index in done or job.resumed) and segment_is_complete(job.plan, segment.index, path):
                job.segment_results[segment.index] = {"frames": segment.frames, "seconds": 0.0, "reused": True}
            else:
                queue.append(Work("segment", i, segment.index))
        if job.segment_results:
            log(f"{job.source.name}: {len(job.segment_results)} of {len(job.plan.segments)} segments "
                f"finished earlier, reused")
        if len(job.segment_results) == len(job.plan.segments):
            queue.append(Work("join", i))
    # Joins not queued yet count too, so the bar ends with the run.
    joins_later = sum(1 for job in todo if 1 < len(job.plan.segments) != len(job.segment_results))
    bar = tqdm(total=len(queue) + joins_later, unit="task", disable=quiet, file=sys.stderr, dynamic_ncols=True)
    in_flight: dict = {}
    started: dict = {}

    def submit(work: Work) -> None:
        job = jobs[work.job]
        if work.kind == "whole":
            ref = whole_task.remote(settings, job.source, job.output)
        elif work.kind == "segment":
            ref = segment_task.remote(settings, job.plan, work.segment, segment_path(work_dir, job.output, work.segment))
        else:
            paths = [segment_path(work_dir, job.output, s.index) for s in job.plan.segments]
            ref = join_task.remote(job.plan, paths, job.output)
        in_flight[ref] = work
        started[ref] = time.perf_counter()

    try:
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                submit(queue.pop(0))
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                work = in_flight.pop(ref)
                job = jobs[work.job]
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a task's failure is reported per input, the run goes on
                    cause = getattr(e, "cause", None) or e
                    bad_input = isinstance(cause, BadInputError)
                    where = f"segment {work.segment} of " if work.kind == "segment" else ""
                    if not bad_input and work.attempt < RETRIES and job.status != "failed":
                        bar.write(f"note: {where}{job.source.name} failed ({first_line(cause)}); retrying once",
                                  file=sys.stderr)
                        queue.append(Work(work.kind, work.job, work.segment, work.attempt + 1))
                        continue
                    if job.status != "failed":
                        job.status, job.exit_code = "failed", 2 if bad_input else 1
                        job.detail = f"{where}{first_line(cause)}"
                        if debug:
                            bar.write(str(e), file=sys.stderr)
                    bar.update(1)
                    continue
                bar.update(1)
                for message in result.get("warnings", []):
                    bar.write(f"{job.source.name}: {message}", file=sys.stderr)
                if job.status == "failed":
                    continue   # another piece of this input failed already; its segments stay for a rerun
                if work.kind == "segment":
                    job.segment_results[work.segment] = result
                    job.entry.setdefault("segments_done", []).append(work.segment)
                    manifest.save()
                    if len(job.segment_results) == len(job.plan.segments):
                        queue.insert(0, Work("join", work.job))   # finish an input before starting new ones
                    continue
                job.status, job.frames = "done", result["frames"]
                job.seconds = sum(r["seconds"] for r in job.segment_results.values()) + result["seconds"]
                job.entry.update(done=True, segments_done=[])
                manifest.save()
                if work.kind == "join":
                    for s in job.plan.segments:
                        segment_path(work_dir, job.output, s.index).unlink(missing_ok=True)
    finally:
        bar.close()
        for ref in in_flight:
            ray.cancel(ref, force=True)
        if work_dir.is_dir() and not any(work_dir.iterdir()):
            work_dir.rmdir()
    for job in todo:
        if job.status == "failed" and job.segments > 1:
            job.detail += " (finished segments are kept for a rerun)"


def _describe(resources: dict) -> str:
    parts = [f"{int(resources.get('CPU', 0))} CPUs"]
    if resources.get("GPU"):
        parts.append(f"{resources['GPU']:g} GPUs")
    return ", ".join(parts)


def _summary(jobs: list[InputJob]) -> None:
    """One table on stderr: each input, its output, what happened."""
    rows = [("input", "output", "status", "frames", "segments", "time")]
    for job in jobs:
        rows.append((job.source.name, job.output.name if job.output else "-", job.status,
                     str(job.frames) if job.frames else "-", str(job.segments) if job.segments else "-",
                     f"{job.seconds:.1f} s" if job.seconds else "-"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip(), err=True)
    for job in jobs:
        if job.status == "failed":
            click.echo(f"error: {job.detail if str(job.source) in job.detail else f'{job.source}: {job.detail}'}",
                       err=True)
    counts = {s: sum(1 for j in jobs if j.status == s) for s in ("done", "skipped", "failed")}
    click.echo(f"{counts['done']} done, {counts['skipped']} skipped (finished earlier), {counts['failed']} failed",
               err=True)


if __name__ == "__main__":
    main()
