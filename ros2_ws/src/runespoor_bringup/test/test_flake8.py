# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Style check of this package with ament_flake8 (ament's default configuration)."""

import os

from ament_flake8.main import main_with_errors
import pytest

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(argv=[PACKAGE_DIR])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
