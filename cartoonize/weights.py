"""Generator weights on disk: safetensors tensors plus a JSON metadata header.

Usage: ``generator, meta = load_generator(Path("styles/fast.safetensors"))``

The file's ``__metadata__`` holds one key, ``cartoonize``, whose value is a JSON object:
``{"format": 1, "architecture": "fast", "args": {...}, "style": "...", "license": "...",
"recipe": {...}, "work_side": 640}`` (``work_side`` optional: the size the style was trained at). Loading reads tensors and JSON only, so a weights file cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from .errors import BadInputError
from .files import write_atomic

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that build or save networks: reading metadata (style
# checks, the classic filter's start-up) does not pay for it.

FORMAT_VERSION = 1
METADATA_KEY = "cartoonize"


def save_generator(generator: "torch.nn.Module", path: Path, *, architecture: str, args: dict[str, Any],
                   style: str, license: str, recipe: dict[str, Any] | None = None,
                   half: bool = False, work_side: int | None = None) -> None:
    """Write the generator's state dict and metadata atomically (temp file, then rename).

    ``work_side``: the longer image side, in pixels, the style was trained (or distilled) at; CPU runs
    use it as the default working size (engines/resize.py ``at_trained_scale``).
    """
    from safetensors.torch import save

    meta = {"format": FORMAT_VERSION, "architecture": architecture, "args": args, "style": style,
            "license": license, "recipe": recipe or {}}
    if work_side is not None:
        meta["work_side"] = int(work_side)
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in generator.state_dict().items()}
    write_atomic(save(state, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)}), Path(path))


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata object of a weights file; BadInputError if the file is not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: weights file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except (SafetensorError, OSError, ValueError) as e:
        raise BadInputError(f"{path}: not a safetensors weights file ({e})") from None
    if raw is None:
        raise BadInputError(f"{path}: safetensors file without cartoonize metadata (architecture unknown)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadInputError(f"{path}: corrupt cartoonize metadata ({e})") from None
    if meta.get("format") != FORMAT_VERSION:
        raise BadInputError(f"{path}: weights format {meta.get('format')!r}, this version reads {FORMAT_VERSION}")
    return meta


def load_generator(path: Path, statistics: str = "frame") -> tuple["torch.nn.Module", dict[str, Any]]:
    """Build the generator named in the file's metadata and load its tensors (as float32), in eval mode.

    ``statistics``: ``"steady"`` makes a calibrated CartoonGAN generator use its stored norm statistics
    (for video; generators.StdInstanceNorm); a file without them is refused, never run otherwise.
    """
    import torch  # noqa: F401 - safe_open(framework="pt") returns torch tensors

    from .generators import build_generator, set_statistics
    meta = read_metadata(path)
    try:
        generator = build_generator(meta["architecture"], meta.get("args", {}))
    except (ValueError, TypeError) as e:
        raise BadInputError(f"{path}: {e}") from None
    state = {}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            t = f.get_tensor(key)
            state[key] = t.float() if t.is_floating_point() else t
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise BadInputError(f"{path}: tensors do not match architecture {meta['architecture']!r}: {first}") from None
    try:
        set_statistics(generator, statistics)
    except ValueError as e:
        raise BadInputError(f"{path}: {e}") from None
    return generator.eval(), meta
