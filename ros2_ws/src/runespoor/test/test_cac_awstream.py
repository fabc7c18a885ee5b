# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""AWStream-style baseline: bandwidth-driven choice with periodic online re-profiling."""

import numpy as np
import pytest

from runespoor.cac.awstream import AWStreamController, Candidate, make_measure
from runespoor.cac.selection import ConfigStats
from runespoor.edge_control import Knobs, MODE_STANDARD, ProfileEntry, ProfileTable

CHEAP = Knobs(8, 50)
MID = Knobs(4, 70)
RICH = Knobs(2, 90)


def candidates():
    return [Candidate(CHEAP, 500.0, 0.5), Candidate(MID, 2000.0, 0.7),
            Candidate(RICH, 8000.0, 0.9)]


def test_picks_by_bandwidth():
    ctl = AWStreamController(candidates(), source_pixels=2048 * 1024, period_s=0)
    assert ctl.on_frame(0.0).knobs == CHEAP          # unknown bandwidth: cheapest
    for bw, want in ((10000, RICH), (5000, MID), (2000, MID), (1999, CHEAP), (100, CHEAP)):
        ctl.on_bandwidth(bw)
        d = ctl.on_frame(1.0)
        assert d.knobs == want and d.mode == MODE_STANDARD and d.send
        assert d.bandwidth_kbps == bw
    # a camera with a quarter of the pixels needs a quarter of the rate
    ctl.on_bandwidth(2000)
    assert ctl.on_frame(2.0, source_pixels=512 * 1024).knobs == RICH


def test_reprofiles_every_period_and_follows_the_measurement():
    calls = []

    def measure(frame, knobs_list):
        calls.append(len(knobs_list))
        # the scene changed: the cheap config is now as good as the rich one
        return [0.95, 0.8, 0.95]

    ctl = AWStreamController(candidates(), 2048 * 1024, period_s=10.0, measure=measure,
                             bandwidth_kbps=9000)
    frame = np.zeros((8, 8, 3), np.uint8)
    chosen = []
    for i in range(int(35 * 17)):  # 35 s at 17 fps
        chosen.append((i / 17.0, ctl.on_frame(i / 17.0, frame).knobs))
    assert ctl.profiles == 3 and calls == [3, 3, 3]  # at ~10, 20, 30 s
    assert [round(t) for t, _ in ctl.profile_log] == [10, 20, 30]
    before = [k for t, k in chosen if t < 10.0 - 1e-9]
    after = [k for t, k in chosen if t >= 10.0 + 0.1]
    assert set(before) == {RICH}
    assert set(after) == {CHEAP}   # same accuracy, fewer bytes


def test_no_frame_no_reprofile_and_smoothing():
    def measure(frame, knobs_list):
        return [0.0, 0.0, 0.0]

    ctl = AWStreamController(candidates(), 100, period_s=1.0, measure=measure, smoothing=0.5)
    for i in range(30):
        ctl.on_frame(i * 0.1)  # no frame given: nothing to profile with
    assert ctl.profiles == 0
    ctl.on_frame(3.0, np.zeros((4, 4, 3), np.uint8))
    assert ctl.profiles == 1
    assert ctl.candidates[2].accuracy == pytest.approx(0.45)


def test_from_profile_matches_table_lookup_and_from_stats():
    table = ProfileTable([ProfileEntry(500, CHEAP, CHEAP), ProfileEntry(2000, MID, RICH),
                          ProfileEntry(8000, RICH, RICH)], source_width=512, source_height=256)
    ctl = AWStreamController.from_profile(table, period_s=0)
    for bw in (100, 600, 2500, 9000):
        ctl.on_bandwidth(bw)
        assert ctl.on_frame(0.0).knobs == table.lookup(bw).standard
    stats = [ConfigStats(4, 70, 100, 100, 100, 0.7, 0.4, 0.67, 9, 1),
             ConfigStats(2, 90, 400, 400, 400, 0.9, 0.5, 0.86, 9, 1)]
    ctl = AWStreamController.from_stats(stats, fps=10, source_width=64, source_height=32,
                                        bandwidth_kbps=40)
    assert ctl.on_frame(0.0).knobs == Knobs(2, 90)  # 400 B at 10 fps = 32 kbit/s fits 40
    ctl.on_bandwidth(31)
    assert ctl.on_frame(0.1).knobs == Knobs(4, 70)  # 100 B = 8 kbit/s
    assert ctl.current.kbps == pytest.approx(8.0) and ctl.current.accuracy == 0.67


def test_make_measure_scores_against_hr():
    def analyse(image, scale):
        return (image[:, :, 0] > 100).astype(np.uint8)

    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, 32:] = 200
    accs = make_measure(analyse)(frame, [Knobs(2, 90), Knobs(8, 40)])
    assert accs[0] == pytest.approx(1.0)
    assert 0.0 <= accs[1] <= 1.0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        AWStreamController([], 100)
    with pytest.raises(ValueError):
        AWStreamController(candidates(), 100, smoothing=0)
    ctl = AWStreamController(candidates(), 100)
    with pytest.raises(ValueError):
        ctl.on_bandwidth(-1)
