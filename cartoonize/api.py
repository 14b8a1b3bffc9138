"""The Python API: one loaded style engine for pictures, streams of frames and video files.

Usage:
    from cartoonize import Cartoonizer
    with Cartoonizer(style="classic") as toon:
        cartoon_rgb_u8_hwc = toon.image("photo.jpg")
        toon.video("in.mp4", "out.mp4", crf=18)

A thin layer over what the command-line tools run: ``load_backend`` (engines/backend.py) picks
and loads the engine once, ``with_resolution`` (engines/resize.py) adds --scale/--max-side/--tile,
pictures go through cartoonize/images.py and videos through realtime/transcode.py, with the same
guarantees (timestamps, audio copied, atomic output, no overwrite unless asked). The parts are
imported when a Cartoonizer is made, so ``import cartoonize`` stays light.
"""

from __future__ import annotations

import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from .errors import BadInputError
from .images import photo_from_array, read_image, write_image
from .styles import DEFAULT_STYLE

if TYPE_CHECKING:
    from .realtime.transcode import TranscodeResult


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class Cartoonizer:
    """A style engine, loaded once. Use it as a context manager (or call ``close()``)."""

    def __init__(self, style: str = DEFAULT_STYLE, *, weights: str | os.PathLike | None = None,
                 backend: str = "auto", device: str | None = None, fp16: bool = False, batch_size: int = 1,
                 scale: float | None = None, max_side: int | None = None, tile: int | None = None,
                 log: Callable[[str], None] | None = None, warn: Callable[[str], None] = _stderr):
        """``style``/``weights``/``backend``/``device``/``fp16`` as for cartoonize-video; ``batch_size``
        frames per inference call in ``frames`` and ``video``; ``scale=None`` (and no ``max_side``) runs a
        style at its trained scale on a CPU, full size on a GPU; ``log`` receives notes (what ``auto``
        picked; silent by default), ``warn`` warnings about lost data (stderr by default)."""
        from .engines.backend import BackendConfig, describe, load_backend, trained_side_of
        from .engines.resize import ResolutionConfig, with_resolution

        if not isinstance(batch_size, int) or batch_size < 1:
            raise BadInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self._log = log or (lambda message: None)
        self._warn = warn
        config = BackendConfig(backend=backend, style=style, weights=Path(weights) if weights else None,
                               device=device, fp16=fp16, max_batch=batch_size)
        resolution = ResolutionConfig(scale=scale, max_side=max_side, tile=tile, overlap=min(32, (tile or 128) // 4))
        self._loaded = load_backend(config, announce=self._log)
        self._config = config
        self._steady = None   # the engine with steady norm statistics that video() loads when the style has them
        self._resolution, self._trained_side = resolution, trained_side_of(config)
        self._engine = with_resolution(self._loaded, resolution, self._trained_side)
        self.description = describe(self._engine)   # e.g. "opencv cpu uint8, style classic"

    def image(self, image: str | os.PathLike | np.ndarray, output: str | os.PathLike | None = None, *,
              overwrite: bool = False, quality: int | None = None) -> np.ndarray:
        """Cartoonize one picture: a file (EXIF orientation applied) or a uint8 array, (H, W, 3) RGB or
        (H, W, 4) RGBA. Returns uint8 (H, W, 3), or (H, W, 4) with the alpha unchanged. With ``output``
        it is also written there (format from the extension; alpha, EXIF and ICC kept where possible)."""
        if isinstance(image, np.ndarray):
            photo, source = photo_from_array(image), None
        else:
            source = Path(image)
            photo = read_image(source, note=self._log)
        styled = photo.with_rgb(self._engine.infer(photo.rgb_u8_hwc[None])[0])
        if output is not None:
            write_image(styled, Path(output), input_path=source, overwrite=overwrite, quality=quality,
                        warn=self._warn)
        return styled.rgba_u8_hwc()

    def frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Cartoonize a stream of uint8 (H, W, 3) RGB frames, yielding each result in order.

        Frames are grouped ``batch_size`` at a time (a change of size starts a new group), so a
        generator is consumed lazily: a camera or decoder feeding it never piles up in memory.
        """
        batch: list[np.ndarray] = []
        for index, frame in enumerate(frames):
            if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise BadInputError(f"frame {index}: expected a uint8 (H, W, 3) RGB array, got "
                                    f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}")
            if batch and (frame.shape != batch[0].shape or len(batch) == self.batch_size):
                yield from self._engine.infer(np.stack(batch))
                batch = []
            batch.append(frame)
        if batch:
            yield from self._engine.infer(np.stack(batch))

    def video(self, src: str | os.PathLike, dst: str | os.PathLike, *, overwrite: bool = False,
              temporal: bool | float = True, progress: Callable[[int], None] | None = None,
              **encode_options) -> "TranscodeResult":
        """Cartoonize the video file ``src`` into ``dst`` (container from its extension), as cartoonize-video
        does: same frames and timestamps, audio/subtitles copied, ``dst`` appears only when complete.

        ``temporal``: run-time stabilisation against flicker, on by default as in cartoonize-video (True:
        the default strength; a number: that strength; False or 0: off; docs/QUALITY.md). Each call starts
        a fresh stabiliser. Stabilised, a CartoonGAN generator uses its steady norm statistics, as in
        cartoonize-video (a second engine, loaded on the first such call and kept). ``encode_options`` are EncodeConfig fields: ``codec`` (default libx264),
        ``crf``, ``preset``, ``pix_fmt``. ``progress(n)`` is called as frames are written. Returns a
        TranscodeResult (``frames``, ``seconds``, ``fps``, ``copied_packets``, ``output``).
        """
        from .engines.backend import for_video, load_backend
        from .realtime.temporal import temporal_config, with_resolution_and_temporal
        from .realtime.transcode import cartoonize_video
        from .realtime.video_sink import EncodeConfig

        known = {f.name for f in fields(EncodeConfig)}
        unknown = sorted(set(encode_options) - known)
        if unknown:
            raise BadInputError(f"unknown encode option(s) {', '.join(unknown)}; use {', '.join(sorted(known))}")
        if not isinstance(temporal, (bool, int, float)):
            raise BadInputError(f"temporal must be True, False or a strength in [0, 1), got {temporal!r}")
        # The command line's rule (realtime/temporal.temporal_config): a strength of 0 is off.
        stabilise = (temporal_config(temporal, None) if isinstance(temporal, bool)
                     else temporal_config(True, float(temporal)))
        loaded = self._loaded
        video_config = for_video(self._config, stabilise is not None)
        if video_config != self._config:
            if self._steady is None:
                self._steady = load_backend(video_config, announce=self._log)
            loaded = self._steady
        # Not closed after the call: the wrappers close the engine this Cartoonizer keeps for later calls.
        engine = with_resolution_and_temporal(loaded, self._resolution, self._trained_side, stabilise)
        return cartoonize_video(Path(src), Path(dst), engine, EncodeConfig(**encode_options),
                                overwrite=overwrite, batch_size=self.batch_size, progress=progress,
                                log=self._log, warn=self._warn)

    def close(self) -> None:
        """Release the engine (GPU memory, sessions). Idempotent."""
        try:
            self._engine.close()
        finally:
            if self._steady is not None:
                self._steady.close()

    def __enter__(self) -> "Cartoonizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cartoonizer({self.description})"
