# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Style check of this package with ament_flake8 (ament's default configuration).

ament_flake8 runs in a fresh interpreter: flake8 forks worker processes, and a fork of the test
process (torch and DDS threads started by earlier tests) once crashed a worker and left the
parallel run waiting on it forever.
"""

import os
import subprocess
import sys

import pytest

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = 'import sys; from ament_flake8.main import main; sys.exit(main(sys.argv[1:]))'


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    proc = subprocess.run([sys.executable, '-c', RUN, PACKAGE_DIR], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f'ament_flake8 found code style errors / warnings:\n' \
                                 f'{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}'
