"""Real-time and file pipelines: sources, sinks and the threads that join them.

Usage: ``from cartoonize.realtime.transcode import cartoonize_video``
"""
