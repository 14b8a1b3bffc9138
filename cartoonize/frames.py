"""Conversions between uint8 RGB frames and the float tensors the generators use.

Usage: ``batch_nchw = rgb_u8_nhwc_to_nchw(torch.from_numpy(rgb_u8_nhwc), torch.float32)``

The generators work on RGB in [-1, 1] (tanh output range, as in CartoonGAN); the pipeline moves
uint8 NHWC frames only. Both directions live here so every backend and the ONNX export agree.
"""

from __future__ import annotations

import numpy as np
import torch


def check_rgb_u8_nhwc(rgb_u8_nhwc: np.ndarray) -> None:
    """Raise ValueError unless the array is a uint8 batch of RGB frames (N, H, W, 3)."""
    if not isinstance(rgb_u8_nhwc, np.ndarray):
        raise ValueError(f"expected a numpy array, got {type(rgb_u8_nhwc).__name__}")
    if rgb_u8_nhwc.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {rgb_u8_nhwc.dtype}")
    if rgb_u8_nhwc.ndim != 4 or rgb_u8_nhwc.shape[-1] != 3:
        raise ValueError(f"expected shape (N, H, W, 3), got {rgb_u8_nhwc.shape}")
    if min(rgb_u8_nhwc.shape[:3]) < 1:
        raise ValueError(f"empty batch or frame: shape {rgb_u8_nhwc.shape}")


def rgb_u8_nhwc_to_nchw(rgb_u8_nhwc: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """uint8 (N, H, W, 3) in [0, 255] -> float (N, 3, H, W) in [-1, 1]."""
    nchw = rgb_u8_nhwc.permute(0, 3, 1, 2).to(dtype)
    return nchw * (2.0 / 255.0) - 1.0


def nchw_to_rgb_u8_nhwc(nchw: torch.Tensor) -> torch.Tensor:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3), rounded to nearest and clamped."""
    scaled = (nchw.float() + 1.0) * 127.5
    return scaled.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def rgb_u8_hwc_to_nchw(rgb_u8_hwc: np.ndarray) -> torch.Tensor:
    """One uint8 (H, W, 3) image -> float32 (1, 3, H, W) in [-1, 1]; for training and tests."""
    return rgb_u8_nhwc_to_nchw(torch.from_numpy(np.ascontiguousarray(rgb_u8_hwc))[None], torch.float32)
