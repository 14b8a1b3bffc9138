"""Where the stabiliser runs, and which flow it uses, measured end to end with cartoonize-video's pipeline.

Usage: ``python -m cartoonize.tools.bench_temporal --clip bikes.mp4 --styles classic,hayao --rounds 4``

For each style, in alternating rounds in one process (a shared VM drifts between rounds more than
within one), the whole clip through ``run_video_job`` in four modes:

- ``off``: no stabiliser (``--no-temporal``);
- ``inline``: the stabiliser (and guided upsampling) on the inference thread, after the network, as
  cartoonize-video ran it before the completing thread existed;
- ``split``: as shipped: the network on the inference thread, the rest on the completing thread
  (engines/backend.start_infer);
- ``split-fast``: as shipped, but with the DIS fast preset's own flow matching instead of the sharper
  default (``flow_finest_scale=None, flow_refinement=None``).

Prints a Markdown table: median fps per mode and each mode's cost against ``off`` (median of the
rounds' own ratios). docs/BENCHMARKS.md, "Temporal stabilisation", quotes its numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import numpy as np

from cartoonize.tools.common import reported_errors

MODES = ("off", "inline", "split", "split-fast")


class _Inline:
    """The engine seen as a plain Backend, so that start_infer runs all of it on the inference thread."""

    def __init__(self, engine):
        self._engine = engine
        self.name, self.device, self.precision, self.style = engine.name, engine.device, engine.precision, engine.style

    def infer(self, rgb_u8_nhwc: np.ndarray) -> np.ndarray:
        return self._engine.infer(rgb_u8_nhwc)

    def close(self) -> None:
        self._engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def mode_fps(clip: str, styles: list[str], rounds: int, log=lambda m: None) -> dict[str, dict[str, list[float]]]:
    """{style: {mode: [fps of each round]}}."""
    from cartoonize.realtime.temporal import TemporalConfig
    from cartoonize.realtime.transcode import open_video_job, run_video_job
    from cartoonize.samples import sample_clip
    from cartoonize.tools.quality_table import style_engine
    temporal = {"off": None, "inline": TemporalConfig(), "split": TemporalConfig(),
                "split-fast": TemporalConfig(flow_finest_scale=None, flow_refinement=None)}
    fps: dict[str, dict[str, list[float]]] = {style: {mode: [] for mode in MODES} for style in styles}
    with tempfile.TemporaryDirectory() as folder:
        for style in styles:
            for round_ in range(rounds):
                for mode in MODES:
                    with style_engine(style, temporal[mode]) as engine:
                        job = open_video_job(sample_clip(clip), Path(folder) / "out.mp4", overwrite=True,
                                             warn=lambda m: None)
                        runs = _Inline(engine) if mode == "inline" else engine
                        fps[style][mode].append(run_video_job(job, runs, log=lambda m: None, warn=lambda m: None).fps)
                log(f"{clip} {style} round {round_ + 1}: "
                    + ", ".join(f"{m} {fps[style][m][-1]:.2f}" for m in MODES))
    return fps


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--clip", default="bikes.mp4", show_default=True, help="A sample clip (cartoonize sample).")
@click.option("--styles", "styles_text", default="classic,hayao,shinkai", show_default=True)
@click.option("--rounds", type=click.IntRange(1, 9), default=3, show_default=True)
@click.option("--debug", is_flag=True)
def main(clip: str, styles_text: str, rounds: int, debug: bool) -> None:
    """Print fps without the stabiliser, with it inline, split (shipped) and split with the fast flow."""
    with reported_errors(debug):
        fps = mode_fps(clip, styles_text.split(","), rounds, log=lambda m: click.echo(m, err=True))
        click.echo(f"End-to-end cartoonize-video fps on {clip}, {rounds} alternating rounds (median); cost: "
                   f"the median of each round's own ratio to off.\n")
        click.echo("| clip | style | " + " | ".join(f"fps {m}" for m in MODES) + " | cost inline | cost split | "
                   "cost split-fast |")
        click.echo("|---|---|" + "---:|" * (len(MODES) + 3))
        for style, by_mode in fps.items():
            costs = {m: float(np.median([1 - b / a for a, b in zip(by_mode["off"], by_mode[m])])) for m in MODES[1:]}
            click.echo(f"| {clip} | {style} | " + " | ".join(f"{np.median(by_mode[m]):.2f}" for m in MODES)
                       + " | " + " | ".join(f"{100 * costs[m]:.1f}%" for m in MODES[1:]) + " |")


if __name__ == "__main__":
    main()
