"""Generator networks: the CartoonGAN generator and a small fast family for real-time use.

Usage: ``net = build_generator("fast", {"width": 32, "blocks": 4})``

Both map RGB in [-1, 1] (N, 3, H, W) to RGB in [-1, 1]. ``RgbU8Model`` wraps either one so it
takes and returns uint8 NHWC frames, which is what backends and the ONNX export run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from .frames import nchw_to_rgb_u8_nhwc, rgb_u8_nhwc_to_nchw


class StdInstanceNorm(nn.Module):
    """Instance normalisation as CartoonGAN's reference graph computes it.

    ``(x - mean) / (std + eps) * weight + bias`` with the biased standard deviation and eps added to
    the deviation, not the variance (mnicnc404/CartoonGan-tensorflow's InstanceNormalization, eps
    1e-9): nn.InstanceNorm2d adds eps to the variance, which moves outputs of near-constant channels.
    Statistics are taken in float32 even when the network runs in fp16: 1e-9 is zero in fp16 (a flat
    black frame would divide 0 by 0) and the variance of 256-channel activations can overflow it.

    With ``steady`` the layer also holds fixed per-channel statistics (``steady_mean``,
    ``steady_std``; see ``set_statistics``), which video uses instead of each frame's own: a frame's
    statistics change when anything enters the picture, and every pixel's colour with them.
    """

    def __init__(self, channels: int, eps: float = 1e-9, steady: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.statistics = "frame"   # "frame": each image's own; "steady": the stored ones; "calibrate": see below
        if steady:
            self.register_buffer("steady_mean", torch.zeros(channels))
            self.register_buffer("steady_std", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        if self.statistics == "calibrate":
            # The statistics of the whole batch (all pixels of all its images, as batch norm takes them), kept as
            # the steady ones and used below for every image: run on a batch of photos, each layer then sees the
            # activations it will see when the layers before it are steady too. var_mean keeps no centred copy,
            # since the batch is as large as memory allows.
            var, mean = torch.var_mean(x32, dim=(0, 2, 3), unbiased=False)
            self.steady_mean.copy_(mean)
            self.steady_std.copy_(var.sqrt())
        if self.statistics in ("steady", "calibrate"):
            # A fixed per-channel affine map (exported as a Mul and an Add), one frame-sized allocation.
            scale = self.weight / (self.steady_std + self.eps)
            shift = self.bias - self.steady_mean * scale
            return (x32 * scale.view(1, -1, 1, 1)).add_(shift.view(1, -1, 1, 1)).to(x.dtype)
        mean = x32.mean(dim=(2, 3), keepdim=True)
        centred = x32 - mean
        std = centred.square().mean(dim=(2, 3), keepdim=True).sqrt()
        y = (centred / (std + self.eps)).to(x.dtype)   # normalised values are O(1): safe in fp16 again
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def has_steady_statistics(generator: nn.Module) -> bool:
    """Whether the generator's instance norms hold steady statistics (CartoonGAN generators calibrated for video)."""
    norms = [m for m in generator.modules() if isinstance(m, StdInstanceNorm)]
    return bool(norms) and all(hasattr(m, "steady_mean") for m in norms)


def set_statistics(generator: nn.Module, statistics: str) -> nn.Module:
    """Make every instance norm of ``generator`` use ``"frame"`` (each image's own statistics, as trained)
    or ``"steady"`` statistics (stored, for video; train/steady_statistics.py computes them). Returns it."""
    if statistics not in ("frame", "steady", "calibrate"):
        raise ValueError(f"statistics must be 'frame', 'steady' or 'calibrate', got {statistics!r}")
    if statistics != "frame" and not has_steady_statistics(generator):
        raise ValueError("this generator has no steady statistics (only calibrated CartoonGAN generators do)")
    for m in generator.modules():
        if isinstance(m, StdInstanceNorm):
            m.statistics = statistics
    return generator


