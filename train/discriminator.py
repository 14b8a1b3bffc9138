"""CartoonGAN's patch discriminator.

Usage: ``logits = PatchDiscriminator(base=32)(images_m11)``  -> (N, 1, H/4, W/4)

Chen, Lai, Liu (CVPR 2018, Fig. 2): a flat convolution, two strided blocks (stride-2 conv,
LeakyReLU, conv, instance norm, LeakyReLU), a feature block and a 3x3 output convolution that
scores each local patch. Judging patches rather than whole images suits cartoon style, which is
local (lines, flat shading). ``base`` is the paper's 32; smaller values train faster on CPUs.
"""

from __future__ import annotations

import torch
from torch import nn


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class PatchDiscriminator(nn.Module):
    def __init__(self, base: int = 32):
        super().__init__()
        # Spectral norm keeps the discriminator from overpowering a small generator (Miyato et al. 2018);
        # the paper's discriminator is otherwise unchanged.
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, base, 3, 1, 1)), _lrelu(),
            sn(nn.Conv2d(base, base * 2, 3, 2, 1)), _lrelu(),
            sn(nn.Conv2d(base * 2, base * 4, 3, 1, 1)), nn.InstanceNorm2d(base * 4, affine=True), _lrelu(),
            sn(nn.Conv2d(base * 4, base * 4, 3, 2, 1)), _lrelu(),
            sn(nn.Conv2d(base * 4, base * 8, 3, 1, 1)), nn.InstanceNorm2d(base * 8, affine=True), _lrelu(),
            sn(nn.Conv2d(base * 8, base * 8, 3, 1, 1)), nn.InstanceNorm2d(base * 8, affine=True), _lrelu(),
            nn.Conv2d(base * 8, 1, 3, 1, 1),
        )

    def forward(self, rgb_m11: torch.Tensor) -> torch.Tensor:
        return self.net(rgb_m11)
