"""`cartoonize-image` on real photos (scikit-image's data files): EXIF rotation, alpha, broken files, safety."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cartoonize.tools.image import main

PIL = pytest.importorskip("PIL", reason="Pillow reads and writes the pictures")
from PIL import Image, ImageCms  # noqa: E402


def photo(name: str) -> Path:
    """A real photo from the scikit-image wheel ([test] extra); skimage itself is not imported."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the real test photos come from scikit-image: pip install -e '.[test]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    assert path.is_file(), path
    return path


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments: str, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def rotated_jpeg(tmp_path_factory) -> tuple[Path, Path]:
    """rocket.jpg (a real 640x427 photo) stored sideways with EXIF Orientation=6, as phones do,
    with a camera make, a GPS position and an sRGB profile; and the upright original as PNG."""
    folder = tmp_path_factory.mktemp("exif")
    with Image.open(photo("rocket.jpg")) as im:
        upright = im.convert("RGB")
    upright_png = folder / "upright.png"
    upright.save(upright_png)
    exif = Image.Exif()
    exif[0x0112] = 6                         # Orientation: rotate 90 degrees clockwise to display
    exif[0x010F] = "TestCam"                 # Make
    exif.get_ifd(0x8825)[1] = "N"            # GPSLatitudeRef, in the GPS sub-directory
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    sideways = folder / "sideways.jpg"
    # Stored pixels: the picture turned 90 degrees counter-clockwise; orientation 6 turns it back.
    upright.transpose(Image.Transpose.ROTATE_90).save(sideways, quality=97, exif=exif.tobytes(), icc_profile=icc)
    return sideways, upright_png


def test_jpeg_with_exif_rotation_comes_out_upright_with_metadata(rotated_jpeg, tmp_path):
    sideways, upright_png = rotated_jpeg
    out = tmp_path / "rocket_cartoon.jpg"
    result = cli(sideways, "-o", out, "--style", "classic", "--quiet")
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size == (640, 427)                       # upright: landscape, as the photo was taken
        exif = im.getexif()
        assert 0x0112 not in exif                          # pixels are upright: no tag may turn them again
        assert exif[0x010F] == "TestCam" and exif.get_ifd(0x8825)[1] == "N"
        with Image.open(sideways) as src:
            assert im.info["icc_profile"] == src.info["icc_profile"]
    # Same picture as cartoonizing the upright original; a wrongly turned or mirrored one is far off.
    reference = tmp_path / "reference.png"
    assert cli(upright_png, "-o", reference, "--style", "classic", "--quiet").exit_code == 0
    got, want = pixels(out), pixels(reference)
    assert psnr(got, want) > 30
    assert psnr(got, np.ascontiguousarray(want[::-1, ::-1])) < 20
    # ...and it is a cartoon, not a copy.
    assert psnr(got, pixels(upright_png)) < 30


