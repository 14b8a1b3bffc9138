"""Teachers for distillation: what the student generator learns to reproduce.

Usage: ``teacher = make_teacher("classic"); target_u8_hwc = teacher(photo_u8_hwc)``

A teacher maps a uint8 RGB image to its stylised uint8 RGB image. The trainer runs it once on every
whole training image (at the working resolution, as at inference time, so filters with size-dependent
steps behave as they will in use) and then takes identical crops of input and target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cartoonize.classic import ClassicFilter
from cartoonize.errors import BadInputError
from cartoonize.generators import RgbU8Model
from cartoonize.weights import load_generator

Teacher = Callable[[np.ndarray], np.ndarray]


def make_teacher(spec: str, device: str | torch.device = "cpu") -> Teacher:
    """``"classic"`` -> the classic filter; a path -> a trained generator loaded from weights."""
    if spec == "classic":
        return ClassicFilter().apply
    path = Path(spec)
    if not path.is_file():
        raise BadInputError(f"teacher {spec!r}: neither 'classic' nor an existing generator weights file")
    generator, _ = load_generator(path)
    model = RgbU8Model(generator.to(device)).eval()

    @torch.inference_mode()
    def run(rgb_u8_hwc: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(rgb_u8_hwc))[None].to(device)
        return model(batch)[0].cpu().numpy()

    return run
