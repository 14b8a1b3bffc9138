"""Steady norm statistics: calibration (train/steady_statistics.py), loading, every engine, and video's use of them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cartoonize.engines.backend import BackendConfig, describe, for_video, load_backend
from cartoonize.errors import BadInputError
from cartoonize.generators import RgbU8Model, StdInstanceNorm, has_steady_statistics, set_statistics
from cartoonize.styles import BUNDLED_STYLES, has_steady_statistics as style_has_steady
from cartoonize.train.steady_statistics import calibration_photos, with_steady_statistics
from cartoonize.weights import load_generator, read_metadata, save_generator

from conftest import write_clip
from engines_fixtures import real_frames, tiny_weights


@pytest.fixture(scope="module")
def photos(bikes_clip) -> np.ndarray:
    return real_frames(bikes_clip, 4, every=40)[:, :96, :128].copy()   # (4, 96, 128, 3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, photos):
    """A tiny CartoonGAN generator and its steady copy, saved as a weights file."""
    folder = tmp_path_factory.mktemp("steady")
    plain_path = tiny_weights(folder, "cartoongan")
    plain, meta = load_generator(plain_path)
    steady = with_steady_statistics(plain, photos)
    path = folder / "tiny-calibrated.safetensors"
    save_generator(steady, path, architecture="cartoongan", args={**meta["args"], "steady_statistics": True},
                   style="tiny-calibrated", license="MIT")
    return plain, steady, plain_path, path


def _run(generator, frames: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return RgbU8Model(generator)(torch.from_numpy(np.ascontiguousarray(frames))).numpy()


def test_calibration_keeps_frame_statistics_output_and_fills_every_norm(tiny, photos):
    plain, steady, _, _ = tiny
    assert not has_steady_statistics(plain) and has_steady_statistics(steady)
    np.testing.assert_array_equal(_run(plain, photos), _run(steady, photos))   # "frame" mode: the generator as trained
    for norm in (m for m in steady.modules() if isinstance(m, StdInstanceNorm)):
        assert torch.isfinite(norm.steady_mean).all() and (norm.steady_std > 0).all()
        assert norm.steady_std.std() > 0   # really measured, not the initial ones


def test_each_norm_sees_the_statistics_it_holds(tiny, photos):
    """The point of calibrating layer after layer: run steady on the calibration photos, each norm's input has,
    over all their pixels, the mean and deviation it normalises by (statistics collected in one pass with
    each photo's own would not: deeper layers would see activations made with other statistics)."""
    _, steady, _, _ = tiny
    seen = []
    norms = [m for m in steady.modules() if isinstance(m, StdInstanceNorm)]
    hooks = [n.register_forward_hook(lambda m, i, o: seen.append(i[0].float())) for n in norms]
    set_statistics(steady, "steady")
    try:
        _run(steady, photos)
    finally:
        set_statistics(steady, "frame")
        for h in hooks:
            h.remove()
    for norm, x in zip(norms, seen, strict=True):
        mean = x.mean(dim=(0, 2, 3))
        std = (x - mean[:, None, None]).square().mean(dim=(0, 2, 3)).sqrt()
        torch.testing.assert_close(mean, norm.steady_mean, rtol=1e-3, atol=1e-3 * float(norm.steady_std.mean()))
        torch.testing.assert_close(std, norm.steady_std, rtol=1e-3, atol=1e-4)


def test_with_steady_statistics_a_change_far_away_leaves_a_region_alone(tiny, photos):
    """Why video uses them: with each frame's statistics, something entering one side of the picture re-grades the
    other side; with steady ones a pixel depends only on its neighbourhood."""
    _, steady, _, _ = tiny
    frame = photos[:1].copy()
    changed = frame.copy()
    changed[:, :, :32] = 255 - changed[:, :, :32]          # the left quarter changes
    far = np.s_[:, :, 96:]                                    # the right quarter: beyond the receptive field
    set_statistics(steady, "frame")
    assert np.abs(_run(steady, frame)[far].astype(int) - _run(steady, changed)[far]).max() > 2
    set_statistics(steady, "steady")
    try:
        np.testing.assert_array_equal(_run(steady, frame)[far], _run(steady, changed)[far])
    finally:
        set_statistics(steady, "frame")


def test_steady_statistics_load_run_and_say_so_on_torch_and_onnxruntime(tiny, photos):
    _, _, plain_path, path = tiny
    assert read_metadata(path)["args"]["steady_statistics"] is True
    frame_config = BackendConfig(backend="torch", weights=path)
    config = for_video(frame_config, stabilised=True)
    assert config.statistics == "steady"
    assert for_video(frame_config, stabilised=False) == frame_config                     # --no-temporal: as trained
    assert for_video(BackendConfig(backend="torch", weights=plain_path), True).statistics == "frame"  # has none
    with load_backend(config) as torch_steady, load_backend(frame_config) as torch_frame:
        assert "steady statistics" in describe(torch_steady) and "statistics" not in describe(torch_frame)
        steady_out = torch_steady.infer(photos)
        assert np.abs(steady_out.astype(int) - torch_frame.infer(photos)).mean() > 1
    pytest.importorskip("onnxruntime")
    from cartoonize.engines.onnx_export import export_onnx, read_onnx_metadata
    from cartoonize.styles import generator_style
    from dataclasses import replace
    exported = export_onnx(replace(generator_style(path), statistics="steady"))
    assert read_onnx_metadata(exported.onnx_bytes)["statistics"] == "steady"
    with load_backend(BackendConfig(backend="onnxruntime", weights=path, statistics="steady")) as ort:
        assert np.abs(ort.infer(photos).astype(int) - steady_out).max() <= 1


def test_steady_statistics_are_refused_where_there_are_none(tiny):
    _, _, plain_path, _ = tiny
    with pytest.raises(BadInputError, match="no steady norm statistics"):
        load_backend(BackendConfig(backend="torch", weights=plain_path, statistics="steady"))
    with pytest.raises(BadInputError, match="no steady statistics"):
        load_generator(plain_path, "steady")
    with pytest.raises(BadInputError, match="statistics must be"):
        load_backend(BackendConfig(backend="torch", weights=plain_path, statistics="weekly"))


def test_calibration_photos_are_cropped_to_one_size(tmp_path, photos):
    import cv2
    for i, size in enumerate([(50, 70), (200, 90)]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.resize(photos[i], size))
    batch = calibration_photos(sorted(tmp_path.glob("*.png")), 64, 48)
    assert batch.shape == (2, 48, 64, 3) and batch.dtype == np.uint8
    with pytest.raises(ValueError, match="at least 2"):
        with_steady_statistics(load_generator(tiny_weights(tmp_path, "cartoongan"))[0], batch[:1])


def test_cartoonize_video_uses_steady_statistics_when_stabilising(tiny, tmp_path):
    from cartoonize.tools.video import main
    _, _, _, path = tiny
    clip = write_clip(tmp_path / "in.mp4", width=64, height=48)
    on = CliRunner().invoke(main, [str(clip), str(tmp_path / "on.mp4"), "--weights", str(path), "--backend", "torch"])
    assert on.exit_code == 0, on.output
    assert "steady statistics" in on.output and "(temporal 0.6)" in on.output
    off = CliRunner().invoke(main, [str(clip), str(tmp_path / "off.mp4"), "--weights", str(path), "--backend", "torch",
                                    "--no-temporal"])
    assert off.exit_code == 0, off.output
    assert "steady statistics" not in off.output


def test_the_bundled_cartoongan_styles_hold_steady_statistics():
    full = [s for s in BUNDLED_STYLES.values() if s.weights is not None and
            read_metadata(s.weights)["architecture"] == "cartoongan"]
    assert len(full) == 4
    for style in full:
        assert style_has_steady(style), style.name
        meta = read_metadata(style.weights)
        assert "photos_train" in json.dumps(meta["recipe"]["steady_statistics"])   # never the held-out photos


def test_eval_and_the_api_run_a_stabilised_style_with_its_steady_statistics(tiny, tmp_path):
    from cartoonize import Cartoonizer
    from cartoonize.tools.eval import main
    _, _, _, path = tiny
    clip = write_clip(tmp_path / "in.mp4", width=64, height=48)
    result = CliRunner().invoke(main, ["video", str(clip), "--style", str(path), "--backend", "torch", "--temporal",
                                       "--frames", "6", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    names = json.loads(result.stdout)["stylised"]
    assert names == [str(path), f"{path} steady statistics", f"{path} +temporal 0.6"]
    with Cartoonizer(weights=path, backend="torch") as toon:
        assert "statistics" not in toon.description      # pictures: the generator as trained
        toon.video(clip, tmp_path / "plain.mp4", temporal=False)
        assert toon._steady is None                       # not stabilised: the generator as trained
        toon.video(clip, tmp_path / "out.mp4")
        assert toon._steady is not None and "steady statistics" in describe(toon._steady)


def test_batch_settings_run_steady_only_when_stabilised_and_say_so_in_the_fingerprint(tiny):
    from cartoonize.realtime.temporal import TemporalConfig
    from cartoonize.realtime.video_sink import EncodeConfig
    from cartoonize.tools.batch_jobs import BatchSettings
    _, _, plain_path, path = tiny
    frame = BatchSettings(backend=BackendConfig(weights=path), encode=EncodeConfig(), temporal=TemporalConfig())
    steady = BatchSettings(backend=for_video(frame.backend, True), encode=EncodeConfig(), temporal=TemporalConfig())
    assert steady.backend.statistics == "steady" and steady.fingerprint() != frame.fingerprint()
    # So are the stabiliser's flow settings (the outputs differ with them).
    coarse = BatchSettings(backend=steady.backend, encode=EncodeConfig(),
                           temporal=TemporalConfig(flow_finest_scale=None, flow_refinement=None))
    assert coarse.fingerprint() != steady.fingerprint()
    # A style without steady statistics is left as it is, so its outputs are not redone.
    plain = BackendConfig(weights=plain_path)
    assert for_video(plain, True) == plain


def test_export_writes_a_steady_onnx_that_runs_and_says_so(tiny, tmp_path, photos):
    pytest.importorskip("onnxruntime")
    from cartoonize.tools.export import main
    _, _, plain_path, path = tiny
    out = tmp_path / "steady.onnx"
    result = CliRunner().invoke(main, ["--weights", str(path), "--statistics", "steady", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with load_backend(BackendConfig(backend="onnxruntime", weights=out)) as ort, \
            load_backend(BackendConfig(backend="torch", weights=path, statistics="steady")) as reference:
        assert "steady statistics" in describe(ort)
        assert np.abs(ort.infer(photos).astype(int) - reference.infer(photos)).max() <= 1
    refused = CliRunner().invoke(main, ["--weights", str(plain_path), "--statistics", "steady", "-o",
                                        str(tmp_path / "x.onnx")])
    assert refused.exit_code == 2 and "no steady norm statistics" in refused.output


def test_prep_steady_statistics_writes_a_calibrated_copy_and_refuses_what_it_cannot_do(tmp_path, photos):
    import cv2

    from cartoonize.tools.prep import main
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, photo in enumerate(photos[:3]):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    weights, out = tiny_weights(tmp_path, "cartoongan"), tmp_path / "calibrated.safetensors"

    def prep(*args):
        return CliRunner().invoke(main, ["steady-statistics", *[str(a) for a in args]])
    result = prep(weights, out, "--photos", folder, "--size", "64x48")
    assert result.exit_code == 0, result.output
    meta = read_metadata(out)
    assert meta["args"]["steady_statistics"] is True and meta["recipe"]["steady_statistics"]["size"] == "64x48"
    steady, _ = load_generator(out, "steady")
    assert has_steady_statistics(steady)
    for args, message in [((weights, out, "--photos", folder), "exists; pass --overwrite"),
                          ((tiny_weights(tmp_path, "fast"), tmp_path / "f.safetensors", "--photos", folder),
                           "steady statistics are for CartoonGAN"),
                          ((weights, tmp_path / "x.safetensors", "--photos", tmp_path / "none"), "not a folder"),
                          ((weights, tmp_path / "x.safetensors", "--photos", folder, "--size", "big"), "WIDTHxHEIGHT")]:
        result = prep(*args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output


def test_cartoonize_live_runs_a_calibrated_style_with_its_steady_statistics(tiny, tmp_path):
    from conftest import run_in_process

    from cartoonize.tools.live import main
    _, _, _, path = tiny
    result = run_in_process(main, ["--pattern", "--width", "64", "--height", "48", "--weights", str(path),
                                   "--backend", "torch", "--record", str(tmp_path / "live.mp4"), "--frames", "3"])
    assert result.returncode == 0, result.stderr
    assert b"steady statistics" in result.stderr   # without --temporal too: live output is video
