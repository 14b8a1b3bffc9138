"""Photos in and out: EXIF orientation applied, alpha split off, EXIF and ICC carried to the output.

Usage:
    photo = read_image(Path("in.jpg"))                       # upright RGB + alpha + metadata
    styled = photo.with_rgb(backend.infer(photo.rgb_u8_hwc[None])[0])
    write_image(styled, Path("out.png"), overwrite=False)    # format from the extension, atomic

Pillow does the file work. OpenCV (already a dependency) was checked and not used: ``imread``
with ``IMREAD_COLOR`` applies the EXIF orientation but drops alpha, ``IMREAD_UNCHANGED`` keeps
alpha but ignores the orientation, and OpenCV 5's ``imwriteWithMetadata`` copies the EXIF block
unchanged (orientation tag included, so an already rotated picture is rotated twice by viewers)
and writes no metadata to TIFF; OpenCV 4 has no metadata API at all.

What is kept: the alpha channel (the style runs on RGB only); the ICC profile (JPEG, PNG, WebP,
TIFF); EXIF (JPEG, PNG, WebP, TIFF; re-serialised by Pillow with the orientation tag removed since
the pixels are upright now, camera and GPS sub-directories kept, the embedded thumbnail of the
original picture dropped). BMP holds neither; JPEG and BMP hold no alpha (it is flattened onto
white). Each loss is reported.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import BadInputError
from .files import check_readable_file, write_atomic

# Output extension -> Pillow format name. Input formats are recognised by content, not by name.
IMAGE_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
                    ".tif": "TIFF", ".tiff": "TIFF"}
# MPO: what Pillow calls the JPEGs of many phones and cameras (a main picture plus a preview frame).
READ_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF"}
QUALITY_FORMATS = {"JPEG", "WEBP"}
DEFAULT_QUALITY = {"JPEG": 92, "WEBP": 90}
_METADATA_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF"}
# BMP: Pillow writes 32-bit BMPs that most readers, Pillow included, load as opaque.
_NO_ALPHA_FORMATS = {"JPEG", "BMP"}
# Pillow refuses images above ~179 Mpx as possible decompression bombs; real panoramas and scans
# go beyond that, and --max-side/--tile exist for them. 16k x 16k is still refused.
MAX_PIXELS = 256_000_000

# Magic numbers of the formats above, for telling a picture from a video without decoding it. (GIF is
# left to the video tools: FFmpeg decodes animated GIFs as video.)
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")


@dataclass(frozen=True)
class Photo:
    """An upright picture split into what the style changes and what it must keep."""

    rgb_u8_hwc: np.ndarray            # (H, W, 3) uint8, EXIF orientation already applied
    alpha_u8_hw: np.ndarray | None    # (H, W) uint8 opacity, None for opaque formats
    exif: bytes | None                # EXIF block without the orientation tag, None if the input had none
    icc_profile: bytes | None         # the input's RGB colour profile, None if none (or not RGB)
    source_format: str                # Pillow format name of the input ("JPEG", "PNG", ...)

    def with_rgb(self, rgb_u8_hwc: np.ndarray) -> "Photo":
        if rgb_u8_hwc.shape != self.rgb_u8_hwc.shape or rgb_u8_hwc.dtype != np.uint8:
            raise ValueError(f"new pixels are {rgb_u8_hwc.dtype} {rgb_u8_hwc.shape}, "
                             f"expected uint8 {self.rgb_u8_hwc.shape}")
        return replace(self, rgb_u8_hwc=rgb_u8_hwc)

    def rgba_u8_hwc(self) -> np.ndarray:
        """(H, W, 4) when there is alpha, else (H, W, 3): what ``Cartoonizer.image`` returns."""
        if self.alpha_u8_hw is None:
            return self.rgb_u8_hwc
        return np.dstack([self.rgb_u8_hwc, self.alpha_u8_hw])


def is_image_path(path: Path) -> bool:
    """True when ``path`` has an image extension, or is an existing file that starts like an image."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def check_image_file(path: Path) -> None:
    """Errors for paths that cannot be a picture, before Pillow sees them."""
    check_readable_file(path, "image")


