# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Moved to :mod:`runespoor_bringup.graph`; this alias keeps older imports working."""

from runespoor_bringup.graph import (  # noqa: F401
    _ros_value, CLOUD_TASK_PARAMS, config_path, Graph, main, node_command, NODES,
    parse_overrides, RespawnPolicy)
