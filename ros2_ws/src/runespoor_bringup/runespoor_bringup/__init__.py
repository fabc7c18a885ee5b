"""Runespoor bringup: launch files, RViz config, the pip-only runner and the experiment monitor."""
