# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The edge's control state (paper §3.2, Fig. 7 steps 5-6), without ROS.

- :class:`Knobs`: one setting of scale, JPEG quality, frame rate (+ whether it is the
  tail-specific config).
- :class:`FrameRateGate`: lets frames through at a target rate from a faster camera.
- :class:`BandwidthEstimator`: uplink estimate from the cloud's ``LinkFeedback`` (bytes and
  timestamps per frame, over a sliding window).
- :class:`ProfileTable`: bandwidth [kbit/s] -> (standard, tail-specific) config, from YAML.
- :class:`EdgeController`: combines them; the edge node calls :meth:`EdgeController.on_frame`
  for every camera frame and :meth:`EdgeController.on_policy` for every ``RatePolicy``; a policy
  takes effect on the next frame.

Times are seconds (float); bandwidths kbit/s (1 kbit = 1000 bit).
"""

from collections import deque
from dataclasses import dataclass, replace
import math
import threading

from .codec import JPEG_QUALITY_RANGE, SCALES
from .sequence import SequenceTracker

MODE_STANDARD = 0  #: RatePolicy.MODE_STANDARD
MODE_TAIL = 1  #: RatePolicy.MODE_TAIL
#: Longest plausible ``RatePolicy.hold_s`` [s]; a longer one is refused.
MAX_HOLD_S = 3600.0
#: Largest plausible JPEG payload of one frame in ``LinkFeedback.bytes`` [bytes].
MAX_FRAME_BYTES = 64 * 1024 * 1024


class PolicyError(ValueError):
    """A RatePolicy that cannot be applied (malformed or stale); the text says why."""


class ProfileError(ValueError):
    """A profile table that cannot be used; the text names the file and the entry."""


@dataclass(frozen=True)
class Knobs:
    """One knob configuration (mirrors ``runespoor_msgs/KnobConfig``)."""

    scale: int = 4
    jpeg_quality: int = 70
    frame_rate: float = 0.0  # frames per second sent; 0 = every input frame
    tail_specific: bool = False

    def validated(self, what='knobs'):
        """Return ``self`` after checking every field; raise :class:`ValueError` naming it."""
        check_knobs(self.scale, self.jpeg_quality, self.frame_rate, what)
        return self


def check_knobs(scale, jpeg_quality, frame_rate, what='knobs'):
    """Raise :class:`ValueError` unless the three knob values are usable."""
    if isinstance(scale, bool) or scale not in SCALES:
        raise ValueError(f'{what}: scale {scale!r} not one of {SCALES}')
    lo, hi = JPEG_QUALITY_RANGE
    if isinstance(jpeg_quality, bool) or not (
            isinstance(jpeg_quality, int) and lo <= jpeg_quality <= hi):
        raise ValueError(f'{what}: jpeg_quality {jpeg_quality!r} outside [{lo}, {hi}]')
    if not (isinstance(frame_rate, (int, float)) and math.isfinite(frame_rate)
            and frame_rate >= 0):
        raise ValueError(f'{what}: frame_rate {frame_rate!r} must be a finite number >= 0')


class FrameRateGate:
    """
    Admit frames at ``rate_hz`` on average from a camera of any (faster) rate.

    ``rate_hz == 0`` admits every frame.  The schedule advances by one period per admitted frame
    (so 17 fps in, 10 fps out gives 10 fps, not 8.5), and restarts when time jumps backwards
    (a looped bag) or the caller falls more than a period behind.
    """

    def __init__(self, rate_hz=0.0):
        self._next = None
        self._last = None
        self.rate_hz = 0.0
        self.set_rate(rate_hz)

    def set_rate(self, rate_hz):
        """Change the target rate; takes effect from the next frame."""
        rate_hz = float(rate_hz)
        if not math.isfinite(rate_hz) or rate_hz < 0:
            raise ValueError(f'frame rate {rate_hz!r} must be finite and >= 0')
        if rate_hz != self.rate_hz:
            self._next = None
        self.rate_hz = rate_hz

    def admit(self, t):
        """Return True if the frame stamped ``t`` [s] should be sent."""
        if self.rate_hz <= 0:
            self._last = t
            return True
        period = 1.0 / self.rate_hz
        if self._last is not None and t < self._last:
            self._next = None  # time went backwards: start a new schedule
        self._last = t
        if self._next is None or t >= self._next - 1e-6:
            behind = self._next is None or t - self._next >= period
            self._next = (t if behind else self._next) + period
            return True
        return False


class WindowedRate:
    """Bytes per second over the last ``window_s`` seconds of (time, bytes) samples."""

    def __init__(self, window_s=2.0, max_samples=512):
        if window_s <= 0:
            raise ValueError('window_s must be > 0')
        self.window_s = float(window_s)
        self._samples = deque(maxlen=int(max_samples))

    def add(self, t, nbytes):
        """Record ``nbytes`` arriving at time ``t`` [s]."""
        self._samples.append((float(t), int(nbytes)))
        self._trim(t)

    def _trim(self, now):
        while self._samples and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def kbps(self, now=None):
        """Return kbit/s over the window (bytes after the first sample / time span), or 0."""
        if now is not None:
            self._trim(now)
        if len(self._samples) < 2:
            return 0.0
        span = self._samples[-1][0] - self._samples[0][0]
        if span <= 0:
            return 0.0
        nbytes = sum(b for _, b in list(self._samples)[1:])
        return nbytes * 8.0 / span / 1000.0

    def __len__(self):
        return len(self._samples)


class BandwidthEstimator:
    """
    Uplink bandwidth estimate from ``LinkFeedback`` (bytes, send stamp, receive stamp).

    The delivered throughput over the window (by receive time) is what the link carried; it is
    a lower bound of the capacity while the link is not saturated.  A rising one-way delay
    (receive - send, minus its minimum over the window, so a constant clock offset cancels)
    means frames queue in the link: the link is saturated and throughput is the capacity.
    :meth:`estimate_kbps` returns throughput when queuing is seen, and throughput times
    ``probe_gain`` otherwise, so the edge can step up to a richer config when the link allows.
    """

    def __init__(self, window_s=2.0, probe_gain=1.25, queuing_threshold_ms=50.0,
                 max_samples=512):
        self.rate = WindowedRate(window_s, max_samples)
        self.probe_gain = float(probe_gain)
        self.queuing_threshold_ms = float(queuing_threshold_ms)
        self._delays = deque(maxlen=int(max_samples))
        # bounded window, not "higher than the last": one forged 2^64 - 1 (e.g. before the
        # edge sent anything, when no sent frame can vouch for a sample) costs one sample,
        # and a restarted cloud's numbering is followed
        self._sequences = SequenceTracker(restart_value=0)
        self.samples = 0
        self.rejected = 0

    def add(self, sequence, nbytes, send_s, receive_s):
        """
        Record one feedback sample; return False when it is ignored.

        Ignored: implausible sizes or stamps, duplicates, late samples and unconfirmed jumps of
        the sequence (:class:`runespoor.sequence.SequenceTracker`: a restart at 0 is followed).
        """
        if not 0 <= nbytes <= MAX_FRAME_BYTES or not (math.isfinite(send_s)
                                                      and math.isfinite(receive_s)):
            self.rejected += 1
            return False
        if not self._sequences.check(sequence).accepted:
            self.rejected += 1
            return False
        self.rate.add(receive_s, nbytes)
        self._delays.append((receive_s, receive_s - send_s))
        while self._delays and receive_s - self._delays[0][0] > self.rate.window_s:
            self._delays.popleft()
        self.samples += 1
        return True

    def throughput_kbps(self):
        """Delivered kbit/s over the window (0 until two samples arrived)."""
        return self.rate.kbps()

    def queuing_delay_ms(self):
        """Latest one-way delay above the window's minimum [ms] (0 without samples)."""
        if not self._delays:
            return 0.0
        low = min(d for _, d in self._delays)
        return (self._delays[-1][1] - low) * 1000.0

    def estimate_kbps(self):
        """Capacity estimate [kbit/s]; 0 = unknown."""
        thr = self.throughput_kbps()
        if thr <= 0:
            return 0.0
        if self.queuing_delay_ms() > self.queuing_threshold_ms:
            return thr
        return thr * self.probe_gain


