# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Edge control under hostile or broken peers: forged policies and feedback, a silent cloud."""

import os

import pytest

from runespoor.edge_control import (EdgeController, Knobs, MODE_STANDARD, MODE_TAIL,
                                    PolicyError, PolicyUpdate, ProfileTable, RateLimiter,
                                    SentFrames)

BIG = 2 ** 64 - 1
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
DEFAULT_PROFILE = os.path.join(REPO, 'ros2_ws', 'src', 'runespoor_edge', 'config',
                               'profile_default.yaml')


def policy(seq, mode=MODE_TAIL, trigger=0, hold_s=1.0):
    return PolicyUpdate(policy_sequence=seq, mode=mode, standard=Knobs(0, 0, 0.0),
                        tail=Knobs(0, 0, 0.0), trigger_sequence=trigger, hold_s=hold_s)


def controller(**kw):
    return EdgeController(Knobs(4, 70), tail=Knobs(2, 40), **kw)


def test_forged_huge_policy_sequence_does_not_block_the_real_cloud():
    ctl = controller()
    ctl.on_policy(policy(10, MODE_TAIL), now=0.0)
    with pytest.raises(PolicyError, match='stale'):
        ctl.on_policy(policy(BIG, MODE_STANDARD), now=0.1)
    ctl.on_policy(policy(11, MODE_STANDARD), now=0.2)
    assert ctl.on_frame(1.0).mode == MODE_STANDARD
    assert ctl.policy.policy_sequence == 11


def test_forged_first_policy_is_left_after_two_real_ones():
    ctl = controller()
    ctl.on_policy(policy(BIG, MODE_TAIL))
    with pytest.raises(PolicyError):
        ctl.on_policy(policy(20, MODE_STANDARD))
    ctl.on_policy(policy(21, MODE_STANDARD))
    assert ctl.on_frame(1.0).mode == MODE_STANDARD


def test_policy_of_an_earlier_edge_run_is_refused():
    """A latched policy triggered by frame 5000 reaches a restarted edge that sent 3 frames."""
    ctl = controller()
    with pytest.raises(PolicyError, match='has sent 3 frames'):
        ctl.on_policy(policy(40, MODE_TAIL, trigger=5000), frames_sent=3)
    assert ctl.on_frame(1.0).mode == MODE_STANDARD
    ctl.on_policy(policy(41, MODE_TAIL, trigger=2), frames_sent=3)
    assert ctl.on_frame(1.1).mode == MODE_TAIL


@pytest.mark.parametrize('hold_s', [float('nan'), float('inf'), -1.0, 1e9])
def test_implausible_hold_time_refused(hold_s):
    with pytest.raises(PolicyError, match='hold_s'):
        controller().on_policy(policy(1, hold_s=hold_s))


def test_policy_flood_is_rate_limited():
    ctl = controller(policy_rate_hz=5.0)
    accepted = 0
    for i in range(100):  # 100 policies within 1 s
        try:
            ctl.on_policy(policy(i + 1, MODE_TAIL if i % 2 else MODE_STANDARD), now=i * 0.01)
            accepted += 1
        except PolicyError as exc:
            assert 'rate limit' in str(exc)
    assert 5 <= accepted <= 11  # the burst plus about 5 per second
    ctl2 = controller(policy_rate_hz=5.0)
    for i in range(20):  # at the rate: every one passes
        ctl2.on_policy(policy(i + 1), now=i * 0.25)


def test_rate_limiter_zero_is_unlimited():
    lim = RateLimiter(0.0)
    assert all(lim.admit(0.0) for _ in range(1000))
    with pytest.raises(ValueError):
        RateLimiter(float('nan'))


def test_feedback_only_for_frames_the_edge_sent():
    ctl = controller(bandwidth_source='estimate')
    for seq in range(10):
        ctl.note_sent(seq, 1000, 100.0 + seq * 0.1)
    for seq in range(5):
        assert ctl.on_feedback(seq, 1000, 100.0 + seq * 0.1, 100.05 + seq * 0.1)
    before = ctl.estimator.throughput_kbps()
    assert before > 0
    assert not ctl.on_feedback(5, 2 ** 32 - 1, 100.5, 100.55)    # forged size
    assert not ctl.on_feedback(BIG, 1000, 100.5, 100.55)        # never sent
    assert not ctl.on_feedback(6, 1000, 50.0, 100.65)           # wrong send stamp
    assert ctl.feedback_rejected == 3
    assert ctl.estimator.throughput_kbps() == pytest.approx(before)
    assert ctl.on_feedback(5, 1000, 100.5, 100.55)              # the real one still counts


