# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Tests of the procedural drone-view generator (VisDrone2019-DET layout)."""

import os

import numpy as np
import pytest

from runespoor.data import drone
from runespoor.data.visdrone import CATEGORIES, VisDroneDet

SMALL = (320, 180)


@pytest.fixture(scope='module')
def scene():
    return drone.make_scene(0, 'val', 0, 12)


def _same_ann(a, b):
    return all(np.array_equal(getattr(a, k), getattr(b, k))
               for k in ('boxes', 'categories', 'truncation', 'occlusion', 'ignore'))


def test_deterministic_by_seed(scene):
    img, ann = scene.render(3, SMALL)
    img2, ann2 = drone.make_scene(0, 'val', 0, 12).render(3, SMALL)
    assert np.array_equal(img, img2) and _same_ann(ann, ann2)
    img3, ann3 = drone.make_scene(1, 'val', 0, 12).render(3, SMALL)
    assert not np.array_equal(img, img3)
    assert len(ann.boxes) > 10


def test_same_content_at_two_sizes(scene):
    _, small = scene.render(5, SMALL)
    img, big = scene.render(5, (640, 360))
    assert img.shape == (360, 640, 3)
    assert np.array_equal(small.categories, big.categories)
    assert np.array_equal(small.truncation, big.truncation)
    assert np.array_equal(small.occlusion, big.occlusion)
    assert len(small.ignore) == len(big.ignore)
    assert np.abs(2 * small.boxes - big.boxes).max() <= 2
    if len(small.ignore):
        assert np.abs(2 * small.ignore - big.ignore).max() <= 2


def test_boxes_inside_frame_and_flags_valid(scene):
    w, h = SMALL
    for t in (0, 6, 11):
        _, ann = scene.render(t, SMALL)
        for b in (ann.boxes, ann.ignore):
            assert np.all(b[:, :2] >= 0) and np.all(b[:, 2:] >= 1)
            assert np.all(b[:, 0] + b[:, 2] <= w) and np.all(b[:, 1] + b[:, 3] <= h)
        assert set(ann.categories.tolist()) <= set(CATEGORIES) | {drone.OTHERS}
        assert set(ann.truncation.tolist()) <= {0, 1}
        assert set(ann.occlusion.tolist()) <= {0, 1, 2}


def test_all_classes_and_flags_appear():
    cats, trunc, occ = set(), set(), set()
    for k in range(4):
        sc = drone.make_scene(0, 'train', k, 4)
        for t in (0, 3):
            _, ann = sc.render(t, SMALL)
            cats |= set(ann.categories.tolist())
            trunc |= set(ann.truncation.tolist())
            occ |= set(ann.occlusion.tolist())
    assert set(CATEGORIES) <= cats, sorted(set(CATEGORIES) - cats)
    assert trunc == {0, 1} and occ == {0, 1, 2}


def test_consecutive_frames_are_a_video(scene):
    frames = [scene.render(t, SMALL)[0].astype(np.float32) for t in range(3)]
    other = drone.make_scene(0, 'val', 1, 12).render(0, SMALL)[0].astype(np.float32)
    step = max(np.abs(frames[i + 1] - frames[i]).mean() for i in range(2))
    assert step < 0.3 * np.abs(frames[0] - other).mean()
    # and things move: the objects' positions change between frames
    moved = np.hypot(*(scene.object_positions(1) - scene.object_positions(0)).T)
    assert (moved > 0.05).sum() > 5


