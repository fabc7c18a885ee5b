# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The cloud's per-frame work, without ROS (paper Fig. 3 and Fig. 7 steps 4-5).

``admit`` (cheap checks on arrival) -> bounded :class:`FrameQueue` -> ``process``:
decode JPEG -> check size against the knobs -> reconstruct to source size (bilinear / SR / ASR /
CloudSeg, :mod:`runespoor.reconstruct`) -> analytics (an :class:`Analytics` plug-in:
:class:`Segmenter` or :class:`DetectorAnalytics`) -> its tail signal (segmentation: small-region
ratio, :mod:`runespoor.regions`; detection: small-box share,
:mod:`runespoor.tasks.detection.tail_signal`) -> tail flag -> :class:`TailController`
(switch to the tail-specific config at once, back to standard only after ``hold_s`` without a
tail frame, so the edge does not flap) -> a :class:`FrameResult` of plain values.

Bad frames raise :class:`FrameError` with a ``kind`` from :data:`ERROR_KINDS`; the node logs,
counts and skips them.  Nothing here grows without bound: the queue and the latency windows
have fixed sizes.
"""

from collections import deque
from dataclasses import dataclass, field, replace
import math
import threading
import time

import cv2
import numpy as np

from . import codec
from .edge_control import Knobs
from .sequence import RESTARTED, SequenceTracker
from .tail_control import is_tail_ratio, TailController
from .tasks.model_files import ModelError


#: Kinds of :class:`FrameError`, also the names of the diagnostics counters.
ERROR_KINDS = ('undecodable', 'unknown_scale', 'bad_knobs', 'bad_size', 'size_mismatch',
               'bad_format', 'out_of_order', 'stale', 'queue_full', 'internal')


class FrameError(ValueError):
    """A received frame that cannot be analysed; ``kind`` is one of :data:`ERROR_KINDS`."""

    def __init__(self, kind, message, sequence=None):
        if kind not in ERROR_KINDS:
            raise ValueError(f'unknown FrameError kind {kind!r}')
        super().__init__(message)
        self.kind = kind
        self.sequence = sequence


@dataclass
class EncodedInput:
    """An ``EncodedFrame`` as plain values (times in seconds, each on its sender's clock)."""

    sequence: int
    data: bytes
    scale: int
    jpeg_quality: int
    source_width: int
    source_height: int
    capture_s: float = 0.0
    send_s: float = 0.0
    receive_s: float = 0.0
    frame_rate: float = 0.0
    tail_specific: bool = False
    policy_sequence: int = 0
    image_format: str = 'jpeg'  # CompressedImage.format

    @property
    def knobs(self):
        """Return the knobs the edge used, as :class:`Knobs`."""
        return Knobs(int(self.scale), int(self.jpeg_quality), float(self.frame_rate),
                     bool(self.tail_specific))


@dataclass
class FrameResult:
    """
    Everything the cloud publishes about one analysed frame.

    ``output`` is the task's result (segmentation: ``H x W`` uint8 train ids at source size;
    detection: :class:`runespoor.tasks.detection.analytics.Detections`; a plug-in task: what
    its analytics returns), ``signal`` the tail signal measured on it (``signal_name`` says
    which).  :attr:`signal_value` is what the tail rule compared: p(tail) with the fitted
    detector, else ``signal``.
    """

    sequence: int
    output: object                # the task's analytics output
    reconstructed: np.ndarray     # H x W x 3 uint8 BGR at source size
    signal: float                 # the task's tail signal (e.g. small-region ratio)
    is_tail: bool
    threshold: float
    knobs: Knobs
    method: str
    latencies_ms: dict            # decode, reconstruct, inference, postprocess
    policy: object = None         # PolicyDecision when the tail state changed
    frame: EncodedInput = None
    task: str = 'segmentation'
    signal_name: str = 'small_region_ratio'
    tail_score: float = None      # fitted tail detector: p(tail) (None with the ratio rule)
    decoder_messages: list = field(default_factory=list)  # JPEG decoder warnings (damaged data)

    @property
    def signal_value(self):
        """Return the value the tail rule compared: p(tail) (fitted detector) or the signal."""
        return self.tail_score if self.tail_score is not None else self.signal

    @property
    def labels(self):
        """Return the label map of a segmentation result (None for other tasks)."""
        return self.output if self.signal_name == 'small_region_ratio' else None

    @property
    def detections(self):
        """Return the boxes of a detection result (None for other tasks)."""
        return self.output if self.signal_name == 'small_box_share' else None

    @property
    def small_region_ratio(self):
        """Return the segmentation tail signal (None for other tasks)."""
        return self.signal if self.signal_name == 'small_region_ratio' else None

    @property
    def small_box_share(self):
        """Return the detection tail signal (None for other tasks)."""
        return self.signal if self.signal_name == 'small_box_share' else None


class SequenceGuard:
    """
    Reject frames that arrive out of order or too old; follow an edge that restarted.

    Sequence numbers go through a :class:`runespoor.sequence.SequenceTracker`: the next frames
    (up to ``max_jump`` ahead) are accepted; sequence 0 after a higher one, or two consecutive
    frames of a new numbering, is an edge restart (accepted, :attr:`restarts` counted, and
    :attr:`restart_pending` set for the pipeline); a duplicate, a late frame or one forged far
    ahead (``2^64 - 1``) is rejected without moving the guard.  ``max_age_s > 0`` rejects frames
    whose capture stamp is older than that at receive time (compares two clocks: the robot and
    the server must be synchronised, e.g. chrony).
    """

    def __init__(self, max_age_s=0.0, max_jump=1000):
        self.max_age_s = float(max_age_s)
        self.tracker = SequenceTracker(max_jump=max_jump, confirm=2, restart_value=0)
        self.restart_pending = False

    @property
    def last(self):
        """Return the last accepted sequence number (None before the first frame)."""
        return self.tracker.last

    @property
    def restarts(self):
        """Return how many edge restarts were followed."""
        return self.tracker.restarts

    def check(self, frame):
        """Raise :class:`FrameError` (``out_of_order`` / ``stale``) or accept ``frame``."""
        seq = int(frame.sequence)
        if self.max_age_s > 0 and frame.capture_s > 0 and frame.receive_s > 0:
            age = frame.receive_s - frame.capture_s
            if age > self.max_age_s:
                raise FrameError('stale', f'frame {seq} is {age:.2f} s old '
                                 f'(max_frame_age_s {self.max_age_s:g})', seq)
        verdict = self.tracker.check(seq)
        if not verdict.accepted:
            raise FrameError('out_of_order', f'frame {seq} does not follow frame {verdict.last} '
                             '(duplicate, late, or a jump not yet confirmed by the next frame)',
                             seq)
        if verdict.status == RESTARTED:
            self.restart_pending = True


class FrameQueue:
    """
    Bounded FIFO between the subscription and the worker; full -> the oldest frame is dropped.

    Dropping the oldest keeps latency bounded: a slow cloud analyses the newest frames.
    """

    def __init__(self, maxsize=2):
        if maxsize < 1:
            raise ValueError('queue size must be >= 1')
        self._items = deque()
        self.maxsize = int(maxsize)
        self._cond = threading.Condition()
        self.dropped = 0
        self._closed = False

    def put(self, item):
        """Append ``item``; return the dropped oldest item when the queue was full, else None."""
        with self._cond:
            dropped = None
            if len(self._items) >= self.maxsize:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return dropped

    def get(self, timeout=None):
        """Pop the oldest item, waiting up to ``timeout`` s; None on timeout or close."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                return self._items.popleft()
            return None

    def close(self):
        """Wake every waiting :meth:`get`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self):
        with self._cond:
            return len(self._items)


