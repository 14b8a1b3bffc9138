"""What cartoonize-batch does to each input, apart from Ray: settings, the job manifest, the task bodies.

Usage:
    settings = BatchSettings(backend=BackendConfig(style="classic"), encode=EncodeConfig())
    manifest = Manifest.load(out_dir / MANIFEST_NAME, settings.fingerprint())
    frames = run_whole(settings, source, output)          # runs in a Ray worker (tools/batch.py)

The manifest (JSON, in the output folder, rewritten atomically after every finished piece of
work) records for each input its source's size and mtime, its output, its segment plan, and which
outputs and segments are finished. A rerun trusts nothing it cannot check: an output or segment
counts as finished only when the manifest names it for the same settings and the same source,
and the file is there with the expected number of video packets. Files are only ever published
by rename, so a file that exists is complete; a run killed at any moment loses at most the pieces
that were in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cartoonize.engines.backend import BackendConfig
from cartoonize.engines.resize import ResolutionConfig
from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.files import write_atomic
from cartoonize.realtime.encoder import EncodeConfig
from cartoonize.realtime.segments import (SEGMENT_SUFFIX, SegmentPlan, count_video_packets, encode_segment,
                                          join_segments)
from cartoonize.realtime.temporal import TemporalConfig, with_resolution_and_temporal

MANIFEST_NAME = ".cartoonize-batch.json"
WORK_DIR_NAME = ".cartoonize-batch-segments"   # segment files, beside the outputs (same file system)
# With --temporal each segment's stabiliser first sees this many frames before its cut (stylised, not written):
# its memory fades by the keep share per frame (at most 0.95), so after 24 frames the segment starts as the
# unsplit run was (tests/test_segments.py). Costs 24 inferences per segment (1.3% at the default 1800 frames).
PRIME_FRAMES = 24
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class BatchSettings:
    """Everything that decides what an output looks like; a change makes earlier outputs stale."""

    backend: BackendConfig
    encode: EncodeConfig
    resolution: ResolutionConfig = ResolutionConfig()
    batch_size: int = 1            # frames per inference call inside a task
    temporal: TemporalConfig | None = None   # run-time stabilisation (--temporal); None: off

    def fingerprint(self) -> str:
        # The statistics only when steady, so that runs of other styles keep the fingerprint they had before.
        backend = {k: str(v) for k, v in asdict(self.backend).items() if (k, v) != ("statistics", "frame")}
        described = {"backend": backend,
                     "encode": asdict(self.encode), "resolution": asdict(self.resolution)}
        if self.temporal is not None:   # only when on: a run without it keeps the fingerprint it had before the option
            described["temporal"] = asdict(self.temporal)
        weights = self.backend.weights or _bundled_weights(self.backend.style)
        if weights is not None and Path(weights).is_file():
            # A retrained file under the same name (or a bundled style updated in place) is a different style.
            described["weights_sha256"] = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def _bundled_weights(style: str) -> Path | None:
    from cartoonize.styles import resolve_style
    try:
        return resolve_style(style).weights
    except CartoonizeError:
        return None


def source_identity(path: Path) -> dict:
    stat = Path(path).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


@dataclass
class Manifest:
    """The job record in the output folder; only the driver writes it."""

    path: Path
    fingerprint: str
    entries: dict[str, dict] = field(default_factory=dict)   # output path (str) -> record

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> "Manifest":
        manifest = cls(Path(path), fingerprint)
        if not manifest.path.exists():
            return manifest
        try:
            data = json.loads(manifest.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BadInputError(f"{path}: unreadable job manifest ({e}); delete it to start over") from None
        entries = data.get("entries", {}) if data.get("version") == MANIFEST_VERSION else {}
        if data.get("fingerprint") == fingerprint:
            manifest.entries = entries
        else:
            # Other settings: the outputs describe other settings and are redone. Only who made them is kept
            # (a record without identity or cuts, never resumed), so that they are replaced instead of refused
            # as someone else's files, also when this run stops before redoing them.
            manifest.entries = {output: {"source": record["source"], "stale": True}
                                for output, record in entries.items()
                                if isinstance(record, dict) and "source" in record}
        return manifest

    def save(self) -> None:
        data = {"version": MANIFEST_VERSION, "fingerprint": self.fingerprint, "updated": time.time(),
                "entries": self.entries}
        write_atomic(json.dumps(data, indent=1, sort_keys=True).encode(), self.path)

    def record(self, output: Path) -> dict | None:
        return self.entries.get(str(output))

    def begin(self, source: Path, output: Path, plan: SegmentPlan) -> dict:
        """The record for ``output``, kept when it describes the same source and plan, else a fresh one."""
        identity = source_identity(source)
        cuts = [[s.start_pts, s.frames] for s in plan.segments]
        old = self.entries.get(str(output))
        if old and old.get("source") == str(source) and old.get("identity") == identity and old.get("cuts") == cuts:
            return old
        self.entries[str(output)] = entry = {"source": str(source), "identity": identity, "cuts": cuts,
                                             "frames": plan.frames, "segments_done": [], "done": False}
        return entry


def output_is_finished(entry: dict | None, output: Path) -> bool:
    """The manifest says done and the file proves it (complete: as many video packets as the source)."""
    if not entry or not output.is_file():
        return False
    try:
        return count_video_packets(output) == entry["frames"]
    except Exception:  # noqa: BLE001 - an unreadable file is simply not finished
        return False


def segment_path(work_dir: Path, output: Path, index: int) -> Path:
    return work_dir / f"{output.stem}{output.suffix.replace('.', '_')}.seg{index:04d}{SEGMENT_SUFFIX}"


def _engine(settings: BatchSettings):
    from cartoonize.engines.backend import load_backend, trained_side_of

    # As cartoonize-video: an open scale runs a style at its trained size on a CPU node, full size on a GPU.
    return with_resolution_and_temporal(load_backend(settings.backend, announce=lambda m: None), settings.resolution,
                                        trained_side_of(settings.backend), settings.temporal)


# Task bodies: plain functions, run in Ray workers (tools/batch.py wraps them), testable without Ray.

def run_whole(settings: BatchSettings, source: Path, output: Path) -> dict:
    """Cartoonize one input into its output in one piece, as cartoonize-video does (overwrite decided by the driver)."""
    from cartoonize.realtime.transcode import cartoonize_video

    started, warnings = time.perf_counter(), []
    with _engine(settings) as engine:
        result = cartoonize_video(source, output, engine, settings.encode, overwrite=True,
                                  batch_size=settings.batch_size, log=lambda m: None, warn=warnings.append)
    return {"frames": result.frames, "seconds": time.perf_counter() - started, "host": os.uname().nodename,
            "warnings": warnings}


def run_segment(settings: BatchSettings, plan: SegmentPlan, index: int, path: Path) -> dict:
    """Cartoonize one segment into its own video-only file."""
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _engine(settings) as engine:
        frames = encode_segment(plan, index, engine, path, settings.encode, batch_size=settings.batch_size,
                                prime=PRIME_FRAMES if settings.temporal is not None else 0)
    return {"frames": frames, "seconds": time.perf_counter() - started, "host": os.uname().nodename}


def run_join(plan: SegmentPlan, paths: list[Path], output: Path) -> dict:
    """Join finished segments into the output (packets copied, audio muxed once from the source)."""
    started, warnings = time.perf_counter(), []
    frames = join_segments(plan, paths, output, overwrite=True, log=warnings.append, warn=warnings.append)
    return {"frames": frames, "seconds": time.perf_counter() - started, "host": os.uname().nodename,
            "warnings": warnings}
