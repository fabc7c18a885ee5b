# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Offline evaluation: the paper's tables and figures (§5.1-5.2) from one command.

``runespoor eval --config FILE --out DIR`` (module :mod:`runespoor.evaluation.cli`) runs
methods x scales x JPEG qualities over a data set, caches per-frame results, and writes
``report.md``, ``report.json`` and PNG figures.  The config (:mod:`.config`) names the task
(:mod:`runespoor.tasks`: segmentation on the Cityscapes layout, paper Tables 2-5; detection on
the VisDrone-DET layout, Table 6 and Fig. 10; or a plug-in task); the eval loop
(:mod:`.runner`: run planning, codec, reconstruction, PSNR/SSIM) hands every reconstructed
frame to the task's eval plug-in (``tasks/<name>/evaluation.py``, written against
:mod:`.plugin_api`), caches its records (:mod:`.cache`) and asks the task for its report and
figures (``tasks/<name>/report.py``, ``figures.py``; a task without them gets
:mod:`.generic_report`).  :mod:`.report_common` holds what the reports share, :mod:`.paper`
the paper's published numbers for side-by-side comparison.
"""
