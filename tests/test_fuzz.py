"""cartoonize-video on 200 corrupted real files: never a traceback, a hang or a partial output; a
success is a playable file. More cases: ``python tests/fuzz_video.py --cases 2000 --seed 7``."""

from __future__ import annotations

import pytest

from fuzz_video import KINDS, fuzz


@pytest.mark.slow
def test_corrupted_real_files_fail_cleanly_or_give_a_playable_video(tmp_path):
    outcomes = fuzz(200, seed=11, workdir=tmp_path, jobs=2)
    assert len(outcomes) == 200
    assert {o.case.kind for o in outcomes} == set(KINDS) and {o.case.seed_name for o in outcomes} == \
        {"seed.mp4", "seed.mkv"}
    failed = [f"case {o.case.index} ({o.case.seed_name}: {o.case.detail}): {'; '.join(o.problems)}; "
              f"stderr: {o.stderr_tail.strip()[-300:]}" for o in outcomes if o.problems]
    assert not failed, "\n".join(failed)
    # Both outcomes occur, so the checks on each were exercised: damaged files that still play, and refusals.
    codes = [o.exit_code for o in outcomes]
    assert codes.count(0) >= 20 and codes.count(2) >= 20, codes


def test_a_crashed_case_is_judged_again_in_a_fresh_process(tmp_path):
    """The retry run_cases gives a child that died by a signal: a fresh interpreter on the same input, with
    what the crashed child left removed first."""
    from conftest import write_clip
    from fuzz_video import _rerun_in_a_fresh_process
    (tmp_path / "out").mkdir()
    write_clip(tmp_path / "in.mp4", width=64, height=48)
    (tmp_path / "out" / ".cartoon.mp4.x.partial.mp4").write_bytes(b"left by a crash")
    code, seconds = _rerun_in_a_fresh_process(tmp_path, timeout_s=120)
    assert code == 0 and seconds > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cartoon.mp4"]