def read_image(path: Path, note: Callable[[str], None] = lambda m: None) -> Photo:
    """Decode a still image into an upright :class:`Photo`; BadInputError (one line) for anything else."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    check_image_file(path)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as im:
            if im.format not in READ_FORMATS:
                raise BadInputError(f"{path}: {im.format} images are not supported; "
                                    f"use JPEG, PNG, WebP, BMP or TIFF")
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format != "MPO":
                raise BadInputError(f"{path}: has {frames} frames (animated or multi-page); cartoonize-image "
                                    f"takes still images (an animation is a video: cartoonize-video)")
            im.load()
            source_format = "JPEG" if im.format == "MPO" else im.format
            icc = im.info.get("icc_profile") or None
            upright = ImageOps.exif_transpose(im)   # also removes the orientation tag from its EXIF
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise BadInputError(f"{path}: more than {MAX_PIXELS // 1_000_000} megapixels; refused") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow reports truncated and corrupt data as OSError/SyntaxError with a short message.
        raise BadInputError(f"{path}: damaged image ({first_line(e)})") from None

    exif = None
    if source_format in _METADATA_FORMATS - {"TIFF"}:
        # (A TIFF's "EXIF" is its own structure tags, strip offsets included; they describe the file, not the photo.)
        tags = upright.getexif()
        exif = tags.tobytes() if len(tags) else None
    rgb_u8_hwc, alpha_u8_hw, kind = _split_pixels(upright)
    if icc is not None and kind != "rgb":
        note(f"note: {path}: its colour profile describes {kind} data, not RGB: left out of the output")
        icc = None
    return Photo(rgb_u8_hwc, alpha_u8_hw, exif, icc, source_format)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _split_pixels(im) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Any Pillow mode -> uint8 RGB (H, W, 3), alpha (H, W) or None, and the colour kind of the source."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: Pillow's own conversion to 8 bits clips at 255 instead of scaling.
        grey = np.asarray(im, dtype=np.uint32)
        shift = 8 if grey.max(initial=0) > 255 else 0
        grey = np.clip(grey >> shift, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2)), None, "grey"
    if mode == "F":
        raise BadInputError("32-bit floating point images are not supported; convert to 8 or 16 bits first")
    kind = {"CMYK": "CMYK", "L": "grey", "LA": "grey", "1": "grey", "LAB": "Lab"}.get(mode, "rgb")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"))
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3]), kind
    return np.ascontiguousarray(np.asarray(im.convert("RGB"))), None, kind


def output_format(path: Path) -> str:
    """Pillow format name for an output path's extension; BadInputError for other extensions."""
    fmt = IMAGE_EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise BadInputError(f"{path}: cannot tell the image format from the extension "
                            f"{Path(path).suffix or '(none)'!r}; use .jpg, .png, .webp, .bmp or .tif")
    return fmt


def check_output_image(input_path: Path | None, output_path: Path, overwrite: bool) -> None:
    """Refuse outputs that would replace the input, an existing file without ``overwrite``, or a folder."""
    output_format(output_path)
    if output_path.is_dir():
        raise BadInputError(f"{output_path}: is a directory; give an output file name")
    if input_path is not None and (output_path.resolve() == Path(input_path).resolve() or (
            output_path.exists() and os.path.samefile(input_path, output_path))):
        raise BadInputError(f"{output_path}: is the input file; choose another output path")
    if (output_path.exists() or output_path.is_symlink()) and not overwrite:
        raise BadInputError(f"{output_path}: already exists (use --overwrite to replace it)")
    if not output_path.parent.is_dir():
        raise BadInputError(f"{output_path.parent}: output folder does not exist")


def encode_image(photo: Photo, fmt: str, quality: int | None = None,
                 warn: Callable[[str], None] = lambda m: None, name: str = "output") -> bytes:
    """The file bytes of ``photo`` in Pillow format ``fmt``, keeping alpha/EXIF/ICC where it can."""
    from PIL import Image

    if quality is not None and fmt not in QUALITY_FORMATS:
        raise BadInputError(f"--quality applies to JPEG and WebP only, not {fmt} ({name})")
    rgb = photo.rgb_u8_hwc
    if photo.alpha_u8_hw is not None and fmt in _NO_ALPHA_FORMATS:
        # No alpha there: composite over white, the usual page background, rather than over black.
        a = photo.alpha_u8_hw[..., None].astype(np.float32) / 255.0
        rgb = np.clip(rgb * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
        warn(f"warning: {name}: {fmt} has no alpha channel; transparent parts were flattened onto white "
             f"(use .png or .webp to keep them)")
        image = Image.fromarray(rgb, "RGB")
    elif photo.alpha_u8_hw is not None:
        image = Image.fromarray(np.dstack([rgb, photo.alpha_u8_hw]), "RGBA")
    else:
        image = Image.fromarray(rgb, "RGB")
    options: dict = {}
    if fmt in _METADATA_FORMATS:
        if photo.exif:
            options["exif"] = photo.exif
        if photo.icc_profile:
            options["icc_profile"] = photo.icc_profile
    elif photo.exif or photo.icc_profile:
        warn(f"warning: {name}: {fmt} cannot hold EXIF or colour profiles; they were left out")
    if fmt == "JPEG":
        # 4:4:4: cartoon output has sharp colour edges that 4:2:0 chroma subsampling smears.
        options.update(quality=quality or DEFAULT_QUALITY["JPEG"], subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=quality or DEFAULT_QUALITY["WEBP"], method=4)
    elif fmt == "TIFF":
        options.update(compression="tiff_lzw")   # lossless, read by everything that reads TIFF
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_image(photo: Photo, output_path: Path, *, input_path: Path | None = None, overwrite: bool = False,
                quality: int | None = None, warn: Callable[[str], None] = lambda m: None) -> None:
    """Encode and publish atomically (temp file beside ``output_path``, renamed when complete)."""
    output_path = Path(output_path)
    check_output_image(input_path, output_path, overwrite)
    data = encode_image(photo, output_format(output_path), quality, warn, name=str(output_path))
    try:
        write_atomic(data, output_path)
    except OSError as e:
        raise BadInputError(f"{output_path}: cannot write ({e.strerror or e})") from None


def photo_from_array(array: np.ndarray) -> Photo:
    """An in-memory picture: uint8 (H, W, 3) RGB or (H, W, 4) RGBA, or (H, W) grey."""
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise BadInputError(f"expected a uint8 numpy array, got {getattr(array, 'dtype', type(array).__name__)}")
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 1:
        raise BadInputError(f"expected an (H, W, 3) RGB or (H, W, 4) RGBA image, got shape {array.shape}")
    alpha = np.ascontiguousarray(array[..., 3]) if array.shape[2] == 4 else None
    return Photo(np.ascontiguousarray(array[..., :3]), alpha, None, None, "array")
