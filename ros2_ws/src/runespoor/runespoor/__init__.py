"""Runespoor: tail-accurate edge-cloud video analytics (algorithms, no ROS dependency)."""

__version__ = '0.1.0'
