"""Importing CartoonGAN's released generators: small synthetic folders in the upstream layout.

The reference below re-implements the upstream graph (mnicnc404/CartoonGan-tensorflow,
``style_transfer/cartoongan/cartoongan.py``) from its description, straight on the raw arrays:
BGR in [0, 255], reflection padding before unpadded convolutions, instance norm with the biased
deviation and eps added to it, unpadded stride-2 transposed convolutions followed by dropping the
first row and column, tanh, BGR out. The imported generator must match it on a real frame.
(The check against upstream's TensorFlow code itself is train/recipes/check_import_parity.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from cartoonize.errors import BadInputError
from cartoonize.tools.prep import main as prep
from cartoonize.train.import_cartoongan import import_cartoongan, reference_layer_names
from cartoonize.weights import load_generator, read_metadata

from engines_fixtures import real_frames

BASE, BLOCKS = 8, 2


def _shapes(base: int, blocks: int) -> dict[str, tuple[int, ...]]:
    """Upstream file name -> array shape (PyTorch layouts, as the released .npy files)."""
    conv = {"conv01_1": (base, 3, 7, 7), "conv02_1": (2 * base, base, 3, 3), "conv02_2": (2 * base, 2 * base, 3, 3),
            "conv03_1": (4 * base, 2 * base, 3, 3), "conv03_2": (4 * base, 4 * base, 3, 3),
            "deconv01_1": (4 * base, 2 * base, 3, 3), "deconv01_2": (2 * base, 2 * base, 3, 3),
            "deconv02_1": (2 * base, base, 3, 3), "deconv02_2": (base, base, 3, 3), "deconv03_1": (3, base, 7, 7)}
    norm = {"in01_1": base, "in02_1": 2 * base, "in03_1": 4 * base, "in12_1": 2 * base, "in13_1": base}
    for i in range(4, 4 + blocks):
        conv[f"conv{i:02d}_1"] = conv[f"conv{i:02d}_2"] = (4 * base, 4 * base, 3, 3)
        norm[f"in{i:02d}_1"] = norm[f"in{i:02d}_2"] = 4 * base
    shapes = {}
    for name, shape in conv.items():
        out_channels = shape[1] if name in ("deconv01_1", "deconv02_1") else shape[0]
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = shape, (out_channels,)
    for name, channels in norm.items():
        shapes[f"{name}.scale"], shapes[f"{name}.shift"] = (channels,), (channels,)
    return shapes


@pytest.fixture
def upstream_folder(tmp_path):
    folder = tmp_path / "pretrained_weights" / "hayao"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, shape in _shapes(BASE, BLOCKS).items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = 1.0 if name.endswith(".scale") else (0.1 if len(shape) == 1 else 1.5 / np.sqrt(fan_in))
        value = rng.normal(0, scale, shape) + (1.0 if name.endswith(".scale") else 0.0)
        np.save(folder / f"{name}.npy", value.astype(np.float32))
    return folder


def _reference_bgr(folder, bgr_255_nchw: torch.Tensor) -> torch.Tensor:
    """The upstream graph on the raw arrays (float64 for a tight comparison)."""
    a = {p.stem: torch.from_numpy(np.load(p)).double() for p in folder.glob("*.npy")}

    def conv(x, name, stride=1):
        k = a[f"{name}.weight"].shape[-1]
        return F.conv2d(F.pad(x, (k // 2,) * 4, mode="reflect"), a[f"{name}.weight"], a[f"{name}.bias"], stride)

    def norm(x, name):
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return (x - mean) / (std + 1e-9) * a[f"{name}.scale"].view(1, -1, 1, 1) + a[f"{name}.shift"].view(1, -1, 1, 1)

    def deconv(x, name):
        return F.conv_transpose2d(x, a[f"{name}.weight"], a[f"{name}.bias"], stride=2)[..., 1:, 1:]

    y = F.relu(norm(conv(bgr_255_nchw, "conv01_1"), "in01_1"))
    y = F.relu(norm(conv(conv(y, "conv02_1", 2), "conv02_2"), "in02_1"))
    y = F.relu(norm(conv(conv(y, "conv03_1", 2), "conv03_2"), "in03_1"))
    for i in range(4, 4 + BLOCKS):
        t = F.relu(norm(conv(y, f"conv{i:02d}_1"), f"in{i:02d}_1"))
        y = y + norm(conv(t, f"conv{i:02d}_2"), f"in{i:02d}_2")
    y = F.relu(norm(conv(deconv(y, "deconv01_1"), "deconv01_2"), "in12_1"))
    y = F.relu(norm(conv(deconv(y, "deconv02_1"), "deconv02_2"), "in13_1"))
    return torch.tanh(conv(y, "deconv03_1"))


def test_layer_order_covers_every_released_layer():
    names = reference_layer_names(BLOCKS)
    assert len(names) == len(set(names)) == 8 + 4 * BLOCKS + 7
    files = {k.rsplit(".", 1)[0] for k in _shapes(BASE, BLOCKS)}
    assert set(names) == files


def test_imported_generator_matches_the_reference_graph_on_a_real_frame(upstream_folder, bikes_clip):
    generator, meta = import_cartoongan(upstream_folder, "hayao", base=BASE, blocks=BLOCKS)
    rgb_u8 = real_frames(bikes_clip, 1)[0][:128, 100:292]          # 128 x 192, multiples of 4
    rgb = torch.from_numpy(rgb_u8.copy()).permute(2, 0, 1)[None].double()
    expected_bgr = _reference_bgr(upstream_folder, rgb.flip(1))      # upstream: BGR in [0, 255]
    with torch.no_grad():
        ours_rgb = generator.double()(rgb / 127.5 - 1.0)             # ours: RGB in [-1, 1]
    diff = (ours_rgb - expected_bgr.flip(1)).abs()
    assert expected_bgr.std() > 0.05                                 # a non-trivial output to compare
    assert diff.max() < 1e-5                                         # folded weights are float32
    assert meta["license"] == "Apache-2.0" and "CartoonGAN" in meta["recipe"]["authors"]


def test_missing_and_misshapen_files_are_named(upstream_folder):
    with pytest.raises(BadInputError, match="conv06_1.weight.npy is missing"):   # a folder with fewer blocks
        import_cartoongan(upstream_folder, "hayao", base=BASE, blocks=BLOCKS + 1)
    (upstream_folder / "in05_2.scale.npy").unlink()
    with pytest.raises(BadInputError, match="in05_2.scale.npy is missing"):
        import_cartoongan(upstream_folder, "hayao", base=BASE, blocks=BLOCKS)
    np.save(upstream_folder / "conv02_2.weight.npy", np.zeros((3, 3), np.float32))
    with pytest.raises(BadInputError, match=r"conv02_2.weight.npy: shape \(3, 3\)"):
        import_cartoongan(upstream_folder, "hayao", base=BASE, blocks=BLOCKS)


def test_pickled_arrays_are_refused(upstream_folder):
    np.save(upstream_folder / "conv01_1.bias.npy", np.array([object()] * BASE, dtype=object), allow_pickle=True)
    with pytest.raises(BadInputError, match="not a NumPy array file"):
        import_cartoongan(upstream_folder, "hayao", base=BASE, blocks=BLOCKS)


def test_prep_cartoongan_command(tmp_path):
    runner = CliRunner()
    out = tmp_path / "full.safetensors"
    result = runner.invoke(prep, ["cartoongan", str(tmp_path / "nowhere"), str(out)])
    assert result.exit_code == 2 and result.output.count("error:") == 1 and "not a folder" in result.output
    assert not out.exists()
    result = runner.invoke(prep, ["cartoongan", str(tmp_path), str(tmp_path / "x.pt")])
    assert result.exit_code == 2 and ".safetensors" in result.output


def test_prep_cartoongan_writes_fp16_weights_that_load(upstream_folder, tmp_path, monkeypatch):
    # The command imports the released size (64, 8); a small folder is imported through the same code.
    import cartoonize.train.import_cartoongan as module
    small_import = module.import_cartoongan
    monkeypatch.setattr(module, "import_cartoongan", lambda folder, style: small_import(folder, style, BASE, BLOCKS))
    out = tmp_path / "hayao-small.safetensors"
    result = CliRunner().invoke(prep, ["cartoongan", str(upstream_folder), str(out)])
    assert result.exit_code == 0, result.output
    meta = read_metadata(out)
    assert meta["style"] == "hayao" and meta["architecture"] == "cartoongan" and meta["license"] == "Apache-2.0"
    generator, _ = load_generator(out)
    reference, _ = small_import(upstream_folder, "hayao", BASE, BLOCKS)
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        assert (generator(x) - reference(x)).abs().max() < 2e-2     # fp16 storage
    again = CliRunner().invoke(prep, ["cartoongan", str(upstream_folder), str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
