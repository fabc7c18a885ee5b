# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Training data of the detection task.

For ``runespoor train det|sr|asr|cloudseg --analytics detection``: a VisDrone-DET-layout root,
or ``--data random`` (random boxes).
"""

#: Split folders of the VisDrone-DET layout under a detection data root.
DRONE_SPLITS = {'train': 'VisDrone2019-DET-train', 'val': 'VisDrone2019-DET-val'}


def training_data(cfg):
    """
    Return datasets on a VisDrone-DET root (or random boxes) for the detection task.

    det: random crops of the train frames with flips, whole val frames.  sr: LR/HR patches of
    the train frames.  asr/cloudseg: whole train frames (or crops) degraded at a random quality
    in ``quality``, with their targets.  SR validation: whole val frames at quality 75.
    """
    import os

    from torch.utils.data import ConcatDataset

    from runespoor.data.sr_patches import SRPatchDataset
    from .datasets import DetCropDataset, DetFrames, RandomDetData, sr_frames
    from runespoor.training.data import DegradedFrames, sr_qualities
    task, root = cfg['task'], cfg['data']
    crop = cfg.get('crop')
    crop_wh = None if not crop else (int(crop[1]), int(crop[0]))
    if root == 'random':
        desc = {'source': 'random boxes (smoke test)'}
        train = RandomDetData(16, (64, 96), seed=cfg['seed'])
        val = RandomDetData(4, (64, 96), seed=99)
        if task == 'det':  # whole 96x64 frames: the default crop does not fit
            return DetCropDataset(train, None), val, desc
        if task == 'sr':
            from runespoor.training.data import RandomSRData
            return (RandomSRData(32, cfg['scale'], cfg['patch'] or 8, seed=cfg['seed']),
                    DegradedFrames(val, cfg['scale'], 90), desc)
        return (DegradedFrames(train, cfg['scale'], cfg['quality']),
                DegradedFrames(val, cfg['scale'], 90), desc)
    dirs = {k: os.path.join(root, v) for k, v in DRONE_SPLITS.items()}
    for split, path in dirs.items():
        if not os.path.isdir(path):
            raise ValueError(f'{path}: folder not found (detection data root needs '
                             f'{DRONE_SPLITS["train"]}/ and {DRONE_SPLITS["val"]}/; make one '
                             'with runespoor data drone --out ROOT)')
    train, val = DetFrames(dirs['train']), DetFrames(dirs['val'])
    desc = {'source': 'visdrone-det layout', 'train_frames': len(train),
            'val_frames': len(val)}
    if task == 'det':
        return DetCropDataset(train, crop_wh), val, desc
    val_set = DegradedFrames(val, cfg['scale'], 75)
    if task == 'sr':
        qualities = sr_qualities(cfg['quality'])
        frames = sr_frames(dirs['train'])
        parts = [SRPatchDataset(frames, cfg['scale'], q, lr_patch=cfg['patch'])
                 for q in qualities]
        desc.update(sr_frames=len(frames), qualities=qualities, lr_patch=cfg['patch'])
        return ConcatDataset(parts), val_set, desc
    desc.update(quality=list(cfg['quality']), crop=crop)
    if crop:
        h, w = train[0][0].shape[-2:]
        desc['frame_area'] = int(h * w)
    return (DegradedFrames(DetCropDataset(train, crop_wh), cfg['scale'], cfg['quality']),
            val_set, desc)
