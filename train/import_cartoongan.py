"""Import the CartoonGAN paper's released generators into the project's weights format.

Usage: ``generator, meta = import_cartoongan(Path("pretrained_weights/hayao"), style="hayao")``

The released generators (Chen, Lai, Liu, CVPR 2018; Hayao, Hosoda, Paprika, Shinkai) are
distributed by mnicnc404/CartoonGan-tensorflow (Apache-2.0) as one NumPy file per tensor in
``style_transfer/cartoongan/pretrained_weights/<style>/``: ``convNN_M.{weight,bias}.npy`` (PyTorch
layout out, in, kh, kw), ``deconvNN_1.{weight,bias}.npy`` for the two transposed convolutions
(layout in, out, kh, kw) and ``inNN_M.{scale,shift}.npy`` for the instance norms.

The reference graph feeds the network BGR pixels in [0, 255] and returns BGR in [-1, 1]. The
project's generators take and return RGB in [-1, 1], so the import folds the difference into the
first and last convolutions, exactly (both are linear, and reflection padding commutes with an
affine map of the pixels): the first convolution's input channels are reversed, its weights
scaled by 127.5 and its bias given ``127.5 * sum(weights)``; the last one's output channels are
reversed. Nothing about the conversion runs at inference time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cartoonize.errors import BadInputError
from cartoonize.generators import CartoonGANGenerator, StdInstanceNorm

SOURCE = "mnicnc404/CartoonGan-tensorflow, style_transfer/cartoongan/pretrained_weights"
LICENSE = "Apache-2.0"
AUTHORS = ("CartoonGAN: Yang Chen, Yu-Kun Lai, Yong-Jin Liu (CVPR 2018), released models; "
           "NumPy export: Meng Lee and Ching Ning Chen, CartoonGan-tensorflow (Copyright 2019, Apache-2.0)")
STYLES = ("hayao", "hosoda", "paprika", "shinkai")
RES_BLOCKS = 8
# The longer side, in pixels, at which the project runs these generators on CPUs by default and
# distils its real-time students from them (docs/STYLES.md), so teacher and student look alike.
WORK_SIDE = 640


def reference_layer_names(blocks: int = RES_BLOCKS) -> list[str]:
    """The released layers in the reference graph's order (``load_model`` in upstream's cartoongan.py)."""
    names = ["conv01_1", "in01_1", "conv02_1", "conv02_2", "in02_1", "conv03_1", "conv03_2", "in03_1"]
    for i in range(4, 4 + blocks):
        names += [f"conv{i:02d}_1", f"in{i:02d}_1", f"conv{i:02d}_2", f"in{i:02d}_2"]
    names += ["deconv01_1", "deconv01_2", "in12_1", "deconv02_1", "deconv02_2", "in13_1", "deconv03_1"]
    return names


def _layers_with_parameters(generator: nn.Module) -> list[nn.Module]:
    """Convolutions and norms in registration order, which CartoonGANGenerator keeps equal to the reference order."""
    return [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, StdInstanceNorm))]


def _load_array(folder: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    path = folder / f"{name}.npy"
    if not path.is_file():
        raise BadInputError(f"{folder}: {path.name} is missing (not a CartoonGAN pretrained_weights/<style> folder?)")
    try:
        array = np.load(path, allow_pickle=False)   # plain arrays only: a weights file never runs code
    except (ValueError, OSError) as e:
        raise BadInputError(f"{path}: not a NumPy array file ({e})") from None
    if array.shape != shape:
        raise BadInputError(f"{path}: shape {array.shape}, the generator expects {shape}")
    if not np.isfinite(array).all():
        raise BadInputError(f"{path}: contains NaN or infinite values")
    return array.astype(np.float32)


def read_reference_state(folder: Path, base: int = 64, blocks: int = RES_BLOCKS) -> dict[str, np.ndarray]:
    """The state dict of ``CartoonGANGenerator(base, blocks)`` as the folder holds it, before any folding."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a folder (expected .../pretrained_weights/<style>)")
    generator = CartoonGANGenerator(base=base, blocks=blocks)
    module_names = {id(m): name for name, m in generator.named_modules()}
    state: dict[str, np.ndarray] = {}
    for ref, module in zip(reference_layer_names(blocks), _layers_with_parameters(generator), strict=True):
        prefix = module_names[id(module)]
        if isinstance(module, StdInstanceNorm):
            state[f"{prefix}.weight"] = _load_array(folder, f"{ref}.scale", tuple(module.weight.shape))
            state[f"{prefix}.bias"] = _load_array(folder, f"{ref}.shift", tuple(module.bias.shape))
        else:
            state[f"{prefix}.weight"] = _load_array(folder, f"{ref}.weight", tuple(module.weight.shape))
            state[f"{prefix}.bias"] = _load_array(folder, f"{ref}.bias", tuple(module.bias.shape))
    return state


def fold_bgr_255_io(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Make a reference state take RGB in [-1, 1] and return RGB (see the module docstring)."""
    state = dict(state)
    w, b = state["flat.1.weight"], state["flat.1.bias"]
    # x_ref = 127.5 * (x + 1) in reversed channel order: W x_ref + b = (127.5 W') x + (b + 127.5 sum W).
    state["flat.1.weight"] = np.ascontiguousarray(w[:, ::-1] * 127.5)
    state["flat.1.bias"] = (b.astype(np.float64) + 127.5 * w.astype(np.float64).sum(axis=(1, 2, 3))).astype(np.float32)
    state["out.1.weight"] = np.ascontiguousarray(state["out.1.weight"][::-1])
    state["out.1.bias"] = np.ascontiguousarray(state["out.1.bias"][::-1])
    return state


def import_cartoongan(folder: Path, style: str, base: int = 64,
                      blocks: int = RES_BLOCKS) -> tuple[CartoonGANGenerator, dict[str, Any]]:
    """Build the generator from a released weights folder; returns it (eval mode) and its metadata fields.

    The released generators are all ``base=64, blocks=8``; other sizes exist for tests on small folders.
    """
    folder = Path(folder)
    generator = CartoonGANGenerator(base=base, blocks=blocks)
    state = fold_bgr_255_io(read_reference_state(folder, base, blocks))
    generator.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    meta = {
        "architecture": "cartoongan", "args": {"base": base, "blocks": blocks}, "style": style, "license": LICENSE,
        "work_side": WORK_SIDE,
        "recipe": {"imported_from": f"{SOURCE}/{folder.name}", "authors": AUTHORS,
                   "io_folded": "reference graph takes BGR in [0, 255]; folded into the first and last convolutions"},
    }
    return generator.eval(), meta
