# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Edge control: frame-rate gate, bandwidth estimate, profile lookup, policy on next frame."""

import os

import pytest

from runespoor.edge_control import (BandwidthEstimator, EdgeController, FrameRateGate, Knobs,
                                    MODE_STANDARD, MODE_TAIL, PolicyError, PolicyUpdate,
                                    ProfileError, ProfileTable, WindowedRate)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
DEFAULT_PROFILE = os.path.join(REPO, 'ros2_ws', 'src', 'runespoor_edge', 'config',
                               'profile_default.yaml')


def count_admitted(gate, fps_in, seconds, t0=0.0):
    n = int(round(fps_in * seconds))
    return sum(gate.admit(t0 + i / fps_in) for i in range(n))


@pytest.mark.parametrize('rate_out', [1.0, 5.0, 10.0, 17.0])
def test_gate_hits_target_rate_from_17fps(rate_out):
    gate = FrameRateGate(rate_out)
    got = count_admitted(gate, 17.0, 10.0)
    assert abs(got - rate_out * 10) <= 1


def test_gate_zero_admits_everything_and_faster_target_is_input_rate():
    assert count_admitted(FrameRateGate(0), 17.0, 2.0) == 34
    assert count_admitted(FrameRateGate(30.0), 17.0, 2.0) == 34


def test_gate_restarts_when_time_goes_backwards():
    gate = FrameRateGate(2.0)
    assert gate.admit(10.0)
    assert not gate.admit(10.1)
    assert gate.admit(0.0)  # looped bag: first frame of the new pass goes out


def test_gate_rejects_bad_rates():
    for bad in (-1.0, float('nan'), float('inf')):
        with pytest.raises(ValueError):
            FrameRateGate(bad)


def test_windowed_rate_constant_stream():
    rate = WindowedRate(window_s=1.0)
    for i in range(40):  # 20 fps of 1000 bytes = 160 kbit/s
        rate.add(i * 0.05, 1000)
    assert rate.kbps() == pytest.approx(160.0, rel=1e-6)
    assert len(rate) <= 21  # window bounds the memory
    assert rate.kbps(now=100.0) == 0.0


def test_bandwidth_estimator_probe_vs_queuing():
    est = BandwidthEstimator(window_s=1.0, probe_gain=1.5, queuing_threshold_ms=50)
    offset = 1000.0  # cloud clock ahead of edge clock: must cancel
    for i in range(20):
        t = i * 0.05
        assert est.add(i, 1000, t, t + offset + 0.010)
    assert est.throughput_kbps() == pytest.approx(160.0)
    assert est.queuing_delay_ms() == pytest.approx(0.0, abs=1e-6)
    assert est.estimate_kbps() == pytest.approx(240.0)  # not saturated: probe upwards
    for i in range(20, 30):  # delays grow: the link queues
        t = i * 0.05
        est.add(i, 1000, t, t + offset + 0.010 + (i - 19) * 0.02)
    assert est.queuing_delay_ms() > 50
    assert est.estimate_kbps() == pytest.approx(est.throughput_kbps())


def test_bandwidth_estimator_ignores_duplicates_and_garbage():
    est = BandwidthEstimator()
    assert est.add(5, 100, 0.0, 0.1)
    assert not est.add(5, 100, 0.0, 0.1)
    assert not est.add(3, 100, 0.0, 0.1)
    assert not est.add(6, -1, 0.0, 0.1)
    assert not est.add(7, 1, float('nan'), 0.1)
    assert est.rejected == 4 and est.estimate_kbps() == 0.0


def test_default_profile_file_loads_and_is_monotonic():
    table = ProfileTable.load(DEFAULT_PROFILE)
    assert len(table.entries) >= 4
    prev = None
    for e in table.entries:
        assert not e.standard.tail_specific and e.tail.tail_specific
        # paper §3.2: the tail-specific config is one resolution level higher
        assert e.tail.scale <= e.standard.scale
        if prev is not None:
            assert e.standard.scale <= prev.standard.scale
        prev = e


def test_profile_lookup_picks_richest_fitting_row():
    table = ProfileTable.from_dict({'profile': {'entries': [
        {'bandwidth_kbps': 1000, 'standard': {'scale': 8, 'jpeg_quality': 70},
         'tail': {'scale': 6, 'jpeg_quality': 40}},
        {'bandwidth_kbps': 4000, 'standard': {'scale': 4, 'jpeg_quality': 90},
         'tail': {'scale': 2, 'jpeg_quality': 40, 'frame_rate': 9}},
    ]}})
    assert table.lookup(500).standard.scale == 8  # nothing fits: poorest row
    assert table.lookup(3999).standard.scale == 8
    assert table.lookup(4000).standard.scale == 4
    assert table.lookup(4000).tail == Knobs(2, 40, 9.0, True)
    # a quarter-size camera needs a quarter of the bandwidth for the same row
    assert table.lookup(1000, source_pixels=512 * 512).standard.scale == 4


@pytest.mark.parametrize('entries,match', [
    ([], 'no entries'),
    ([{'bandwidth_kbps': 1, 'standard': {'scale': 3, 'jpeg_quality': 70}}], 'scale'),
    ([{'bandwidth_kbps': 1, 'standard': {'scale': 2, 'jpeg_quality': 0}}], 'jpeg_quality'),
    ([{'bandwidth_kbps': 1, 'standard': {'scale': 2, 'jpeg_quality': 50, 'fps': 3}}], 'unknown'),
    ([{'standard': {'scale': 2, 'jpeg_quality': 50}}], 'bandwidth_kbps'),
    ([{'bandwidth_kbps': 1, 'standard': {'scale': 2, 'jpeg_quality': 50}},
      {'bandwidth_kbps': 1, 'standard': {'scale': 4, 'jpeg_quality': 50}}], 'duplicate'),
])
def test_profile_validation(entries, match):
    with pytest.raises(ProfileError, match=match):
        ProfileTable.from_dict({'profile': {'entries': entries}}, path='x.yaml')


