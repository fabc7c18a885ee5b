# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Runespoor cloud node: ``EncodedFrame`` -> reconstruct -> analyse -> tail flag -> policy.

Subscribes ``runespoor/encoded``.  Per analysed frame, with ``task: segmentation`` (default) it
publishes ``runespoor/semantic_map`` (mono8 train ids at source size) and
``runespoor/semantic_map/color`` (Cityscapes palette, for RViz); with ``task: detection``
``runespoor/detections`` (``Detection2DArray``) and ``runespoor/detections/image`` (boxes drawn
on the reconstructed frame, for RViz); in both ``runespoor/tail_flag`` and every n-th
``runespoor/reconstructed`` frame.  Per received frame ``runespoor/link_feedback``;
``runespoor/rate_policy`` when the tail state changes; and ``/diagnostics``.  The work is
:class:`runespoor.cloud_pipeline.CloudPipeline` with the analytics of the task
(:mod:`runespoor.tasks`; its publishers: :mod:`runespoor_cloud.outputs`); this node adapts
messages, owns the bounded queue and one worker thread.
"""

import os
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
import rclpy.executors
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from runespoor import codec
from runespoor.cac.detector import FittedDetector
from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, FrameError, FrameQueue,
                                      make_reconstructor, ModelError, PipelineConfig,
                                      TAIL_DETECTORS)
from runespoor.device import resolve_device
from runespoor.edge_control import Knobs, WindowedRate
from runespoor.map_output import MAP_OUTPUTS
from runespoor.stages import StagePipeline
from runespoor.tail_control import TAIL_DIRECTIONS
from runespoor.tasks import get_task, TaskError
from runespoor_cloud.outputs import make_output
from runespoor_edge import image_conv
from runespoor_edge.node_main import ThrottledWarnings
from runespoor_edge.ros_common import (describe, DIAG_QOS, FEEDBACK_QOS, POLICY_QOS, RESULT_QOS,
                                       stamp_to_s, UPLINK_QOS)
from runespoor_msgs.msg import EncodedFrame, LinkFeedback, RatePolicy, TailFrameFlag
from sensor_msgs.msg import Image

#: TailFrameFlag.signal of the fitted detector (p(tail)); the constant is in the message
#: definition, the literal keeps workspaces built before it working.
SIGNAL_TAIL_PROBABILITY = getattr(TailFrameFlag, 'SIGNAL_TAIL_PROBABILITY', 2)
#: TailFrameFlag.signal of a plug-in task's own signal (no SIGNAL_<NAME> constant).
SIGNAL_TASK_DEFINED = getattr(TailFrameFlag, 'SIGNAL_TASK_DEFINED', 3)


def resolve_model_path(path):
    """
    Resolve a relative model path against ``$RUNESPOOR_HOME``, else the working directory.

    ``scripts/env.sh`` sets ``RUNESPOOR_HOME`` to the repository, so the YAML default
    ``models/...`` finds the shipped weights wherever ``ros2 launch`` is started.
    """
    if not path or os.path.isabs(path):
        return path
    home = os.environ.get('RUNESPOOR_HOME')
    return os.path.join(home, path) if home else os.path.abspath(path)


#: name -> (default, descriptor); defaults mirror config/cloud.yaml (config/cloud_detection.yaml
#: holds the detection task's settings).
PARAMETERS = {
    'task': ('segmentation', describe('analytics task (runespoor.tasks): segmentation '
                                      '(SemanticMap) | detection (Detection2DArray) | a plug-in '
                                      'as package.module:TaskClass', read_only=True,
                                      additional_constraints='segmentation | detection | '
                                      'package.module:TaskClass')),
    'analytics_model': ('', describe('your own analytics model by configuration: a YAML mapping '
                                     '(or a YAML file) of runespoor.user_models keys -- '
                                     'torchvision, '
                                     'torchscript, builder, weights, normalize, input_size, '
                                     'class_map...; empty: seg_arch/seg_weights (det_arch/'
                                     'det_weights). docs/user_models.md', read_only=True)),
    'method': ('bilinear', describe('reconstruction: bilinear | sr | asr | cloudseg',
                                    read_only=True)),
    'device': ('auto', describe('auto | cpu | cuda', read_only=True)),
    'sr_dir': ('models/sr', describe('folder of SR checkpoints <method>_x<scale>.pt',
                                     read_only=True)),
    'sr_scales': ([2, 4, 6, 8], describe('scales whose SR checkpoints must exist at start-up',
                                         read_only=True)),
    'seg_arch': ('swiftnet_r18_lite', describe('segmentation architecture (runespoor.archs), or '
                                               'none / palette (test modes without weights)',
                                               read_only=True)),
    'seg_weights': ('models/seg/swiftnet_r18_lite.pt', describe('segmentation checkpoint',
                                                                read_only=True)),
    'det_arch': ('retinanet_r18_lite', describe('detection architecture (runespoor.archs), task '
                                                'detection', read_only=True)),
    'det_weights': ('models/det/retinanet_r18_lite.pt',
                    describe('detection checkpoint (kind det), task detection', read_only=True)),
    'det_score_threshold': (0.3, describe('detections below this score are dropped (published '
                                          'and tail signal) [fraction]', lo=0.0, hi=1.0)),
    'small_box_fraction': (0.0005, describe('detection: a box is small below this share of the '
                                            'frame area [fraction]', lo=0.0, hi=1.0)),
    'tail_threshold': (0.01, describe('a frame is a tail frame when its tail signal (small-region '
                                      'ratio; detection: small-box share) is below this '
                                      '[fraction]', lo=0.0, hi=1.0)),
    'tail_direction': ('below', describe('below: tail when the ratio is below the threshold '
                                         '(paper); above: when above (the rule profiling fits '
                                         'on data where many small regions mean low accuracy)',
                                         additional_constraints='below | above')),
    'small_region_fraction': (0.001, describe('a region is small below this share of the frame '
                                              '[fraction]', lo=0.0, hi=1.0)),
    'tail_detector': ('fitted', describe(
        "ratio: the paper's rule (tail_threshold, tail_direction); fitted: the logistic model "
        'of tail_model_file on the summary features of the same forward pass (segmentation '
        'models; the test segmenters and detection use ratio; docs/cac.md)',
        read_only=True, additional_constraints='ratio | fitted')),
    'tail_model_file': ('models/tail/tail_model_seg.json', describe(
        'tail-detector JSON written by `runespoor tail` (weights and per-scale thresholds; '
        'never pickle); needed by tail_detector fitted', read_only=True)),
    'hold_s': (1.0, describe('tail mode is kept this long after the last tail frame [s]',
                             lo=0.0, hi=600.0)),
    'max_frame_age_s': (0.0, describe('drop frames older than this at arrival; 0 = off (needs '
                                      'synchronised clocks) [s]', lo=0.0, hi=3600.0)),
    'max_source_pixels': (codec.MAX_SOURCE_PIXELS, describe(
        'largest source frame analysed (width x height): bounds the memory per frame; larger '
        "frames are refused from their header, before decoding; the edge's max_input_pixels "
        'has the same default [pixels]', read_only=True,
        lo=1, hi=8192 * 8192, kind=int)),
    'max_source_side': (8192, describe(
        'longest side of a source frame analysed; longer frames are refused from their '
        'header, before decoding [px]', read_only=True, lo=16, hi=65535, kind=int)),
    'max_clock_skew_s': (300.0, describe(
        'a capture stamp further than this from the cloud clock makes the end-to-end latency '
        'unknown (NaN, counted as implausible_stamps); 0 = never [s]', lo=0.0, hi=1e9)),
    'policy_resync_s': (2.0, describe(
        're-send the tail decision in force (new policy_sequence, at most 3 times) when '
        'analysed frames show the edge is not following it this long after it was sent (lost '
        'policy, edge restart or fallback); 0 = never [s]', lo=0.0, hi=3600.0)),
    'warm_up': (True, describe('run a small grey frame through reconstruction and analytics '
                               'per scale in sr_scales before "cloud ready", so the first real '
                               'frame does not pay the first-call cost', read_only=True)),
    'precision': ('auto', describe('SR and segmentation networks in auto (fp16 on CUDA, fp32 on '
                                   'CPU) | fp32 | fp16 | bf16 (runespoor.fast_path)',
                                   read_only=True, additional_constraints='auto | fp32 | fp16 | '
                                   'bf16')),
    'channels_last': ('auto', describe('NHWC convolutions: auto (on CUDA) | on | off',
                                       read_only=True)),
    'graphs': ('auto', describe('auto (cudagraph on CUDA, off on CPU) | off | cudagraph | '
                                'compile: captured / compiled at warm-up for the warm-up size, '
                                'replayed per frame (other sizes run eager)', read_only=True)),
    'gpu_decode': ('auto', describe('decode JPEG on the GPU (torchvision nvJPEG) into the '
                                    "models' input: auto (on with CUDA when available) | on | "
                                    'off; the header checks run first either way',
                                    read_only=True, additional_constraints='auto | on | off')),
    'pin_memory': ('auto', describe('page-locked host buffers for the host -> GPU copy of a '
                                    'CPU-decoded frame: auto (on with CUDA) | on | off',
                                    read_only=True, additional_constraints='auto | on | off')),
    'pipelining': ('auto', describe('overlap consecutive frames (runespoor.stages): decode the '
                                    'next and publish the previous while the models run, one '
                                    'thread per stage, bounded hand-overs, order kept: auto '
                                    '(on with CUDA) | on | off', read_only=True,
                                    additional_constraints='auto | on | off')),
    'warm_up_width': (128, describe('width of the warm-up frame: the source width the robots '
                                    'stream, so CUDA graphs are captured for it [px]',
                                    read_only=True, lo=8, hi=8192, kind=int)),
    'warm_up_height': (64, describe('height of the warm-up frame [px]', read_only=True, lo=8,
                                    hi=8192, kind=int)),
    'queue_size': (2, describe('frames waiting for analysis; full -> oldest dropped',
                               read_only=True, lo=1, hi=100, kind=int)),
    'publish_reconstructed_every_n': (5, describe('publish every n-th reconstructed frame; 0 = '
                                                  'never', lo=0, hi=100000, kind=int)),
    'publish_color': (True, describe('publish the colourised map for RViz')),
    'map_output': ('full', describe(
        'what SemanticMap carries: full (mono8 labels at source size), downsampled (every '
        'map_downsample-th pixel per side), png (labels empty, the full map as a lossless PNG '
        'in labels_compressed) or stats (no map: class_shares and the tail flag only); '
        'class_shares are always filled', additional_constraints='full | downsampled | png | '
        'stats')),
    'map_downsample': (4, describe('map_output downsampled: keep every n-th pixel per side',
                                   lo=1, hi=64, kind=int)),
    'policy_standard_scale': (0, describe('standard config sent in RatePolicy; 0 = the edge '
                                          'chooses (its profile)', lo=0, hi=8, kind=int)),
    'policy_standard_jpeg_quality': (0, describe('JPEG quality of that config', lo=0, hi=100,
                                                 kind=int)),
    'policy_tail_scale': (0, describe('tail config sent in RatePolicy; 0 = the edge chooses',
                                      lo=0, hi=8, kind=int)),
    'policy_tail_jpeg_quality': (0, describe('JPEG quality of that config', lo=0, hi=100,
                                             kind=int)),
    'feedback_window_s': (2.0, describe('window of the received-throughput figure [s]',
                                        read_only=True, lo=0.1, hi=60.0)),
    'diagnostics_period_s': (1.0, describe('/diagnostics period [s]', read_only=True, lo=0.1,
                                           hi=60.0)),
}
#: Parameters naming files or folders: read-only, read once at start-up (never on a remote
#: parameter call), only regular files of bounded size, weights with weights_only=True.
FILE_PARAMETERS = frozenset({'sr_dir', 'seg_weights', 'det_weights', 'tail_model_file'})


def _knobs(scale, quality, tail):
    if scale == 0:
        return Knobs(0, 0, 0.0, tail)
    return Knobs(int(scale), int(quality), 0.0, tail).validated('policy')


def declare_parameters(node, parameters):
    """Declare ``parameters`` (name -> (default, descriptor)) on ``node``; return the values."""
    for name, (default, desc) in parameters.items():
        node.declare_parameter(name, default, desc)
    p = {name: node.get_parameter(name).value for name in parameters}
    for key in FILE_PARAMETERS & set(p):
        p[key] = resolve_model_path(p[key])
    spec = str(p.get('analytics_model', '')).strip()
    if spec and not spec.startswith('{'):  # a YAML file, found like the other model files
        p['analytics_model'] = resolve_model_path(spec)
    if 'task' in p:
        try:
            get_task(p['task'])
        except TaskError as exc:
            raise ValueError(f'parameter task={p["task"]!r}: {exc}') from exc
    if 'tail_direction' in p and p['tail_direction'] not in TAIL_DIRECTIONS:
        raise ValueError(f'parameter tail_direction={p["tail_direction"]!r}: below or above')
    if 'tail_detector' in p and p['tail_detector'] not in TAIL_DETECTORS:
        raise ValueError(f'parameter tail_detector={p["tail_detector"]!r}: ratio or fitted')
    return p


def load_tail_model(p, log=None):
    """
    Return the fitted tail detector of ``tail_model_file`` (None for ``ratio``).

    The model reads the analytics' tail features: where the task says they are unavailable
    (``Task.fitted_tail_unavailable``: a test segmenter has no logits, a task without tail
    features), ``p['tail_detector']`` becomes ``ratio`` (said on ``log``).
    """
    if p['tail_detector'] != 'fitted':
        return None
    task = get_task(p.get('task', 'segmentation'))
    why_not = task.fitted_tail_unavailable(p)
    if why_not:
        if log is not None:
            log.warning(f'tail_detector fitted needs tail features from the analytics; {why_not}: '
                        f'the ratio rule ({p["tail_direction"]} {p["tail_threshold"]:g})')
        p['tail_detector'] = 'ratio'
        return None
    if not p['tail_model_file']:
        raise ModelError('tail_detector fitted needs tail_model_file (a JSON written by '
                         '`runespoor tail`)')
    try:
        return FittedDetector.load(p['tail_model_file'])
    except (OSError, ValueError) as exc:
        raise ModelError(f'tail model file {p["tail_model_file"]}: {exc}') from exc


def pipelining_on(mode, device):
    """Resolve the ``pipelining`` parameter (auto: on with CUDA); ValueError for a bad value."""
    mode = str(mode).lower()
    if mode not in ('auto', 'on', 'off'):
        raise ValueError(f'parameter pipelining={mode!r}: auto | on | off')
    return mode == 'on' or (mode == 'auto' and str(device).startswith('cuda'))


def pipeline_config(p, tail_model=None):
    """Return the :class:`PipelineConfig` of the node parameters ``p``."""
    return PipelineConfig(
        tail_threshold=p['tail_threshold'], tail_direction=p['tail_direction'],
        small_region_fraction=p['small_region_fraction'],
        small_box_fraction=p['small_box_fraction'],
        hold_s=p['hold_s'], max_frame_age_s=p['max_frame_age_s'],
        max_source_pixels=p['max_source_pixels'], max_source_side=p['max_source_side'],
        max_clock_skew_s=p['max_clock_skew_s'],
        policy_resync_s=p['policy_resync_s'],
        policy_standard=_knobs(p['policy_standard_scale'],
                               p['policy_standard_jpeg_quality'], False),
        policy_tail=_knobs(p['policy_tail_scale'], p['policy_tail_jpeg_quality'], True),
        tail_detector=p['tail_detector'], tail_model=tail_model)


def tensor_decoder(fast):
    """
    Return the pipeline's ``tensor_decode`` for the resolved fast path ``fast``, or None.

    With ``gpu_decode`` or ``pin_memory`` on, frames are decoded straight into a tensor on the
    models' device (nvJPEG, or OpenCV then a pinned copy): ``data -> 1 x 3 x h x w``.
    """
    if not (fast.gpu_decode or fast.pin_memory):
        return None
    from functools import partial

    from runespoor.fast_path import decode_jpeg_tensor
    return partial(decode_jpeg_tensor, fast=fast)


def setup_fast_path(node, p, device, reconstructor, analytics):
    """Put the networks on the fast path of parameters ``p``; log and return the settings."""
    from runespoor import fast_path
    fast = fast_path.resolve(device, p['precision'], p['channels_last'], p['graphs'],
                             p.get('gpu_decode', 'off'), p.get('pin_memory', 'off'))
    wrapped = fast_path.apply(reconstructor, analytics, fast)
    node.get_logger().info(f'fast path: {fast.precision}, channels_last {fast.channels_last}, '
                           f'graphs {fast.graphs}, gpu_decode {fast.gpu_decode}, pin_memory '
                           f'{fast.pin_memory} ({wrapped} networks wrapped)')
    return fast


def warm_up(pipeline, fast, p, batch_sizes=(1,)):
    """Warm the models at the warm-up size, capturing graphs there; return the time [ms]."""
    from runespoor import fast_path
    t0 = time.perf_counter()
    scales = [int(x) for x in p['sr_scales'] if int(x) in (1, 2, 4, 6, 8)] or [2]
    size = (int(p['warm_up_height']), int(p['warm_up_width']))
    fast_path.warm_up(pipeline.reconstructor, pipeline.analytics, fast, scales, size,
                      batch_sizes)
    pipeline.warm_up(scales, size[1], size[0])
    return (time.perf_counter() - t0) * 1e3


class CloudNode(Node):
    """Thin ROS adapter around :class:`CloudPipeline`."""

    def __init__(self, node_name='runespoor_cloud', **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, PARAMETERS)
        log = self.get_logger()
        tail_model = load_tail_model(p, log)
        self.task_plugin = get_task(p['task'])
        self.task = self.task_plugin.name
        device = resolve_device(p['device'])
        # Models: refuse to start on missing / mismatched files (ModelError names the file).
        reconstructor = make_reconstructor(p['method'], p['sr_dir'], device,
                                           tuple(int(s) for s in p['sr_scales']))
        analytics = self._make_analytics(p, device)
        self.fast = setup_fast_path(self, p, device, reconstructor, analytics)
        log.info(f'reconstruction: {p["method"]}'
                 + (f' from {p["sr_dir"]} (scales {list(p["sr_scales"])})'
                    if p['method'] != 'bilinear' else ' (no model)') + f' on {device}')
        self.pipeline = CloudPipeline(reconstructor, analytics, pipeline_config(p, tail_model))
        self.pipeline.tensor_decode = tensor_decoder(self.fast)
        if p['warm_up']:
            scales = [int(x) for x in p['sr_scales'] if int(x) in (1, 2, 4, 6, 8)] or [2]
            log.info(f'warm-up (scales {scales}): {warm_up(self.pipeline, self.fast, p):.0f} ms')
        if self.pipeline.detector_note:
            log.warning(self.pipeline.detector_note)
        tail_model = self.pipeline.config.tail_model  # None when the pipeline fell back
        if tail_model is not None:
            log.info(f'tail detector: fitted model {p["tail_model_file"]} (scales '
                     f'{sorted(tail_model.models)}, p(tail) thresholds '
                     f'{ {k: round(v, 3) for k, v in sorted(tail_model.thresholds.items())} })')
        self._init_state(p, FrameQueue(p['queue_size']))
        self._make_endpoints(p)
        self._stop = threading.Event()
        self._stages = self._make_stages(p['pipelining'], device)
        self._worker = threading.Thread(target=self._work, name='cloud-worker', daemon=True)
        self._worker.start()
        rule = ('the fitted tail model' if tail_model is not None else
                f'{self.task_plugin.describe_signal(self.pipeline.config)} '
                f'{p["tail_direction"]} {p["tail_threshold"]:g}')
        log.info(f'cloud ready ({self.task}): listening on '
                 f'{self.resolve_topic_name("runespoor/encoded")}, tail when {rule}, hold '
                 f'{p["hold_s"]:g} s, queue {p["queue_size"]}')

    def _init_state(self, p, queue):
        """Set up the counters, windows and the parameter callback of one served robot."""
        self.queue = queue
        self.received = WindowedRate(p['feedback_window_s'])
        self.counters = {'frames_received': 0, 'frames_analysed': 0, 'tail_frames': 0,
                         'policies_sent': 0}
        self._e2e_ms = []
        self._last_error = ''
        self._warnings = ThrottledWarnings(self.get_logger())
        self._lock = threading.Lock()
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _make_endpoints(self, p):
        """Create the publishers, the uplink subscription and the diagnostics timer."""
        self.output = make_output(self.task_plugin, self)
        self.flag_pub = self.create_publisher(TailFrameFlag, 'runespoor/tail_flag', RESULT_QOS)
        self.recon_pub = self.create_publisher(Image, 'runespoor/reconstructed',
                                               qos_profile_sensor_data)
        self.flag_image_pub = self.create_publisher(Image, 'runespoor/tail_flag/image',
                                                    qos_profile_sensor_data)
        self.policy_pub = self.create_publisher(RatePolicy, 'runespoor/rate_policy', POLICY_QOS)
        self.feedback_pub = self.create_publisher(LinkFeedback, 'runespoor/link_feedback',
                                                  FEEDBACK_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', DIAG_QOS)
        self.create_subscription(EncodedFrame, 'runespoor/encoded', self._on_frame,
                                 UPLINK_QOS['best_effort'])
        self.create_timer(p['diagnostics_period_s'], self._publish_diagnostics)

    def _make_analytics(self, p, device):
        """Build the task's analytics (ModelError on missing / mismatched weights)."""
        log = self.get_logger()
        try:
            analytics = get_task(p['task']).make_analytics(p, device)
        except TaskError as exc:
            raise ModelError(str(exc)) from exc
        info = getattr(analytics, 'info', {}) or {}
        if info.get('warning'):
            log.warning(info['warning'])
        log.info(f'{analytics.task}: {info.get("summary") or analytics_summary(analytics)} on '
                 f'{device}')
        return analytics

    # -- parameters ------------------------------------------------------------------------
    def _on_set_parameters(self, params):
        cfg = self.pipeline.config
        try:
            for prm in params:
                if prm.name not in PARAMETERS:
                    continue
                if prm.name in FILE_PARAMETERS:  # read_only already; never open a remote path
                    raise ValueError(f'{prm.name} names a file: it is read only at start-up '
                                     '(restart the node to change it)')
                want = type(PARAMETERS[prm.name][0])
                if want is float and isinstance(prm.value, int) and \
                        not isinstance(prm.value, bool):
                    raise ValueError(f'{prm.name} is a float (write {prm.value}.0)')
                if not isinstance(prm.value, want):
                    raise ValueError(f'{prm.name} must be {want.__name__}')
                if want is float and not np.isfinite(prm.value):
                    raise ValueError(f'{prm.name} must be finite')
            new = {prm.name: prm.value for prm in params}
            get = {n: new.get(n, self.get_parameter(n).value) for n in PARAMETERS}
            if get['map_output'] not in MAP_OUTPUTS:
                raise ValueError(f'map_output {get["map_output"]!r}: '
                                 f'{" | ".join(MAP_OUTPUTS)}')
            if get['tail_direction'] not in TAIL_DIRECTIONS:
                raise ValueError(f'tail_direction {get["tail_direction"]!r}: below or above')
            std = _knobs(get['policy_standard_scale'], get['policy_standard_jpeg_quality'],
                         False)
            tail = _knobs(get['policy_tail_scale'], get['policy_tail_jpeg_quality'], True)
        except ValueError as exc:
            self.get_logger().warning(f'rejected parameter change: {exc}')
            return SetParametersResult(successful=False, reason=str(exc))
        cfg.tail_threshold = float(get['tail_threshold'])
        cfg.tail_direction = get['tail_direction']
        cfg.small_region_fraction = float(get['small_region_fraction'])
        cfg.small_box_fraction = float(get['small_box_fraction'])
        if hasattr(self.pipeline.analytics, 'score_threshold'):
            self.pipeline.analytics.score_threshold = float(get['det_score_threshold'])
        cfg.hold_s = self.pipeline.tail.hold_s = float(get['hold_s'])
        cfg.max_frame_age_s = self.pipeline.guard.max_age_s = float(get['max_frame_age_s'])
        cfg.max_clock_skew_s = float(get['max_clock_skew_s'])
        cfg.policy_resync_s = float(get['policy_resync_s'])
        self.pipeline.tail.standard, self.pipeline.tail.tail = std, tail
        self.get_logger().info(f'parameters changed: {new}')
        return SetParametersResult(successful=True)

    # -- input -----------------------------------------------------------------------------
    def _on_frame(self, msg):
        now = self.get_clock().now()
        recv_s = now.nanoseconds * 1e-9
        self.counters['frames_received'] += 1
        nbytes = len(msg.image.data)
        self.received.add(recv_s, nbytes)
        frame = EncodedInput(
            sequence=int(msg.sequence), data=bytes(msg.image.data), scale=int(msg.knobs.scale),
            jpeg_quality=int(msg.knobs.jpeg_quality), source_width=int(msg.source_width),
            source_height=int(msg.source_height), capture_s=stamp_to_s(msg.header.stamp),
            send_s=stamp_to_s(msg.send_stamp), receive_s=recv_s,
            frame_rate=float(msg.knobs.frame_rate), tail_specific=bool(msg.knobs.tail_specific),
            policy_sequence=int(msg.policy_sequence), image_format=msg.image.format)
        fb = LinkFeedback()
        fb.header.stamp = now.to_msg()
        fb.header.frame_id = msg.header.frame_id
        fb.sequence = msg.sequence
        fb.bytes = nbytes
        fb.send_stamp = msg.send_stamp
        fb.throughput_kbps = float(self.received.kbps())
        fb.frames_dropped = int(sum(self.pipeline.errors.values()))
        self.feedback_pub.publish(fb)
        try:
            self.pipeline.admit(frame)
        except FrameError as exc:
            self._bad_frame(exc)
            return
        frame.ros_header = msg.header  # copied into the outputs
        frame.stamp_ok = self.pipeline.stamp_plausible(frame)
        if not frame.stamp_ok:
            self._throttled('stamp', f'frame {frame.sequence}: capture stamp '
                            f'{frame.capture_s:.3f} s is more than max_clock_skew_s from the '
                            f'cloud clock ({recv_s:.3f} s); end-to-end latency unknown')
        if self.queue.put(frame) is not None:
            self.pipeline.count_error('queue_full')

    def _bad_frame(self, exc):
        """Log a skipped frame: every kind at once, then at most once a second per kind."""
        self._last_error = f'{exc.kind}: {exc}'
        count = self.pipeline.errors.get(exc.kind, 0)
        self._throttled(exc.kind, f'skipped frame ({exc.kind}, {count} so far): {exc}')

    def _throttled(self, key, text):
        """Log ``text`` as a warning at most once a second per ``key``."""
        self._warnings.warn(key, text)

    # -- worker ----------------------------------------------------------------------------
    def _make_stages(self, mode, device):
        """Return the :class:`StagePipeline` of ``pipelining`` (None: one frame at a time)."""
        if not pipelining_on(mode, device):
            self.get_logger().info('pipelining: off (one frame at a time)')
            return None
        pipe = self.pipeline
        self.get_logger().info('pipelining: on (decode | reconstruct + analyse | publish)')
        return StagePipeline([pipe.start, pipe.infer, self._finish_and_deliver], depth=1,
                             on_error=self._stage_error, name='cloud-stage')

    def _finish_and_deliver(self, item):
        self._deliver(item['frame'], self.pipeline.finish(item))

    def _stage_error(self, item, exc, stage):
        """Count and log a stage that failed on ``item``, as the serial worker does."""
        if isinstance(exc, FrameError):
            self.pipeline.count_error(exc.kind)
            self._bad_frame(exc)
            return
        if self._stop.is_set():
            return
        self.pipeline.count_error('internal')
        self._last_error = f'internal: {exc!r}'
        self.get_logger().error(f'frame {item["frame"].sequence} failed in stage {stage}: '
                                f'{exc!r}', throttle_duration_sec=1.0)

    def _work(self):
        while not self._stop.is_set():
            frame = self.queue.get(timeout=0.2)
            if frame is None:
                continue
            if self._stages is not None:
                while not self._stop.is_set() and not self._stages.put(frame, timeout=0.2):
                    pass
                continue
            try:
                result = self.pipeline.process(frame)
            except FrameError as exc:
                self._bad_frame(exc)
                continue
            except Exception as exc:  # noqa: B902 - keep serving; count and report
                self.pipeline.count_error('internal')
                self._last_error = f'internal: {exc!r}'
                self.get_logger().error(f'frame {frame.sequence} failed: {exc!r}',
                                        throttle_duration_sec=1.0)
                continue
            if not self._deliver(frame, result):
                return

    def _deliver(self, frame, result):
        """Publish an analysed frame's results; return False when shutting down."""
        if result.decoder_messages:
            self._throttled('decoder', f'frame {frame.sequence}: damaged JPEG data '
                            f'({self.pipeline.decoder_warnings} frames so far): '
                            f'{result.decoder_messages[0]}')
        try:
            self._publish(frame, result)
        except Exception as exc:  # noqa: B902 - context shut down under us
            if self._stop.is_set() or not rclpy.ok(context=self.context):
                return False
            self.pipeline.count_error('internal')
            self.get_logger().error(f'publishing frame {frame.sequence} failed: {exc!r}')
        return True

    def _tail_flag(self, res, header):
        flag = TailFrameFlag()
        flag.header = header
        flag.sequence = res.sequence
        flag.is_tail = bool(res.is_tail)
        flag.signal = getattr(TailFrameFlag, f'SIGNAL_{res.signal_name.upper()}',
                              SIGNAL_TASK_DEFINED)
        flag.signal_value = float(res.signal_value)
        flag.threshold = float(res.threshold)
        flag.direction = (TailFrameFlag.DIRECTION_ABOVE
                          if self.pipeline.config.tail_direction == 'above'
                          else TailFrameFlag.DIRECTION_BELOW)
        if res.tail_score is not None:  # fitted detector: p(tail) > threshold
            flag.signal = SIGNAL_TAIL_PROBABILITY
            flag.direction = TailFrameFlag.DIRECTION_ABOVE
        return flag

    def _publish(self, frame, res):
        self.output.publish(frame, res)
        self._publish_images(res, frame.ros_header)

    def _count(self, res, e2e_ms):
        with self._lock:
            self.counters['frames_analysed'] += 1
            self.counters['tail_frames'] += int(res.is_tail)
            if np.isfinite(e2e_ms):
                self._e2e_ms.append(e2e_ms)
            del self._e2e_ms[:-200]

    def _end_to_end_ms(self, frame):
        """Capture -> publication [ms]; NaN when the capture stamp is implausible."""
        if not getattr(frame, 'stamp_ok', True):
            return float('nan')
        now_s = self.get_clock().now().nanoseconds * 1e-9
        return float((now_s - frame.capture_s) * 1e3)

    def fill_result(self, msg, res, header):
        """Fill what both result messages carry: header, sequence, knobs, method, stage times."""
        msg.header = header
        msg.sequence = res.sequence
        self._fill_knobs(msg.knobs, res.knobs)
        msg.method = res.method
        lat = res.latencies_ms
        msg.decode_ms = float(lat['decode_ms'])
        msg.reconstruct_ms = float(lat['reconstruct_ms'])
        msg.inference_ms = float(lat['inference_ms'])

    def flag_and_policy(self, res, header):
        """Return the tail flag of ``res``; send its rate policy first when it brings one."""
        flag = self._tail_flag(res, header)
        if res.policy is not None:
            self._send_policy(res.policy, header)
        return flag

    def send_result(self, pub, msg, flag, frame, res):
        """Stamp the end-to-end latency, publish ``msg`` on ``pub`` and ``flag``, count it."""
        e2e_ms = self._end_to_end_ms(frame)
        if msg is not None:
            msg.end_to_end_ms = e2e_ms
            pub.publish(msg)
        self.flag_pub.publish(flag)
        self._count(res, e2e_ms)

    def uplink_ms(self, frame):
        """Edge send -> cloud receive [ms]; NaN when the clocks disagree beyond the skew."""
        uplink_s = frame.receive_s - frame.send_s
        skew = self.pipeline.config.max_clock_skew_s
        return float(uplink_s * 1e3) if skew <= 0 or abs(uplink_s) <= skew else float('nan')

    @staticmethod
    def _fill_knobs(field, knobs):
        field.scale = knobs.scale
        field.jpeg_quality = knobs.jpeg_quality
        field.frame_rate = float(knobs.frame_rate)
        field.tail_specific = knobs.tail_specific

    def _publish_images(self, res, header):
        if self.flag_image_pub.get_subscription_count() > 0:
            self.flag_image_pub.publish(image_conv.numpy_to_imgmsg(
                tail_indicator(res.is_tail, res.signal_value, res.threshold), 'bgr8',
                header))
        every = self.get_parameter('publish_reconstructed_every_n').value
        if every and res.sequence % every == 0 and self.recon_pub.get_subscription_count() > 0:
            self.recon_pub.publish(image_conv.numpy_to_imgmsg(res.reconstructed, 'bgr8',
                                                              header))

    def _send_policy(self, decision, header):
        msg = RatePolicy()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = header.frame_id
        msg.policy_sequence = decision.policy_sequence
        msg.mode = decision.mode
        for field, knobs in ((msg.standard, decision.standard), (msg.tail, decision.tail)):
            self._fill_knobs(field, knobs)
        msg.trigger_sequence = decision.trigger_sequence
        msg.hold_s = float(decision.hold_s)
        self.policy_pub.publish(msg)
        self.counters['policies_sent'] += 1
        self.get_logger().info(
            f'RatePolicy {decision.policy_sequence}: '
            f'{"TAIL" if decision.mode == RatePolicy.MODE_TAIL else "standard"} mode '
            f'(frame {decision.trigger_sequence})')

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self):
        pipe = self.pipeline
        status = DiagnosticStatus()
        status.name = f'{self.get_fully_qualified_name()}: analytics'
        status.hardware_id = 'runespoor_cloud'
        errors = dict(pipe.errors)
        status.level = DiagnosticStatus.WARN if any(errors.values()) else DiagnosticStatus.OK
        status.message = self._last_error or 'ok'
        values = dict(self.counters)
        values.update({f'errors_{k}': v for k, v in errors.items()})
        values['queue_length'] = len(self.queue)
        values['edge_restarts'] = pipe.guard.restarts
        values['decoder_warnings'] = pipe.decoder_warnings
        values['implausible_stamps'] = pipe.implausible_stamps
        values['method'] = pipe.method
        values['task'] = pipe.task
        values['tail_mode'] = 'tail' if pipe.tail.mode == RatePolicy.MODE_TAIL else 'standard'
        now_s = self.get_clock().now().nanoseconds * 1e-9
        values['received_kbps'] = f'{self.received.kbps(now_s):.1f}'
        for stage, s in pipe.latency.summary().items():
            values[f'{stage}_p50'] = f'{s["p50"]:.2f}'
            values[f'{stage}_p90'] = f'{s["p90"]:.2f}'
        with self._lock:
            if self._e2e_ms:
                values['end_to_end_ms_p50'] = f'{np.percentile(self._e2e_ms, 50):.1f}'
                values['end_to_end_ms_p90'] = f'{np.percentile(self._e2e_ms, 90):.1f}'
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.diag_pub.publish(arr)

    def destroy_node(self):
        """Stop the worker thread, then destroy the node."""
        self._stop.set()
        self.queue.close()
        self._worker.join(5.0)
        if getattr(self, '_stages', None) is not None:
            self._stages.close(5.0)
        return super().destroy_node()


