"""What every command-line tool shares: error reporting, exit codes, progress bars.

Usage: ``with reported_errors(debug): ...`` around a command's body.

Exit codes (docs/ARCHITECTURE.md): 0 ok, 1 runtime failure, 2 usage or bad input, 130 interrupted.
Errors are one line on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from pathlib import Path
from typing import Iterator

import click

from cartoonize.errors import CartoonizeError


# --device of every command that runs a style: nothing given means "auto decides" (backend.py).
DEVICE_HELP = ("cpu, cuda or cuda:N (neural styles). Default: auto picks (a CUDA GPU when there is one); "
               "torch and onnxruntime use the CPU, tensorrt and torch-compiled the GPU.")


def resolution_options(command):
    """--scale, --max-side and --tile of the commands that run a style on pictures or videos. Only the types
    are given here: ResolutionConfig (engines/resize.py) validates the values, in one place."""
    command = click.option("--tile", type=click.IntRange(32, None),
                           help="Run the style in overlapping tiles of at most this many pixels a side "
                                "(for memory).")(command)
    command = click.option("--max-side", type=click.IntRange(16, None),
                           help="Run the style with the longer side at most this many pixels (guided upsampling "
                                "back).")(command)
    return click.option("--scale", type=float,
                        help="Run the style at this fraction of the size, 0 < F <= 1; guided upsampling restores "
                             "full size. Default: on a CPU, the style's trained scale (said in the first line); "
                             "else 1.")(command)


def temporal_options(default_strength: float, about: str, strength_about: str = "0 off, larger = steadier, "
                     "slower to follow changes", default_on: bool = False):
    """--temporal/--no-temporal and --temporal-strength of the commands that stabilise video (realtime/temporal.py);
    the caller passes the default strength (kept out of this module: importing the stabiliser loads the engines),
    whether it is on without flags (files: yes; live: no, docs/QUALITY.md) and what the flags mean for it.
    ``temporal_config`` turns the values into a TemporalConfig."""
    def decorate(command):
        command = click.option("--temporal-strength", type=click.FloatRange(0, 1, max_open=True),
                               help=f"Stabilisation strength (implies --temporal): {strength_about}.")(command)
        if default_on:
            return click.option("--temporal/--no-temporal", default=True,
                                help=f"Stabilise against flicker {about}; on by default, strength "
                                     f"{default_strength}.")(command)
        return click.option("--temporal", is_flag=True,
                            help=f"Stabilise against flicker {about}; strength {default_strength}.")(command)
    return decorate


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def reported_errors(debug: bool) -> Iterator[None]:
    """Turn exceptions into one-line messages and exit codes; SIGTERM behaves like Ctrl-C."""
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        yield
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted: stopped, no output written", err=True)
        sys.exit(130)
    except CartoonizeError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except Exception as e:  # noqa: BLE001 - anything else is a runtime failure, reported in one line
        if debug:
            traceback.print_exc()
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        hint = "" if debug else " (run with --debug for details)"   # with --debug the traceback is already above
        click.echo(f"error: {type(e).__name__}: {message}{hint}", err=True)
        sys.exit(1)


def untrained_weights(architecture: str, folder: Path) -> Path:
    """A generator file with random weights and default arguments, for timing only: a generator costs
    the same per frame trained or not. The benchmarks and the GPU check use it when no style is given."""
    from cartoonize.generators import build_generator
    from cartoonize.weights import save_generator

    path = Path(folder) / f"untrained-{architecture}.safetensors"
    save_generator(build_generator(architecture, {}), path, architecture=architecture, args={},
                   style=f"untrained-{architecture}", license="none (random weights, for timing only)")
    return path


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    if w < 1 or h < 1:
        raise click.BadParameter(f"{text!r}: sides must be positive")
    return w, h
