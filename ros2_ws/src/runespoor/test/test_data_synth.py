"""Tests of the synthetic street-scene generator and its statistics."""

import os

import numpy as np
import pytest

from runespoor.data import stats, synth
from runespoor.data.scene import ID, make_scene
from runespoor.labels import label_ids_to_train_ids


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith('.png'):
                p = os.path.join(d, n)
                with open(p, 'rb') as fh:
                    out[os.path.relpath(p, root)] = fh.read()
    return out


def test_generate_layout_and_determinism(tmp_path):
    kw = {'size': (128, 64), 'seed': 3, 'n_train': 2, 'n_val': 1, 'n_sequences': 1,
          'clip_frames': 5}
    s = synth.generate(tmp_path / 'a', **kw)
    synth.generate(tmp_path / 'b', **kw)
    a, b = _files(tmp_path / 'a'), _files(tmp_path / 'b')
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert s['frames_rendered'] == 2 + 1 + 2 * 29 + 5 and s['render_fps'] > 0
    assert 'leftImg8bit/train/ashbury/ashbury_000000_000019_leftImg8bit.png' in a
    for kind in ('labelIds', 'labelTrainIds', 'color'):
        assert f'gtFine/val/dunmore/dunmore_000000_000019_gtFine_{kind}.png' in a
    seq = [k for k in a if k.startswith('leftImg8bit_sequence/train/ashbury/ashbury_000000_')]
    assert len(seq) == 30
    assert 'gtFine/demoVideo/elmstead_00/elmstead_00_000000_000004_gtFine_labelIds.png' in a
    assert (tmp_path / 'a' / 'synth_meta.json').is_file()
    c = _files(synth.generate(tmp_path / 'c', **dict(kw, seed=4)) and tmp_path / 'c')
    assert any(a[k] != c[k] for k in a)


def test_same_scene_at_every_size():
    scene = make_scene(np.random.default_rng(0), 30)
    _, small = scene.render(19, (128, 64))
    _, big = scene.render(19, (512, 256))
    # nearest-downsampled big labels agree with the small render on most pixels
    agree = (big[2::4, 2::4] == small).mean()
    assert agree > 0.85


def test_scene_has_street_classes_and_consecutive_frames_correlate():
    scene = make_scene(np.random.default_rng(1), 30)
    img0, lab0 = scene.render(0, (256, 128))
    img1, lab1 = scene.render(1, (256, 128))
    assert img0.shape == (128, 256, 3) and lab0.shape == (128, 256)
    assert lab0.dtype == np.uint8 and img0.dtype == np.uint8
    present = set(np.unique(lab0))
    assert {ID['road'], ID['sky'], ID['ego vehicle']} <= present
    assert (lab0 == lab1).mean() > 0.6
    with pytest.raises(IndexError):
        scene.render(30, (256, 128))


def test_label_stats_and_small_regions():
    tid = np.full((100, 200), 0, np.uint8)
    tid[:10] = 255
    tid[50:52, 50:52] = 5            # a tiny pole component: 4 px = 0.02 % of the frame
    tid[60:80, 100:150] = 13         # a car: 1000 px = 5 %
    st = stats.label_stats([tid, tid])
    assert st['frames'] == 2 and abs(st['void_percent'] - 10.0) < 1e-9
    assert st['classes']['pole']['components_per_frame'] == 1
    assert abs(st['classes']['car']['median_component_percent'] - 5.0) < 1e-9
    assert abs(stats.small_region_share(tid, 0.05) - 0.02) < 1e-9
    assert 'pole' in stats.format_label_table(st)


def test_jpeg_sizes_and_reference_lookup():
    scene = make_scene(np.random.default_rng(2), 30)
    img, lab = scene.render(19, (256, 128))
    sizes = stats.jpeg_sizes([img], scales=(1, 2), qualities=(40, 90))
    assert sizes[(1, 90)] > sizes[(1, 40)] > sizes[(2, 40)] > 0
    assert stats.jpeg_reference_for(512, 1, 70) == stats.REFERENCE_JPEG_KB[(4, 70)]
    assert stats.jpeg_reference_for(512, 6, 70) is None
    assert label_ids_to_train_ids(lab).max() == 255


def test_parse_size():
    assert synth.parse_size('2048x1024') == (2048, 1024)
    assert synth.parse_size('quarter') == (512, 256)
    with pytest.raises(ValueError):
        synth.parse_size('big')
