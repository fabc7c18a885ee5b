# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Docstring check of this package with ament_pep257."""

import os

from ament_pep257.main import main
import pytest

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = main(argv=[PACKAGE_DIR])
    assert rc == 0, 'Found code style errors / warnings'
