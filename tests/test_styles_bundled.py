"""The neural styles shipped in the package: present, small, loadable offline, and doing something."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cartoonize.generators import RgbU8Model
from cartoonize.styles import BUNDLED_STYLES, DEFAULT_STYLE, resolve_style
from cartoonize.weights import load_generator

NEURAL = sorted(name for name, style in BUNDLED_STYLES.items() if style.kind == "generator")


def test_at_least_two_neural_styles_and_a_neural_default():
    assert {"fast", "toon"} <= set(NEURAL)
    assert BUNDLED_STYLES[DEFAULT_STYLE].kind == "generator"
    assert "classic" in BUNDLED_STYLES


@pytest.mark.parametrize("name", NEURAL)
def test_bundled_weights_are_small_and_documented(name):
    style = resolve_style(name)
    assert style.weights.stat().st_size <= 8 * 1024 * 1024
    generator, meta = load_generator(style.weights)
    assert meta["style"] == name and meta["license"]
    recipe = meta["recipe"]
    assert recipe["trainer"] == "cartoonize-train" and recipe["steps"] >= 1000 and recipe["data_sources"]


@pytest.mark.parametrize("name", NEURAL)
def test_bundled_style_changes_a_picture_but_keeps_its_content(name):
    generator, _ = load_generator(resolve_style(name).weights)
    y, x = np.mgrid[0:90, 0:160]
    frame = np.stack([(x * 255 // 159), (y * 255 // 89), ((x // 20 + y // 20) % 2) * 200 + 30], -1).astype(np.uint8)
    with torch.inference_mode():
        out = RgbU8Model(generator)(torch.from_numpy(frame)[None])[0].numpy()
    assert out.shape == frame.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - frame.astype(int))
    assert diff.mean() > 2.0, "the style must change the picture"
    # Content kept: the output still correlates strongly with the input's luminance.
    lum_in, lum_out = frame.mean(axis=2).ravel(), out.mean(axis=2).ravel()
    assert np.corrcoef(lum_in, lum_out)[0, 1] > 0.7
