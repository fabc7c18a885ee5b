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
