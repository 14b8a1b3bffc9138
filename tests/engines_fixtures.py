"""Helpers shared by the engine tests: tiny generator weights files and real frames from the sample clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cartoonize.generators import build_generator
from cartoonize.styles import BUNDLED_STYLES
from cartoonize.weights import save_generator

# Small enough for a 2-core CI, with every layer kind of the two architectures.
TINY_ARCHITECTURES = {
    "fast": {"width": 8, "blocks": 1, "detail": True, "norm": True, "colour": True},   # every option of the students
    "cartoongan": {"base": 8, "blocks": 1},
}


def tiny_weights(folder: Path, architecture: str = "fast", seed: int = 0, **overrides) -> Path:
    """A randomly initialised generator saved as a weights file (random, so outputs are not trivial)."""
    args = {**TINY_ARCHITECTURES[architecture], **overrides}
    torch.manual_seed(seed)
    generator = build_generator(architecture, args)
    with torch.no_grad():   # larger weights than the default init, so the output differs clearly from the input
        for p in generator.parameters():
            if p.dim() > 1:
                p.mul_(1.5)
    path = folder / f"tiny-{architecture}-{seed}.safetensors"
    save_generator(generator, path, architecture=architecture, args=args, style=f"tiny-{architecture}", license="MIT")
    return path


def bundled_generator_styles() -> list[str]:
    return sorted(name for name, style in BUNDLED_STYLES.items() if style.kind == "generator")


def real_frames(clip: Path, count: int, every: int = 7) -> np.ndarray:
    """``count`` frames of a real clip, ``every`` frames apart, as uint8 (N, H, W, 3) RGB."""
    import av   # imported here: GPU machines may run the engine tests without PyAV

    frames = []
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    return np.stack(frames)


def decoded_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