class LatencyStats:
    """Per-stage latency windows (last ``window`` samples each) with median and p90."""

    def __init__(self, window=200):
        self.window = int(window)
        self._data = {}

    def add(self, stage, ms):
        """Record ``ms`` for ``stage``."""
        self._data.setdefault(stage, deque(maxlen=self.window)).append(float(ms))

    def summary(self):
        """Return ``{stage: {'p50': ms, 'p90': ms, 'n': count}}``."""
        out = {}
        for stage, values in self._data.items():
            arr = np.asarray(values, dtype=float)
            out[stage] = {'p50': float(np.percentile(arr, 50)),
                          'p90': float(np.percentile(arr, 90)), 'n': int(arr.size)}
        return out


def caption(image_bgr, text):
    """Return a copy of ``image_bgr`` with ``text`` in white on a black band at the top."""
    out = np.ascontiguousarray(image_bgr).copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


class BilinearReconstructor:
    """Fallback reconstruction (OpenCV bilinear to source size) when torch is unavailable."""

    method = 'bilinear'

    def reconstruct(self, lr_bgr, scale, size):
        """Return ``lr_bgr`` resized to ``size = (H, W)``, and no tensor."""
        h, w = size
        if lr_bgr.shape[:2] == (h, w):
            return lr_bgr, None
        return cv2.resize(lr_bgr, (w, h), interpolation=cv2.INTER_LINEAR), None


