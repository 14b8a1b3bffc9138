"""The TensorRT engine cache: keys that are correct by construction, plain plan files, JSON sidecars.

Usage:
    cache = EngineCache(default_cache_dir())
    engine = load_or_build(cache, key, label="fast fp16", build=build_plan, deserialize=runtime_load, log=print)

A serialized TensorRT engine (a "plan") is only valid for the exact network, shape profile,
builder settings (workspace, flags), precision, TensorRT version and GPU it was built for, so all
of these make up the key, and the
file name is the key's digest: a change to any of them can only miss, never load a wrong plan.
Beside each ``<label>-<digest>.plan`` lies ``<label>-<digest>.json`` with the key's fields and the
plan's size and SHA-256; the plan is written first and the sidecar last, each to a temporary file
renamed into place, so a reader sees either a complete entry or none. Anything that does not
check out (missing sidecar, corrupt plan, a sidecar for another key, a plan TensorRT refuses) is
rebuilt with one line saying why. This module imports no TensorRT, so its tests run anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from cartoonize.errors import BadInputError
from cartoonize.files import write_atomic

SIDECAR_FORMAT = 1
T = TypeVar("T")


def default_cache_dir() -> Path:
    """$CARTOONIZE_CACHE_DIR, else $XDG_CACHE_HOME/cartoonize/engines, else ~/.cache/cartoonize/engines."""
    explicit = os.environ.get("CARTOONIZE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cartoonize" / "engines"


Shape = tuple[int, int, int, int]   # (batch, height, width, 3): the uint8 NHWC input


@dataclass(frozen=True)
class ShapeProfile:
    """TensorRT optimisation profile of the input: smallest, tuned-for and largest shape."""

    min: Shape
    opt: Shape
    max: Shape

    @classmethod
    def for_sizes(cls, sizes: Sequence[tuple[int, int]], max_batch: int) -> "ShapeProfile":
        """Profile covering frames of the given (width, height) sizes in batches of 1..max_batch.

        Tuned for the largest size at full batch, the case that decides the frame rate.
        """
        if not sizes:
            raise BadInputError("a TensorRT engine needs at least one frame size")
        if max_batch < 1 or any(w < 1 or h < 1 for w, h in sizes):
            raise BadInputError(f"bad engine shape: sizes {list(sizes)}, batch {max_batch}")
        heights = [h for _, h in sizes]
        widths = [w for w, _ in sizes]
        big = (max_batch, max(heights), max(widths), 3)
        return cls(min=(1, min(heights), min(widths), 3), opt=big, max=big)

    def covers(self, shape: Sequence[int]) -> bool:
        return all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max)) and len(shape) == 4

    def describe(self) -> str:
        n_lo, h_lo, w_lo, _ = self.min
        n_hi, h_hi, w_hi, _ = self.max
        sizes = f"{w_hi}x{h_hi}" if (h_lo, w_lo) == (h_hi, w_hi) else f"{w_lo}x{h_lo}..{w_hi}x{h_hi}"
        return f"{sizes}, batch {n_lo}..{n_hi}"


@dataclass(frozen=True)
class BuildSettings:
    """Every builder setting that can change the plan TensorRT produces; build_plan reads them from here
    only, so the key and the build cannot disagree."""

    workspace_bytes: int                                  # memory pool limit: bounds which tactics are tried
    network_flags: tuple[str, ...] = ("STRONGLY_TYPED",)  # NetworkDefinitionCreationFlag names
    builder_flags: tuple[str, ...] = ()                   # BuilderFlag names set on the builder config


@dataclass(frozen=True)
class EngineKey:
    """Everything a plan depends on. Any change gives a different digest, hence a different file."""

    onnx_sha256: str           # the exact network (weights, precision of the graph, exporter)
    profile: ShapeProfile      # input shapes the engine accepts
    build: BuildSettings       # workspace and flags of the builder
    precision: str             # fp16 | fp32
    tensorrt_version: str      # plans do not load across TensorRT versions
    gpu_name: str              # kernels are chosen for one GPU model...
    compute_capability: str    # ...and one architecture, e.g. "9.0"

    def as_dict(self) -> dict:
        """JSON-shaped (tuples as lists), so it compares equal to what a sidecar read back holds."""
        return json.loads(json.dumps(asdict(self)))

    def digest(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CacheLookup:
    plan: bytes | None    # the plan when the entry checked out
    reason: str           # why there is no usable plan ("" on a hit)


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.") or "engine"


def _differences(old: dict, new: dict) -> list[str]:
    return [f"{name} {old.get(name)!r} -> {new[name]!r}" for name in new if old.get(name) != new[name]]


class EngineCache:
    """A folder of ``.plan`` files with JSON sidecars, plus TensorRT timing caches."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def paths(self, key: EngineKey, label: str) -> tuple[Path, Path]:
        stem = f"{_safe_label(label)}-{key.digest()}"
        return self.folder / f"{stem}.plan", self.folder / f"{stem}.json"

    def timing_cache_path(self, tensorrt_version: str, gpu_name: str) -> Path:
        """Timing caches speed up later builds; they are per TensorRT version and GPU model."""
        return self.folder / f"timing-{_safe_label(tensorrt_version)}-{_safe_label(gpu_name)}.cache"

    def lookup(self, key: EngineKey, label: str) -> CacheLookup:
        plan_path, sidecar_path = self.paths(key, label)
        if not plan_path.is_file():
            return CacheLookup(None, self._why_missing(key, label))
        if not sidecar_path.is_file():
            return CacheLookup(None, f"{plan_path.name} has no sidecar {sidecar_path.name} (interrupted write?)")
        try:
            sidecar = json.loads(sidecar_path.read_text())
            recorded_key, size, sha = sidecar["key"], sidecar["plan_bytes"], sidecar["plan_sha256"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            return CacheLookup(None, f"sidecar {sidecar_path.name} is unreadable ({type(e).__name__})")
        changed = _differences(recorded_key, key.as_dict())
        if changed:
            return CacheLookup(None, f"{plan_path.name} was built for another engine: {'; '.join(changed)}")
        plan = plan_path.read_bytes()
        if len(plan) != size or hashlib.sha256(plan).hexdigest() != sha:
            return CacheLookup(None, f"{plan_path.name} is corrupt ({len(plan)} bytes, checksum does not match its sidecar)")
        return CacheLookup(plan, "")

    def _why_missing(self, key: EngineKey, label: str) -> str:
        """Name what changed when an engine for the same label exists under another key (stale entry)."""
        prefix = f"{_safe_label(label)}-"
        for sidecar_path in sorted(self.folder.glob(f"{prefix}*.json")):
            try:
                old = json.loads(sidecar_path.read_text())["key"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            changed = _differences(old, key.as_dict())
            if changed:
                return f"cached {label} engine is stale ({'; '.join(changed)})"
        return f"no cached {label} engine for this GPU, TensorRT version and shape profile"

    def find_covering(self, key: EngineKey, label: str, shape: Sequence[int]) -> ShapeProfile | None:
        """The profile of a cached engine that takes ``shape`` and matches ``key`` in all but the profile.

        Lets a run reuse an engine prebuilt for a range of sizes (``cartoonize-export --size A --size B``)
        instead of building one for its own frame size.
        """
        wanted = {name: value for name, value in key.as_dict().items() if name != "profile"}
        for sidecar_path in sorted(self.folder.glob(f"{_safe_label(label)}-*.json")):
            try:
                recorded = json.loads(sidecar_path.read_text())["key"]
                profile = ShapeProfile(*(tuple(recorded["profile"][k]) for k in ("min", "opt", "max")))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            rest = {name: value for name, value in recorded.items() if name != "profile"}
            if rest == wanted and profile.covers(shape):
                return profile
        return None

    def store(self, key: EngineKey, label: str, plan: bytes, build_seconds: float | None = None) -> Path:
        """Write plan then sidecar, each atomically; returns the plan's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        plan_path, sidecar_path = self.paths(key, label)
        write_atomic(plan, plan_path)
        sidecar = {"format": SIDECAR_FORMAT, "label": label, "key": key.as_dict(), "plan_bytes": len(plan),
                   "plan_sha256": hashlib.sha256(plan).hexdigest(), "build_seconds": build_seconds}
        write_atomic((json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode(), sidecar_path)
        return plan_path

    def discard(self, key: EngineKey, label: str) -> None:
        for path in self.paths(key, label):
            path.unlink(missing_ok=True)


def load_or_build(cache: EngineCache, key: EngineKey, label: str, build: Callable[[], bytes],
                  deserialize: Callable[[bytes], T | None], log: Callable[[str], None]) -> T:
    """The engine for ``key``: from the cache when it checks out and loads, else built, stored and loaded.

    ``build`` returns a serialized plan; ``deserialize`` returns the loaded engine, or raises or returns
    None when the runtime refuses the bytes (its error text goes into the reason). Every rebuild is
    announced with its reason in one line.
    """
    import time

    found = cache.lookup(key, label)
    if found.plan is not None:
        engine, why = _deserialized(deserialize, found.plan)
        if engine is not None:
            log(f"tensorrt: loaded cached engine {cache.paths(key, label)[0]}")
            return engine
        reason = f"TensorRT could not deserialize the cached plan{why}"
    else:
        reason = found.reason
    log(f"tensorrt: building {label} engine ({key.profile.describe()}): {reason}; this takes a while, once")
    start = time.perf_counter()
    plan = build()
    seconds = time.perf_counter() - start
    path = cache.store(key, label, plan, build_seconds=round(seconds, 1))
    engine, why = _deserialized(deserialize, plan)
    if engine is None:
        cache.discard(key, label)
        raise RuntimeError(f"TensorRT could not deserialize the engine it has just built{why}")
    log(f"tensorrt: built in {seconds:.0f} s, cached as {path}")
    return engine


def _deserialized(deserialize: Callable[[bytes], T | None], plan: bytes) -> tuple[T | None, str]:
    """(engine, "") or (None, ": <the runtime's own error text>"): a refusal keeps what TensorRT said."""
    try:
        engine = deserialize(plan)
    except Exception as e:  # noqa: BLE001 - TensorRT versions raise different types; the text is what matters
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return None, f" ({type(e).__name__}{': ' + message if message else ''})"
    return engine, "" if engine is not None else " (the runtime returned no engine)"


def key_fields() -> list[str]:
    """Names of the key's components (the tests change each one)."""
    return [f.name for f in fields(EngineKey)]
