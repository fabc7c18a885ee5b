# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Sequence numbers that survive restarts, loss and a forged value (no ROS).

Every stream between edge and cloud is numbered: ``EncodedFrame.sequence`` (edge -> cloud),
``RatePolicy.policy_sequence`` (cloud -> edge) and ``LinkFeedback.sequence`` (its frame's).
A receiver has to drop late duplicates, yet a peer that restarts begins again at 0 (frames) or 1
(policies), and any node on the DDS domain can send a message with ``sequence = 2^64 - 1``.
"Accept only what is higher than the last" makes that one message block the stream until the
sender counts past it - forever.

:class:`SequenceTracker` uses a bounded window instead, in the spirit of RTP's receiver
(RFC 3550, appendix A.1):

- a number within ``(last, last + max_jump]`` is accepted (loss of up to ``max_jump - 1``
  messages in between is normal);
- the sender's start value (``restart_value``) after a higher number is a restart: accepted at
  once, and the stream continues from there;
- anything else (a duplicate, a late message, a jump far ahead or far back) is rejected, but
  remembered as a candidate: when the next ``confirm - 1`` messages continue it one by one, the
  sender has restarted (or lost more than ``max_jump``) and the tracker follows the new
  numbering.  An accepted in-window message clears the candidate.

So one forged number costs at most the message itself, and a restarted sender is followed after
``confirm`` messages even when its first ones were lost.
"""

from dataclasses import dataclass

ACCEPTED = 'accepted'    #: next in the stream (or the first one)
RESTARTED = 'restarted'  #: the sender's start value or a confirmed new numbering: accepted
REJECTED = 'rejected'    #: duplicate, late, or an unconfirmed jump


@dataclass(frozen=True)
class Verdict:
    """The tracker's answer for one sequence number."""

    status: str
    last: object  # the last accepted number before this call (None: nothing accepted yet)

    @property
    def accepted(self):
        """Return True for :data:`ACCEPTED` and :data:`RESTARTED`."""
        return self.status != REJECTED


class SequenceTracker:
    """
    Bounded-window acceptance of a stream's sequence numbers (see the module docstring).

    ``max_jump`` >= 1: largest accepted step ahead; ``confirm`` >= 2: consecutive messages that
    establish a new numbering; ``restart_value``: the number a restarted sender starts from
    (None: no such value).  Not thread-safe: callers hold their own lock.
    """

    def __init__(self, max_jump=1000, confirm=2, restart_value=0):
        if int(max_jump) < 1 or int(confirm) < 2:
            raise ValueError('max_jump must be >= 1 and confirm >= 2')
        self.max_jump = int(max_jump)
        self.confirm = int(confirm)
        self.restart_value = restart_value
        self.last = None
        self.restarts = 0
        self.rejected = 0
        self._candidate = None  # (next expected number, messages seen in the chain)

    def check(self, seq):
        """Judge ``seq`` (a non-negative int); accepted numbers become :attr:`last`."""
        seq = int(seq)
        last = self.last
        if last is None or 0 < seq - last <= self.max_jump:
            return self._take(seq, ACCEPTED, last)
        if self.restart_value is not None and seq == self.restart_value and last > seq:
            self.restarts += 1
            return self._take(seq, RESTARTED, last)
        cand = self._candidate
        if cand is not None and seq == cand[0]:
            if cand[1] + 1 >= self.confirm:
                self.restarts += 1
                return self._take(seq, RESTARTED, last)
            self._candidate = (seq + 1, cand[1] + 1)
        else:
            self._candidate = (seq + 1, 1)
        self.rejected += 1
        return Verdict(REJECTED, last)

    def _take(self, seq, status, last):
        self.last = seq
        self._candidate = None
        return Verdict(status, last)

    def reset(self):
        """Forget the stream (the next number is accepted as the first)."""
        self.last = None
        self._candidate = None