@dataclass(frozen=True)
class ProfileEntry:
    """One row of a profile: from ``bandwidth_kbps`` upwards use these configs."""

    bandwidth_kbps: float
    standard: Knobs
    tail: Knobs


class ProfileTable:
    """
    Bandwidth -> (standard, tail-specific) knob configs, made by tail-aware profiling.

    YAML layout (see ``runespoor_edge/config/profile_default.yaml``)::

        profile:
          name: default
          source_width: 2048        # frame size the bandwidths were measured at
          source_height: 1024
          entries:
            - bandwidth_kbps: 800   # needed uplink for this row [kbit/s]
              standard: {scale: 8, jpeg_quality: 70, frame_rate: 0}
              tail: {scale: 6, jpeg_quality: 40, frame_rate: 0}

    :meth:`lookup` returns the richest row whose ``bandwidth_kbps`` fits the available
    bandwidth (the poorest row when none fits).  For a camera of another size the bandwidth is
    scaled by the pixel ratio (JPEG bytes grow about linearly with pixels).
    """

    def __init__(self, entries, name='profile', source_width=2048, source_height=1024,
                 path='<memory>'):
        if not entries:
            raise ProfileError(f'{path}: profile has no entries')
        self.entries = sorted(entries, key=lambda e: e.bandwidth_kbps)
        bws = [e.bandwidth_kbps for e in self.entries]
        if len(set(bws)) != len(bws):
            raise ProfileError(f'{path}: duplicate bandwidth_kbps values {bws}')
        if source_width <= 0 or source_height <= 0:
            raise ProfileError(f'{path}: source size must be positive')
        self.name = name
        self.source_pixels = int(source_width) * int(source_height)
        self.path = path

    @classmethod
    def from_dict(cls, data, path='<memory>'):
        """Build from the parsed YAML (the ``profile:`` mapping or its parent)."""
        if isinstance(data, dict) and 'profile' in data:
            data = data['profile']
        if not isinstance(data, dict) or not isinstance(data.get('entries'), list):
            raise ProfileError(f'{path}: expected a mapping "profile:" with a list "entries"')
        entries = []
        for i, row in enumerate(data['entries']):
            try:
                bw = float(row['bandwidth_kbps'])
                if not math.isfinite(bw) or bw < 0:
                    raise ValueError(f'bandwidth_kbps {bw} must be >= 0')
                std = _knobs_from(row['standard'], False)
                tail = _knobs_from(row.get('tail', row['standard']), True)
            except (KeyError, TypeError, ValueError) as exc:
                raise ProfileError(f'{path}: entry {i}: {exc}') from exc
            entries.append(ProfileEntry(bw, std, tail))
        return cls(entries, name=str(data.get('name', 'profile')),
                   source_width=int(data.get('source_width', 2048)),
                   source_height=int(data.get('source_height', 1024)), path=path)

    @classmethod
    def load(cls, path):
        """Read a profile YAML file; raise :class:`ProfileError` naming ``path``."""
        import yaml
        try:
            with open(path, 'r', encoding='utf-8') as f:
                data = yaml.safe_load(f)
        except OSError as exc:
            raise ProfileError(f'cannot read profile file {path}: {exc}') from exc
        except yaml.YAMLError as exc:
            raise ProfileError(f'profile file {path} is not valid YAML: {exc}') from exc
        return cls.from_dict(data, path=str(path))

    def lookup(self, bandwidth_kbps, source_pixels=None):
        """Return the :class:`ProfileEntry` for ``bandwidth_kbps`` at ``source_pixels``."""
        bw = float(bandwidth_kbps)
        if source_pixels:
            bw *= self.source_pixels / float(source_pixels)
        best = self.entries[0]
        for entry in self.entries:
            if entry.bandwidth_kbps <= bw:
                best = entry
        return best


