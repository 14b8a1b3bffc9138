"""The training loop: CartoonGAN (init phase, then adversarial) or distillation, with checkpoints.

Usage: ``history = train(TrainConfig(mode="distill", photos=("data/photos",), out="runs/fast"))``

One step of each mode reads top to bottom in ``train``. A run folder holds ``checkpoint.pt``
(config, step, generator, discriminator, optimisers, torch and numpy RNG states), ``log.jsonl``
(losses per step), ``samples/step_NNNNNN.png`` (input | output [| teacher] on fixed validation
images) and, at the end, ``<style>.safetensors`` in the project's weights format.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
from tqdm import tqdm

from cartoonize.errors import BadInputError, CartoonizeError
from cartoonize.frames import nchw_to_rgb_u8_nhwc
from cartoonize.generators import build_generator
from cartoonize.weights import load_generator, read_metadata, save_generator

from .config import TrainConfig
from .data import ImagePool, Jitter, list_media, to_tensor
from .discriminator import PatchDiscriminator
from .distill import make_teacher, teacher_source
from .edge_smoothing import edge_smooth
from .losses import (colour_loss, content_loss, d_loss, g_adversarial_loss, gram_style_loss, perceptual_loss,
                     temporal_loss, tv_loss)
from .teacher_cache import cached_teacher_outputs
from .vgg import layer_names, load_vgg

CHECKPOINT = "checkpoint.pt"


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> list[dict[str, float]]:
    """Run training (``resume``: continue config.out's run, see resume_training); returns the losses of
    each step run by this call. The caller's torch thread count and CPU random state are restored afterwards.
    """
    if resume:
        return resume_training(Path(config.out), config.steps, progress, log)
    return _run(config, None, progress, log)


def resume_training(out: Path, steps: int, progress: bool = True,
                    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> list[dict[str, float]]:
    """Continue the run in ``out``: its checkpoint is read once, its saved config kept (only ``steps`` may grow)."""
    checkpoint = _read_checkpoint(Path(out) / CHECKPOINT)
    return _run(resumed_config(Path(out), steps, checkpoint), checkpoint, progress, log)


def _run(config: TrainConfig, checkpoint: dict[str, Any] | None, progress: bool,
         log: Callable[[str], None]) -> list[dict[str, float]]:
    out = Path(config.out)
    created = [p for p in (*reversed(out.parents), out, out / "samples") if not p.exists()]
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]):
            return _train(config, checkpoint, progress, log)
    except BaseException:
        for folder in reversed(created):   # a run that failed early leaves no empty folders behind
            try:
                folder.rmdir()
            except OSError:                 # not empty (checkpoints, samples, teacher cache): kept
                pass
        raise
    finally:
        torch.set_num_threads(threads)


def _train(config: TrainConfig, checkpoint: dict[str, Any] | None, progress: bool,
           log: Callable[[str], None]) -> list[dict[str, float]]:
    out = Path(config.out)
    resume = checkpoint is not None
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = _device(config.device)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else nullcontext
    rng = np.random.default_rng(config.seed)

    _check_layers(config)
    for paths in (config.photos, config.cartoons, config.smoothed, config.val):
        list_media([Path(p) for p in paths])   # missing folders fail now, not after loading the rest
    # The loss network next: missing weights should fail before minutes of data loading.
    vgg = load_vgg(config.vgg, Path(config.vgg_weights) if config.vgg_weights else None, device)
    vgg = vgg.to(memory_format=memory_format)

    # --- data ------------------------------------------------------------------------------------
    photos = ImagePool.load([Path(p) for p in config.photos], config.max_side, config.crop,
                            config.frames_per_video, seed=config.seed)
    log(f"photos: {len(photos)} images from {', '.join(config.photos)}")
    val = (ImagePool.load([Path(p) for p in config.val], config.max_side, config.crop, 4, seed=config.seed)
           if config.val else ImagePool(photos.images[:4], photos.names[:4]))
    val_u8 = np.stack([_centre_crop(img, 256) for img in val.images[:6]])
    teacher_images: list[np.ndarray] | None = None
    val_teacher_u8: np.ndarray | None = None
    cartoons = smoothed = None
    if config.mode == "distill":
        teacher = make_teacher(config.teacher, device)
        t0 = time.perf_counter()
        cache = Path(config.teacher_cache) if config.teacher_cache else out / "teacher_cache"
        teacher_images = cached_teacher_outputs(teacher_source(config.teacher), teacher, photos.images, cache,
                                                progress=progress)
        log(f"teacher {config.teacher}: {len(teacher_images)} targets in {time.perf_counter() - t0:.1f} s "
            f"(cache {cache})")
        val_teacher_u8 = np.stack([teacher(img) for img in val_u8])
    else:
        cartoons = ImagePool.load([Path(p) for p in config.cartoons], config.max_side, config.crop,
                                  config.frames_per_video, limit=config.cartoon_limit, seed=config.seed)
        if config.smoothed:
            smoothed = ImagePool.load([Path(p) for p in config.smoothed], config.max_side, config.crop,
                                      config.frames_per_video, limit=config.cartoon_limit, seed=config.seed)
        else:
            smoothed = ImagePool([edge_smooth(img) for img in cartoons.images], cartoons.names)
        log(f"cartoons: {len(cartoons)} images, edge-smoothed negatives: {len(smoothed)}")

    # --- networks and optimisers -----------------------------------------------------------------
    torch.manual_seed(config.seed)   # the generator's initial weights depend on the seed only
    try:
        generator = build_generator(config.architecture, dict(config.generator_args))
    except (TypeError, ValueError) as e:
        raise BadInputError(f"generator {config.architecture} {config.generator_args}: {e}") from None
    if config.init_weights and not resume:
        start_from, meta = load_generator(Path(config.init_weights))
        # Same network, or the same one growing a colour head (FastGenerator colour=True starts as the
        # identity grade, so the grown network computes exactly what the weights it starts from did).
        grows_colour = (config.architecture == "fast" and dict(config.generator_args).get("colour")
                        and {**meta["args"], "colour": True} == dict(config.generator_args))
        if meta["architecture"] != config.architecture or (meta["args"] != dict(config.generator_args)
                                                          and not grows_colour):
            raise BadInputError(f"--init-weights {config.init_weights} is {meta['architecture']} {meta['args']}, "
                                f"not {config.architecture} {dict(config.generator_args)}")
        missing, _ = generator.load_state_dict(start_from.state_dict(), strict=not grows_colour)
        assert all(k.startswith("colour.") for k in missing), missing
    generator = generator.to(device, memory_format=memory_format).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=(config.beta1, 0.999))
    discriminator = opt_d = None
    if config.mode == "cartoongan":
        discriminator = PatchDiscriminator(config.disc_base).to(device, memory_format=memory_format).train()
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=(config.beta1, 0.999))

    start = 0
    if resume:
        start = _restore(checkpoint, generator, discriminator, opt_g, opt_d, rng)
        _truncate_log(out / "log.jsonl", start)   # steps logged after the checkpoint are run again
        log(f"resumed {out / CHECKPOINT} at step {start}")

    # --- the loop --------------------------------------------------------------------------------
    history: list[dict[str, float]] = []
    bar = tqdm(total=config.steps, initial=start, disable=not progress, file=sys.stderr, dynamic_ncols=True,
               unit="step")
    with open(out / "log.jsonl", "a", encoding="utf-8") as log_file:
        for step in range(start, config.steps):
            losses: dict[str, torch.Tensor] = {}
            if config.mode == "distill":
                # Distillation: pixel L1 + VGG perceptual L1 to the teacher's output on the same crop.
                x_u8, t_u8 = photos.sample(rng, config.batch, config.crop, paired=teacher_images)
                x, target = to_tensor(x_u8, device), to_tensor(t_u8, device)
                with autocast():
                    y = generator(x)
                    losses["l1"] = config.l1_weight * torch.nn.functional.l1_loss(y, target)
                    if config.perceptual_weight:   # the VGG passes cost several times the student's own
                        losses["perceptual"] = config.perceptual_weight * perceptual_loss(
                            vgg, y, target, config.perceptual_layers)
                    if config.temporal_weight:
                        losses["temporal"] = config.temporal_weight * temporal_loss(generator, x, y,
                                                                                    config.temporal_shift)
                    if config.tv_weight:
                        losses["tv"] = config.tv_weight * tv_loss(y)
            elif step < config.init_steps:
                # CartoonGAN initialisation phase (Sec. 3.3): reconstruct the photo's content with the
                # content loss alone, so the generator starts from a sensible mapping before the GAN.
                x = to_tensor(photos.sample(rng, config.batch, config.crop, jitter=_jitter(config)), device)
                with autocast():
                    losses["content"] = config.content_weight * content_loss(vgg, generator(x), x,
                                                                             config.content_layer)
            else:
                x = to_tensor(photos.sample(rng, config.batch, config.crop, jitter=_jitter(config)), device)
                if config.smoothed:
                    c = to_tensor(cartoons.sample(rng, config.batch, config.crop, jitter=None), device)
                    e = to_tensor(smoothed.sample(rng, config.batch, config.crop, jitter=None), device)
                else:
                    c_u8, e_u8 = cartoons.sample(rng, config.batch, config.crop, jitter=None,
                                                 paired=smoothed.images)
                    c, e = to_tensor(c_u8, device), to_tensor(e_u8, device)
                # Discriminator: real cartoons -> 1; generated images and edge-smoothed cartoons -> 0 (Eq. 2).
                with autocast():
                    y = generator(x)
                    loss_d = d_loss(discriminator(c), discriminator(y.detach()), discriminator(e))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                # Generator: fool the discriminator while keeping the photo's content (Eq. 1, lambda = content_weight).
                with autocast():
                    losses["adv"] = config.adv_weight * g_adversarial_loss(discriminator(y))
                    losses["content"] = config.content_weight * content_loss(vgg, y, x, config.content_layer)
                    if config.gram_weight:
                        losses["gram"] = config.gram_weight * gram_style_loss(vgg, y, c, config.gram_layer)
                    if config.colour_weight:
                        losses["colour"] = config.colour_weight * colour_loss(y, x)
                    if config.tv_weight:
                        losses["tv"] = config.tv_weight * tv_loss(y)
            loss = sum(losses.values())
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()

            record = {k: float(v.detach()) for k, v in losses.items()}
            if config.mode == "cartoongan" and step >= config.init_steps:
                record["d"] = float(loss_d.detach())
            record["total"] = float(loss.detach())
            if not all(math.isfinite(v) for v in record.values()):
                raise CartoonizeError(f"step {step + 1}: loss is not finite ({record}); lower the learning rates "
                                      f"or resume from the last checkpoint")
            history.append(record)
            log_file.write(json.dumps({"step": step + 1, **record}) + "\n")
            bar.update(1)
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()})
                log_file.flush()
            done = step + 1 == config.steps
            if (step + 1) % config.sample_every == 0 or done:
                _save_samples(generator, val_u8, val_teacher_u8,
                              out / "samples" / f"step_{step + 1:06d}.png", device, memory_format)
            if (step + 1) % config.checkpoint_every == 0 or done:
                _save_checkpoint(out / CHECKPOINT, config, step + 1, generator, discriminator, opt_g, opt_d, rng)
    bar.close()
    weights = export(generator, config, history)
    log(f"wrote {weights}")
    return history


def resumed_config(out: Path, steps: int, checkpoint: dict[str, Any] | None = None) -> TrainConfig:
    """The config recorded in ``out``'s checkpoint: a resumed run keeps it, only ``steps`` may grow."""
    checkpoint = checkpoint or _read_checkpoint(Path(out) / CHECKPOINT)
    saved = checkpoint["config"]
    return TrainConfig.from_dict({**saved, "out": str(out), "steps": max(steps, saved["steps"])})


def export(generator: torch.nn.Module, config: TrainConfig, history: list[dict[str, float]]) -> Path:
    """Write the generator in the project's weights format (fp16 tensors) with the training recipe."""
    path = Path(config.out) / f"{config.style}.safetensors"
    if not history and (Path(config.out) / "log.jsonl").is_file():   # exported right after a resume
        lines = (Path(config.out) / "log.jsonl").read_text(encoding="utf-8").splitlines()
        history = [json.loads(lines[-1])] if lines else []
    recipe = {"trainer": "cartoonize-train", "mode": config.mode, "steps": config.steps,
              "final_losses": history[-1] if history else {}, "data_sources": list(config.data_sources),
              "config": config.to_dict()}
    if config.init_weights and Path(config.init_weights).is_file():
        # A staged recipe stays complete: the recipe of the weights this run started from, nested.
        recipe["init_from"] = read_metadata(Path(config.init_weights)).get("recipe", {})
    save_generator(generator.float().to(memory_format=torch.contiguous_format).cpu().eval(), path,
                   architecture=config.architecture, args=dict(config.generator_args), style=config.style,
                   license=config.license, recipe=recipe, half=True, work_side=config.max_side)
    return path


def _check_layers(config: TrainConfig) -> None:
    """Fail before loading any data if a loss names a layer the chosen VGG lacks."""
    if config.mode == "distill":
        used = config.perceptual_layers
    else:
        used = (config.content_layer,) + ((config.gram_layer,) if config.gram_weight else ())
    if config.vgg not in ("vgg16", "vgg19"):
        raise BadInputError(f"unknown --vgg {config.vgg!r}; choose vgg19 or vgg16")
    known = layer_names(config.vgg)
    for name in used:
        if name not in known:
            raise BadInputError(f"{config.vgg} has no layer {name!r} (its blocks 3-5 end at "
                                f"{'_3' if config.vgg == 'vgg16' else '_4'}, e.g. conv4_3 for vgg16)")


def _jitter(config: TrainConfig) -> Jitter | None:
    return Jitter() if config.jitter else None


def _device(name: str) -> torch.device:
    if name == "auto":   # like the inference commands: a CUDA GPU when PyTorch sees one
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError(f"--device {name}: no CUDA GPU usable by this PyTorch; use --device cpu")
    return device


def _centre_crop(rgb_u8_hwc: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb_u8_hwc.shape[:2]
    scale = side / min(h, w)
    if scale < 1.0:  # keep more of the image: shrink so the short side equals `side`, then crop
        rgb_u8_hwc = cv2.resize(rgb_u8_hwc, (max(side, round(w * scale)), max(side, round(h * scale))),
                                interpolation=cv2.INTER_AREA)
        h, w = rgb_u8_hwc.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    crop = rgb_u8_hwc[y:y + side, x:x + side]
    return cv2.resize(crop, (side, side)) if crop.shape[:2] != (side, side) else np.ascontiguousarray(crop)


@torch.no_grad()
def _save_samples(generator: torch.nn.Module, val_u8: np.ndarray, teacher_u8: np.ndarray | None, path: Path,
                  device: torch.device, memory_format) -> None:
    """A grid, one row per validation image: input | output [| teacher]."""
    generator.eval()
    y = generator(to_tensor(val_u8, device).contiguous(memory_format=memory_format))
    generator.train()
    out_u8 = nchw_to_rgb_u8_nhwc(y).cpu().numpy()
    columns = [val_u8, out_u8] + ([teacher_u8] if teacher_u8 is not None else [])
    grid = np.concatenate([np.concatenate(list(row), axis=1) for row in zip(*columns)], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def _save_checkpoint(path: Path, config: TrainConfig, step: int, generator, discriminator, opt_g, opt_d,
                     rng: np.random.Generator) -> None:
    state: dict[str, Any] = {
        "config": config.to_dict(), "step": step,
        "generator": generator.state_dict(), "opt_g": opt_g.state_dict(),
        "discriminator": discriminator.state_dict() if discriminator is not None else None,
        "opt_d": opt_d.state_dict() if opt_d is not None else None,
        "torch_rng": torch.get_rng_state(), "numpy_rng": rng.bit_generator.state,
    }
    tmp = path.with_suffix(".pt.partial")
    torch.save(state, tmp)
    os.replace(tmp, path)   # a crash while saving never leaves a half-written checkpoint


def _read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInputError(f"--resume: no checkpoint at {path}; start without --resume")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise BadInputError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None


def _truncate_log(path: Path, last_step: int) -> None:
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if json.loads(line)["step"] <= last_step]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _restore(checkpoint: dict[str, Any], generator, discriminator, opt_g, opt_d, rng: np.random.Generator) -> int:
    generator.load_state_dict(checkpoint["generator"])
    opt_g.load_state_dict(checkpoint["opt_g"])
    if discriminator is not None:
        discriminator.load_state_dict(checkpoint["discriminator"])
        opt_d.load_state_dict(checkpoint["opt_d"])
    torch.set_rng_state(checkpoint["torch_rng"])
    rng.bit_generator.state = checkpoint["numpy_rng"]
    return int(checkpoint["step"])


def export_checkpoint(out: Path) -> Path:
    """Export the run's last checkpoint as it stands (ending a long run early, or taking a look mid-run).

    The weights' recipe records the checkpoint's step count as ``steps`` and its last logged losses.
    """
    out = Path(out)
    if not (out / CHECKPOINT).is_file():
        raise BadInputError(f"{out}: no {CHECKPOINT} (not a training run folder, or no checkpoint saved yet)")
    checkpoint = _read_checkpoint(out / CHECKPOINT)
    config = TrainConfig.from_dict({**checkpoint["config"], "out": str(out), "steps": int(checkpoint["step"])})
    generator = build_generator(config.architecture, dict(config.generator_args))
    generator.load_state_dict(checkpoint["generator"])
    # The losses logged at the checkpoint's step (a run still going on may have logged more since).
    log_path = out / "log.jsonl"
    lines = log_path.read_text(encoding="utf-8").splitlines() if log_path.is_file() else []
    at_step = [json.loads(line) for line in lines if json.loads(line)["step"] == config.steps]
    return export(generator, config, at_step[-1:] or [{}])
