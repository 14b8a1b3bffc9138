"""The half-resolution tail of FastGenerator and the closed-form conversion of trained full-tail students."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cartoonize.generators import FastGenerator, RgbU8Model
from cartoonize.quality import psnr
from cartoonize.train.half_tail import half_tail_from


def up(x):
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(3)
    full = FastGenerator(16, 2, detail=True, norm=True, colour=True).eval()
    with torch.no_grad():   # a non-identity colour head, as a trained one would be
        full.colour.weight.normal_(0, 0.02)
    return full, half_tail_from(full).eval()


def test_each_converted_layer_is_exact_on_upsampled_features(pair):
    full, half = pair
    h = torch.randn(2, 8, 10, 14)
    x = torch.randn(2, 3, 20, 28)
    with torch.no_grad():
        assert torch.allclose(half.out(h), full.out(up(h)), atol=1e-5)
        assert torch.allclose(half.up2(h), F.avg_pool2d(full.up2(up(h)), 2), atol=1e-5)
        assert torch.allclose(half.full(x), F.avg_pool2d(full.full(x), 2), atol=1e-5)
        assert not torch.allclose(half.out(h), full.out(up(h)).roll(1, -1), atol=1e-3)   # the check can fail


def test_converted_network_paints_nearly_the_same_frame(pair, bikes_clip):
    import av
    with av.open(str(bikes_clip)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")[:200, :300].copy()
    full, half = pair
    with torch.no_grad():
        a = RgbU8Model(full)(torch.from_numpy(frame)[None])[0].numpy()
        b = RgbU8Model(half)(torch.from_numpy(frame)[None])[0].numpy()
    assert b.shape == frame.shape and b.dtype == np.uint8
    assert np.abs(a.astype(int) - frame).mean() > 2          # the network does change the picture...
    assert psnr(a, b) > 35                                   # ...and the converted one the same way


def test_tail_options_are_checked(pair):
    with pytest.raises(ValueError, match="tail"):
        FastGenerator(8, 1, tail="quarter")
    with pytest.raises(ValueError, match="tail='full'"):
        half_tail_from(pair[1])
    odd = RgbU8Model(FastGenerator(8, 1, detail=True, tail="half")).eval()
    with torch.no_grad():
        out = odd(torch.zeros(1, 37, 53, 3, dtype=torch.uint8))
    assert out.shape == (1, 37, 53, 3)