def _knobs_from(mapping, tail_specific):
    if not isinstance(mapping, dict):
        raise TypeError(f'expected a mapping of knobs, got {mapping!r}')
    unknown = set(mapping) - {'scale', 'jpeg_quality', 'frame_rate'}
    if unknown:
        raise ValueError(f'unknown knob(s) {sorted(unknown)}')
    knobs = Knobs(int(mapping['scale']), int(mapping['jpeg_quality']),
                  float(mapping.get('frame_rate', 0.0)), tail_specific)
    return knobs.validated('tail' if tail_specific else 'standard')


@dataclass(frozen=True)
class PolicyUpdate:
    """A ``RatePolicy`` as plain values (scale 0 in a config = keep the edge's own choice)."""

    policy_sequence: int
    mode: int
    standard: Knobs
    tail: Knobs
    trigger_sequence: int = 0
    hold_s: float = 0.0


@dataclass(frozen=True)
class FrameDecision:
    """What to do with one camera frame."""

    send: bool
    knobs: Knobs
    policy_sequence: int
    bandwidth_kbps: float
    mode: int


def validate_policy(policy):
    """Raise :class:`PolicyError` unless ``policy`` (:class:`PolicyUpdate`) is well formed."""
    if policy.mode not in (MODE_STANDARD, MODE_TAIL):
        raise PolicyError(f'policy {policy.policy_sequence}: unknown mode {policy.mode!r}')
    if policy.policy_sequence < 1:
        raise PolicyError(f'policy_sequence {policy.policy_sequence} must be >= 1')
    for name, k in (('standard', policy.standard), ('tail', policy.tail)):
        if k.scale == 0:
            continue  # keep the edge's own choice
        try:
            check_knobs(k.scale, k.jpeg_quality, k.frame_rate, name)
        except ValueError as exc:
            raise PolicyError(f'policy {policy.policy_sequence}: {exc}') from exc
    if not (math.isfinite(policy.hold_s) and 0 <= policy.hold_s <= MAX_HOLD_S):
        raise PolicyError(f'policy {policy.policy_sequence}: hold_s {policy.hold_s!r} outside '
                          f'[0, {MAX_HOLD_S:g}] s')
    if policy.trigger_sequence < 0:
        raise PolicyError(f'policy {policy.policy_sequence}: trigger_sequence '
                          f'{policy.trigger_sequence} < 0')


