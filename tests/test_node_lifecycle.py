# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Node processes start, refuse and stop the way ``ros2 launch`` and an operator expect.

- SIGINT twice in a row (what ``ros2 launch`` sends in non-interactive use, or an impatient
  Ctrl-C): exit status 0, no ``KeyboardInterrupt`` traceback, no "Failed to publish log
  message to rosout", for the edge, the source and the cloud;
- a bad parameter at start-up: a FATAL line under the node's name (rclpy logging, not
  ``print``) and status 2;
- the frame source with ``exit_when_done`` ends with status 0 at the end of the clip, and with
  ``wait_for_subscribers`` it holds the first frame until the edge (and the topics in
  ``wait_for_topics``) subscribe, saying so in its log.

Every wait is on a line of output or a message, with generous timeouts.
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from systest import REPO, ros_env

pytestmark = pytest.mark.ros

MODULES = {'edge': 'runespoor_edge.edge_node', 'source': 'runespoor_edge.source_node',
           'cloud': 'runespoor_cloud.cloud_node'}
NAMES = {'edge': 'runespoor_edge', 'source': 'runespoor_source', 'cloud': 'runespoor_cloud'}
READY = {'edge': 'edge ready', 'source': 'source: mode', 'cloud': 'cloud ready'}
PARAMS = {'edge': [], 'source': ['-p', 'width:=64', '-p', 'height:=32'],
          'cloud': ['-p', 'seg_arch:=palette', '-p', "seg_weights:=''", '-p',
                    'method:=bilinear', '-p', 'device:=cpu']}


class Proc:
    """A node process whose stderr+stdout lines are collected by a reader thread."""

    def __init__(self, key, extra=(), env=None):
        cmd = [sys.executable, '-m', MODULES[key], '--ros-args', *PARAMS[key], *extra]
        self.p = subprocess.Popen(cmd, cwd=REPO, env=env or ros_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, text, timeout_s=60.0):
        """Return True once a line containing ``text`` was printed (False on exit/timeout)."""
        if any(text in line for line in self.lines):
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self._q.put(None)
                return False
            self.lines.append(line)
            if text in line:
                return True
        return False

    def finish(self, timeout_s=60.0):
        """Wait for the exit; return ``(status, everything printed)``."""
        try:
            rc = self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.wait_for('\0never\0', timeout_s=5.0)  # drain what is left
        return rc, ''.join(self.lines)


@pytest.mark.parametrize('key', ['edge', 'source', 'cloud'])
def test_second_sigint_exits_cleanly(key):
    proc = Proc(key)
    assert proc.wait_for(READY[key], 120), ''.join(proc.lines)
    proc.p.send_signal(signal.SIGINT)
    proc.p.send_signal(signal.SIGINT)  # at once: lands in the middle of the shutdown
    rc, out = proc.finish()
    assert rc == 0, out
    assert 'Traceback' not in out and 'KeyboardInterrupt' not in out, out
    assert 'Failed to publish log message to rosout' not in out, out
    assert 'terminate called' not in out, out


@pytest.mark.parametrize('key,extra,reason', [
    ('edge', ['-p', 'scale:=3'], 'scale'),
    ('source', ['-p', 'mode:=bag', '-p', 'path:=/nonexistent/bag'], '/nonexistent/bag'),
    ('cloud', ['-p', 'method:=foo'], 'foo'),
])
def test_bad_parameter_refused_through_the_node_logger(key, extra, reason):
    rc, out = Proc(key, extra).finish(120)
    assert rc == 2, out
    fatal = [line for line in out.splitlines() if '[FATAL]' in line]
    assert fatal and f'[{NAMES[key]}]' in fatal[0] and 'refusing to start' in fatal[0], out
    assert reason in fatal[0], out
    assert 'Traceback' not in out, out


def test_refusal_reaches_rosout(probe, domain):
    """A start-up refusal is a FATAL on /rosout under the node's name, not only on the console."""
    from rcl_interfaces.msg import Log
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    logs = probe.collect(Log, '/rosout', QoSProfile(
        depth=100, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    proc = Proc('cloud', ['-p', 'method:=foo'], env=ros_env(domain_id=domain))
    try:
        def fatal():
            return [m for m in logs if m.level == Log.FATAL and m.name == NAMES['cloud']
                    and 'refusing to start' in m.msg and 'foo' in m.msg]
        assert probe.spin_until(lambda: fatal() or proc.p.poll() is not None, 120)
        assert probe.spin_until(fatal, 10), [(m.name, m.msg) for m in logs]
        rc, out = proc.finish(60)
        assert rc == 2, out
    finally:
        if proc.p.poll() is None:
            proc.p.kill()


def test_source_exits_when_the_clip_is_over():
    proc = Proc('source', ['-p', 'max_frames:=5', '-p', 'rate:=50.0',
                           '-p', 'exit_when_done:=true'])
    rc, out = proc.finish(60)
    assert rc == 0, out
    assert 'source finished after 5 frames' in out, out


def test_source_waits_for_the_graph_before_the_first_frame(probe, domain):
    from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
    from runespoor_msgs.msg import EncodedFrame
    from sensor_msgs.msg import Image
    env = ros_env(domain_id=domain)
    proc = Proc('source', ['-p', 'rate:=20.0', '-p', 'reliability:=reliable',
                           '-p', 'wait_for_subscribers:=true',
                           '-p', 'wait_for_topics:=runespoor/encoded',
                           '-p', 'wait_for_subscribers_s:=120.0', '-p', 'exit_when_done:=true',
                           '-p', 'max_frames:=20'], env=env)
    try:
        assert proc.wait_for('waiting up to 120 s for subscribers', 60), ''.join(proc.lines)
        assert 'runespoor/encoded' in proc.lines[-1]
        frames = probe.collect(Image, 'camera/image_raw',
                               QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        # the camera subscriber alone is not enough: runespoor/encoded (the cloud) needs one
        probe.node.create_subscription(EncodedFrame, 'runespoor/encoded', lambda m: None,
                                       qos_profile_sensor_data)
        assert probe.spin_until(lambda: len(frames) >= 20 or proc.p.poll() is not None, 60)
        rc, out = proc.finish(60)
        assert rc == 0, out
        assert 'graph ready after' in out, out
        assert 'starting anyway' not in out, out
        # nothing was published before the graph was ready: all 20 frames arrived here
        assert len(frames) == 20, (len(frames), out)
    finally:
        if proc.p.poll() is None:
            proc.p.kill()


def test_setup_checks_imports_before_ready():
    text = (REPO / 'scripts' / 'setup.sh').read_text()
    ready = text.index('log "ready')
    assert text.index('find_spec') < ready and 'torch' in text[:ready], \
        'setup.sh must verify the nodes\' imports before it prints ready'
    assert os.path.isfile(REPO / 'requirements' / 'lock-kilted-msgs.txt')
    full = (REPO / 'requirements' / 'lock-kilted.txt').read_text()
    assert 'torch==' in full and 'opencv-python-headless==' in full
