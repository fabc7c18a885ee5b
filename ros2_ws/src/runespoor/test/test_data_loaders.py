"""Tests of the Cityscapes and VisDrone loaders on hand-built real-layout folders."""

import os

import cv2
import numpy as np
import pytest

from runespoor.data import cityscapes as cs
from runespoor.data import synth, visdrone


def _write(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), arr)


@pytest.fixture
def real_root(tmp_path):
    """Build a miniature copy of the real Cityscapes layout (names as published)."""
    root = tmp_path / 'cityscapes'
    img = np.random.default_rng(0).integers(0, 255, (8, 16, 3), dtype=np.uint8)
    ids = np.full((8, 16), 7, np.uint8)
    ids[0] = 23
    ids[1, :4] = 1            # ego vehicle -> ignore
    ids[2, :2] = 33           # bicycle
    for city, seq in (('aachen', 0), ('aachen', 1), ('bad-honnef', 3)):
        stem = f'{city}_{seq:06d}_000019'
        _write(root / 'leftImg8bit' / 'train' / city / f'{stem}_leftImg8bit.png', img)
        _write(root / 'gtFine' / 'train' / city / f'{stem}_gtFine_labelIds.png', ids)
        for fr in (17, 18, 19, 20):
            _write(root / 'leftImg8bit_sequence' / 'train' / city /
                   f'{city}_{seq:06d}_{fr:06d}_leftImg8bit.png', img + fr)
    for fr in (1, 2, 3):
        _write(root / 'leftImg8bit' / 'demoVideo' / 'stuttgart_00' /
               f'stuttgart_00_000000_{fr:06d}_leftImg8bit.png', img)
    return root


def test_real_layout_frames_and_labels(real_root):
    ds = cs.CityscapesFrames.from_root(str(real_root), 'train')
    assert len(ds) == 3
    item = ds[0]
    assert item['city'] == 'aachen' and item['seq'] == 0 and item['frame'] == 19
    assert item['image'].shape == (8, 16, 3) and item['label'].dtype == np.uint8
    lab = item['label']
    assert lab[0, 0] == 10 and lab[1, 0] == 255 and lab[2, 0] == 18 and lab[5, 5] == 0
    assert ds[2]['city'] == 'bad-honnef'


def test_real_layout_sequences(real_root):
    seqs = cs.list_sequences(str(real_root), 'train')
    assert [(s.city, s.seq) for s in seqs] == [('aachen', 0), ('aachen', 1), ('bad-honnef', 3)]
    s = seqs[0]
    assert [f.frame for f in s.frames] == [17, 18, 19, 20] and s.labelled == [2]
    frames = cs.CityscapesFrames.from_sequence(s)
    assert frames[0]['label'] is None and frames[2]['label'] is not None
    demo = cs.list_sequences(str(real_root), 'demoVideo')
    assert len(demo) == 1 and demo[0].city == 'stuttgart_00' and len(demo[0]) == 3
    with pytest.raises(FileNotFoundError):
        cs.list_frames(str(real_root), 'demoVideo')          # no labels there
    assert len(cs.list_frames(str(real_root), 'demoVideo', require_labels=False)) == 3


def test_synthetic_root_reads_like_real(tmp_path):
    synth.generate(tmp_path, size=(128, 64), seed=1, n_train=3, n_val=1, n_sequences=1,
                   clip_frames=4)
    train = cs.CityscapesFrames.from_root(str(tmp_path), 'train')
    assert len(train) == 3 and train[0]['label'].shape == (64, 128)
    seqs = cs.list_sequences(str(tmp_path), 'train')
    assert len(seqs) == 1 and len(seqs[0]) == 30 and seqs[0].labelled == [19]
    clip = cs.list_sequences(str(tmp_path), 'demoVideo')[0]
    assert len(clip) == 4 and clip.labelled == [0, 1, 2, 3]


def test_bad_input_names_the_path(real_root):
    missing = str(real_root / 'nope.png')
    with pytest.raises(FileNotFoundError, match='nope.png'):
        cs.read_image(missing)
    # a label of the wrong size
    bad = real_root / 'gtFine' / 'train' / 'aachen' / 'aachen_000000_000019_gtFine_labelIds.png'
    _write(bad, np.zeros((4, 4), np.uint8))
    ds = cs.CityscapesFrames.from_root(str(real_root), 'train')
    with pytest.raises(ValueError, match='aachen_000000_000019_gtFine_labelIds.png'):
        ds[0]
    # an image outside a city folder
    _write(real_root / 'leftImg8bit' / 'val' / 'x_000000_000019_leftImg8bit.png',
           np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(cs.LayoutError, match='x_000000_000019'):
        cs.list_frames(str(real_root), 'val')
    # a file name that is not Cityscapes
    _write(real_root / 'leftImg8bit' / 'test' / 'berlin' / 'frame1.png',
           np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(cs.LayoutError, match='frame1.png'):
        cs.list_frames(str(real_root), 'test', require_labels=False)
    with pytest.raises(FileNotFoundError, match='leftImg8bit'):
        cs.list_frames(str(real_root), 'nosplit')


def test_visdrone(tmp_path):
    root = tmp_path / 'VisDrone2019-DET-val'
    _write(root / 'images' / '0000001_00000_d_0000001.jpg', np.zeros((20, 30, 3), np.uint8))
    (root / 'annotations').mkdir()
    (root / 'annotations' / '0000001_00000_d_0000001.txt').write_text(
        '684,8,273,116,0,0,0,0\n406,119,265,70,1,4,0,1\n1,2,3,4,1,11,0,0\n5,6,7,8,1,10,1,2,\n')
    ds = visdrone.VisDroneDet(str(root))
    item = ds[0]
    ann = item['annotation']
    assert ann.labels.tolist() == [4, 10] and ann.boxes.shape == (2, 4)
    assert ann.ignore.shape == (2, 4) and ann.occlusion.tolist() == [1, 2]
    (root / 'annotations' / 'bad.txt').write_text('1,2,3\n')
    with pytest.raises(ValueError, match='bad.txt:1'):
        visdrone.read_annotation(str(root / 'annotations' / 'bad.txt'))
    _write(root / 'images' / 'orphan.jpg', np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match='orphan.txt'):
        visdrone.list_images(str(root))
