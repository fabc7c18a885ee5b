"""Runespoor edge: the robot-side nodes (frame source, knob application, rate-policy follower)."""
