"""Inference engines behind one small Backend protocol.

Usage: ``from cartoonize.engines import BackendConfig, load_backend``
"""

from .backend import Backend, BackendConfig, describe, load_backend

__all__ = ["Backend", "BackendConfig", "describe", "load_backend"]
