# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Sequence windows: in-order streams, duplicates, restarts, loss and forged numbers."""

import pytest

from runespoor.sequence import ACCEPTED, REJECTED, RESTARTED, SequenceTracker

BIG = 2 ** 64 - 1


def statuses(tracker, seqs):
    return [tracker.check(s).status for s in seqs]


def test_in_order_with_loss_and_duplicates():
    t = SequenceTracker(max_jump=10)
    assert statuses(t, [0, 1, 2, 5, 5, 4, 15]) == [ACCEPTED] * 4 + [REJECTED] * 2 + [ACCEPTED]
    assert t.last == 15 and t.rejected == 2


def test_a_forged_number_far_ahead_costs_only_itself():
    t = SequenceTracker(max_jump=1000)
    assert statuses(t, [10, 11, BIG, 12, 13]) == [ACCEPTED, ACCEPTED, REJECTED, ACCEPTED,
                                                  ACCEPTED]
    assert t.last == 13 and t.restarts == 0


def test_a_forged_first_number_is_left_after_two_real_messages():
    t = SequenceTracker(max_jump=1000)
    assert statuses(t, [BIG, 50, 51, 52]) == [ACCEPTED, REJECTED, RESTARTED, ACCEPTED]
    assert t.last == 52 and t.restarts == 1


def test_restart_value_is_followed_at_once():
    t = SequenceTracker(max_jump=1000, restart_value=0)
    assert statuses(t, [500, 501, 0, 1, 2]) == [ACCEPTED, ACCEPTED, RESTARTED, ACCEPTED,
                                                ACCEPTED]
    assert t.restarts == 1


def test_restart_whose_first_messages_were_lost_is_followed_after_two():
    t = SequenceTracker(max_jump=1000, restart_value=0)
    assert statuses(t, [500, 3, 4, 5]) == [ACCEPTED, REJECTED, RESTARTED, ACCEPTED]


def test_loss_beyond_the_window_is_followed_after_two():
    t = SequenceTracker(max_jump=100)
    assert statuses(t, [1, 5000, 5001]) == [ACCEPTED, REJECTED, RESTARTED]


def test_a_late_message_does_not_rewind_the_stream():
    """98 then 101 then 99: the in-window 101 clears the candidate started by 98."""
    t = SequenceTracker(max_jump=10)
    assert statuses(t, [100, 98, 101, 99, 102]) == [ACCEPTED, REJECTED, ACCEPTED, REJECTED,
                                                    ACCEPTED]
    assert t.last == 102 and t.restarts == 0


def test_arguments_are_checked():
    with pytest.raises(ValueError):
        SequenceTracker(max_jump=0)
    with pytest.raises(ValueError):
        SequenceTracker(confirm=1)
