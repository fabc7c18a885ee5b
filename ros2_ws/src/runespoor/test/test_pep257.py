# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Docstring check of this package with ament_pep257."""

from ament_pep257.main import main
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = main(argv=['.', 'test'])
    assert rc == 0, 'Found code style errors / warnings'
