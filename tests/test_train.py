"""The trainer on tiny data: each mode runs and learns, the init phase, resume, data errors, prep."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from cartoonize.errors import BadInputError
from cartoonize.generators import build_generator
from cartoonize.train.config import TrainConfig
from cartoonize.train.data import ImagePool, list_media
from cartoonize.train.edge_smoothing import edge_mask, edge_smooth
from cartoonize.train.trainer import CHECKPOINT, train
from cartoonize.train.vgg import VGG
from cartoonize.weights import load_generator, read_metadata

from conftest import write_clip

TINY_G = {"width": 8, "blocks": 1, "detail": True}


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A random VGG16 in torchvision format: real loading code, no download."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16.safetensors"
    save_file(VGG("vgg16").state_dict(), str(path))
    return path


def _scene(seed: int, size=(72, 96)) -> np.ndarray:
    """A small picture with flat regions, edges and some noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.full((h, w, 3), rng.integers(60, 200, 3), np.uint8)
    for _ in range(4):
        x, y = rng.integers(0, w - 20), rng.integers(0, h - 20)
        cv2.rectangle(img, (int(x), int(y)), (int(x) + 20, int(y) + 16), rng.integers(0, 255, 3).tolist(), -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for name, seeds in (("photos", range(4)), ("cartoons", range(10, 13))):
        (root / name).mkdir()
        for s in seeds:
            cv2.imwrite(str(root / name / f"{s}.png"), _scene(s))
    return root


def _config(image_dirs, vgg_file, out, **overrides) -> TrainConfig:
    base = dict(photos=(str(image_dirs / "photos"),), cartoons=(str(image_dirs / "cartoons"),),
                out=str(out), architecture="fast", generator_args=TINY_G, crop=32, batch=2, max_side=96,
                steps=3, init_steps=1, vgg="vgg16", vgg_weights=str(vgg_file), content_layer="conv4_3",
                gram_layer="conv3_3", perceptual_layers=("relu1_2", "relu2_2"), sample_every=2,
                checkpoint_every=2, threads=1, style="tiny", lr_g=1e-3, lr_d=1e-3)
    return TrainConfig(**{**base, **overrides})


def _initial_generator(config: TrainConfig) -> torch.nn.Module:
    torch.manual_seed(config.seed)   # the trainer seeds the same way before building its generator
    return build_generator(config.architecture, dict(config.generator_args))


def _changed(config: TrainConfig) -> float:
    """Largest weight change between the seeded initial generator and the exported one (fp16)."""
    trained, meta = load_generator(config.out + f"/{config.style}.safetensors")
    start = _initial_generator(config).state_dict()
    return max((trained.state_dict()[k] - start[k].half().float()).abs().max().item() for k in start)


def test_weight_change_check_sees_no_change_without_learning(image_dirs, vgg_file, tmp_path):
    config = _config(image_dirs, vgg_file, tmp_path / "run", mode="distill", cartoons=(), steps=1, lr_g=0.0)
    train(config, progress=False, log=lambda m: None)
    assert _changed(config) == 0.0


def test_the_papers_generator_trains_too(image_dirs, vgg_file, tmp_path):
    config = _config(image_dirs, vgg_file, tmp_path / "run", architecture="cartoongan",
                     generator_args={"base": 4, "blocks": 1}, steps=2, init_steps=1)
    history = train(config, progress=False, log=lambda m: None)
    assert set(history[1]) == {"adv", "content", "d", "total"} and _changed(config) > 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (AMP bf16 + channels_last path)")
def test_cuda_amp_channels_last_steps(image_dirs, vgg_file, tmp_path):
    config = _config(image_dirs, vgg_file, tmp_path / "run", device="cuda", steps=2, init_steps=1)
    history = train(config, progress=False, log=lambda m: None)
    assert all(np.isfinite(v) for h in history for v in h.values()) and _changed(config) > 1e-3


def test_cartoongan_steps_run_and_learn(image_dirs, vgg_file, tmp_path):
    config = _config(image_dirs, vgg_file, tmp_path / "run", gram_weight=1.0, colour_weight=1.0, tv_weight=0.1)
    history = train(config, progress=False, log=lambda m: None)
    assert len(history) == 3 and all(np.isfinite(v) for h in history for v in h.values())
    assert set(history[2]) == {"adv", "content", "gram", "colour", "tv", "d", "total"}
    assert _changed(config) > 1e-3
    # Samples and the exported metadata.
    assert (tmp_path / "run" / "samples" / "step_000002.png").is_file()
    _, meta = load_generator(tmp_path / "run" / "tiny.safetensors")
    assert meta["recipe"]["mode"] == "cartoongan" and meta["recipe"]["config"]["content_weight"] == 10.0


def test_init_phase_uses_only_the_content_loss(image_dirs, vgg_file, tmp_path):
    config = _config(image_dirs, vgg_file, tmp_path / "run", steps=2, init_steps=2, gram_weight=1.0)
    history = train(config, progress=False, log=lambda m: None)
    assert [set(h) for h in history] == [{"content", "total"}] * 2
    assert all(h["total"] == h["content"] for h in history)
    checkpoint = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert checkpoint["opt_d"]["state"] == {}          # the discriminator never stepped
    assert _changed(config) > 1e-3                     # the generator did


def test_distill_steps_run_and_learn(image_dirs, vgg_file, tmp_path):
    config = _config(image_dirs, vgg_file, tmp_path / "run", mode="distill", cartoons=(), steps=4)
    history = train(config, progress=False, log=lambda m: None)
    assert [set(h) for h in history] == [{"l1", "perceptual", "total"}] * 4
    assert all(np.isfinite(h["total"]) for h in history)
    assert _changed(config) > 1e-3
    # Sample grid: input | output | teacher, one row per validation image.
    grid = cv2.imread(str(tmp_path / "run" / "samples" / "step_000004.png"))
    assert grid.shape[1] == 3 * 256


def test_distill_from_a_generator_teacher(image_dirs, vgg_file, tmp_path):
    first = _config(image_dirs, vgg_file, tmp_path / "a", mode="distill", cartoons=(), steps=1)
    train(first, progress=False, log=lambda m: None)
    second = _config(image_dirs, vgg_file, tmp_path / "b", mode="distill", cartoons=(), steps=2,
                     teacher=str(tmp_path / "a" / "tiny.safetensors"))
    assert all(np.isfinite(h["total"]) for h in train(second, progress=False, log=lambda m: None))


def test_classic_teacher_parameters():
    from cartoonize.train.distill import classic_params, make_teacher
    params = classic_params("classic:levels=5,line_sigma=1.5")
    assert params.levels == 5 and isinstance(params.levels, int) and params.line_sigma == 1.5
    bold, plain = make_teacher("classic:levels=3,line_sigma=2"), make_teacher("classic")
    assert not np.array_equal(bold(_scene(1)), plain(_scene(1)))
    with pytest.raises(BadInputError, match="NAME=VALUE"):
        classic_params("classic:nonsense=1")
    with pytest.raises(BadInputError, match="neither 'classic', a bundled neural style nor"):
        make_teacher("missing.safetensors")


def test_resume_gives_the_same_next_loss(image_dirs, vgg_file, tmp_path):
    threads_before = torch.get_num_threads()
    whole = train(_config(image_dirs, vgg_file, tmp_path / "whole", steps=4, init_steps=1),
                  progress=False, log=lambda m: None)
    part = _config(image_dirs, vgg_file, tmp_path / "part", steps=2, init_steps=1)
    first = train(part, progress=False, log=lambda m: None)
    rest = train(_config(image_dirs, vgg_file, tmp_path / "part", steps=4, init_steps=1), resume=True,
                 progress=False, log=lambda m: None)
    assert first == whole[:2]
    assert torch.get_num_threads() == threads_before      # train() leaves the caller's settings alone
    assert len(rest) == 2
    for a, b in zip(rest, whole[2:]):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    log = [json.loads(line) for line in (tmp_path / "part" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    # Resuming at the last step only exports; the weights' metadata keeps the last logged losses.
    train(_config(image_dirs, vgg_file, tmp_path / "part", steps=4), resume=True, progress=False, log=lambda m: None)
    _, meta = load_generator(tmp_path / "part" / "tiny.safetensors")
    assert meta["recipe"]["final_losses"]["step"] == 4


def test_edge_smoothing_blurs_only_near_edges():
    img = np.full((64, 64, 3), 230, np.uint8)
    img[16:48, 16:48] = (20, 40, 200)              # a flat square: edges only on its border
    out = edge_smooth(img)
    changed = np.any(out != img, axis=2)
    mask = edge_mask(img)
    assert changed.any(), "the edge band must be blurred"
    assert not changed[~mask].any(), "pixels outside the dilated edge band stay as they were"
    ys, xs = np.nonzero(changed)
    # Every changed pixel lies within a few pixels of the square's border.
    dist = np.minimum.reduce([np.abs(ys - 16), np.abs(ys - 47), np.abs(xs - 16), np.abs(xs - 47)])
    assert dist.max() <= 4
    assert (out[30, 30] == img[30, 30]).all() and (out[2, 2] == img[2, 2]).all()


def test_data_reads_folders_and_videos_and_skips_bad_files(tmp_path):
    (tmp_path / "set").mkdir()
    cv2.imwrite(str(tmp_path / "set" / "a.png"), _scene(0))
    (tmp_path / "set" / "broken.jpg").write_bytes(b"not a jpeg")
    write_clip(tmp_path / "set" / "clip.mp4", width=96, height=64)
    warnings = []
    pool = ImagePool.load([tmp_path / "set"], max_side=96, min_side=32, frames_per_video=3, warn=warnings.append)
    assert len(pool) == 4                                  # one image + three frames
    assert any("broken.jpg" in w for w in warnings)
    crops = pool.sample(np.random.default_rng(0), batch=5, crop=32)
    assert crops.shape == (5, 32, 32, 3) and crops.dtype == np.uint8


def test_missing_or_empty_data_give_clear_errors(tmp_path, image_dirs, vgg_file):
    with pytest.raises(BadInputError, match="no such file or folder"):
        list_media([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="folder has no images or videos"):
        list_media([tmp_path / "empty"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"garbage")
    with pytest.raises(BadInputError, match="no readable image"):
        ImagePool.load([tmp_path / "bad"], warn=lambda m: None)
    with pytest.raises(BadInputError, match="--photos"):
        TrainConfig()
    with pytest.raises(BadInputError, match="--cartoons"):
        TrainConfig(photos=("x",), mode="cartoongan")
    with pytest.raises(BadInputError, match="no layer 'conv4_4'"):
        train(_config(image_dirs, vgg_file, tmp_path / "r", content_layer="conv4_4"), progress=False)


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, image_dirs):
    from cartoonize.tools.train import main
    result = CliRunner().invoke(main, ["--mode", "distill", "--photos", str(tmp_path / "nowhere"),
                                       "--out", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "no such file or folder" in result.output
    result = CliRunner().invoke(main, ["--mode", "distill", "--photos", str(image_dirs / "photos"),
                                       "--out", str(tmp_path / "r"), "--vgg-weights", str(tmp_path / "no.pth"), "-q"])
    assert result.exit_code == 2 and "VGG weights file" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "fresh"), "--resume"])
    assert result.exit_code == 2 and "no checkpoint" in result.output


def test_prep_smooth_command(tmp_path, image_dirs):
    from cartoonize.tools.prep import main
    result = CliRunner().invoke(main, ["smooth", str(image_dirs / "cartoons"), str(tmp_path / "smoothed"), "-q"])
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "smoothed").glob("*.png"))
    assert len(written) == 3
    original = cv2.imread(str(image_dirs / "cartoons" / "10.png"))
    assert cv2.imread(str(written[0])).shape == original.shape


def test_prep_vgg_command(tmp_path):
    from cartoonize.tools.prep import main
    from test_vgg import write_fake_hed_h5
    h5 = write_fake_hed_h5(tmp_path / "hed.h5")
    result = CliRunner().invoke(main, ["vgg", str(tmp_path / "vgg16.safetensors"), "--h5", str(h5)])
    assert result.exit_code == 0, result.output
    from cartoonize.train.vgg import load_vgg
    assert load_vgg("vgg16", tmp_path / "vgg16.safetensors").features[28].weight.shape == (512, 512, 3, 3)
    result = CliRunner().invoke(main, ["vgg", str(tmp_path / "x.safetensors"), "--h5", str(tmp_path / "none.h5")])
    assert result.exit_code == 2 and "not found" in result.output


def test_distill_from_a_cartoongan_teacher_with_cache_temporal_term_and_early_export(image_dirs, vgg_file, tmp_path):
    from cartoonize.train.trainer import export_checkpoint
    from cartoonize.weights import save_generator
    torch.manual_seed(1)
    teacher = tmp_path / "teacher.safetensors"
    save_generator(build_generator("cartoongan", {"base": 4, "blocks": 1}), teacher, architecture="cartoongan",
                   args={"base": 4, "blocks": 1}, style="t", license="MIT")
    args = {"width": 8, "blocks": 1, "detail": True, "norm": True, "colour": True}
    config = _config(image_dirs, vgg_file, tmp_path / "run", mode="distill", cartoons=(), teacher=str(teacher),
                     generator_args=args, perceptual_weight=0.0, temporal_weight=1.0, steps=4, checkpoint_every=2,
                     teacher_cache=str(tmp_path / "cache"))
    history = train(config, progress=False)
    assert all({"l1", "temporal"} <= set(h) and "perceptual" not in h for h in history)
    cached = list((tmp_path / "cache").rglob("*.png"))
    assert cached and all(p.stat().st_size > 0 for p in cached)
    path = export_checkpoint(tmp_path / "run")          # the last checkpoint (step 4) as a style
    with pytest.raises(BadInputError, match="no checkpoint.pt"):
        export_checkpoint(tmp_path / "cache")            # a folder that is not a run
    meta = read_metadata(path)
    assert meta["recipe"]["steps"] == 4 and meta["work_side"] == config.max_side and meta["args"] == args
    # --init-weights may grow the colour head onto weights trained without it, nothing else.
    plain_args = dict(args, colour=False)
    plain = tmp_path / "plain.safetensors"
    save_generator(build_generator("fast", plain_args), plain, architecture="fast", args=plain_args, style="p",
                   license="MIT", recipe={"steps": 7, "stage": "without the colour head"})
    grow = dict(mode="distill", cartoons=(), teacher=str(teacher), perceptual_weight=0.0, steps=1,
                teacher_cache=str(tmp_path / "cache"), init_weights=str(plain))
    assert train(_config(image_dirs, vgg_file, tmp_path / "grown", generator_args=args, **grow), progress=False)
    grown_recipe = read_metadata(tmp_path / "grown" / "tiny.safetensors")["recipe"]
    assert grown_recipe["init_from"] == read_metadata(plain)["recipe"]      # the staged recipe is kept whole
    with pytest.raises(BadInputError, match="init-weights"):
        train(_config(image_dirs, vgg_file, tmp_path / "wider", generator_args=dict(args, width=16), **grow),
              progress=False)