def analytics_summary(analytics):
    """Return the log text of an analytics object: its arch, file and format."""
    info = getattr(analytics, 'info', {}) or {}
    arch = getattr(analytics, 'arch', None) or info.get('arch') or type(analytics).__name__
    where = getattr(analytics, 'weights', None) or info.get('path')
    fmt = info.get('format') or info.get('source')
    text = f'{arch}' + (f' from {where}' if where else '') + (f' ({fmt})' if fmt else '')
    classes = getattr(analytics, 'num_classes', None)
    return text + (f', {classes} classes' if classes else '')


def tail_indicator(is_tail, ratio, threshold, size=(240, 48)):
    """Return a small BGR badge for RViz: red 'TAIL' or green 'standard' with the ratio."""
    import cv2
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (40, 40, 200) if is_tail else (60, 160, 60)
    text = f'{"TAIL" if is_tail else "standard"} {ratio * 100:.2f}% (<{threshold * 100:g}%)' \
        if is_tail else f'standard {ratio * 100:.2f}%'
    cv2.putText(img, text, (6, h // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return img


def main(args=None):
    """
    Entry point of ``ros2 run runespoor_cloud cloud_node``.

    Missing or mismatched models and bad parameters are logged at FATAL under the node's name
    ("refusing to start: ...") and give status 2; Ctrl-C / SIGTERM shut down once, a second
    SIGINT is ignored (:mod:`runespoor_edge.node_main`).
    """
    from runespoor_edge.node_main import run
    return run(CloudNode, args, node_name='runespoor_cloud', refuse=(ModelError, ValueError))


if __name__ == '__main__':
    sys.exit(main())
