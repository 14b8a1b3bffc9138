"""cartoonize: real-time video and webcam cartoon stylization.

Usage: ``cartoonize-video in.mp4 out.mp4`` or, from Python,
``from cartoonize.realtime.transcode import cartoonize_video``.

This core package holds what every part shares: generator architectures, the weights format,
bundled styles, the classic filter, frame <-> tensor conversions and errors. The parts live in
subpackages: ``cartoonize.engines``, ``cartoonize.realtime``, ``cartoonize.train``, ``cartoonize.tools``.
"""

__version__ = "0.1.0"
