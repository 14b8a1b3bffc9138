"""`cartoonize-batch` on a local Ray runtime (2 CPUs, started once for this module): real clips and a bad
file, a rerun that does nothing, a run killed midway and completed by a rerun. Skipped, saying why,
where ray is not installed (the [test] extra installs it, so CI runs them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cartoonize.tools.batch import main

from conftest import read_video

STYLE = ["--style", "classic"]   # no weights: the bundled neural styles may change; the batch machinery does not


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray", reason="cartoonize-batch needs ray: pip install -e '.[test]' (or '.[batch]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_without_ray_the_command_says_how_to_install_it(monkeypatch, tmp_path, carphone_clip):
    monkeypatch.setitem(sys.modules, "ray", None)    # import ray now raises ImportError
    result = cli(carphone_clip, "--out-dir", tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: cartoonize-batch runs on Ray, which is not installed: pip install 'cartoonize[batch]'"]
    assert not (tmp_path / "out").exists()


def summary_counts(stderr: str) -> str:
    return [line for line in stderr.splitlines() if " done, " in line and " failed" in line][-1]


@pytest.mark.slow
def test_three_real_clips_and_a_bad_file_then_a_rerun_does_nothing(ray_address, tmp_path, bunny_clip, bikes_clip,
                                                                    carphone_clip):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 100)
    out = tmp_path / "out"
    args = [carphone_clip, bikes_clip, bunny_clip, bad, "--out-dir", out, *STYLE, "--max-side", "160", "-q"]
    result = cli(*args)
    assert result.exit_code == 2, result.output                        # bad input failed, the rest is done
    assert summary_counts(result.stderr) == "3 done, 0 skipped (finished earlier), 1 failed"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "notes.mp4" in errors[0], result.stderr
    assert "Traceback" not in result.output
    for clip in (carphone_clip, bikes_clip, bunny_clip):
        src, dst = read_video(clip), read_video(out / clip.name)
        assert dst["times"] == src["times"] and dst["size"] == src["size"]
        assert dst["audio_packets"] == src["audio_packets"]            # bunny: 249 AAC packets, byte-identical
    assert len(read_video(out / bunny_clip.name)["audio_packets"]) == 249
    made = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".mp4"}
    assert sorted(made) == sorted(c.name for c in (carphone_clip, bikes_clip, bunny_clip))

    again = cli(*args)
    assert again.exit_code == 2, again.output
    assert summary_counts(again.stderr) == "0 done, 3 skipped (finished earlier), 1 failed"
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".mp4"} == made   # nothing rewritten


@pytest.mark.slow
def test_a_run_killed_midway_is_completed_by_a_rerun(ray_address, tmp_path, bikes_clip, carphone_clip):
    out = tmp_path / "out"
    args = [bikes_clip, carphone_clip, "--out-dir", out, *STYLE, "--max-side", "160", "--segment-frames", "60",
            "--workers", "1"]
    driver = subprocess.Popen([sys.executable, "-m", "cartoonize.tools.batch", *map(str, args), "-q",
                               "--address", ray_address], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / ".cartoonize-batch.json"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and driver.poll() is None:   # until the first segment is recorded
            if manifest.exists():
                entries = json.loads(manifest.read_text())["entries"]
                if entries.get(str((out / bikes_clip.name).resolve()), {}).get("segments_done"):
                    break
            time.sleep(0.1)
        assert driver.poll() is None, driver.stderr.read().decode()
        os.kill(driver.pid, signal.SIGKILL)                        # no chance to clean up or save anything
    finally:
        driver.wait(timeout=60)
        driver.stderr.close()
    work = out / ".cartoonize-batch-segments"
    finished = sorted(p.name for p in work.iterdir() if not p.name.startswith("."))
    assert 1 <= len(finished) < 4 and not (out / bikes_clip.name).exists()
    before = {name: (work / name).stat().st_mtime_ns for name in finished}

    rerun = cli(*args)
    assert rerun.exit_code == 0, rerun.output
    assert f"bikes.mp4: {len(finished)} of 4 segments finished earlier, reused" in rerun.stderr
    assert summary_counts(rerun.stderr) == "2 done, 0 skipped (finished earlier), 0 failed"
    src, dst = read_video(bikes_clip), read_video(out / bikes_clip.name)
    assert len(dst["times"]) == 250 and dst["times"] == src["times"]
    assert read_video(out / carphone_clip.name)["times"] == read_video(carphone_clip)["times"]
    assert before and not work.exists()                            # segments joined, then removed
    leftovers = [p.name for p in out.iterdir() if "partial" in p.name]
    assert leftovers == []

    third = cli(*args)
    assert third.exit_code == 0 and summary_counts(third.stderr) == "0 done, 2 skipped (finished earlier), 0 failed"


class FakeRay:
    """Just enough of Ray's API for the driver loop, run in this process: for the retry rules, fast."""

    class _Ref:
        def __init__(self, fn, args):
            try:
                self.value, self.error = fn(*args), None
            except Exception as e:  # noqa: BLE001 - kept for get(), as Ray does
                self.value, self.error = None, e

    class _Remote:
        def __init__(self, fn):
            self.fn = fn

        def options(self, **kwargs):
            return self

        def remote(self, *args):
            return FakeRay._Ref(self.fn, args)

    def remote(self, fn):
        return FakeRay._Remote(fn)

    def is_initialized(self):
        return True

    def cluster_resources(self):
        return {"CPU": 2.0}

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if ref.error is not None:
            raise ref.error
        return ref.value

    def cancel(self, ref, force=False):
        pass


