"""Edge-smoothed cartoon images: the extra negatives of CartoonGAN's discriminator.

Usage: ``blurred_u8 = edge_smooth(cartoon_rgb_u8_hwc)``

Chen, Lai, Liu (CVPR 2018, Sec. 3.2.1): the discriminator must tell real cartoons (clear edges)
from the same cartoons with their edges blurred, so that the generator learns clear edges. For each
cartoon image: (1) detect edge pixels with Canny, (2) dilate the edge regions, (3) apply Gaussian
smoothing inside the dilated regions only; everything else stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class EdgeSmoothParams:
    canny_low: int = 100     # Canny hysteresis thresholds on 0..255 grey (OpenCV's usual pair)
    canny_high: int = 200
    dilate: int = 2          # radius of the dilation of the edge mask, px
    blur_sigma: float = 1.5  # Gaussian sigma applied inside the edge band, px


def edge_mask(rgb_u8_hwc: np.ndarray, params: EdgeSmoothParams = EdgeSmoothParams()) -> np.ndarray:
    """bool (H, W): Canny edges dilated by ``params.dilate`` pixels."""
    gray = cv2.cvtColor(rgb_u8_hwc, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, params.canny_low, params.canny_high)
    size = 2 * params.dilate + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.dilate(edges, kernel) > 0


def edge_smooth(rgb_u8_hwc: np.ndarray, params: EdgeSmoothParams = EdgeSmoothParams()) -> np.ndarray:
    """The image with Gaussian blur inside its dilated edge band and untouched elsewhere."""
    if rgb_u8_hwc.dtype != np.uint8 or rgb_u8_hwc.ndim != 3 or rgb_u8_hwc.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb_u8_hwc.dtype} {rgb_u8_hwc.shape}")
    mask = edge_mask(rgb_u8_hwc, params)
    blurred = cv2.GaussianBlur(rgb_u8_hwc, (0, 0), params.blur_sigma)
    out = rgb_u8_hwc.copy()
    out[mask] = blurred[mask]
    return out
