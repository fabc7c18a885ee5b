# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Fixtures of the cloud package's tests."""

import numpy as np
import pytest
import rclpy


@pytest.fixture
def ctx():
    """Yield an rclpy context on a random domain (101..199); shut it down after the test."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(np.random.default_rng().integers(101, 200)))
    yield context
    rclpy.try_shutdown(context=context)
