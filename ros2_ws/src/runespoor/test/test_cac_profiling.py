# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Tail-aware offline profiling with a tiny fake analytics model; outputs load on the edge."""

import json
import os

import cv2
import numpy as np
import pytest

from runespoor.cac import profiling
from runespoor.cac.profiling import (analyse_measurements, measure, Measurements, profile,
                                     ProfileSettings, ProfilingError, tail_frames, target_kbps)
from runespoor.edge_control import ProfileTable

W, H = 64, 32
COLOURS = {0: (128, 64, 128), 5: (0, 220, 220), 10: (180, 130, 70)}  # road, pole, sky (BGR)


def make_frame(i):
    """Sky over road with ``i % 5`` small poles; returns (BGR image, train-id label)."""
    label = np.zeros((H, W), np.uint8)
    label[:H // 2] = 10
    for k in range(i % 5):
        x = 4 + 12 * k
        label[10:22, x:x + 4] = 5
    image = np.zeros((H, W, 3), np.uint8)
    for cls, colour in COLOURS.items():
        image[label == cls] = colour
    return image, label


def fake_analyse(lr_bgr, scale, size=None):
    """Nearest-colour classifier on the bilinearly upsampled frame."""
    h, w = size if size is not None else (lr_bgr.shape[0] * scale, lr_bgr.shape[1] * scale)
    up = cv2.resize(lr_bgr, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    ids = np.array(list(COLOURS), np.uint8)
    pal = np.array([COLOURS[c] for c in ids], np.float32)
    dist = ((up[:, :, None, :] - pal[None, None]) ** 2).sum(-1)
    return ids[dist.argmin(-1)]


def frames(n=10):
    for i in range(n):
        image, label = make_frame(i)
        yield f'f{i:02d}', image, label


SETTINGS = {'scales': (2, 4), 'qualities': (50, 90), 'bandwidths_mbit': (20, 60, 200),
            'fps': 10.0, 'reference_size': None, 'small_region_fraction': 0.02}


def test_measure_shapes_and_values():
    meas = measure(frames(), fake_analyse, ProfileSettings(**SETTINGS))
    assert meas.configs == [(2, 50), (2, 90), (4, 50), (4, 90)]
    assert meas.nbytes.shape == meas.accuracy.shape == meas.ratio.shape == (4, 10)
    assert (meas.nbytes[1] > meas.nbytes[0]).all()      # q90 costs more than q50
    assert (meas.nbytes[0] > meas.nbytes[2]).all()      # x2 costs more than x4
    assert np.nanmax(meas.accuracy) <= 1.0 and np.nanmin(meas.accuracy) >= 0.0
    assert meas.ratio[0, 0] == 0.0 and meas.ratio[0, 1] > 0.0  # frame 1 has a pole
    assert meas.source_size == (W, H)
    back = Measurements.from_json(json.loads(json.dumps(meas.to_json())))
    np.testing.assert_allclose(back.accuracy, meas.accuracy)
    assert back.configs == meas.configs


def test_analyse_callable_without_size_is_resized():
    calls = []

    def analyse(lr, scale):
        calls.append(scale)
        return np.zeros((5, 7), np.uint8)  # wrong size on purpose: resized (nearest)

    meas = measure(frames(2), analyse, ProfileSettings(**SETTINGS))
    assert calls.count(1) == 2  # HR once per frame (labels exist)
    assert meas.accuracy.shape == (4, 2)


def test_reference_hr_scores_against_the_hr_prediction():
    settings = ProfileSettings(**{**SETTINGS, 'reference': 'hr'})
    meas = measure(frames(4), fake_analyse, settings)
    # at x2 q90 the fake model recovers the HR prediction almost exactly
    assert np.nanmin(meas.accuracy[1]) > 0.6
    with pytest.raises(ProfilingError):
        measure([('x', make_frame(0)[0], None)], fake_analyse, ProfileSettings(**SETTINGS))


def test_profile_writes_loadable_yaml_json_and_plots(tmp_path):
    settings = ProfileSettings(**SETTINGS)
    meas, summary, paths = profile(frames(), fake_analyse, settings, str(tmp_path))
    for kind in ('profile', 'measurements', 'summary', 'pareto', 'threshold_plot'):
        assert os.path.getsize(paths[kind]) > 0
    table = ProfileTable.load(paths['profile'])
    assert table.source_pixels == W * H
    assert all(e.tail.tail_specific for e in table.entries)
    import yaml
    with open(paths['profile']) as f:
        doc = yaml.safe_load(f)['profile']
    assert doc['tail_detection']['direction'] in ('below', 'above')
    assert doc['tail_detection']['recall'] >= 0.9
    assert len(summary['tail_frames']) == 1            # ceil(0.1 * 10)
    assert summary['tail_mask'] == tail_frames(meas).tolist()
    assert set(summary['threshold']['scales']) == {2, 4}
    assert [s['nominal_mbit'] for s in summary['selections']] == [20.0, 60.0, 200.0]
    with open(paths['measurements']) as f:
        assert len(json.load(f)['configs']) == 4


def test_targets_scale_with_pixels():
    s = ProfileSettings(bandwidths_mbit=(10,))
    assert target_kbps(s, (512, 256)) == [(10.0, pytest.approx(625.0))]
    s = ProfileSettings(bandwidths_mbit=(10,), reference_size=None)
    assert target_kbps(s, (512, 256)) == [(10.0, 10000.0)]


def test_bad_settings_and_mixed_sizes_are_refused():
    with pytest.raises(ProfilingError):
        ProfileSettings(scales=(3,)).check()
    with pytest.raises(ProfilingError):
        ProfileSettings(reference='oracle').check()
    big = np.zeros((64, 128, 3), np.uint8)
    mixed = [('a',) + make_frame(0), ('b', big, np.zeros((64, 128), np.uint8))]
    with pytest.raises(ProfilingError):
        measure(mixed, fake_analyse, ProfileSettings(**SETTINGS))


def test_summary_without_plots(tmp_path):
    settings = ProfileSettings(**SETTINGS)
    meas = measure(frames(), fake_analyse, settings)
    summary = analyse_measurements(meas, settings)
    paths = profiling.write_outputs(meas, summary, settings, str(tmp_path), plots=False)
    assert 'pareto' not in paths
    assert summary['tail_config_shape']['rows'] == len(summary['rows'])


def test_features_label_accuracy_and_cache_resume(tmp_path):
    from runespoor.tail_features import AnalysisOutput, map_features
    calls = []

    def with_features(lr_bgr, scale, size=None):
        calls.append(scale)
        labels = fake_analyse(lr_bgr, scale, size)
        f = map_features(labels, 19, 0.02)
        return AnalysisOutput(labels, np.array([f['small_region_ratio'], f['boundary_share']]))

    settings = ProfileSettings(**dict(SETTINGS, reference='hr'))
    cache = str(tmp_path / 'cache')
    meas = measure(frames(4), with_features, settings, cache_dir=cache,
                   feature_names=('small_region_ratio', 'boundary_share'))
    assert meas.features.shape == (4, 4, 2)  # configs x frames x features
    np.testing.assert_allclose(meas.features[:, :, 0], meas.ratio)
    assert meas.accuracy_label.shape == (4, 4)  # label accuracy kept beside the HR one
    first = len(calls)
    again = measure(frames(4), with_features, settings, cache_dir=cache,
                    feature_names=('small_region_ratio', 'boundary_share'))
    assert len(calls) == first  # every frame came from the cache
    np.testing.assert_allclose(again.accuracy, meas.accuracy)
    back = Measurements.from_json(json.loads(json.dumps(meas.to_json())))
    np.testing.assert_allclose(back.features, meas.features, atol=1e-6)
    assert back.feature_names == ('small_region_ratio', 'boundary_share')
    np.testing.assert_allclose(back.accuracy_label, meas.accuracy_label)
    other = ProfileSettings(**dict(SETTINGS, reference='hr', qualities=(40, 90)))
    measure(frames(1), with_features, other, cache_dir=cache)
    assert len(calls) > first  # other settings: not reused
    sub = meas.subset([True, False, True, False])
    assert sub.frames == ['f00', 'f02'] and sub.features.shape == (4, 2, 2)
