"""``python -m cartoonize``: one entry point grouping the command-line tools.

Usage: ``python -m cartoonize video in.mp4 out.mp4``
"""

import click

from . import bench, video


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cartoon stylization of videos and cameras. Each command has --help."""


main.add_command(video.main, name="video")
main.add_command(bench.main, name="bench")
