# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Offline evaluation: the paper's tables and figures (§5.1-5.2) from one command.

``runespoor eval --config FILE --out DIR`` (module :mod:`runespoor.evaluation.cli`) runs
methods x scales x JPEG qualities over a Cityscapes-layout data set, caches per-frame results,
and writes ``report.md``, ``report.json`` and PNG figures.  :mod:`.paper` holds the paper's
published numbers for side-by-side comparison.
"""
