"""Loss terms of the trainer: VGG content, adversarial, and the optional AnimeGAN-style terms.

Usage: ``loss = content_loss(vgg, fake, photo, "conv4_4")``

All images are RGB tensors in [-1, 1], shape (N, 3, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vgg import VGG


def content_loss(vgg: VGG, output: torch.Tensor, target: torch.Tensor, layer: str) -> torch.Tensor:
    """L1 distance of VGG features at ``layer``.

    CartoonGAN (Chen et al. 2018, Eq. 4) uses the l1 norm on conv4_4 of VGG19: cartoon images
    differ from photos by large local changes (flat regions, lines), which l1 tolerates better
    than l2. Target features are computed without gradient.
    """
    with torch.no_grad():
        want = vgg(target, [layer])[layer]
    got = vgg(output, [layer])[layer]
    return F.l1_loss(got, want)


def perceptual_loss(vgg: VGG, output: torch.Tensor, target: torch.Tensor, layers: tuple[str, ...]) -> torch.Tensor:
    """Mean L1 of VGG features over several layers (distillation: shallow layers keep lines and
    colour edges, deeper ones the regions)."""
    with torch.no_grad():
        want = vgg(target, layers)
    got = vgg(output, layers)
    return sum(F.l1_loss(got[n], want[n]) for n in layers) / len(layers)


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, smooth_logits: torch.Tensor,
           ) -> torch.Tensor:
    """Discriminator side of CartoonGAN's adversarial loss (Eq. 2): real cartoons -> 1, generated
    images and edge-smoothed cartoons -> 0, with the usual log loss on each patch."""
    ones, zeros = torch.ones_like(real_logits), torch.zeros_like(fake_logits)
    return (F.binary_cross_entropy_with_logits(real_logits, ones)
            + F.binary_cross_entropy_with_logits(fake_logits, zeros)
            + F.binary_cross_entropy_with_logits(smooth_logits, torch.zeros_like(smooth_logits)))


def g_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator side: make the discriminator call generated patches cartoons (non-saturating form)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def grayscale(rgb_m11: torch.Tensor) -> torch.Tensor:
    """Luma (BT.601) repeated on three channels, still in [-1, 1]."""
    r, g, b = rgb_m11.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, y, y], dim=1)


def gram(features: torch.Tensor) -> torch.Tensor:
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def gram_style_loss(vgg: VGG, output: torch.Tensor, cartoon: torch.Tensor, layer: str) -> torch.Tensor:
    """AnimeGAN (Chen et al. 2019): L1 between Gram matrices of the *grayscale* output and
    grayscale cartoons, so the texture and line style transfer but the cartoons' colours do not."""
    with torch.no_grad():
        want = gram(vgg(grayscale(cartoon), [layer])[layer])
    got = gram(vgg(grayscale(output), [layer])[layer])
    # Batches differ in content, so compare the batch-mean Gram matrices.
    return F.l1_loss(got.mean(0), want.mean(0))


def rgb_to_yuv(rgb_m11: torch.Tensor) -> torch.Tensor:
    rgb = (rgb_m11 + 1.0) * 0.5
    m = torch.tensor([[0.299, 0.587, 0.114], [-0.14714119, -0.28886916, 0.43601035],
                      [0.61497538, -0.51496512, -0.10001026]], device=rgb.device, dtype=rgb.dtype)
    return torch.einsum("ij,njhw->nihw", m, rgb)


def colour_loss(output: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """AnimeGAN's colour reconstruction loss: L1 on Y, Huber on U and V, against the input photo,
    which keeps the photo's colours while the adversarial term changes the rendering."""
    a, b = rgb_to_yuv(output), rgb_to_yuv(photo)
    return F.l1_loss(a[:, 0], b[:, 0]) + F.smooth_l1_loss(a[:, 1], b[:, 1]) + F.smooth_l1_loss(a[:, 2], b[:, 2])


def tv_loss(output: torch.Tensor) -> torch.Tensor:
    """Total variation (mean absolute neighbour difference): suppresses high-frequency noise."""
    return ((output[..., 1:, :] - output[..., :-1, :]).abs().mean()
            + (output[..., :, 1:] - output[..., :, :-1]).abs().mean())


def random_shift_grid(n: int, height: int, width: int, max_shift: float, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> tuple[torch.Tensor, int]:
    """Sampling grids (for ``F.grid_sample``) that move each image by a random sub-pixel offset of at most
    ``max_shift`` px in x and y, and the border width in px that such a move can leave without source pixels."""
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = shift[:, 0] * 2 / width      # normalised coordinates span 2 over the image side
    theta[:, 1, 2] = shift[:, 1] * 2 / height
    grid = F.affine_grid(theta, [n, 3, height, width], align_corners=False)
    return grid.to(device), int(max_shift) + 1


def temporal_loss(generator: torch.nn.Module, photo: torch.Tensor, output: torch.Tensor, max_shift: float = 2.5,
                  rng: torch.Generator | None = None) -> torch.Tensor:
    """Consistency under known motion: stylise(warp(x)) should equal warp(stylise(x)).

    The photo crop is moved by a random sub-pixel translation (what a slow pan or a shaking camera does
    between two frames); the generator's output for the moved crop is compared (L1) with its output for
    the original crop moved the same way, away from the borders the move uncovers. Sub-pixel moves
    matter most: a stride-4 network is exactly equivariant only to moves that are multiples of 4 px,
    and CartoonGAN's flicker comes from exactly this sensitivity.
    """
    n, _, h, w = photo.shape
    grid, border = random_shift_grid(n, h, w, max_shift, rng, photo.device)
    moved = generator(F.grid_sample(photo, grid.to(photo.dtype), mode="bilinear", padding_mode="border",
                                    align_corners=False))
    expected = F.grid_sample(output, grid.to(output.dtype), mode="bilinear", padding_mode="border",
                             align_corners=False)
    return F.l1_loss(moved[..., border:h - border, border:w - border],
                     expected[..., border:h - border, border:w - border])
