# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Moved to :mod:`runespoor_bringup.experiment_monitor`; ``python -m`` here still runs it."""

import sys

from runespoor_bringup.experiment_monitor import main, Monitor  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
