# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Offline evaluation: the paper's tables and figures (§5.1-5.2) from one command.

``runespoor eval --config FILE --out DIR`` (module :mod:`runespoor.evaluation.cli`) runs
methods x scales x JPEG qualities over a data set, caches per-frame results, and writes
``report.md``, ``report.json`` and PNG figures.  The config's ``task`` picks segmentation
(Cityscapes layout; :mod:`.segmentation`, :mod:`.report`, :mod:`.figures`: paper Tables 2-5)
or detection (VisDrone-DET layout; :mod:`.detection`, :mod:`.det_report`,
:mod:`.det_figures`: Table 6, Fig. 10); both share the engine (:mod:`.engine`: run planning,
codec, reconstruction, PSNR/SSIM) and the cache (:mod:`.cache`).  :mod:`.paper` holds the
paper's published numbers for side-by-side comparison.
"""
