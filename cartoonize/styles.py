"""The styles shipped inside the package, listed explicitly.

Usage: ``style = resolve_style("classic")``

A style is either the `classic` filter (no weights) or a generator weights file under
``cartoonize/styles/``. Everything here works offline: nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError

STYLES_DIR = Path(__file__).resolve().parent / "styles"


@dataclass(frozen=True)
class Style:
    name: str
    kind: str                  # "filter" (runs on the opencv backend) or "generator" (neural)
    weights: Path | None       # safetensors file for generators, None for filters
    description: str
    statistics: str = "frame"  # "steady": a CartoonGAN generator's stored norm statistics (video; see
                               # has_steady_statistics), instead of each frame's own

    @property
    def label(self) -> str:
        """The name, with the statistics when not the frame's own: what one-line descriptions show."""
        return self.name if self.statistics == "frame" else f"{self.name} ({self.statistics} statistics)"


def _student(look: str) -> Style:
    return Style(look, "generator", STYLES_DIR / f"{look}.safetensors",
                 f"CartoonGAN {look.capitalize()} look, real time on a CPU: FastGenerator(32, 4, half tail) distilled from "
                 f"{look}-full")


def _full(look: str) -> Style:
    return Style(f"{look}-full", "generator", STYLES_DIR / f"{look}-full.safetensors",
                 f"the CartoonGAN paper's {look.capitalize()} generator (11 M parameters; a GPU style, seconds a "
                 f"frame on a CPU)")


BUNDLED_STYLES: dict[str, Style] = {
    "classic": Style("classic", "filter", None,
                     "non-neural filter: bilateral smoothing, soft colour bands, dark DoG lines"),
    # Real-time students of the CartoonGAN generators (recipe: train/recipes/styles.sh; cards: docs/STYLES.md).
    "hayao": _student("hayao"),
    "shinkai": _student("shinkai"),
    # The CartoonGAN paper's released generators (Chen, Lai, Liu, CVPR 2018), imported with
    # cartoonize-prep cartoongan from mnicnc404/CartoonGan-tensorflow (Apache-2.0; NOTICE).
    "hayao-full": _full("hayao"),
    "hosoda-full": _full("hosoda"),
    "paprika-full": _full("paprika"),
    "shinkai-full": _full("shinkai"),
}

# The default is the style that reads best on held-out photos and runs in real time on a CPU. The
# students do not yet reach their teachers' look (docs/STYLES.md: about 19 dB from the teacher, a
# colour grade and softening rather than the CartoonGAN abstraction), so the classic filter stays
# the default until a student does; the CartoonGAN look itself is --style hayao-full (a GPU style).
DEFAULT_STYLE = "classic"
# cartoonize-live's and cartoonize-bench-live's default: the style that keeps up with a camera on a
# 2-core CPU (docs/STYLES.md, docs/BENCHMARKS.md#live). Whoever changes the bundled styles keeps it valid.
LIVE_STYLE = "classic"


def resolve_style(name: str) -> Style:
    """The bundled style called ``name``; BadInputError listing the choices otherwise."""
    style = BUNDLED_STYLES.get(name)
    if style is None:
        raise BadInputError(f"unknown style {name!r}; bundled styles: {', '.join(sorted(BUNDLED_STYLES))}")
    if style.weights is not None and not style.weights.is_file():
        raise BadInputError(f"style {name!r}: weights file {style.weights} is missing from the installation")
    return style


def trained_side(style: Style) -> int | None:
    """The longer image side, in pixels, the style was trained at (its weights' ``work_side``), if recorded.

    Filters and exported ONNX files have none; CPU runs use it as the default working size.
    """
    if style.weights is None or style.weights.suffix.lower() != ".safetensors":
        return None
    from .weights import read_metadata
    side = read_metadata(style.weights).get("work_side")
    return int(side) if isinstance(side, int) and side >= 16 else None


def has_steady_statistics(style: Style) -> bool:
    """Whether the style's weights hold steady norm statistics (the bundled -full styles do; see
    train/steady_statistics.py): video then uses them instead of each frame's own, against flicker."""
    if style.weights is None or style.weights.suffix.lower() != ".safetensors":
        return False
    from .weights import read_metadata
    return bool(read_metadata(style.weights).get("args", {}).get("steady_statistics"))


def generator_style(weights: Path) -> Style:
    """A user-supplied generator weights file, treated like a bundled neural style."""
    return Style(Path(weights).stem, "generator", Path(weights), f"custom weights {weights}")