class RateLimiter:
    """
    Token bucket over events: at most ``rate_hz`` on average, bursts of ``burst``.

    ``rate_hz == 0`` admits everything.  Times are the caller's monotonic seconds.
    """

    def __init__(self, rate_hz=10.0, burst=None):
        self.configure(rate_hz, burst)
        self._tokens = float(self.burst)
        self._t = None

    def configure(self, rate_hz, burst=None):
        """Change the rate [1/s] (0 = unlimited) and the burst (default ``max(2, rate)``)."""
        rate_hz = float(rate_hz)
        if not (math.isfinite(rate_hz) and rate_hz >= 0):
            raise ValueError(f'rate {rate_hz!r} must be finite and >= 0')
        self.rate_hz = rate_hz
        self.burst = float(burst) if burst is not None else max(2.0, rate_hz)

    def admit(self, now):
        """Return True and spend a token if one is available at time ``now``."""
        if self.rate_hz <= 0:
            return True
        if self._t is not None:
            self._tokens = min(self.burst, self._tokens + max(0.0, now - self._t) * self.rate_hz)
        self._t = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SentFrames:
    """
    What the edge sent lately: sequence -> (bytes, send stamp), bounded to ``maxlen`` frames.

    ``LinkFeedback`` is believed only for a frame in here with the same size and send stamp, so
    a forged or replayed sample (``bytes = 2^32 - 1``, a sequence never sent, a previous run's
    frames) cannot move the bandwidth estimate.
    """

    def __init__(self, maxlen=512):
        self.maxlen = int(maxlen)
        self._frames = {}
        self._order = deque()

    def add(self, sequence, nbytes, send_s):
        """Record one sent frame; the oldest is forgotten beyond ``maxlen``."""
        self._frames[int(sequence)] = (int(nbytes), float(send_s))
        self._order.append(int(sequence))
        while len(self._order) > self.maxlen:
            self._frames.pop(self._order.popleft(), None)

    def matches(self, sequence, nbytes, send_s, tolerance_s=1e-6):
        """Return True if ``sequence`` was sent with ``nbytes`` at ``send_s``."""
        sent = self._frames.get(int(sequence))
        return sent is not None and sent[0] == int(nbytes) and \
            abs(sent[1] - float(send_s)) <= tolerance_s

    def __len__(self):
        return len(self._frames)


