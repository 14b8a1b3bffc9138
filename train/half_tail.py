"""Start a half-tail student from a trained full-tail one: the same network, its last layers moved to 1/2 resolution.

Usage: ``half = half_tail_from(full_generator)`` (both FastGenerator; see FastGenerator's ``tail``)

Training the faster ``tail="half"`` network from scratch would repeat hours of distillation. Every
layer before the tail is the same, and the three tail layers have close equivalents at half
resolution, derived here in closed form by assuming the full-resolution features are the half-
resolution ones repeated 2x2 (which is what the nearest-neighbour upsampling before them makes):

- ``up2``, a 3x3 convolution of the 2x upsampled map, averaged over each 2x2 block, is a 3x3
  convolution at half resolution with taps ``[k0/2, (k0 + 2 k1 + k2)/2, k2/2]`` per axis;
- ``full``, a 3x3 convolution of the input averaged over each 2x2 block, is exactly a 4x4 stride-2
  convolution (the 3x3 kernel convolved with a 2x2 box, divided by 4);
- ``out``, a 3x3 convolution of the 2x upsampled map, is exactly a 4x4 stride-2 transposed
  convolution with taps ``[k2, k1 + k2, k0 + k1, k0]`` per axis.

What is not exact: the full-resolution features feeding ``out`` (``up2``'s output plus the input's
detail, after a ReLU) become their 2x2 block averages, so detail finer than 2x2 pixels that the
network drew from its own features is averaged (the input's own detail still comes through the skip
connection). In practice that is small: the bundled students converted this way are 48-52 dB from
the originals on held-out photos and sample frames, and lost 0.01-0.03 dB against their teachers
(docs/STYLES.md); they were not trained further. tests/test_half_tail.py checks each layer's map to
1e-5 and a whole random network on a real frame (over 35 dB).
"""

from __future__ import annotations

import torch

from cartoonize.generators import FastGenerator

# Per-axis maps from a 3-tap kernel (rows: new taps, columns: k0, k1, k2).
_UP2_AT_HALF = torch.tensor([[0.5, 0.0, 0.0], [0.5, 1.0, 0.5], [0.0, 0.0, 0.5]])
_OUT_TRANSPOSED = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
_BOX_THEN_POOL = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]) / 2


def _map_kernel(kernel_oihw: torch.Tensor, axis_map: torch.Tensor) -> torch.Tensor:
    """Apply ``axis_map`` (new taps x 3) to both spatial axes of a (..., 3, 3) kernel."""
    return torch.einsum("ua,vb,...ab->...uv", axis_map, axis_map, kernel_oihw)


def half_tail_from(full: FastGenerator) -> FastGenerator:
    """A ``tail="half"`` FastGenerator computing (nearly) what the ``tail="full"`` ``full`` computes."""
    if not isinstance(full, FastGenerator) or full.tail != "full":
        raise ValueError("half_tail_from needs a FastGenerator with tail='full'")
    width = full.up1.in_channels
    half = FastGenerator(width, len(full.res), skip=full.skip, detail=full.detail, norm=full.norm is not None,
                         colour=full.colour is not None, tail="half")
    state = {k: v for k, v in full.state_dict().items() if not k.startswith(("up2.", "out.", "full."))}
    with torch.no_grad():
        state["up2.weight"] = _map_kernel(full.up2.weight, _UP2_AT_HALF)
        state["up2.bias"] = full.up2.bias.clone()
        # (out, in, kh, kw) convolution -> (in, out, kh, kw) transposed convolution.
        state["out.weight"] = _map_kernel(full.out.weight, _OUT_TRANSPOSED).transpose(0, 1).contiguous()
        state["out.bias"] = full.out.bias.clone()
        if full.detail:
            state["full.weight"] = _map_kernel(full.full.weight, _BOX_THEN_POOL)
            state["full.bias"] = full.full.bias.clone()
    half.load_state_dict(state, strict=True)
    return half.train(full.training)
