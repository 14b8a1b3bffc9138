"""``cartoonize-train``: train a cartoon generator (CartoonGAN or distillation) and export its weights.

Usage: ``cartoonize-train --mode distill --photos data/photos --out runs/fast --vgg vgg16 --vgg-weights vgg16.safetensors``
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import reported_errors

EXAMPLES = """
\b
Examples:
  cartoonize-prep vgg ~/.cache/cartoonize/vgg16_hed.safetensors
  cartoonize-train --mode distill --teacher classic --photos data/photos --out runs/fast \\
      --vgg vgg16 --vgg-weights ~/.cache/cartoonize/vgg16_hed.safetensors --content-layer conv4_3
  cartoonize-train --mode cartoongan --photos data/photos --cartoons data/cartoon --out runs/toon \\
      --architecture cartoongan --generator-args '{"base": 32, "blocks": 4}' --steps 4000
  cartoonize-train --out runs/toon --resume --steps 6000
"""


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--mode", type=click.Choice(["cartoongan", "distill"]), default="cartoongan", show_default=True,
              help="cartoongan: GAN against a cartoon set; distill: imitate --teacher.")
@click.option("--photos", multiple=True, help="Folder/file of real photos or videos (repeatable).")
@click.option("--cartoons", multiple=True, help="Cartoon-domain folder/file (cartoongan mode; repeatable).")
@click.option("--smoothed", multiple=True, help="Edge-smoothed set from cartoonize-prep (default: made in memory).")
@click.option("--teacher", default="classic", show_default=True, help="distill: 'classic' or a generator weights file.")
@click.option("--teacher-cache", help="distill: folder of cached teacher outputs (default: OUT/teacher_cache).")
@click.option("--val", multiple=True, help="Images/videos for sample grids (default: the first photos).")
@click.option("--out", default="runs/style", show_default=True, help="Run folder (checkpoints, samples, weights).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt with its saved config (--steps may grow).")
@click.option("--architecture", type=click.Choice(["fast", "cartoongan"]), default="fast", show_default=True)
@click.option("--generator-args", default='{"width": 32, "blocks": 4, "detail": true}', show_default=True,
              help="JSON constructor arguments of the generator.")
@click.option("--init-weights", help="Start the generator from these weights (same architecture and args).")
@click.option("--steps", type=int, default=2000, show_default=True)
@click.option("--init-steps", type=int, default=200, show_default=True, help="cartoongan: content-only steps first.")
@click.option("--batch", type=int, default=8, show_default=True)
@click.option("--crop", type=int, default=192, show_default=True)
@click.option("--max-side", type=int, default=640, show_default=True, help="Images shrunk to this longer side.")
@click.option("--frames-per-video", type=int, default=24, show_default=True)
@click.option("--cartoon-limit", type=int, help="Use a seeded random subset of this many cartoon files.")
@click.option("--no-jitter", is_flag=True, help="No colour jitter on photos.")
@click.option("--lr-g", type=float, default=2e-4, show_default=True)
@click.option("--lr-d", type=float, default=2e-4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--vgg", type=click.Choice(["vgg19", "vgg16"]), default="vgg19", show_default=True)
@click.option("--vgg-weights", help="torchvision-format VGG state dict (.pth/.safetensors); default: torch hub.")
@click.option("--content-layer", default="conv4_4", show_default=True)
@click.option("--content-weight", type=float, default=10.0, show_default=True, help="CartoonGAN's lambda.")
@click.option("--adv-weight", type=float, default=1.0, show_default=True)
@click.option("--gram-weight", type=float, default=0.0, show_default=True, help="AnimeGAN grayscale Gram loss.")
@click.option("--gram-layer", default="conv4_4", show_default=True)
@click.option("--colour-weight", type=float, default=0.0, show_default=True, help="AnimeGAN YUV colour loss.")
@click.option("--tv-weight", type=float, default=0.0, show_default=True)
@click.option("--l1-weight", type=float, default=1.0, show_default=True, help="distill: pixel L1.")
@click.option("--perceptual-weight", type=float, default=1.0, show_default=True, help="distill: VGG L1.")
@click.option("--perceptual-layers", default="relu1_2,relu2_2,relu3_3", show_default=True)
@click.option("--temporal-weight", type=float, default=0.0, show_default=True,
              help="distill: stylise(shift(x)) vs shift(stylise(x)) L1 under random sub-pixel shifts (0 = off).")
@click.option("--temporal-shift", type=float, default=2.5, show_default=True,
              help="distill: largest shift of the temporal term, px.")
@click.option("--disc-base", type=int, default=32, show_default=True)
@click.option("--sample-every", type=int, default=200, show_default=True)
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--threads", type=int, help="CPU threads for torch.")
@click.option("--style", default="custom", show_default=True, help="Style name stored in the exported weights.")
@click.option("--license", "license_", default="see training data", show_default=True)
@click.option("--data-source", "data_sources", multiple=True, help="Where the data came from (metadata).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(resume: bool, quiet: bool, debug: bool, generator_args: str, perceptual_layers: str, no_jitter: bool,
         license_: str, **options) -> None:
    """Train a generator and write OUT/<style>.safetensors (fp16) with its recipe in the metadata."""
    with reported_errors(debug):
        from cartoonize.errors import BadInputError
        from cartoonize.train.config import TrainConfig
        from cartoonize.train.trainer import resumed_config, train
        try:
            args = json.loads(generator_args)
        except json.JSONDecodeError as e:
            raise BadInputError(f"--generator-args is not JSON ({e}); e.g. '{{\"width\": 32, \"blocks\": 4}}'") from None
        if resume:
            config = resumed_config(Path(options["out"]), options["steps"])
        else:
            config = TrainConfig(generator_args=args, perceptual_layers=tuple(perceptual_layers.split(",")),
                                 jitter=not no_jitter, license=license_, **options)
        train(config, resume=resume, progress=not quiet)


if __name__ == "__main__":
    main()
