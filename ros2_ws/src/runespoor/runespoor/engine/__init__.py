"""
Training engine: base SR, segmentation, ASR / CloudSeg fine-tuning, validation.

The functions take models and torch ``DataLoader``s; the ``runespoor train`` command
(:mod:`runespoor.engine.cli`) builds them from a config and the data sets.
"""

from .evaluate import evaluate_seg, evaluate_sr, psnr_batch
from .loop import fit, resolve_device, seed_everything
from .tasks import finetune_sr, train_seg, train_sr

__all__ = ['evaluate_seg', 'evaluate_sr', 'psnr_batch', 'fit', 'resolve_device',
           'seed_everything', 'finetune_sr', 'train_seg', 'train_sr']
