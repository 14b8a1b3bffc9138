"""cartoonize: real-time video and webcam cartoon stylization.

Usage: ``cartoonize-video in.mp4 out.mp4`` or, from Python,
``with cartoonize.Cartoonizer(style="classic") as toon: toon.video("in.mp4", "out.mp4")``.

This core package holds what every part shares: generator architectures, the weights format,
bundled styles, the classic filter, frame <-> tensor conversions and errors. The parts live in
subpackages: ``cartoonize.engines``, ``cartoonize.realtime``, ``cartoonize.train``, ``cartoonize.tools``.
"""

__version__ = "0.1.0"
__all__ = ["Cartoonizer"]


def __getattr__(name: str):
    # Imported on first use: the API pulls in the engines and the video pipeline (torch, PyAV),
    # which `import cartoonize.styles` and the other core modules must not pay for.
    if name == "Cartoonizer":
        from .api import Cartoonizer
        return Cartoonizer
    raise AttributeError(f"module 'cartoonize' has no attribute {name!r}")
