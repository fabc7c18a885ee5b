"""Tests of the torch datasets: SR patch pairs, segmentation crops, evaluation frames."""

import pytest
from runespoor import codec
from runespoor.data import cityscapes as cs
from runespoor.data import synth
from runespoor.data.sr_patches import SRPatchDataset
from runespoor.tasks.segmentation.datasets import EvalFrames, SegCropDataset
from runespoor.tensors import bgr_to_tensor
import torch


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp('synth')
    synth.generate(r, size=(256, 128), seed=0, n_train=2, n_val=1, n_sequences=1,
                   clip_frames=0, n_clips=0)
    return str(r)


@pytest.mark.parametrize('scale', [2, 4])
def test_sr_pairs_come_from_the_edge_codec(root, scale):
    frames = cs.CityscapesFrames.from_root(root, 'train')
    ds = SRPatchDataset(frames, scale=scale, quality=60, lr_patch=16, flips=False, samples=5)
    assert len(ds) == 5
    torch.manual_seed(0)
    lr, hr = ds[0]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 16 * scale, 16 * scale)
    assert lr.dtype == torch.float32 and 0 <= lr.min() and lr.max() <= 1
    full_lr = bgr_to_tensor(codec.degrade(frames[0]['image'], scale, 60), batch=False)
    full_hr = bgr_to_tensor(frames[0]['image'], batch=False)
    # the patch is a crop of the whole degraded frame at the matching position
    hits = [(y, x) for y in range(full_lr.shape[1] - 15) for x in range(full_lr.shape[2] - 15)
            if torch.equal(full_lr[:, y:y + 16, x:x + 16], lr)]
    assert hits
    y, x = hits[0]
    assert torch.equal(full_hr[:, y * scale:(y + 16) * scale, x * scale:(x + 16) * scale], hr)


def test_sr_on_unlabelled_sequence_frames(root):
    seq = cs.list_sequences(root, 'train')[0]
    ds = SRPatchDataset(seq.image_paths, scale=4, quality=40, lr_patch=8, cache=2)
    for k in range(6):
        lr, hr = ds[k]
        assert lr.shape == (3, 8, 8) and hr.shape == (3, 32, 32)
    assert len(ds._cache.data) <= 2
    with pytest.raises(ValueError):
        SRPatchDataset(seq.image_paths, scale=8, quality=40, lr_patch=64)[0]


def test_seg_crops_and_eval(root):
    frames = cs.CityscapesFrames.from_root(root, 'train')
    seg = SegCropDataset(frames, crop=(64, 32))
    img, lab = seg[1]
    assert img.shape == (3, 32, 64) and lab.shape == (32, 64) and lab.dtype == torch.int64
    ev = EvalFrames(cs.CityscapesFrames.from_sequence(cs.list_sequences(root, 'train')[0]))
    batch = torch.utils.data.default_collate([ev[18], ev[19]])
    assert batch['image'].shape == (2, 3, 128, 256)
    assert batch['has_label'].tolist() == [False, True]
    assert (batch['label'][0] == 255).all()
    with pytest.raises(ValueError):
        SegCropDataset(ev.frames)
