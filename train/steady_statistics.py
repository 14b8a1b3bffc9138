"""Steady instance-norm statistics for a CartoonGAN generator, calibrated once on photos, for video.

Usage: ``steady = with_steady_statistics(generator, photos_rgb_u8_nhwc)``

A CartoonGAN generator normalises every feature channel by the frame's own mean and deviation, so
anything entering the picture re-grades every pixel: on ``bikes.mp4`` the paper's generators flicker
3.7-4.4x as much as the source, and the flow-guided stabiliser alone leaves 2.3-3.4x
(docs/QUALITY.md). With fixed statistics the network is a plain convolutional network whose output
at a pixel depends only on its neighbourhood. Which fixed statistics matters (hayao-full, the same 30
frames of ``bikes.mp4``, ratio without -> with the stabiliser): the clip's first frame's 2.18 ->
1.28, and a red car entering later turned into a blue blob; each photo's own statistics averaged
over photos 1.38 -> 1.00, but the deeper layers then see activations far from those averages
(purple and magenta casts on held-out photos); the ones computed here 1.92 -> 1.13 (stored fp16,
as bundled), with the look closest to the generator's own.

Calibration runs one batch of photos through the network with every norm in ``"calibrate"`` mode:
each layer normalises by the statistics of the whole batch (all pixels of all photos, as batch norm
takes them) and keeps them. A layer therefore sees the activations it will see in video, where the
layers before it are steady too (re-estimating normalisation statistics after a change, as AdaBN
does, Li et al. 2016). Pooled over the batch rather than averaged per photo, the deviations include
the differences between photos: lower gains, and fewer dark areas turned blue (tried both).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from cartoonize.generators import CartoonGANGenerator, RgbU8Model, set_statistics


def with_steady_statistics(generator: CartoonGANGenerator, photos_rgb_u8_nhwc: np.ndarray) -> CartoonGANGenerator:
    """A copy of ``generator`` whose norms hold statistics calibrated on the photos (one batch, one size).

    Memory grows with the batch: 40 photos of 640x480 peak at about 14 GB in float32 (480x360: 6 GB).
    """
    if photos_rgb_u8_nhwc.ndim != 4 or photos_rgb_u8_nhwc.shape[0] < 2:
        raise ValueError("calibration needs a batch of at least 2 photos of one size, (N, H, W, 3) uint8")
    base = generator.flat[1].out_channels
    blocks = len(generator.res)
    steady = CartoonGANGenerator(base=base, blocks=blocks, steady_statistics=True)
    missing, unexpected = steady.load_state_dict(copy.deepcopy(generator.state_dict()), strict=False)
    if unexpected or any(not key.endswith(("steady_mean", "steady_std")) for key in missing):
        raise ValueError(f"not a CartoonGANGenerator({base}, {blocks}) state: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    steady = set_statistics(steady.float().eval(), "calibrate")
    with torch.inference_mode():
        RgbU8Model(steady)(torch.from_numpy(np.ascontiguousarray(photos_rgb_u8_nhwc)))
    return set_statistics(steady, "frame")


def calibration_photos(paths, width: int = 640, height: int = 480) -> np.ndarray:
    """The photos resized to cover ``width`` x ``height`` and centre-cropped to it: (N, H, W, 3) uint8 RGB."""
    import cv2

    out = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: not a readable image")
        h, w = bgr.shape[:2]
        scale = max(width / w, height / h)
        size = (max(width, round(w * scale)), max(height, round(h * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        y, x = (size[1] - height) // 2, (size[0] - width) // 2
        out.append(cv2.cvtColor(bgr[y:y + height, x:x + width], cv2.COLOR_BGR2RGB))
    return np.stack(out)
