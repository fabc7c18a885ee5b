# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""CAC config selection: standard / tail-specific configs per bandwidth, known answers."""

import numpy as np
import pytest

from runespoor.cac.selection import (best_within, budget_bytes, config_stats, kbps,
                                     pareto_front, profile_rows, select_profile)
from runespoor.edge_control import ProfileTable

# 10 frames, the last two are tail frames.  Per config: bytes per frame, accuracy on ordinary
# frames, accuracy on tail frames (every frame of a group gets the same value).
TABLE_SPEC = {
    (2, 90): (1000, 0.90, 0.50),
    (4, 90): (400, 0.85, 0.30),   # the best ordinary-frame config at 400 B
    (2, 40): (400, 0.80, 0.45),   # the best tail config at 400 B: finer scale, lower quality
    (8, 90): (100, 0.60, 0.10),
}
TAIL = np.array([False] * 8 + [True] * 2)


def make_table():
    table = {}
    for cfg, (nbytes, acc_std, acc_tail) in TABLE_SPEC.items():
        table[cfg] = {'bytes': np.full(10, float(nbytes)),
                      'accuracy': np.where(TAIL, acc_tail, acc_std)}
    return table


def test_rates_and_budgets():
    assert kbps(1000, 17) == pytest.approx(136.0)
    assert budget_bytes(136.0, 17) == pytest.approx(1000.0)
    with pytest.raises(ValueError):
        budget_bytes(100, 0)


def test_config_stats_split_by_tail():
    stats = {s.config: s for s in config_stats(make_table(), TAIL)}
    s = stats[(2, 40)]
    assert (s.n_standard, s.n_tail) == (8, 2)
    assert s.acc_standard == pytest.approx(0.80) and s.acc_tail == pytest.approx(0.45)
    assert s.acc_all == pytest.approx(0.8 * 0.8 + 0.2 * 0.45)
    assert s.bytes_tail == 400 and s.bytes_standard == 400


@pytest.mark.parametrize('budget,group,expect,fits', [
    (500, 'standard', (4, 90), True),
    (500, 'tail', (2, 40), True),
    (1000, 'standard', (2, 90), True),
    (1000, 'tail', (2, 90), True),
    (100, 'tail', (8, 90), True),
    (50, 'standard', (8, 90), False),   # nothing fits: the cheapest
])
def test_best_within_known_answers(budget, group, expect, fits):
    got, ok = best_within(config_stats(make_table(), TAIL), budget, group)
    assert got.config == expect and ok is fits


def test_best_within_tie_prefers_fewer_bytes():
    table = {(4, 90): {'bytes': np.full(2, 300.0), 'accuracy': np.full(2, 0.7)},
             (4, 50): {'bytes': np.full(2, 200.0), 'accuracy': np.full(2, 0.7)}}
    stats = config_stats(table, np.array([False, True]))
    assert best_within(stats, 500, 'standard')[0].config == (4, 50)


def test_select_profile_and_rows_load_in_profile_table(tmp_path):
    import yaml
    stats = config_stats(make_table(), TAIL)
    fps = 10.0
    targets = [kbps(b, fps) for b in (50, 150, 500, 700, 2000)]
    sels = select_profile(stats, targets, fps)
    pairs = [(s.standard.config, s.tail.config) for s in sels]
    assert pairs == [((8, 90), (8, 90)), ((8, 90), (8, 90)), ((4, 90), (2, 40)),
                     ((4, 90), (2, 40)), ((2, 90), (2, 90))]
    assert not sels[0].standard_fits and sels[1].standard_fits
    assert sels[2].need_kbps == pytest.approx(kbps(400, fps))
    rows = profile_rows(sels)
    assert [r['bandwidth_kbps'] for r in rows] == [8, 32, 80]
    assert rows[1]['standard'] == {'scale': 4, 'jpeg_quality': 90, 'frame_rate': 0}
    assert rows[1]['tail'] == {'scale': 2, 'jpeg_quality': 40, 'frame_rate': 0}
    path = tmp_path / 'p.yaml'
    path.write_text(yaml.safe_dump({'profile': {'name': 't', 'source_width': 64,
                                                'source_height': 32, 'entries': rows}}))
    table = ProfileTable.load(str(path))
    entry = table.lookup(40.0)
    assert (entry.standard.scale, entry.tail.scale, entry.tail.jpeg_quality) == (4, 2, 40)
    assert entry.tail.tail_specific