class DropFirstRowAndColumn(nn.Module):
    """The crop after each transposed convolution of the reference graph (Keras Cropping2D((1, 0), (1, 0)))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1:, 1:]


def _padded_conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """Reflection padding, then an unpadded convolution: the reference graph pads this way before every conv."""
    return [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride)]


def _upsample(c_in: int, c_out: int) -> list[nn.Module]:
    """Transposed 3x3 stride-2 convolution without padding (2H + 1 rows), then the first row/column dropped."""
    return [nn.ConvTranspose2d(c_in, c_out, 3, 2), DropFirstRowAndColumn()]


class CartoonGANResBlock(nn.Module):
    """pad-conv-norm-relu-pad-conv-norm plus identity (Chen et al. 2018, Fig. 2)."""

    def __init__(self, channels: int, steady: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            *_padded_conv(channels, channels, 3), StdInstanceNorm(channels, steady=steady), nn.ReLU(inplace=True),
            *_padded_conv(channels, channels, 3), StdInstanceNorm(channels, steady=steady),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CartoonGANGenerator(nn.Module):
    """The generator of CartoonGAN (Chen, Lai, Liu, CVPR 2018), layer for layer as the paper's released models.

    A 7x7 flat convolution, two down-convolution blocks (stride 2 then stride 1), ``blocks``
    residual blocks at 1/4 resolution, two up-convolution blocks (transposed stride 1/2 then
    stride 1) and a 7x7 output convolution. About 11 M parameters at ``base=64, blocks=8``.
    Every convolution is preceded by reflection padding and every normalisation is ``StdInstanceNorm``,
    as in the graph that consumes the released weights (mnicnc404/CartoonGan-tensorflow,
    ``style_transfer/cartoongan/cartoongan.py``); ``cartoonize.train.import_cartoongan`` loads those
    weights. Modules are registered in the reference graph's layer order, which the importer relies on.
    ``steady_statistics``: the norms also hold fixed statistics for video (``StdInstanceNorm``).
    """

    downsample_factor = 4

    def __init__(self, base: int = 64, blocks: int = 8, steady_statistics: bool = False):
        super().__init__()
        def norm(channels: int) -> StdInstanceNorm:
            return StdInstanceNorm(channels, steady=steady_statistics)
        self.flat = nn.Sequential(*_padded_conv(3, base, 7), norm(base), nn.ReLU(inplace=True))
        self.down = nn.Sequential(
            *_padded_conv(base, base * 2, 3, 2), *_padded_conv(base * 2, base * 2, 3),
            norm(base * 2), nn.ReLU(inplace=True),
            *_padded_conv(base * 2, base * 4, 3, 2), *_padded_conv(base * 4, base * 4, 3),
            norm(base * 4), nn.ReLU(inplace=True),
        )
        self.res = nn.Sequential(*[CartoonGANResBlock(base * 4, steady_statistics) for _ in range(blocks)])
        self.up = nn.Sequential(
            *_upsample(base * 4, base * 2), *_padded_conv(base * 2, base * 2, 3),
            norm(base * 2), nn.ReLU(inplace=True),
            *_upsample(base * 2, base), *_padded_conv(base, base, 3),
            norm(base), nn.ReLU(inplace=True),
        )
        self.out = nn.Sequential(*_padded_conv(base, 3, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.out(self.up(self.res(self.down(self.flat(x))))))


class FastResBlock(nn.Module):
    """Two 3x3 convolutions with a ReLU between, no normalisation (cheap, foldable, export-friendly)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class FastGenerator(nn.Module):
    """A small generator for real time on CPUs and GPUs.

    Two stride-2 convolutions take the frame to 1/4 resolution, where ``blocks`` residual blocks of
    ``width`` channels do most of the work; nearest-neighbour upsampling with 3x3 convolutions brings
    it back (not transposed 3x3 convolutions: they leave checkerboard artefacts, Odena et al. 2016;
    ``tail`` below for the last step). With ``skip`` the network predicts a change to the input frame,
    which keeps fine content (faces, text) and trains faster. With ``detail`` the upsampling path also
    receives features of the input at 1/2 and at full resolution (``tail="half"``: the input's full-
    resolution detail seen through a stride-2 convolution; U-Net style skips, Ronneberger et al.
    2015): without them every output edge is rebuilt from 1/4 resolution, too coarse for thin lines.
    With ``norm`` the 1/4-resolution features are instance-normalised before the residual blocks, as
    in CartoonGAN: the output then depends on the whole frame's statistics (its overall brightness and
    contrast), which a student of a CartoonGAN teacher needs and a purely local network cannot see.
    With ``colour`` (needs ``skip``) the frame the change is added to is first recoloured by a 3x3
    matrix and offset predicted from the mean and deviation of the 1/4-resolution features: a
    global colour grade, learnt in a few hundred steps, which alone brings a photo 3-8 dB closer to a
    CartoonGAN look (measured on held-out photos with the best per-photo affine colour map).

    ``tail`` says where the last two convolutions run. ``"full"``: at full resolution (the first
    students). ``"half"``: at 1/2 resolution, the full-resolution detail entering through a 4x4
    stride-2 convolution of the input and the output brought to full size by a 4x4 stride-2
    transposed convolution, so no feature map is ever as large as the frame. On a 2-core CPU the
    full-resolution tail was 40% of the time; ``"half"`` runs 1.5x faster (docs/STYLES.md).
    Transposed convolutions leave checkerboards when their kernel is not a multiple of the stride
    (Odena et al. 2016); 4 over 2 overlaps evenly, and the residual output (``skip``) keeps the
    input's own full-resolution detail.
    """

    downsample_factor = 4

    def __init__(self, width: int = 32, blocks: int = 4, skip: bool = True, detail: bool = False,
                 norm: bool = False, colour: bool = False, tail: str = "full"):
        super().__init__()
        if colour and not skip:
            raise ValueError("colour grades the input the output is added to: it needs skip=True")
        if tail not in ("full", "half"):
            raise ValueError(f"tail must be 'full' or 'half', got {tail!r}")
        self.skip = skip
        self.detail = detail
        self.tail = tail
        self.norm = StdInstanceNorm(width, eps=1e-5) if norm else None
        self.colour = nn.Linear(2 * width, 12) if colour else None
        if self.colour is not None:   # starts as the identity grade
            nn.init.zeros_(self.colour.weight)
            nn.init.zeros_(self.colour.bias)
        self.down = nn.Sequential(
            nn.Conv2d(3, width // 2, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(width // 2, width, 3, 2, 1), nn.ReLU(inplace=True),
        )
        self.res = nn.Sequential(*[FastResBlock(width) for _ in range(blocks)])
        self.up1 = nn.Conv2d(width, width // 2, 3, 1, 1)
        self.up2 = nn.Conv2d(width // 2, width // 2, 3, 1, 1)
        if tail == "full":
            self.out = nn.Conv2d(width // 2, 3, 3, 1, 1)
            if detail:
                self.full = nn.Conv2d(3, width // 2, 3, 1, 1)   # full-resolution input features
        else:
            self.out = nn.ConvTranspose2d(width // 2, 3, 4, 2, 1)  # 1/2 resolution to full
            if detail:
                self.full = nn.Conv2d(3, width // 2, 4, 2, 1)   # the input's detail, seen at 1/2 resolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.down[1](self.down[0](x))                 # 1/2 resolution features
        h = self.down[3](self.down[2](half))
        if self.colour is not None:
            x = self._grade(x, h)
        h = self.res(self.norm(h) if self.norm is not None else h)
        h = self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = F.relu(h + half if self.detail else h)
        if self.tail == "full":
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.up2(h)
        h = F.relu(h + self.full(x) if self.detail else h)
        y = self.out(h)
        if not self.skip:
            return torch.tanh(y)
        # tanh(y + atanh(x)), y = 0 returning the input frame, written with the addition formula
        # tanh(a + b) = (tanh a + tanh b) / (1 + tanh a tanh b): no logs at full resolution (4% of the
        # time). The clamp is the one the log form needed (atanh is infinite at pure black and white);
        # kept so that the students trained with it compute the same numbers. In float32: near +-1 the
        # quotient cancels (x + t and 1 + x t both small), which fp16 arithmetic would round badly.
        x = x.clamp(-0.999, 0.999).float()
        t = torch.tanh(y).float()
        return ((x + t) / (1 + x * t)).to(y.dtype)

    def _grade(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """x recoloured by (I + M) x + b, M and b from the features' per-channel mean and deviation."""
        mean = features.mean(dim=(2, 3))
        std = (features - mean[..., None, None]).square().mean(dim=(2, 3)).add(1e-6).sqrt()
        p = self.colour(torch.cat([mean, std], dim=1))
        # Shape-free reshapes (unflatten, flatten, view_as): the ONNX export keeps batch and size dynamic.
        matrix = p[:, :9].unflatten(1, (3, 3)) + torch.eye(3, dtype=x.dtype, device=x.device)
        graded = torch.matmul(matrix, x.flatten(2)) + p[:, 9:, None]
        return graded.view_as(x)


def build_generator(architecture: str, args: dict[str, Any]) -> nn.Module:
    """Build an untrained generator by architecture name; ``args`` are its constructor arguments."""
    match architecture:
        case "cartoongan":
            return CartoonGANGenerator(**args)
        case "fast":
            return FastGenerator(**args)
        case _:
            raise ValueError(f"unknown generator architecture {architecture!r} (known: cartoongan, fast)")


class RgbU8Model(nn.Module):
    """uint8 (N, H, W, 3) RGB in, uint8 (N, H, W, 3) RGB out, around a [-1, 1] generator.

    Frames whose sides are not multiples of the generator's downsampling factor are padded by
    reflection and cropped back, so any frame size works.
    """

    def __init__(self, generator: nn.Module, compute_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.generator = generator
        self.compute_dtype = compute_dtype
        self.multiple = int(getattr(generator, "downsample_factor", 1))

    def forward(self, rgb_u8_nhwc: torch.Tensor) -> torch.Tensor:
        x = rgb_u8_nhwc_to_nchw(rgb_u8_nhwc, self.compute_dtype)
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % self.multiple, (-w) % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > max(pad_h, pad_w) else "replicate")
        y = self.generator(x)[..., :h, :w]
        return nchw_to_rgb_u8_nhwc(y)
