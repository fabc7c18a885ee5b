# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Shared by ``bench_soak.py`` and ``bench_lossy_link.py``: watch a running graph from outside.

:class:`Watch` is this process's own node (own rclpy context and domain) that keeps, per
message, only what the figures need -- never the messages themselves, so a 15-minute run
does not grow the watcher: ``SemanticMap`` latencies and sequences, ``LinkFeedback``
sequences (one per frame the cloud received) and the latest ``/diagnostics`` values per node.
:func:`proc_sample` reads a process's RSS, threads and open file descriptors from ``/proc``
(no psutil in the lock file).  Not a benchmark itself (``make bench`` runs ``bench_*.py``).
"""

import os
import platform
import subprocess
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:  # the pip-only runner's process group (runespoor_cloud.graph before runespoor_bringup)
    from runespoor_bringup.graph import Graph, node_command
except ImportError:
    from runespoor_cloud.graph import Graph, node_command

__all__ = ['Graph', 'node_command', 'proc_sample', 'Watch']


def proc_sample(pid):
    """Return ``{'rss_mb', 'threads', 'fds'}`` of a running process, or None if it is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            status = dict(line.split(':', 1) for line in f if ':' in line)
        fds = len(os.listdir(f'/proc/{pid}/fd'))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rss_kb = int(status.get('VmRSS', '0 kB').split()[0])
    return {'rss_mb': round(rss_kb / 1024.0, 2), 'threads': int(status['Threads']),
            'fds': fds}


def slope_per_min(t_s, values):
    """Least-squares slope of ``values`` against ``t_s`` [s], per minute (None: < 2 points)."""
    if len(t_s) < 2 or max(t_s) - min(t_s) <= 0:
        return None
    return float(np.polyfit(np.asarray(t_s) / 60.0, np.asarray(values, float), 1)[0])


def percentiles(values, qs=(50, 90, 99), digits=2):
    """``{'p50': ..., 'p90': ..., 'p99': ..., 'n': ...}`` (None where there are no values)."""
    out = {f'p{q}': (round(float(np.percentile(values, q)), digits) if len(values) else None)
           for q in qs}
    out['n'] = len(values)
    return out


def number(text):
    """Diagnostic value as int or float where it is one, else the string."""
    for cast in (int, float):
        try:
            return cast(text)
        except (TypeError, ValueError):
            pass
    return text


def git_state():
    """Return the checkout's commit and the node files that differ from it (what ran)."""
    def git(*args):
        try:
            return subprocess.run(['git', *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=30).stdout.rstrip('\n')
        except (OSError, subprocess.SubprocessError):
            return ''
    dirty = [line[3:] for line in git('status', '--porcelain', '--', 'ros2_ws/src').splitlines()]
    return {'commit': git('rev-parse', 'HEAD').strip(), 'uncommitted_node_files': dirty}


def environment():
    """Return the run's environment: the shared benchmark record, load, RMW, code version."""
    from bench_reconstruct import machine
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    env = machine(threads)
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name')), cpu)
    except OSError:
        pass
    env.update({'cpu': cpu, 'loadavg_at_start': list(os.getloadavg()),
                'rmw': os.environ.get('RMW_IMPLEMENTATION', ''),
                'ros_wheels': os.environ.get('RUNESPOOR_WHEELS_ENV', os.environ.get(
                    'ROS_DISTRO', '')),
                'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'), **git_state()})
    return env


class Watch:
    """
    The benchmark's node on ``domain``: results, link feedback and diagnostics of the graph.

    ``maps``: ``(arrival monotonic s, sequence, capture stamp s, end_to_end_ms, uplink_ms,
    reconstruct_ms, inference_ms)``; ``feedback``: ``(arrival monotonic s, sequence, bytes,
    edge send stamp s)``;
    ``diag``: hardware id -> ``(arrival monotonic s, {key: value})`` of its latest status.
    """

    def __init__(self, domain, name='runespoor_bench_watch'):
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from runespoor_cloud.testing import Probe
        from runespoor_msgs.msg import LinkFeedback, SemanticMap
        self.probe = Probe(domain, name)
        self.node = self.probe.node
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.maps, self.feedback, self.diag = [], [], {}
        self.node.create_subscription(SemanticMap, 'runespoor/semantic_map', self._on_map,
                                      reliable)
        self.node.create_subscription(LinkFeedback, 'runespoor/link_feedback',
                                      self._on_feedback, reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag,
                                      QoSProfile(depth=10,
                                                 reliability=ReliabilityPolicy.RELIABLE))

    def _on_map(self, m):
        self.maps.append((time.monotonic(), int(m.sequence),
                          m.header.stamp.sec + m.header.stamp.nanosec * 1e-9,
                          float(m.end_to_end_ms), float(m.uplink_ms), float(m.reconstruct_ms),
                          float(m.inference_ms)))

    def _on_feedback(self, fb):
        self.feedback.append((time.monotonic(), int(fb.sequence), int(fb.bytes),
                              fb.send_stamp.sec + fb.send_stamp.nanosec * 1e-9))

    def _on_diag(self, arr):
        now = time.monotonic()
        for status in arr.status:
            self.diag[status.hardware_id] = (now, {kv.key: number(kv.value)
                                                   for kv in status.values})

    def values(self, hardware_id):
        """Latest diagnostic values of ``runespoor_edge`` / ``runespoor_cloud`` ({} if none)."""
        return dict(self.diag.get(hardware_id, (0.0, {}))[1])

    def spin_until(self, condition, timeout_s):
        """Spin until ``condition()`` holds or ``timeout_s`` passes; return the condition."""
        return self.probe.spin_until(condition, timeout_s)

    def spin_for(self, seconds):
        """Spin (process messages) for ``seconds``."""
        self.probe.spin_until(lambda: False, seconds)

    def close(self):
        """Destroy the node and its context."""
        self.probe.close()


def map_latencies(maps):
    """Latency summary [ms] of ``Watch.maps`` rows: end to end, uplink, reconstruct, inference."""
    cols = {'end_to_end_ms': 3, 'uplink_ms': 4, 'reconstruct_ms': 5, 'inference_ms': 6}
    return {name: percentiles([row[i] for row in maps]) for name, i in cols.items()}