def test_pareto_front():
    costs = [1, 2, 2, 3, 4]
    values = [0.5, 0.4, 0.7, 0.7, 0.9]
    assert pareto_front(costs, values) == [0, 2, 4]


# Equal bytes: the tail config must cost about what the standard one costs on the same frames.
EQUAL_SPEC = {
    (4, 90): (1000, 0.85, 0.30),   # the standard config at a 1000 B budget
    (4, 70): (800, 0.83, 0.33),    # same scale, lower quality: cheaper, a little better on tail
    (2, 40): (1080, 0.80, 0.45),   # one level finer, lower quality: +8 % bytes, best on tail
    (2, 55): (1300, 0.84, 0.55),   # finer and better still, but +30 % bytes: too dear
    (8, 90): (300, 0.60, 0.10),
}


def _equal_table():
    return {cfg: {'bytes': np.full(10, float(b)), 'accuracy': np.where(TAIL, at, ast)}
            for cfg, (b, ast, at) in EQUAL_SPEC.items()}


def test_equal_bytes_tail_config_within_tolerance():
    from runespoor.cac.selection import equal_bytes_tail, tail_shape
    stats = config_stats(_equal_table(), TAIL)
    std = {s.config: s for s in stats}[(4, 90)]
    tail, shapes = equal_bytes_tail(stats, std, 0.10)
    assert tail.config == (2, 40)  # not (2, 55): 30 % dearer than the standard config
    assert tail_shape((4, 90), tail.config) == 'finer_lower_quality'
    assert set(shapes) == {'finer_lower_quality', 'same_scale', 'same', 'coarser',
                           'finer_level_cheapest'}
    assert shapes['finer_lower_quality']['bytes_ratio'] == pytest.approx(1.08)
    assert shapes['finer_level_cheapest']['within_tolerance']
    assert shapes['same_scale']['scale'] == 4 and shapes['same_scale']['jpeg_quality'] == 70
    tight, tight_shapes = equal_bytes_tail(stats, std, 0.05)
    assert tight.config == (4, 70)  # +8 % is outside a 5 % tolerance
    assert 'finer_lower_quality' not in tight_shapes
    assert not tight_shapes['finer_level_cheapest']['within_tolerance']
    loose, _ = equal_bytes_tail(stats, std, 0.5)
    assert loose.config == (2, 55)
    with pytest.raises(ValueError):
        equal_bytes_tail(stats, std, -0.1)


def test_select_profile_equal_bytes_reports_the_winning_shape():
    stats = config_stats(_equal_table(), TAIL)
    (sel,) = select_profile(stats, [kbps(1000, 17)], 17, bytes_tolerance=0.10)
    assert sel.standard.config == (4, 90) and sel.tail.config == (2, 40)
    assert sel.tail.bytes_all <= 1.10 * sel.standard.bytes_all
    rep = sel.as_dict()['shape']
    assert rep['winner'] == 'finer_lower_quality'
    assert rep['margin_over_standard'] == pytest.approx(0.15)
    assert rep['margin_over_next_shape'] == pytest.approx(0.45 - 0.33)
    # the older rule (budget on tail frames only) is still there without a tolerance
    (old,) = select_profile(stats, [kbps(1000, 17)], 17)
    assert old.tail.config == (4, 70) and old.bytes_tolerance is None


def test_tail_shapes():
    from runespoor.cac.selection import finer_level, tail_shape
    assert finer_level(4) == 2 and finer_level(8) == 6 and finer_level(1) is None
    assert tail_shape((4, 90), (4, 90)) == 'same'
    assert tail_shape((4, 90), (4, 60)) == 'same_scale'
    assert tail_shape((4, 90), (2, 40)) == 'finer_lower_quality'
    assert tail_shape((4, 60), (2, 90)) == 'finer'
    assert tail_shape((8, 90), (4, 40)) == 'finer'
    assert tail_shape((4, 40), (6, 90)) == 'coarser'