class UplinkBandwidth:
    """
    The bandwidth a controller plans for: a fixed value, or the link estimate from feedback.

    Shared by :class:`EdgeController` and the AWStream-style baseline
    (:class:`runespoor.cac.awstream.AWStreamController`).  Subclasses create ``self._lock``.
    """

    def _init_bandwidth(self, bandwidth_source, bandwidth_kbps, estimator):
        if bandwidth_source not in ('fixed', 'estimate'):
            raise ValueError(f'bandwidth_source {bandwidth_source!r}: use fixed or estimate')
        self.bandwidth_source = bandwidth_source
        self.bandwidth_kbps = float(bandwidth_kbps)
        self.estimator = estimator or BandwidthEstimator()

    def on_feedback(self, sequence, nbytes, send_s, receive_s):
        """Feed one ``LinkFeedback`` sample to the bandwidth estimator."""
        with self._lock:
            return self.estimator.add(sequence, nbytes, send_s, receive_s)

    def current_bandwidth_kbps(self):
        """Bandwidth used for the choice [kbit/s]; 0 = unknown."""
        if self.bandwidth_source == 'estimate':
            est = self.estimator.estimate_kbps()
            return est if est > 0 else self.bandwidth_kbps
        return self.bandwidth_kbps


class EdgeController(UplinkBandwidth):
    """
    Current knobs of the edge, chosen from parameters, the profile, the bandwidth and the policy.

    Knob choice for a frame:

    1. base configs: from the profile table at the current bandwidth when ``use_profile`` and a
       bandwidth is known (``bandwidth_kbps`` parameter > 0, or the link estimate when
       ``bandwidth_source == 'estimate'``); otherwise the ``standard`` / ``tail`` knobs given;
    2. a received policy's configs replace the base ones where their scale is not 0;
    3. the policy's mode picks standard or tail (standard until a policy arrives).

    A policy received between two frames applies to the next frame.  Thread-safe: the node may
    call :meth:`on_policy` / :meth:`on_feedback` from other threads than :meth:`on_frame`.

    Control messages are checked before they steer anything: policies by a bounded sequence
    window (:class:`runespoor.sequence.SequenceTracker`: a restarted cloud's policy 1 is
    followed, a forged ``2^64 - 1`` is not), plausible fields, a trigger frame this edge has
    sent, and a rate limit (``policy_rate_hz``); link feedback only for frames the edge sent
    (:class:`SentFrames`, once :meth:`note_sent` was called).

    **Cloud silence.**  With ``cloud_timeout_s > 0`` and a monotonic ``now`` passed to
    :meth:`on_frame`, the edge falls back when nothing was heard from the cloud (no accepted
    feedback or policy) for that long while it was sending: the policy in force is dropped,
    the mode is standard and the config is the standard one at the last good bandwidth
    estimate (:attr:`fallback` is True, :attr:`fallback_kbps` that bandwidth).  The first
    accepted feedback or policy ends it.
    """

    def __init__(self, standard=None, tail=None, profile=None, use_profile=False,
                 bandwidth_source='fixed', bandwidth_kbps=0.0, estimator=None,
                 cloud_timeout_s=0.0, policy_rate_hz=10.0):
        self._lock = threading.Lock()
        standard = standard or Knobs()
        self.standard = replace(standard, tail_specific=False).validated('standard')
        self.tail = replace(tail or standard, tail_specific=True).validated('tail')
        self.profile = profile
        self.use_profile = bool(use_profile)
        self._init_bandwidth(bandwidth_source, bandwidth_kbps, estimator)
        self.gate = FrameRateGate(self.standard.frame_rate)
        self._pending = None
        self.policy = None
        self.policies_applied = 0
        self.policies_rejected = 0
        self.policy_tracker = SequenceTracker(max_jump=1000, confirm=2, restart_value=1)
        self.policy_limiter = RateLimiter(policy_rate_hz)
        self.sent = SentFrames()
        self.feedback_rejected = 0
        self.cloud_timeout_s = float(cloud_timeout_s)
        self.last_heard = None     # monotonic time of the last accepted feedback / policy
        self._first_frame = None   # monotonic time of the first frame (silence before contact)
        self.fallback = False
        self.fallback_kbps = 0.0
        self.fallbacks = 0

    # -- configuration -------------------------------------------------------------------
    def configure(self, standard=None, tail=None, profile=None, use_profile=None,
                  bandwidth_source=None, bandwidth_kbps=None):
        """Change parameters at run time (validated; None = unchanged)."""
        with self._lock:
            if standard is not None:
                self.standard = replace(standard, tail_specific=False).validated('standard')
            if tail is not None:
                self.tail = replace(tail, tail_specific=True).validated('tail')
            if profile is not None:
                self.profile = profile
            if use_profile is not None:
                self.use_profile = bool(use_profile)
            if bandwidth_source is not None:
                if bandwidth_source not in ('fixed', 'estimate'):
                    raise ValueError(f'bandwidth_source {bandwidth_source!r}')
                self.bandwidth_source = bandwidth_source
            if bandwidth_kbps is not None:
                if not (math.isfinite(bandwidth_kbps) and bandwidth_kbps >= 0):
                    raise ValueError(f'bandwidth_kbps {bandwidth_kbps!r} must be >= 0')
                self.bandwidth_kbps = float(bandwidth_kbps)

    # -- inputs ----------------------------------------------------------------------------
    def on_policy(self, policy, now=None, frames_sent=None):
        """
        Queue ``policy`` (:class:`PolicyUpdate`) for the next frame.

        Raises :class:`PolicyError` if it is malformed, outside the sequence window (older
        than the last one accepted, or a jump not confirmed; ``policy_sequence == 1`` after a
        higher one is a restarted cloud), triggered by a frame beyond ``frames_sent`` (a frame
        this edge has not sent: a previous run's latched policy, or a forgery), or over the
        rate limit at monotonic time ``now``.
        """
        with self._lock:
            try:
                validate_policy(policy)
                if frames_sent is not None and policy.trigger_sequence > frames_sent:
                    raise PolicyError(
                        f'policy {policy.policy_sequence} was triggered by frame '
                        f'{policy.trigger_sequence}, but this edge has sent {frames_sent} '
                        'frames (a policy of an earlier edge run, or forged)')
                verdict = self.policy_tracker.check(policy.policy_sequence)
                if not verdict.accepted:
                    raise PolicyError(f'stale policy {policy.policy_sequence} '
                                      f'(already have {verdict.last})')
                if now is not None and not self.policy_limiter.admit(now):
                    raise PolicyError(f'policy {policy.policy_sequence} over the rate limit '
                                      f'({self.policy_limiter.rate_hz:g} per s)')
            except PolicyError:
                self.policies_rejected += 1
                raise
            self._pending = policy
            if now is not None:
                self.last_heard = now

    def note_sent(self, sequence, nbytes, send_s):
        """Record a frame handed to the uplink (feedback is checked against these)."""
        with self._lock:
            self.sent.add(sequence, nbytes, send_s)

    def on_feedback(self, sequence, nbytes, send_s, receive_s, now=None):
        """
        Feed one ``LinkFeedback`` sample; return True if it was believed and used.

        Once frames were recorded with :meth:`note_sent`, a sample must match one of them
        (sequence, bytes and send stamp).  An accepted sample at monotonic ``now`` counts as
        hearing from the cloud.
        """
        with self._lock:
            if len(self.sent) and not self.sent.matches(sequence, nbytes, send_s):
                self.feedback_rejected += 1
                return False
            ok = self.estimator.add(sequence, nbytes, send_s, receive_s)
            if now is not None:
                self.last_heard = now
            return ok

    def cloud_silence_s(self, now):
        """Seconds since the cloud was last heard (or since the first frame), at ``now``."""
        ref = self.last_heard if self.last_heard is not None else self._first_frame
        return 0.0 if ref is None else max(0.0, now - ref)

    # -- per frame -------------------------------------------------------------------------
    def configs(self, source_pixels=None):
        """Return the (standard, tail) configs in force, before the policy's mode is applied."""
        std, tail = self.standard, self.tail
        bw = self.current_bandwidth_kbps()
        if self.use_profile and self.profile is not None and bw > 0:
            entry = self.profile.lookup(bw, source_pixels)
            std, tail = entry.standard, entry.tail
        if self.policy is not None:
            if self.policy.standard.scale:
                std = replace(self.policy.standard, tail_specific=False)
            if self.policy.tail.scale:
                tail = replace(self.policy.tail, tail_specific=True)
        return std, tail, bw

    def on_frame(self, t, source_pixels=None, now=None):
        """
        Decide for the camera frame stamped ``t`` [s]: send it, and with which knobs.

        ``now`` (monotonic seconds) enables the cloud-silence fallback (class docstring).
        """
        with self._lock:
            if now is not None:
                self._check_silence(now)
            if self._pending is not None:
                self.policy, self._pending = self._pending, None
                self.policies_applied += 1
            std, tail, bw = self.configs(source_pixels)
            if self.fallback:
                std, bw = self._fallback_config(source_pixels), self.fallback_kbps
            mode = self.policy.mode if self.policy is not None else MODE_STANDARD
            knobs = tail if mode == MODE_TAIL else std
            self.gate.set_rate(knobs.frame_rate)
            send = self.gate.admit(t)
            seq = self.policy.policy_sequence if self.policy is not None else 0
            return FrameDecision(send, knobs, seq, bw, mode)

    def _check_silence(self, now):
        if self._first_frame is None:
            self._first_frame = now
        if self.cloud_timeout_s <= 0:
            return
        silent = self.cloud_silence_s(now) > self.cloud_timeout_s
        if silent and not self.fallback:
            self.fallback = True
            self.fallbacks += 1
            self.fallback_kbps = self.current_bandwidth_kbps()
            self.policy = self._pending = None  # its cloud is gone: no tail mode, no overrides
        elif not silent and self.fallback:
            self.fallback = False

    def _fallback_config(self, source_pixels):
        """Return the standard config at the last good bandwidth (the knobs without a profile)."""
        if self.use_profile and self.profile is not None and self.fallback_kbps > 0:
            return self.profile.lookup(self.fallback_kbps, source_pixels).standard
        return self.standard
