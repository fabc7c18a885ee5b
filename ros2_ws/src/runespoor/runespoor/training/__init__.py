"""
Training: base SR, segmentation, ASR / CloudSeg fine-tuning, validation.

The functions take models and torch ``DataLoader``s; the ``runespoor train`` command
(:mod:`runespoor.training.cli`) builds them from a config and the data sets.
"""

from .loop import fit, seed_everything
from .runs import finetune_sr, train_seg, train_sr
from .validate import evaluate_seg, evaluate_sr, psnr_batch

__all__ = ['evaluate_seg', 'evaluate_sr', 'psnr_batch', 'fit',
           'seed_everything', 'finetune_sr', 'train_seg', 'train_sr']