@pytest.mark.parametrize("failures, code, status", [(1, 0, "1 done, 0 skipped (finished earlier), 0 failed"),
                                                    (2, 1, "0 done, 0 skipped (finished earlier), 1 failed")])
def test_a_failed_task_is_retried_once_then_reported(monkeypatch, tmp_path, carphone_clip, failures, code, status):
    import cartoonize.tools.batch as batch

    calls, real_run_whole = [], batch.run_whole

    def flaky_whole(settings, source, output):
        calls.append(source)
        if len(calls) <= failures:
            raise RuntimeError(f"worker lost (attempt {len(calls)})")
        return real_run_whole(settings, source, output)

    monkeypatch.setattr(batch, "import_ray", lambda: FakeRay())
    monkeypatch.setattr(batch, "run_whole", flaky_whole)
    result = cli(carphone_clip, "--out-dir", tmp_path / "out", *STYLE, "--max-side", "64", "--segment-frames", "0")
    assert result.exit_code == code, result.output
    assert len(calls) == 2                                           # the first try and exactly one retry
    assert "failed (worker lost (attempt 1)); retrying once" in result.stderr
    assert summary_counts(result.stderr) == status
    if failures == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "worker lost (attempt 2)" in errors[0]
        assert not (tmp_path / "out" / carphone_clip.name).exists()
    else:
        assert read_video(tmp_path / "out" / carphone_clip.name)["times"] == read_video(carphone_clip)["times"]


def test_tasks_ask_for_gpus_only_when_the_engine_needs_cuda():
    from cartoonize.engines.backend import BackendConfig
    from cartoonize.tools.batch import needs_gpu
    NEURAL = "hayao"   # a bundled neural style (the package default is the classic filter)

    assert needs_gpu(BackendConfig(style=NEURAL, device="cuda"), cluster_gpus=0)
    assert needs_gpu(BackendConfig(style=NEURAL, backend="tensorrt"), cluster_gpus=4)
    assert needs_gpu(BackendConfig(style=NEURAL), cluster_gpus=4)           # auto, neural, GPUs there
    assert not needs_gpu(BackendConfig(style=NEURAL), cluster_gpus=0)
    assert not needs_gpu(BackendConfig(style=NEURAL, device="cpu"), cluster_gpus=4)
    assert not needs_gpu(BackendConfig(style="classic"), cluster_gpus=4)            # the filter runs on CPUs