class TorchReconstructor:
    """Adapter of :class:`runespoor.reconstruct.Reconstructor` to BGR arrays in and out."""

    def __init__(self, method='bilinear', checkpoint_dir='', device='cpu', scales=()):
        from .checkpoint import CheckpointError
        from .reconstruct import Reconstructor, SR_METHODS
        self.method = method
        try:
            self.impl = Reconstructor(method, checkpoint_dir=checkpoint_dir or None,
                                      device=device,
                                      scales=scales if method in SR_METHODS else ())
        except CheckpointError as exc:
            raise ModelError(f'{exc} (method {method!r} needs one checkpoint per scale, '
                             f'<sr_dir>/{method}_x<scale>.pt, kind "sr")') from exc
        except ValueError as exc:
            raise ModelError(str(exc)) from exc

    def reconstruct(self, lr_bgr, scale, size):
        """Return (BGR uint8 at ``size = (H, W)``, the 1x3xHxW RGB tensor)."""
        from .tensors import bgr_to_tensor
        return self.reconstruct_tensor(bgr_to_tensor(lr_bgr, self.impl.device), scale, size)

    def reconstruct_tensor(self, lr, scale, size):
        """Reconstruct a ``1 x 3 x h x w`` RGB [0, 1] tensor (e.g. decoded on the GPU)."""
        from .checkpoint import CheckpointError
        from .tensors import tensor_to_bgr
        try:
            out = self.impl(lr, scale, size)
        except CheckpointError as exc:  # a scale not preloaded and without a checkpoint
            raise FrameError('unknown_scale', f'no {self.method} model for x{scale}: {exc}') \
                from exc
        return tensor_to_bgr(out), out


def make_reconstructor(method='bilinear', checkpoint_dir='', device='cpu', scales=()):
    """Build the reconstructor for ``method``; bilinear without torch falls back to OpenCV."""
    if method == 'bilinear':
        try:
            return TorchReconstructor('bilinear', device=device)
        except ImportError:
            return BilinearReconstructor()
    return TorchReconstructor(method, checkpoint_dir, device, scales)


@dataclass
class PipelineConfig:
    """Tunables of :class:`CloudPipeline` (the cloud node's parameters)."""

    tail_threshold: float = 0.01
    tail_direction: str = 'below'   # tail when ratio < threshold (paper); 'above': ratio >
    small_region_fraction: float = 0.001
    small_box_fraction: float = 0.0005   # detection: a box is small below this share of the frame
    hold_s: float = 1.0
    max_frame_age_s: float = 0.0
    max_source_side: int = 8192
    #: Largest source frame analysed [pixels]: bounds the memory of reconstruction and
    #: analytics per frame (3840 x 2160 is 8.3 M; 8192 x 8192 would need tens of GB).
    max_source_pixels: int = codec.MAX_SOURCE_PIXELS
    max_sequence_jump: int = 1000      # frames ahead still taken as the same stream
    max_clock_skew_s: float = 300.0    # capture stamps further from cloud time: latency unknown
    policy_resync_s: float = 2.0       # re-send a decision the edge has not followed after [s]
    policy_standard: Knobs = field(default_factory=lambda: Knobs(0, 0, 0.0, False))
    policy_tail: Knobs = field(default_factory=lambda: Knobs(0, 0, 0.0, True))
    #: ``ratio``: the paper's rule on the tail signal (``tail_threshold``/``tail_direction``);
    #: ``fitted``: ``tail_model`` (a :class:`runespoor.cac.detector.FittedDetector`, from the
    #: node's ``tail_model_file``) on the summary features of the same forward pass.
    tail_detector: str = 'ratio'
    tail_model: object = None


