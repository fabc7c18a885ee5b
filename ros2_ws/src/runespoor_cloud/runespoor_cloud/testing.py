# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Helpers for tests that talk to Runespoor nodes over DDS from the test process.

:class:`Probe` owns its own rclpy ``Context`` (on a given ``ROS_DOMAIN_ID``), one node and a
single-threaded executor; :meth:`Probe.spin_until` spins until a condition holds or a timeout
passes (no fixed sleeps).  :func:`free_domain_id` picks a random domain so parallel test runs
of several people on one machine do not see each other.
"""

import os
import random
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


def free_domain_id():
    """Return a random ROS domain id in 1..100 (DDS ports stay below 65535 there)."""
    return random.SystemRandom().randint(1, 100)


class Probe:
    """A test-side node in its own context: subscribe, publish, spin until something holds."""

    def __init__(self, domain_id, name='runespoor_probe'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=int(domain_id))
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received = {}

    def collect(self, msg_type, topic, qos, key=None):
        """Subscribe to ``topic`` and append every message to ``received[key or topic]``."""
        bucket = self.received.setdefault(key or topic, [])
        self.node.create_subscription(msg_type, topic, bucket.append, qos)
        return bucket

    def spin_until(self, condition, timeout_s):
        """Spin until ``condition()`` is true or ``timeout_s`` passes; return the condition."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return bool(condition())

    def close(self):
        """Destroy the node and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def child_env(domain_id):
    """Environment for node processes on ``domain_id`` (unbuffered output for the logs)."""
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(domain_id)
    env['PYTHONUNBUFFERED'] = '1'
    env['RCUTILS_LOGGING_BUFFERED_STREAM'] = '0'
    return env


def diagnostics_values(arrays, hardware_id):
    """Return the key/value dict of the latest DiagnosticStatus of ``hardware_id``."""
    for arr in reversed(arrays):
        for status in arr.status:
            if status.hardware_id == hardware_id:
                return {kv.key: kv.value for kv in status.values}
    return {}
