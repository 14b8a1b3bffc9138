"""Distillation pieces: the teacher-output cache and the temporal-consistency (known motion) term."""

from __future__ import annotations

import numpy as np
import torch

from cartoonize.train.losses import temporal_loss
from cartoonize.train.teacher_cache import cached_teacher_outputs, teacher_key

from conftest import pattern_rgb


class CountingTeacher:
    def __init__(self):
        self.calls = 0

    def __call__(self, rgb_u8_hwc: np.ndarray) -> np.ndarray:
        self.calls += 1
        return 255 - rgb_u8_hwc


def test_teacher_outputs_are_computed_once_and_keyed_by_teacher_and_image(tmp_path):
    images = [pattern_rgb(64, 48, t) for t in range(3)] + [pattern_rgb(80, 48, 0)]
    teacher = CountingTeacher()
    first = cached_teacher_outputs("classic:levels=5", teacher, images, tmp_path, progress=False)
    assert teacher.calls == 4 and all(np.array_equal(o, 255 - i) for o, i in zip(first, images))
    again = cached_teacher_outputs("classic:levels=5", teacher, images, tmp_path, progress=False)
    assert teacher.calls == 4 and all(np.array_equal(a, b) for a, b in zip(first, again))
    other = CountingTeacher()
    cached_teacher_outputs("classic:levels=6", other, images[:1], tmp_path, progress=False)
    assert other.calls == 1 and teacher_key("classic:levels=6") != teacher_key("classic:levels=5")
    # A damaged entry (e.g. a disk filled up) is computed again, not trusted.
    entry = next((tmp_path / teacher_key("classic:levels=5")).iterdir())
    entry.write_bytes(b"not a png")
    cached_teacher_outputs("classic:levels=5", teacher, images, tmp_path, progress=False)
    assert teacher.calls == 5


def test_teacher_key_hashes_architecture_and_tensors_not_the_other_metadata(tmp_path):
    from cartoonize.generators import build_generator
    from cartoonize.weights import save_generator
    args = {"width": 8, "blocks": 1}
    torch.manual_seed(0)
    net = build_generator("fast", args)
    a, b, c = (tmp_path / f"{n}.safetensors" for n in "abc")
    save_generator(net, a, architecture="fast", args=args, style="a", license="MIT")
    save_generator(net, b, architecture="fast", args=args, style="renamed", license="Apache-2.0", work_side=640)
    assert teacher_key(str(a)) == teacher_key(str(b))
    with torch.no_grad():
        next(net.parameters()).add_(0.01)
    save_generator(net, c, architecture="fast", args=args, style="a", license="MIT")
    assert teacher_key(str(a)) != teacher_key(str(c))


def test_temporal_loss_is_zero_for_a_shift_equivariant_map_and_not_otherwise():
    torch.manual_seed(0)
    photo = torch.rand(2, 3, 48, 64) * 2 - 1
    pointwise = lambda x: 0.8 * x[:, [2, 0, 1]] + 0.1          # noqa: E731 - affine per pixel: commutes with warps
    assert temporal_loss(pointwise, photo, pointwise(photo), max_shift=2.5) < 1e-6
    pattern = torch.linspace(-0.5, 0.5, 64).repeat(48, 1)      # output tied to the frame, not the content
    fixed = lambda x: x + pattern                              # noqa: E731
    assert temporal_loss(fixed, photo, fixed(photo), max_shift=2.5) > 1e-3


def test_temporal_loss_trains_the_generator():
    net = torch.nn.Conv2d(3, 3, 3, 2, 1)
    model = lambda x: torch.nn.functional.interpolate(net(x), scale_factor=2.0)  # noqa: E731 - stride 2: shift-variant
    photo = torch.rand(2, 3, 32, 32) * 2 - 1
    loss = temporal_loss(model, photo, model(photo))
    loss.backward()
    assert loss > 0 and net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_colour_head_starts_as_the_identity_grade_and_then_grades_globally():
    from cartoonize.generators import FastGenerator
    torch.manual_seed(0)
    grown = FastGenerator(16, 1, detail=True, norm=True, colour=True)
    plain = FastGenerator(16, 1, detail=True, norm=True)
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert set(missing) == {"colour.weight", "colour.bias"} and not unexpected
    x = torch.rand(2, 3, 40, 56) * 2 - 1
    with torch.no_grad():
        assert torch.equal(grown(x), plain(x))                      # growing the head changes nothing
        grown.colour.bias.copy_(torch.tensor([0.0] * 9 + [0.2, 0.0, -0.2]))
        shifted = grown(x)
    assert (shifted - plain(x))[:, 0].mean() > 0.05 and (shifted - plain(x))[:, 2].mean() < -0.05


def test_colour_head_needs_the_skip_path():
    import pytest
    from cartoonize.generators import FastGenerator
    with pytest.raises(ValueError, match="skip"):
        FastGenerator(16, 1, skip=False, colour=True)


def test_a_bundled_style_name_is_a_teacher():
    from cartoonize.styles import resolve_style
    from cartoonize.train.distill import teacher_source
    assert teacher_source("hayao-full") == str(resolve_style("hayao-full").weights)
    assert teacher_source("classic:levels=5") == "classic:levels=5"
    assert teacher_source("some/file.safetensors") == "some/file.safetensors"