#: Tail detectors of :class:`PipelineConfig` (the cloud node's ``tail_detector`` parameter).
TAIL_DETECTORS = ('ratio', 'fitted')


class CloudPipeline:
    """
    Validate, decode, reconstruct, analyse and flag frames; decide rate policies.

    ``analytics`` is any :class:`Analytics` (:class:`Segmenter`, :class:`DetectorAnalytics`);
    one pipeline class serves both tasks.  ``clock`` returns the cloud time in seconds used for
    the hold time (default ``time.monotonic``); tests pass their own.
    """

    def __init__(self, reconstructor, analytics, config=None, clock=time.monotonic):
        self.reconstructor = reconstructor
        self.analytics = analytics
        self.config = config or PipelineConfig()
        self.clock = clock
        self.detector_note = None   # why a fitted tail model was not used (None: it is)
        self._check_detector()
        self.guard = SequenceGuard(self.config.max_frame_age_s, self.config.max_sequence_jump)
        self.tail = TailController(self.config.hold_s, self.config.policy_standard,
                                   self.config.policy_tail)
        self.latency = LatencyStats()
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.analysed = 0
        self.tail_frames = 0
        self.decoder_warnings = 0      # frames the JPEG decoder called damaged but decoded
        self.implausible_stamps = 0    # frames whose capture stamp is far from cloud time
        #: ``data -> 1 x 3 x h x w`` tensor decoder of the fast path (None: OpenCV arrays)
        self.tensor_decode = None
        self._lock = threading.Lock()

    def _check_detector(self):
        """Refuse a tail detector this pipeline cannot run (ValueError naming what is missing)."""
        cfg = self.config
        if cfg.tail_detector not in TAIL_DETECTORS:
            raise ValueError(f'tail detector {cfg.tail_detector!r}: use ratio or fitted')
        if cfg.tail_detector != 'fitted':
            return
        if cfg.tail_model is None:
            raise ValueError('tail_detector "fitted" needs a tail model file (tail_model_file, '
                             'written by `runespoor tail`)')
        if not hasattr(self.analytics, 'analyse_with_features'):
            raise ValueError(f'tail_detector "fitted" needs analytics that summarise their '
                             f'forward pass (segmentation); task {self.task!r} has none: use '
                             'tail_detector "ratio"')
        model_task = getattr(cfg.tail_model, 'task', 'segmentation')
        if model_task != self.task:
            # e.g. the node's default (segmentation) model file on a detection cloud: its
            # features are not this analytics' ones; fall back to the ratio rule, said here
            self.detector_note = (f'tail model fitted for {model_task}, task {self.task}: the '
                                  f'ratio rule instead (set tail_model_file to a {self.task} '
                                  'model, e.g. models/tail/tail_model_det.json)')
            self.config = replace(cfg, tail_detector='ratio', tail_model=None)

    @property
    def task(self):
        """Return the name of the analytics task: a key of ``runespoor.tasks.TASKS``."""
        return getattr(self.analytics, 'task', 'segmentation')

    @property
    def signal_name(self):
        """Return the name of the tail signal (:attr:`runespoor.tasks.Task.signal_name`)."""
        from .tasks import TASKS
        task = TASKS.get(self.task)
        return getattr(self.analytics, 'signal_name', None) or \
            (task.signal_name if task is not None else 'tail_signal')

    @property
    def method(self):
        """Return the reconstruction method name: bilinear, sr, asr or cloudseg."""
        return getattr(self.reconstructor, 'method', 'bilinear')

    def count_error(self, kind):
        """Count one error of ``kind`` (also used by the node for its own errors)."""
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def admit(self, frame):
        """Cheap checks on arrival, in arrival order; raise :class:`FrameError` (counted)."""
        try:
            self._check_header(frame)
            with self._lock:
                self.guard.check(frame)
        except FrameError as exc:
            self.count_error(exc.kind)
            raise
        return frame

    def stamp_plausible(self, frame):
        """
        Return True if ``frame``'s capture stamp is within ``max_clock_skew_s`` of its arrival.

        A stamp of 1970 or 2038 would make the published end-to-end latency meaningless
        (-3.5e11 ms); such frames are still analysed, counted in :attr:`implausible_stamps`,
        and their latency is reported as unknown (NaN).
        """
        skew = self.config.max_clock_skew_s
        ok = (math.isfinite(frame.capture_s) and frame.capture_s > 0
              and (skew <= 0 or abs(frame.receive_s - frame.capture_s) <= skew))
        if not ok:
            with self._lock:
                self.implausible_stamps += 1
        return ok

    def _check_header(self, frame):
        seq = frame.sequence
        if frame.image_format and 'jpeg' not in frame.image_format.lower() and \
                'jpg' not in frame.image_format.lower():
            raise FrameError('bad_format', f'frame {seq}: format {frame.image_format!r}, expected '
                             f'jpeg', seq)
        if isinstance(frame.scale, bool) or frame.scale not in codec.SCALES:
            raise FrameError('unknown_scale', f'frame {seq}: scale {frame.scale!r} not one of '
                             f'{codec.SCALES}', seq)
        lo, hi = codec.JPEG_QUALITY_RANGE
        if not lo <= frame.jpeg_quality <= hi:
            raise FrameError('bad_knobs', f'frame {seq}: jpeg_quality {frame.jpeg_quality} '
                             f'outside [{lo}, {hi}]', seq)
        if not (math.isfinite(frame.frame_rate) and frame.frame_rate >= 0):
            raise FrameError('bad_knobs', f'frame {seq}: frame_rate {frame.frame_rate!r} must '
                             'be finite and >= 0', seq)
        w, h, top = frame.source_width, frame.source_height, self.config.max_source_side
        if not (0 < w <= top and 0 < h <= top):
            raise FrameError('bad_size', f'frame {seq}: source size {w}x{h} outside '
                             f'1..{top} px', seq)
        if self.config.max_source_pixels and w * h > self.config.max_source_pixels:
            raise FrameError('bad_size', f'frame {seq}: source {w}x{h} = {w * h} pixels above '
                             f'max_source_pixels {self.config.max_source_pixels}', seq)
        if frame.scale > 1 and (w < frame.scale or h < frame.scale):
            raise FrameError('bad_size', f'frame {seq}: source {w}x{h} smaller than scale '
                             f'x{frame.scale}', seq)
        if not frame.data:
            raise FrameError('undecodable', f'frame {seq}: empty JPEG payload', seq)
        try:  # the header only: cheap, and refuses a 600-byte "65000 x 65000" before decoding
            fmt, jw, jh = codec.probe_image(frame.data)
        except codec.CodecError as exc:
            kind = 'bad_format' if 'not a JPEG' in str(exc) else 'undecodable'
            raise FrameError(kind, f'frame {seq}: {exc}', seq) from exc
        if fmt != 'jpeg':
            raise FrameError('bad_format', f'frame {seq}: payload is {fmt.upper()} although '
                             f'labelled {frame.image_format!r}; expected jpeg', seq)
        want = codec.scaled_size(w, h, frame.scale)
        if (jw, jh) != want:
            raise FrameError('size_mismatch', f'frame {seq}: JPEG header says {jw}x{jh} but '
                             f'source {w}x{h} at x{frame.scale} gives {want[0]}x{want[1]}', seq)

    def warm_up(self, scales=(2,), width=128, height=64):
        """
        Run a grey frame through reconstruction and analytics per scale; return the time [ms].

        The first call of a model pays for kernel selection, thread pools and lazy loading
        (0.3 s against 0.05 s for the next frame with the test models on 2 CPU cores); doing it
        at start-up keeps that off the first real frame, e.g. after a cloud restart.  Counters,
        the sequence guard and the tail state are not touched.
        """
        t0 = time.perf_counter()
        size = (int(height), int(width))
        for scale in scales:
            w, h = codec.scaled_size(width, height, scale)
            lr = np.full((h, w, 3), 128, np.uint8)
            hr, tensor = self.reconstructor.reconstruct(lr, scale, size)
            self.analytics(hr, tensor)
        return (time.perf_counter() - t0) * 1e3

    def process(self, frame):
        """Analyse an admitted frame; return a :class:`FrameResult` or raise FrameError."""
        try:
            return self._process(frame)
        except FrameError as exc:
            self.count_error(exc.kind)
            raise

    def _process(self, frame):
        return self.finish(self.infer(self.start(frame)))

    # The three stages of :meth:`process`, for a worker that overlaps frames (decode the next
    # frame while the models run on this one, publish the previous one meanwhile:
    # :class:`runespoor.stages.StagePipeline`).  ``start`` and ``infer`` may run on other
    # threads than ``finish``; ``finish`` must see the frames in order (the tail state).
    def start(self, frame):
        """
        Stage 1: decode an admitted frame; return the work item (FrameError not counted).

        With :attr:`tensor_decode` set (the node's ``gpu_decode`` / ``pin_memory`` fast path:
        ``data -> 1 x 3 x h x w`` tensor on the models' device) the frame is decoded straight
        into a tensor for reconstructors that take one; else by OpenCV (:meth:`decode`).
        """
        t0 = time.perf_counter()
        lr, notes = self.decode_input(frame)
        item = {'frame': frame, 'lr': None, 'lr_tensor': None, 'notes': notes,
                'times': [t0, time.perf_counter()]}
        item['lr' if isinstance(lr, np.ndarray) else 'lr_tensor'] = lr
        return item

    def decode_input(self, frame):
        """
        Decode an admitted frame for the reconstructor; return ``(lr, notes)``.

        ``lr`` is a ``1 x 3 x h x w`` tensor on the models' device when :attr:`tensor_decode`
        is set and the reconstructor takes tensors (``reconstruct_tensor``), else the BGR
        array of :meth:`decode`.  Raises :class:`FrameError` (not counted here).
        """
        if self.tensor_decode is not None and hasattr(self.reconstructor, 'reconstruct_tensor'):
            return self._decode_tensor(frame), []
        return self.decode(frame)

    def _decode_tensor(self, frame):
        seq = frame.sequence
        want = codec.scaled_size(frame.source_width, frame.source_height, frame.scale)
        try:
            lr = self.tensor_decode(frame.data)
        except Exception as exc:  # noqa: B902 - nvJPEG / OpenCV errors differ; header passed
            raise FrameError('undecodable', f'frame {seq}: {exc}', seq) from exc
        got = (int(lr.shape[-1]), int(lr.shape[-2]))
        if lr.dim() != 4 or got != want:
            raise FrameError('size_mismatch', f'frame {seq}: decoded {got[0]}x{got[1]} but '
                             f'source {frame.source_width}x{frame.source_height} at '
                             f'x{frame.scale} gives {want[0]}x{want[1]}', seq)
        return lr

    def infer(self, item):
        """Stage 2: reconstruct and analyse the decoded frame of ``item`` (the models)."""
        frame = item['frame']
        size = (frame.source_height, frame.source_width)
        if item.get('lr_tensor') is not None:
            hr, tensor = self.reconstructor.reconstruct_tensor(item['lr_tensor'], frame.scale,
                                                               size)
        else:
            hr, tensor = self.reconstructor.reconstruct(item['lr'], frame.scale, size)
        item['times'].append(time.perf_counter())
        if self.config.tail_detector == 'fitted':
            output, feats = self.analytics.analyse_with_features(hr, tensor, self.config)
        else:
            output, feats = self.analytics(hr, tensor), None
        item['times'].append(time.perf_counter())
        item.update(hr=hr, output=output, feats=feats, lr=None, lr_tensor=None)
        return item

    def finish(self, item):
        """Stage 3: the tail decision of an analysed ``item``; return its :class:`FrameResult`."""
        return self.conclude(item['frame'], item['hr'], item['output'], item['feats'],
                             item['notes'], tuple(item['times']))

    def decode(self, frame):
        """
        Decode an admitted frame's JPEG and check its size; return ``(lr_bgr, notes)``.

        The first stage of :meth:`process` (also used by the batched fleet pipeline,
        :mod:`runespoor.fleet`); raises :class:`FrameError` (not counted here).
        """
        seq = frame.sequence
        want = codec.scaled_size(frame.source_width, frame.source_height, frame.scale)
        try:
            lr, notes = codec.decode_image(frame.data, expect=want, capture=True)
        except codec.CodecError as exc:
            kind = 'size_mismatch' if 'expected' in str(exc) else 'undecodable'
            raise FrameError(kind, f'frame {seq}: {exc}', seq) from exc
        got = (lr.shape[1], lr.shape[0])
        if got != want:
            raise FrameError('size_mismatch', f'frame {seq}: decoded {got[0]}x{got[1]} but '
                             f'source {frame.source_width}x{frame.source_height} at '
                             f'x{frame.scale} gives {want[0]}x{want[1]}', seq)
        if notes:
            with self._lock:
                self.decoder_warnings += 1
        return lr, notes

    def conclude(self, frame, hr, output, feats, notes, times):
        """
        Turn one frame's analytics output into a :class:`FrameResult`; update the tail state.

        ``output`` is the analytics' result for the reconstructed ``hr``; ``feats`` the summary
        features of the same forward pass (fitted tail detector) or None; ``times`` the
        ``perf_counter`` stamps before decode, reconstruction, analytics and after analytics.
        The last stage of :meth:`process`, shared with the batched fleet pipeline.
        """
        seq = frame.sequence
        t0, t1, t2, t3 = times
        size = (frame.source_height, frame.source_width)
        cfg = self.config
        score = None
        if cfg.tail_detector == 'fitted':
            model = cfg.tail_model
            value = float(feats[list(model.feature_names).index(self.signal_name)])
            score = float(model.probability(feats, frame.scale))
            threshold = float(model.threshold_for(frame.scale))
            is_tail = score > threshold
        else:
            value = float(self.analytics.tail_signal(output, size, cfg))
            threshold = cfg.tail_threshold
            is_tail = is_tail_ratio(value, cfg.tail_threshold, cfg.tail_direction)
        with self._lock:
            restarted, self.guard.restart_pending = self.guard.restart_pending, False
        now = self.clock()
        self.tail.now_s = now
        policy = self.tail.restart(seq) if restarted else None
        policy = self.tail.update(is_tail, now, seq) or policy
        if policy is None:
            policy = self.tail.check_followed(int(frame.policy_sequence), now, seq,
                                              self.config.policy_resync_s)
        t4 = time.perf_counter()
        lat = {'decode_ms': (t1 - t0) * 1e3, 'reconstruct_ms': (t2 - t1) * 1e3,
               'inference_ms': (t3 - t2) * 1e3, 'postprocess_ms': (t4 - t3) * 1e3}
        for stage, ms in lat.items():
            self.latency.add(stage, ms)
        with self._lock:
            self.analysed += 1
            self.tail_frames += int(is_tail)
        return FrameResult(sequence=seq, output=output, reconstructed=hr, signal=value,
                           is_tail=is_tail, threshold=threshold, tail_score=score,
                           knobs=frame.knobs, method=self.method, latencies_ms=lat,
                           policy=policy, frame=frame, task=self.task,
                           signal_name=self.signal_name, decoder_messages=notes)


def finite_or(value, default=0.0):
    """Return ``value`` if it is a finite float, else ``default``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default
