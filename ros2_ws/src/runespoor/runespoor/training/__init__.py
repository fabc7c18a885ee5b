"""
Training: base SR, segmentation, ASR / CloudSeg fine-tuning, validation.

:mod:`.runs` (``train_sr``, ``train_seg``, ``train_det``, ``finetune_sr``), :mod:`.loop` (the
step loop), :mod:`.validate` (validation during training), :mod:`.data` (training data).  The
functions take models and torch ``DataLoader``s; the ``runespoor train`` command
(:mod:`runespoor.training.cli`) builds them from a config and the data sets.

Nothing is imported here, so a task importing :mod:`.validate` (its ``finetune_validate``)
does not run :mod:`.runs`, which asks the tasks registry (no import cycle).
"""