@pytest.fixture(scope="module")
def alpha_png(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """chelsea.png (a real cat photo) with a soft round cut-out as its alpha channel."""
    with Image.open(photo("chelsea.png")) as im:
        rgb = np.asarray(im.convert("RGB"))
    h, w = rgb.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    alpha = np.clip(300 - 2 * np.hypot(x - w / 2, y - h / 2), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("alpha") / "cat.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    return path, alpha


@pytest.mark.parametrize("ext", ["png", "webp", "tif"])
def test_png_alpha_is_kept_exactly_and_only_rgb_is_stylised(alpha_png, tmp_path, ext):
    path, alpha = alpha_png
    out = tmp_path / f"cat.{ext}"
    extra = ["--quality", "100"] if ext == "webp" else []
    result = cli(path, "-o", out, "--style", "classic", "--quiet", *extra)
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        rgba = np.asarray(im)
    assert np.array_equal(rgba[..., 3], alpha)
    with Image.open(path) as im:
        source_rgb = np.asarray(im)[..., :3]
    opaque = alpha == 255
    assert np.abs(rgba[..., :3][opaque].astype(int) - source_rgb[opaque]).mean() > 3


def test_alpha_into_jpeg_is_flattened_onto_white_with_a_warning(alpha_png, tmp_path):
    path, alpha = alpha_png
    out = tmp_path / "cat.jpg"
    result = cli(path, "-o", out, "--style", "classic", "--quiet")
    assert result.exit_code == 0, result.output
    assert "no alpha channel" in result.stderr and "flattened onto white" in result.stderr
    corner = pixels(out)[:5, :5]                            # fully transparent there
    assert alpha[:5, :5].max() == 0 and corner.min() > 240


def test_folder_with_a_broken_file_reports_it_and_writes_the_others(rotated_jpeg, alpha_png, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    sideways, _ = rotated_jpeg
    (folder / "rocket.jpg").write_bytes(sideways.read_bytes())
    (folder / "cat.png").write_bytes(alpha_png[0].read_bytes())
    (folder / "broken.jpg").write_bytes(photo("rocket.jpg").read_bytes()[:6000])   # cut mid-scan
    (folder / "notes.txt").write_text("not a picture, not picked up\n")
    out_dir = tmp_path / "cartoons"
    result = cli(folder, "--out-dir", out_dir, "--style", "classic", "--quiet")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "damaged" in errors[0], result.stderr
    assert "2 image(s) written, 1 failed" in result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["cat.png", "rocket.jpg"]   # no partial or temp files
    with Image.open(out_dir / "rocket.jpg") as im:
        assert im.size == (640, 427)
    assert "Traceback" not in result.output


def test_globs_ext_and_quality(rotated_jpeg, tmp_path):
    sideways, upright_png = rotated_jpeg
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(sideways.read_bytes())
    low, high = tmp_path / "low", tmp_path / "high"
    assert cli(str(tmp_path / "*.jpg"), "--out-dir", low, "--quality", "30", "--style", "classic", "-q").exit_code == 0
    assert cli(str(tmp_path / "*.jpg"), "--out-dir", high, "--quality", "95", "--style", "classic", "-q").exit_code == 0
    assert sorted(p.name for p in low.iterdir()) == ["a.jpg", "b.jpg"]
    assert (low / "a.jpg").stat().st_size < 0.6 * (high / "a.jpg").stat().st_size
    result = cli(str(tmp_path / "*.jpg"), "--out-dir", tmp_path / "png", "--ext", "png", "--style", "classic", "-q")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "png" / "a.png") as im:
        assert im.format == "PNG" and im.size == (640, 427)


def test_max_side_and_tile_keep_the_full_size(rotated_jpeg, tmp_path):
    _, upright_png = rotated_jpeg
    full, small, tiled = tmp_path / "full.png", tmp_path / "small.png", tmp_path / "tiled.png"
    assert cli(upright_png, "-o", full, "--style", "classic", "-q").exit_code == 0
    assert cli(upright_png, "-o", small, "--style", "classic", "-q", "--max-side", "320").exit_code == 0
    assert cli(upright_png, "-o", tiled, "--style", "classic", "-q", "--tile", "256").exit_code == 0
    for path in (small, tiled):
        got = pixels(path)
        assert got.shape == (427, 640, 3)
        assert 18 < psnr(got, pixels(full)) < 99          # the same picture, computed differently


def test_existing_output_is_kept_without_overwrite(rotated_jpeg, tmp_path):
    _, upright_png = rotated_jpeg
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    one_line_error(cli(upright_png, "-o", out, "--style", "classic"), "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    assert cli(upright_png, "-o", out, "--style", "classic", "--overwrite", "-q").exit_code == 0
    assert pixels(out).shape == (427, 640, 3)


def test_input_is_never_written(rotated_jpeg, tmp_path):
    sideways, _ = rotated_jpeg
    src = tmp_path / "in.jpg"
    src.write_bytes(sideways.read_bytes())
    before = src.read_bytes()
    one_line_error(cli(src, "-o", src, "--style", "classic", "--overwrite"), "is the input file")
    # --out-dir pointing at the input's own folder maps in.jpg onto itself: refused too.
    result = cli(src, "--out-dir", tmp_path, "--style", "classic", "--overwrite")
    assert result.exit_code == 2 and "is the input file" in result.stderr
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jpg"]


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def multipage(path: Path) -> Path:
    with Image.open(photo("chelsea.png")) as im:
        page = im.convert("RGB")
    page.save(path, save_all=True, append_images=[page.rotate(90)])
    return path


@pytest.mark.parametrize("setup, fragments", [
    (lambda d: d / "missing.jpg", ("missing.jpg", "no such file")),
    (lambda d: written(d / "e.jpg", b""), ("e.jpg", "empty")),
    (lambda d: written(d / "t.jpg", b"hello\n" * 40), ("t.jpg", "not an image")),
    (lambda d: multipage(d / "pages.tif"), ("2 frames", "cartoonize-video")),
])
def test_bad_single_inputs_are_one_line_errors(tmp_path, setup, fragments):
    source = setup(tmp_path)
    out = tmp_path / "out.png"
    one_line_error(cli(source, "-o", out, "--style", "classic"), *fragments)
    assert not out.exists()


def test_usage_errors(rotated_jpeg, tmp_path):
    sideways, upright_png = rotated_jpeg
    one_line_error(cli(sideways, "--style", "classic"), "-o OUT", "--out-dir")
    one_line_error(cli(sideways, upright_png, "-o", tmp_path / "x.png"), "--out-dir")
    one_line_error(cli(sideways, "-o", tmp_path / "x.png", "--quality", "80"), "--quality", "PNG")
    one_line_error(cli(sideways, "-o", tmp_path / "x.gif"), "extension")
    one_line_error(cli(sideways, "-o", tmp_path / "no_folder" / "x.png"), "output folder does not exist")
