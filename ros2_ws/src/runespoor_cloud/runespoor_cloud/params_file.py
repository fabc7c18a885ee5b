# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Moved to :mod:`runespoor_edge.params_file` (the robot's launch files need it without us)."""

from runespoor_edge.params_file import any_namespace_params, rewrite_keys  # noqa: F401