def test_generate_round_trip_through_loader(tmp_path):
    s = drone.generate(tmp_path, size=SMALL, seed=2, n_train=4, n_val=3, clip_frames=3,
                       train_clip_frames=2, train_stride=3)
    assert s['frames'] == 7 and s['render_fps'] > 0
    val = VisDroneDet(tmp_path / 'VisDrone2019-DET-val')
    names = [os.path.basename(p) for p, _ in val.items]
    assert names == ['uav0001_0000001.jpg', 'uav0001_0000002.jpg', 'uav0001_0000003.jpg']
    train = VisDroneDet(tmp_path / 'VisDrone2019-DET-train')
    assert [os.path.basename(p) for p, _ in train.items] == [
        'uav1001_0000001.jpg', 'uav1001_0000004.jpg', 'uav1002_0000001.jpg',
        'uav1002_0000004.jpg']
    sc = drone.make_scene(2, 'val', 0, 3)
    for t in range(3):
        img, ann = sc.render(t, SMALL)
        item = val[t]
        assert item['image'].shape == img.shape
        # JPEG quality 95: close to the rendered frame
        assert np.abs(item['image'].astype(np.float32) - img).mean() < 4
        got = item['annotation']
        scored = ann.categories != drone.OTHERS
        assert np.array_equal(got.boxes, ann.boxes[scored])
        assert np.array_equal(got.labels, ann.categories[scored])
        assert np.array_equal(got.truncation, ann.truncation[scored])
        assert np.array_equal(got.occlusion, ann.occlusion[scored])
        want_ign = np.concatenate([ann.boxes[~scored], ann.ignore])
        assert np.array_equal(got.ignore, want_ign)
    with open(tmp_path / 'VisDrone2019-DET-val' / 'annotations' / 'uav0001_0000001.txt') as fh:
        lines = [ln.split(',') for ln in fh.read().split()]
    assert all(len(v) == 8 for v in lines)
    assert all(v[4] == ('0' if v[5] == '0' else '1') for v in lines)


def drop_in_ignored(boxes, ignore, min_overlap=0.5):
    from runespoor.metrics.detection import drop_in_regions
    return drop_in_regions(boxes, ignore, min_overlap, union=False)


def test_drop_in_ignored():
    ign = np.array([[0, 0, 10, 10]])
    boxes = np.array([[0, 0, 4, 4],      # inside: dropped
                      [8, 0, 4, 4],      # half inside (not more than 50%): kept
                      [7, 0, 4, 4],      # 75% inside: dropped
                      [20, 20, 5, 5],    # outside: kept
                      [-5, -5, 10, 10]])  # 25% inside: kept
    assert drop_in_ignored(boxes, ign).tolist() == [False, True, False, True, True]
    assert drop_in_ignored(boxes, ign, min_overlap=0.2).tolist() == [
        False, False, False, True, False]
    assert drop_in_ignored(boxes, np.zeros((0, 4))).all()
    assert drop_in_ignored(np.zeros((0, 4)), ign).shape == (0,)


def test_generated_objects_avoid_ignore_regions(scene):
    _, ann = scene.render(0, (640, 360))
    scored = ann.categories != drone.OTHERS
    zones = ann.ignore
    assert drop_in_ignored(ann.boxes[scored], zones, 0.6).all()


def test_cli_writes_layout_and_stats(tmp_path, capsys):
    from runespoor.cli import main
    out = tmp_path / 'd'
    rc = main(['data', 'drone', '--out', str(out), '--size', '160x90', '--train', '2',
               '--val', '2', '--clip-frames', '2', '--train-clip-frames', '1'])
    assert rc == 0
    assert '"render_fps"' in capsys.readouterr().out
    for split in ('train', 'val'):
        root = out / f'VisDrone2019-DET-{split}'
        imgs = sorted(os.listdir(root / 'images'))
        anns = sorted(os.listdir(root / 'annotations'))
        assert len(imgs) == 2 and [a[:-4] for a in anns] == [i[:-4] for i in imgs]
        assert all(i.endswith('.jpg') for i in imgs)
    assert (out / 'drone_meta.json').is_file()
    rc = main(['data', 'drone-stats', '--root', str(out / 'VisDrone2019-DET-val')])
    assert rc == 0
    text = capsys.readouterr().out
    assert '| car |' in text and 'Reported for VisDrone' in text


def test_drone_stats_counts(tmp_path):
    drone.generate(tmp_path, size=SMALL, seed=0, n_train=0, n_val=2, clip_frames=2)
    st = drone.drone_stats(tmp_path / 'VisDrone2019-DET-val')
    _, a0 = drone.make_scene(0, 'val', 0, 2).render(0, SMALL)
    _, a1 = drone.make_scene(0, 'val', 0, 2).render(1, SMALL)
    n_scored = int((a0.categories != drone.OTHERS).sum() + (a1.categories != drone.OTHERS).sum())
    assert st['frames'] == 2 and st['classes']['all']['boxes'] == n_scored
    cars = np.concatenate([a0.boxes[a0.categories == 4], a1.boxes[a1.categories == 4]])
    if len(cars):
        assert st['classes']['car']['median_w'] == pytest.approx(np.median(cars[:, 2]))
    small = st['classes']['all']['small_share']
    assert 0.0 <= small <= 1.0
