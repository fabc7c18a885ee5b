"""
The nodes and everything they import stay within Python 3.10 (ROS 2 Humble robots).

`vermin` infers the minimum Python version of each file from the syntax, modules and functions
it uses; the check fails on anything that needs 3.11 or newer.
"""

import os
import subprocess
import sys

from systest import REPO

CHECKED = ['ros2_ws/src', 'scripts', 'tests', 'benchmarks']


def _vermin(paths):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'vermin'), '-t=3.10-', '--violations', '--no-tips',
           '--eval-annotations', '-q'] + [str(p) for p in paths]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def test_code_runs_on_python_3_10():
    paths = [p for p in CHECKED if (REPO / p).exists()]
    assert 'ros2_ws/src' in paths
    result = _vermin(paths)
    assert result.returncode == 0, 'code needs Python > 3.10:\n' + result.stdout + result.stderr


def test_checker_catches_newer_python(tmp_path):
    newer = tmp_path / 'newer.py'
    newer.write_text('import tomllib\n\ntry:\n    pass\nexcept* ValueError:\n    pass\n')
    result = _vermin([newer])
    assert result.returncode != 0
    assert 'tomllib' in result.stdout
