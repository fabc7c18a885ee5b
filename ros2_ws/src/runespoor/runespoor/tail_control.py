# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The cloud's side of CAC (paper §3.2): the tail rule and the tail state with its hold time.

:func:`is_tail_ratio` applies the ratio rule to a frame's tail signal; :class:`TailController`
turns the per-frame tail flags into decisions (:class:`PolicyDecision`, sent to the edge as a
``RatePolicy``): switch to the tail-specific configuration at once, back to the standard one
only after ``hold_s`` without a tail frame, re-synchronise a restarted edge, and re-send a
decision the edge is not following.  Used by :class:`runespoor.cloud_pipeline.CloudPipeline`
(one per robot); no ROS, no torch.
"""

from dataclasses import dataclass

from .edge_control import Knobs, MODE_STANDARD, MODE_TAIL


@dataclass(frozen=True)
class PolicyDecision:
    """A ``RatePolicy`` to send: switch the edge to ``mode`` from its next frame."""

    policy_sequence: int
    mode: int
    trigger_sequence: int
    hold_s: float
    standard: Knobs
    tail: Knobs


class TailController:
    """
    Tail state with hold time (paper §3.2): enter at once, leave after ``hold_s`` calm.

    :meth:`update` returns a :class:`PolicyDecision` when the mode changes, else ``None``.
    ``policy_sequence`` counts from 1.
    """

    def __init__(self, hold_s=1.0, standard=None, tail=None):
        self.hold_s = float(hold_s)
        self.standard = standard or Knobs(0, 0, 0.0, False)
        self.tail = tail or Knobs(0, 0, 0.0, True)
        self.mode = MODE_STANDARD
        self.last_tail_s = None
        self.policy_sequence = 0
        self.last_switch_s = None
        self.now_s = None           # cloud time of the latest update
        self.reasserts = 0          # re-sent decisions since the edge last followed one
        self._behind = 0            # consecutive frames made under another policy

    def update(self, is_tail, now_s, sequence):
        """Feed one analysed frame's flag at cloud time ``now_s``; maybe return a decision."""
        self.now_s = now_s
        if is_tail:
            self.last_tail_s = now_s
            if self.mode != MODE_TAIL:
                return self._switch(MODE_TAIL, sequence)
        elif self.mode == MODE_TAIL and (self.last_tail_s is None
                                         or now_s - self.last_tail_s >= self.hold_s):
            return self._switch(MODE_STANDARD, sequence)
        return None

    def restart(self, sequence):
        """
        Return a standard-mode decision that re-synchronises an edge that restarted.

        A restarted edge may hold the latched policy of its previous run; a fresh standard
        policy makes edge and cloud agree again, and the next tail frame switches as usual.
        """
        self.last_tail_s = None
        return self._switch(MODE_STANDARD, sequence)

    def check_followed(self, frame_policy, now_s, sequence, after_s=2.0, max_reasserts=3):
        """
        Re-send the decision in force when the edge is not following it.

        ``frame_policy`` is the ``policy_sequence`` the edge stamped on an analysed frame.
        When three frames in a row carry another one than the last decision, and ``after_s``
        passed since it was sent, the decision is sent again under a new number (the edge lost
        it, restarted, or fell back while the cloud was unreachable), at most
        ``max_reasserts`` times until the edge follows.  Returns the decision or None.
        """
        if self.policy_sequence == 0 or after_s <= 0 or frame_policy == self.policy_sequence:
            self._behind = 0
            if frame_policy == self.policy_sequence:
                self.reasserts = 0
            return None
        self._behind += 1
        due = self.last_switch_s is None or now_s - self.last_switch_s >= after_s
        if self._behind < 3 or not due or self.reasserts >= max_reasserts:
            return None
        self.reasserts += 1
        self._behind = 0
        return self._switch(self.mode, sequence, now_s, reassert=True)

    def _switch(self, mode, sequence, now_s=None, reassert=False):
        if not reassert:
            self.reasserts = 0
        self._behind = 0
        self.last_switch_s = now_s if now_s is not None else self.now_s
        self.mode = mode
        self.policy_sequence += 1
        return PolicyDecision(self.policy_sequence, mode, int(sequence), self.hold_s,
                              self.standard, self.tail)


#: Directions of the tail rule (``runespoor.cac.tail.fit_threshold`` reports which one fits).
TAIL_DIRECTIONS = ('below', 'above')


def is_tail_ratio(ratio, threshold, direction='below'):
    """
    Return True if a frame with small-region ``ratio`` is a tail frame.

    ``below`` is the paper's rule (few small regions -> tail); ``above`` is the rule profiling
    fits when the data say the opposite (many small regions -> low accuracy).  The same rule
    serves detection's small-box share.
    """
    if direction == 'above':
        return ratio > threshold
    if direction != 'below':
        raise ValueError(f'tail direction {direction!r}: use below or above')
    return ratio < threshold
