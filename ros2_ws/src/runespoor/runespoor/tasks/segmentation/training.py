# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Training data of the segmentation task (``runespoor train seg|sr|asr|cloudseg``).

A Cityscapes-layout root (:func:`cityscapes_data`), or ``--data random``: learnable blob
images with labels for smoke runs and tests (:func:`random_data`).
"""


def training_data(cfg):
    """Return ``(train, val, description)`` for ``cfg['task']`` on ``cfg['data']``."""
    if cfg['data'] == 'random':
        return random_data(cfg)
    return cityscapes_data(cfg)


def random_data(cfg):
    """Blob images with labels (seg), LR/HR patches (sr) or degraded frames (asr/cloudseg)."""
    from runespoor.training.data import DegradedFrames, RandomSegData, RandomSRData
    desc = {'source': 'random blobs (smoke test)'}
    if cfg['task'] == 'sr':
        return (RandomSRData(32, cfg['scale'], cfg['patch'] or 8, seed=cfg['seed']),
                DegradedFrames(RandomSegData(4, (64, 128), seed=99), cfg['scale'], 90),
                desc)
    size = tuple(cfg.get('crop') or (64, 128))
    train = RandomSegData(32, size, cfg['num_classes'], seed=cfg['seed'])
    val = RandomSegData(4, size, cfg['num_classes'], seed=99)
    if cfg['task'] == 'seg':
        return train, val, desc
    return (DegradedFrames(train, cfg['scale'], cfg['quality']),
            DegradedFrames(val, cfg['scale'], 90), desc)


def cityscapes_data(cfg):
    """
    Return datasets (:mod:`.datasets`, SR patches) on a Cityscapes-layout root.

    seg: random crops of the labelled train frames, whole val frames.  sr: LR/HR patch pairs
    (edge codec on whole frames) from the train frames *and* the unlabelled sequence frames, at
    a few JPEG qualities spanning ``quality``.  asr/cloudseg: labelled train frames (cropped if
    ``crop``) degraded per sample at a random quality in ``quality``.  Validation for SR tasks:
    whole val frames degraded at quality 75.
    """
    from torch.utils.data import ConcatDataset

    from runespoor.data.cityscapes import CityscapesFrames, list_frames, list_sequences
    from runespoor.data.sr_patches import SRPatchDataset
    from .datasets import SegCropDataset
    from runespoor.training.data import DegradedFrames, image_area, sr_qualities
    root, task = cfg['data'], cfg['task']
    train = CityscapesFrames.from_root(root, 'train')
    val = CityscapesFrames.from_root(root, 'val')
    crop = cfg.get('crop')
    crop_wh = None if not crop else (int(crop[1]), int(crop[0]))
    desc = {'source': 'cityscapes layout', 'train_frames': len(train),
            'val_frames': len(val)}
    if task == 'seg':
        return SegCropDataset(train, crop=crop_wh), SegCropDataset(val, flips=False), desc
    val_set = DegradedFrames(SegCropDataset(val, flips=False), cfg['scale'], 75)
    if task == 'sr':
        seen = {f.image_path for f in train.frames}
        frames = list(train.frames)
        for seq in list_sequences(root, 'train'):
            frames += [f for f in seq.frames if f.image_path not in seen]
            seen.update(f.image_path for f in seq.frames)
        qualities = sr_qualities(cfg['quality'])
        parts = [SRPatchDataset(CityscapesFrames(frames), cfg['scale'], q,
                                lr_patch=cfg['patch']) for q in qualities]
        desc.update(sr_frames=len(frames), qualities=qualities, lr_patch=cfg['patch'])
        return ConcatDataset(parts), val_set, desc
    desc.update(quality=list(cfg['quality']), crop=crop)
    if crop:
        frame = list_frames(root, 'train')[0]
        desc['frame_area'] = image_area(frame.image_path)
    return (DegradedFrames(SegCropDataset(train, crop=crop_wh), cfg['scale'], cfg['quality']),
            val_set, desc)
