"""Teachers for distillation: what the student generator learns to reproduce.

Usage: ``teacher = make_teacher("classic:levels=5"); target_u8_hwc = teacher(photo_u8_hwc)``

A teacher maps a uint8 RGB image to its stylised uint8 RGB image. The trainer runs it once on every
whole training image (at the working resolution, as at inference time, so filters with size-dependent
steps behave as they will in use) and then takes identical crops of input and target.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cartoonize.classic import ClassicFilter, ClassicParams
from cartoonize.errors import BadInputError
from cartoonize.generators import RgbU8Model
from cartoonize.weights import load_generator

Teacher = Callable[[np.ndarray], np.ndarray]


def classic_params(spec: str) -> ClassicParams:
    """``"classic"`` or ``"classic:levels=5,line_sigma=1.5"`` -> the filter's parameters."""
    _, _, overrides = spec.partition(":")
    types = {f.name: f.type for f in fields(ClassicParams)}
    values = {}
    for item in filter(None, overrides.split(",")):
        key, _, text = item.partition("=")
        if key not in types or not text:
            raise BadInputError(f"teacher {spec!r}: {item!r} is not NAME=VALUE with NAME one of {', '.join(types)}")
        values[key] = int(text) if types[key] in (int, "int") else float(text)
    return ClassicParams(**values)


def teacher_source(spec: str) -> str:
    """A bundled neural style's name (``hayao-full``) -> its weights file; any other spec unchanged."""
    from cartoonize.styles import BUNDLED_STYLES
    style = BUNDLED_STYLES.get(spec)
    if style is not None and style.weights is not None and not Path(spec).exists():
        return str(style.weights)
    return spec


def make_teacher(spec: str, device: str | torch.device = "cpu") -> Teacher:
    """``"classic[:NAME=VALUE,...]"`` -> the classic filter (optionally with other parameters, e.g. a
    bolder look that would be too slow as a filter); a path or a bundled neural style's name
    (``hayao-full``) -> that generator, loaded from its weights."""
    spec = teacher_source(spec)
    if spec == "classic" or spec.startswith("classic:"):
        return ClassicFilter(classic_params(spec)).apply
    path = Path(spec)
    if not path.is_file():
        raise BadInputError(f"teacher {spec!r}: neither 'classic', a bundled neural style nor an existing "
                            f"generator weights file")
    generator, _ = load_generator(path)
    model = RgbU8Model(generator.to(device)).eval()

    @torch.inference_mode()
    def run(rgb_u8_hwc: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(rgb_u8_hwc))[None].to(device)
        return model(batch)[0].cpu().numpy()

    return run
