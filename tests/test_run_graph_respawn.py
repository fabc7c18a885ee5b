# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
``run_graph.py --respawn``: a node killed with SIGKILL is restarted (like launch's ``respawn``),
up to its restart limit; the exit after the last restart stops the graph with the node's status.

Waits on the runner's and the node's output lines, never on time.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from runespoor_bringup.graph import exit_status, RespawnPolicy
from systest import REPO, ros_env

pytestmark = pytest.mark.ros


def test_respawn_policy_parsing_and_limits():
    key, p = RespawnPolicy.parse('edge')
    assert key == 'edge' and p.respawn and p.delay_s == 2.0 and p.max_restarts == 3
    key, p = RespawnPolicy.parse('cloud:5:10', delay_s=1.0, max_restarts=1)
    assert key == 'cloud' and (p.delay_s, p.max_restarts) == (5.0, 10)
    assert p.allows(9) and not p.allows(10)
    assert RespawnPolicy(True, 0.0, -1).allows(10 ** 6)
    assert not RespawnPolicy().allows(0)
    for bad in ('', 'edge:x', 'edge:1:2:3', 'edge:-1'):
        with pytest.raises(ValueError):
            RespawnPolicy.parse(bad)
    assert exit_status(-9) == 137 and exit_status(2) == 2 and exit_status(None) == 0


class Lines:
    """Lines of a process's stdout, read by a thread; ``wait_for`` blocks on the next ones."""

    def __init__(self, proc):
        self.lines = []
        self._q = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, pattern, timeout_s=120.0, start=0):
        """Return the first match of ``pattern`` in a line at index >= start (None: never)."""
        for i, line in enumerate(self.lines[start:], start):
            m = re.search(pattern, line)
            if m:
                return i, m
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line is None:
                self._q.put(None)
                return None
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return len(self.lines) - 1, m
        return None

    def text(self):
        return ''.join(self.lines)


def test_killed_node_is_respawned_until_the_limit():
    env = ros_env()
    cmd = [sys.executable, os.path.join('scripts', 'run_graph.py'), '--nodes', 'edge',
           '--respawn', 'edge:0.2:2']
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = Lines(proc)
    try:
        hit = out.wait_for(r'started edge \(pid (\d+)\)')
        assert hit, out.text()
        pid, at = int(hit[1].group(1)), hit[0]
        for restart in (1, 2):
            ready = out.wait_for(r'edge ready', start=at)
            assert ready, out.text()
            os.kill(pid, signal.SIGKILL)
            assert out.wait_for(r'edge exited \(status 137\); respawning in 0.2 s',
                                start=ready[0]), out.text()
            hit = out.wait_for(rf'edge restarted \({restart}/2, pid (\d+)\)', start=ready[0])
            assert hit, out.text()
            pid, at = int(hit[1].group(1)), hit[0]
        ready = out.wait_for(r'edge ready', start=at)
        assert ready, out.text()
        os.kill(pid, signal.SIGKILL)  # the third death: over the limit
        assert out.wait_for(r"edge exited \(status 137\) after \{'edge': 2\} restarts; "
                            r'stopping the rest', start=ready[0]), out.text()
        assert proc.wait(60) == 137, out.text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