def test_temporal_changes_the_settings_and_primes_every_segment(monkeypatch, tmp_path):
    # --temporal is part of what an output looks like (a rerun with it redoes the work), wraps each task's
    # engine in the stabiliser, and makes each segment start from the PRIME_FRAMES frames before its cut.
    from dataclasses import replace

    from cartoonize.engines.backend import BackendConfig
    from cartoonize.realtime.encoder import EncodeConfig
    from cartoonize.realtime.temporal import TemporalBackend, TemporalConfig
    from cartoonize.tools import batch_jobs
    off = batch_jobs.BatchSettings(backend=BackendConfig(style="classic"), encode=EncodeConfig())
    on = replace(off, temporal=TemporalConfig())
    assert on.fingerprint() != off.fingerprint() != replace(on, temporal=TemporalConfig(strength=0.3)).fingerprint()
    seen = []
    monkeypatch.setattr(batch_jobs, "encode_segment",
                        lambda plan, index, engine, path, encode, batch_size, prime: seen.append((engine, prime)) or 7)
    for settings in (off, on):
        assert batch_jobs.run_segment(settings, None, 1, tmp_path / "seg.mov")["frames"] == 7
    (engine_off, prime_off), (engine_on, prime_on) = seen
    assert prime_off == 0 and prime_on == batch_jobs.PRIME_FRAMES
    assert not isinstance(engine_off, TemporalBackend) and isinstance(engine_on, TemporalBackend)


def test_a_settings_change_redoes_the_outputs_the_job_made(tmp_path, carphone_clip):
    # Outputs an earlier run made with other settings (e.g. before stabilisation became the default) are
    # redone, not refused as someone else's files, and the manifest keeps who made them even if this run
    # stops before redoing them; a file the job did not make is still refused.
    from cartoonize.tools.batch import InputJob, _prepare
    from cartoonize.tools.batch_jobs import MANIFEST_NAME, Manifest
    out = tmp_path / "out"
    out.mkdir()
    made, foreign = out / "carphone.mp4", out / "other.mp4"
    made.write_bytes(b"an earlier run's output")
    foreign.write_bytes(b"someone else's file")
    earlier = Manifest(out / MANIFEST_NAME, "old-settings")
    earlier.entries[str(made)] = {"source": str(carphone_clip), "identity": {}, "cuts": [], "frames": 1,
                                  "segments_done": [], "done": True}
    earlier.save()
    manifest = Manifest.load(out / MANIFEST_NAME, "new-settings")
    job, other = InputJob(carphone_clip, made), InputJob(carphone_clip, foreign)
    _prepare(job, {}, manifest, 1800, overwrite=False)
    _prepare(other, {}, manifest, 1800, overwrite=False)
    assert job.status == "pending" and not job.resumed and job.entry["done"] is False   # to be redone
    assert other.status == "failed" and "exists" in other.detail
    manifest.save()
    again = Manifest.load(out / MANIFEST_NAME, "new-settings").record(made)
    assert again["source"] == str(carphone_clip) and again["done"] is False
    stale = Manifest.load(out / MANIFEST_NAME, "third-settings").record(made)
    assert stale == {"source": str(carphone_clip), "stale": True}


def test_bundled_style_weights_are_part_of_the_settings(monkeypatch, tmp_path):
    # A bundled style updated in place (a new release) makes earlier outputs stale, as a retrained --weights file does.
    import shutil

    from cartoonize.engines.backend import BackendConfig
    from cartoonize.realtime.encoder import EncodeConfig
    from cartoonize.styles import resolve_style
    from cartoonize.tools import batch_jobs
    settings = batch_jobs.BatchSettings(backend=BackendConfig(style="hayao"), encode=EncodeConfig())
    before = settings.fingerprint()
    copy = tmp_path / "hayao.safetensors"
    shutil.copy(resolve_style("hayao").weights, copy)
    copy.write_bytes(copy.read_bytes() + b" ")
    monkeypatch.setattr(batch_jobs, "_bundled_weights", lambda style: copy)
    assert settings.fingerprint() != before