def test_forged_feedback_before_the_first_frame_does_not_freeze_the_estimate():
    ctl = controller(bandwidth_source='estimate')
    # nothing sent yet, so no sent frame can vouch against it: it is one sample, no more
    ctl.on_feedback(BIG, 1000, 99.0, 99.05)
    for seq in range(10):
        ctl.note_sent(seq, 1000, 100.0 + seq * 0.1)
    # frame 0's feedback was lost (the cloud was not up yet): the stream from 1 on is
    # followed after one sample, instead of being "older than 2^64 - 1" for ever
    believed = [ctl.on_feedback(seq, 1000, 100.0 + seq * 0.1, 100.05 + seq * 0.1)
                for seq in range(1, 10)]
    assert believed == [False] + [True] * 8
    assert ctl.estimator.throughput_kbps() > 0
    assert not ctl.on_feedback(9, 1000, 100.9, 100.95)  # a duplicate is still ignored


def test_sent_frames_is_bounded():
    sent = SentFrames(maxlen=8)
    for seq in range(100):
        sent.add(seq, seq, float(seq))
    assert len(sent) == 8 and sent.matches(99, 99, 99.0) and not sent.matches(10, 10, 10.0)


def test_silent_cloud_falls_back_to_standard_at_last_good_bandwidth_and_recovers():
    profile = ProfileTable.load(DEFAULT_PROFILE)
    ctl = controller(profile=profile, use_profile=True, bandwidth_source='estimate',
                     cloud_timeout_s=2.0)
    t = 0.0
    for seq in range(20):  # the cloud answers every frame: about 800 kbit/s
        t = seq * 0.1
        ctl.on_frame(t, now=t)
        ctl.note_sent(seq, 10000, t)
        assert ctl.on_feedback(seq, 10000, t, t + 0.01, now=t + 0.01)
    ctl.on_policy(policy(1, MODE_TAIL, trigger=19), now=t, frames_sent=20)
    assert ctl.on_frame(t + 0.1, now=t + 0.1).mode == MODE_TAIL
    good = ctl.current_bandwidth_kbps()
    assert good > 0
    # the cloud dies: no feedback; 1.9 s later still tail, after 2 s fallback
    assert ctl.on_frame(t + 1.9, now=t + 1.9).mode == MODE_TAIL and not ctl.fallback
    d = ctl.on_frame(t + 2.2, now=t + 2.2)
    assert ctl.fallback and ctl.fallbacks == 1
    assert d.mode == MODE_STANDARD and not d.knobs.tail_specific
    assert d.knobs == profile.lookup(good).standard
    assert ctl.fallback_kbps == pytest.approx(good)
    assert ctl.cloud_silence_s(t + 2.2) > 2.0
    # feedback returns: the fallback ends with the next frame
    ctl.note_sent(30, 10000, t + 2.3)
    assert ctl.on_feedback(30, 10000, t + 2.3, t + 2.31, now=t + 2.31)
    ctl.on_frame(t + 2.4, now=t + 2.4)
    assert not ctl.fallback
    # the dropped tail policy does not come back; a new one from the cloud is followed
    assert ctl.on_frame(t + 2.5, now=t + 2.5).mode == MODE_STANDARD
    ctl.on_policy(policy(2, MODE_TAIL, trigger=30), now=t + 2.6, frames_sent=31)
    assert ctl.on_frame(t + 2.7, now=t + 2.7).mode == MODE_TAIL


def test_cloud_never_heard_falls_back_after_timeout_and_zero_disables():
    ctl = controller(cloud_timeout_s=1.0)
    ctl.on_frame(0.0, now=0.0)
    ctl.on_frame(1.5, now=1.5)
    assert ctl.fallback
    off = controller(cloud_timeout_s=0.0)
    off.on_frame(0.0, now=0.0)
    off.on_frame(100.0, now=100.0)
    assert not off.fallback