def test_profile_missing_file_named(tmp_path):
    with pytest.raises(ProfileError, match='nope.yaml'):
        ProfileTable.load(tmp_path / 'nope.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('profile: [unclosed')
    with pytest.raises(ProfileError, match='bad.yaml'):
        ProfileTable.load(bad)


def policy(seq, mode, standard=Knobs(0, 0, 0.0), tail=Knobs(0, 0, 0.0)):
    return PolicyUpdate(policy_sequence=seq, mode=mode, standard=standard, tail=tail)


def test_policy_applies_on_next_frame_standard_vs_tail():
    ctl = EdgeController(Knobs(8, 70), tail=Knobs(6, 40))
    d = ctl.on_frame(0.0)
    assert d.send and d.knobs.scale == 8 and d.policy_sequence == 0 and d.mode == MODE_STANDARD
    ctl.on_policy(policy(1, MODE_TAIL))
    d = ctl.on_frame(0.1)
    assert d.knobs == Knobs(6, 40, 0.0, True) and d.policy_sequence == 1
    ctl.on_policy(policy(2, MODE_STANDARD))
    assert ctl.on_frame(0.2).knobs == Knobs(8, 70, 0.0, False)


def test_policy_configs_override_when_scale_nonzero():
    ctl = EdgeController(Knobs(8, 70), tail=Knobs(6, 40))
    ctl.on_policy(policy(1, MODE_TAIL, tail=Knobs(2, 30, 5.0)))
    d = ctl.on_frame(0.0)
    assert (d.knobs.scale, d.knobs.jpeg_quality, d.knobs.frame_rate) == (2, 30, 5.0)
    assert d.knobs.tail_specific


def test_only_latest_pending_policy_counts():
    ctl = EdgeController(Knobs(8, 70), tail=Knobs(6, 40))
    ctl.on_policy(policy(1, MODE_TAIL))
    ctl.on_policy(policy(2, MODE_STANDARD))
    d = ctl.on_frame(0.0)
    assert d.mode == MODE_STANDARD and d.policy_sequence == 2


@pytest.mark.parametrize('bad,match', [
    (policy(1, 7), 'mode'),
    (policy(0, MODE_TAIL), 'policy_sequence'),
    (policy(1, MODE_TAIL, tail=Knobs(3, 50)), 'scale'),
    (policy(1, MODE_TAIL, tail=Knobs(2, 101)), 'jpeg_quality'),
    (policy(1, MODE_TAIL, standard=Knobs(2, 50, -1.0)), 'frame_rate'),
    (policy(1, MODE_TAIL, standard=Knobs(2, 50, float('nan'))), 'frame_rate'),
])
def test_malformed_policy_rejected_state_unchanged(bad, match):
    ctl = EdgeController(Knobs(8, 70), tail=Knobs(6, 40))
    with pytest.raises(PolicyError, match=match):
        ctl.on_policy(bad)
    assert ctl.policies_rejected == 1
    assert ctl.on_frame(0.0).knobs.scale == 8


def test_stale_policy_rejected_but_restart_accepted():
    ctl = EdgeController(Knobs(8, 70), tail=Knobs(6, 40))
    ctl.on_policy(policy(5, MODE_TAIL))
    ctl.on_frame(0.0)
    with pytest.raises(PolicyError, match='stale'):
        ctl.on_policy(policy(4, MODE_STANDARD))
    ctl.on_policy(policy(1, MODE_STANDARD))  # cloud restarted
    assert ctl.on_frame(0.1).mode == MODE_STANDARD


def test_profile_drives_knobs_by_bandwidth_and_estimate():
    table = ProfileTable.load(DEFAULT_PROFILE)
    low_kbps = table.entries[0].bandwidth_kbps  # the poorest row of the measured profile
    ctl = EdgeController(Knobs(4, 70), profile=table, use_profile=True,
                         bandwidth_kbps=low_kbps)
    low = ctl.on_frame(0.0).knobs
    ctl.configure(bandwidth_kbps=20000)
    high = ctl.on_frame(0.1).knobs
    assert high.scale < low.scale
    ctl.on_policy(policy(1, MODE_TAIL))
    tail = ctl.on_frame(0.2).knobs
    assert tail.tail_specific and tail.scale <= high.scale
    # estimate mode: falls back to the parameter until feedback arrives
    ctl2 = EdgeController(Knobs(4, 70), profile=table, use_profile=True,
                          bandwidth_source='estimate', bandwidth_kbps=low_kbps)
    assert ctl2.on_frame(0.0).knobs == low
    for i in range(30):
        ctl2.on_feedback(i, 200000, i * 0.05, i * 0.05 + 0.01)  # 32 Mbit/s delivered
    assert ctl2.on_frame(0.1).knobs.scale < low.scale
    assert ctl2.on_frame(0.2).bandwidth_kbps > 30000


def test_frame_rate_knob_gates_frames():
    ctl = EdgeController(Knobs(4, 70, 5.0))
    sent = sum(ctl.on_frame(i / 17.0).send for i in range(34))
    assert sent == 10


def test_configure_validates():
    ctl = EdgeController()
    with pytest.raises(ValueError):
        ctl.configure(standard=Knobs(5, 70))
    with pytest.raises(ValueError):
        ctl.configure(bandwidth_kbps=-3)
    with pytest.raises(ValueError):
        ctl.configure(bandwidth_source='guess')
