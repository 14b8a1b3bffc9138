"""The styles shipped in the package: present, loadable offline, credited, and doing something.

Two families: the CartoonGAN paper's generators (``<look>-full``, imported, Apache-2.0) and the
project's real-time students distilled from them (``<look>``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cartoonize.generators import RgbU8Model
from cartoonize.styles import BUNDLED_STYLES, DEFAULT_STYLE, LIVE_STYLE, STYLES_DIR, resolve_style, trained_side
from cartoonize.weights import load_generator, read_metadata

NEURAL = sorted(name for name, style in BUNDLED_STYLES.items() if style.kind == "generator")
FULL = [name for name in NEURAL if name.endswith("-full")]
STUDENTS = [name for name in NEURAL if not name.endswith("-full")]


def test_the_four_cartoongan_looks_two_students_and_real_time_defaults():
    assert set(FULL) == {"hayao-full", "hosoda-full", "paprika-full", "shinkai-full"}
    assert {"hayao", "shinkai"} <= set(STUDENTS)
    # The defaults run in real time on a CPU: the filter or a student, never a full CartoonGAN generator.
    assert {DEFAULT_STYLE, LIVE_STYLE} <= set(STUDENTS) | {"classic"}
    assert "classic" in BUNDLED_STYLES


def test_bundled_weights_fit_the_package_budget():
    total = sum(p.stat().st_size for p in STYLES_DIR.glob("*.safetensors"))
    assert total <= 95 * 1024 * 1024     # the installed package stays under 100 MB
    assert not set(p.stem for p in STYLES_DIR.glob("*.safetensors")) - set(NEURAL)   # nothing unlisted shipped


@pytest.mark.parametrize("name", FULL)
def test_full_styles_are_the_imported_paper_generators(name):
    meta = read_metadata(resolve_style(name).weights)
    # steady_statistics: the norm statistics video uses (tests/test_steady_statistics.py)
    assert meta["architecture"] == "cartoongan" and meta["args"] == {"base": 64, "blocks": 8, "steady_statistics": True}
    assert meta["license"] == "Apache-2.0" and "CartoonGAN" in meta["recipe"]["authors"]
    assert meta["recipe"]["imported_from"].endswith("/" + name.removesuffix("-full"))
    assert trained_side(resolve_style(name)) == 640


@pytest.mark.parametrize("name", STUDENTS)
def test_students_are_small_distilled_from_their_teacher_and_documented(name):
    style = resolve_style(name)
    assert style.weights.stat().st_size <= 4 * 1024 * 1024
    meta = read_metadata(style.weights)
    assert meta["style"] == name and meta["license"].startswith("Apache-2.0")
    recipe = meta["recipe"]
    assert meta["args"].get("tail") == "half"   # the faster tail (docs/STYLES.md): 35 vs 24 fps at 640x360
    if recipe["mode"] == "convert":     # moved to the half-resolution tail without training
        assert recipe["trainer"] == "train/recipes/half_tail.py"
        recipe = recipe["init_from"]
    assert recipe["trainer"] == "cartoonize-train" and recipe["mode"] == "distill" and recipe["data_sources"]
    assert recipe["config"]["teacher"].endswith(f"{name}-full.safetensors")
    stages, total = recipe, 0          # staged training: each stage's recipe nests the one it started from
    while stages:
        assert stages["config"]["teacher"].endswith(f"{name}-full.safetensors")
        total += stages["steps"]
        stages = stages.get("init_from")
    assert total >= 1500
    assert trained_side(style) == recipe["config"]["max_side"]


@pytest.mark.parametrize("name", STUDENTS + ["hayao-full"])
def test_bundled_style_changes_a_picture_but_keeps_its_content(name):
    generator, _ = load_generator(resolve_style(name).weights)
    y, x = np.mgrid[0:92, 0:160]
    frame = np.stack([(x * 255 // 159), (y * 255 // 91), ((x // 20 + y // 20) % 2) * 200 + 30], -1).astype(np.uint8)
    with torch.inference_mode():
        out = RgbU8Model(generator)(torch.from_numpy(frame)[None])[0].numpy()
    assert out.shape == frame.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - frame.astype(int))
    assert diff.mean() > 2.0, "the style must change the picture"
    # Content kept: the output still correlates with the input's luminance.
    lum_in, lum_out = frame.mean(axis=2).ravel(), out.mean(axis=2).ravel()
    assert np.corrcoef(lum_in, lum_out)[0, 1] > 0.6


def test_a_student_stays_close_to_its_teacher_on_a_real_frame(bikes_clip):
    from engines_fixtures import real_frames
    from cartoonize.quality import psnr
    frame = real_frames(bikes_clip, 1, every=120)[0]                 # held out: bikes.mp4 is in no training set
    outs = {}
    for name in ("hayao", "hayao-full"):
        generator, _ = load_generator(resolve_style(name).weights)
        with torch.inference_mode():
            outs[name] = RgbU8Model(generator)(torch.from_numpy(frame)[None])[0].numpy()
    # The student imitates its teacher far better than the photo itself resembles the teacher's look.
    assert psnr(outs["hayao"], outs["hayao-full"]) > psnr(frame, outs["hayao-full"]) + 3.0
