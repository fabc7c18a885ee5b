# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Runespoor edge node: camera frames -> knobs -> ``EncodedFrame`` on the uplink.

Subscribes ``camera/image_raw`` (``sensor_msgs/Image``; or ``camera/image_raw/compressed``,
``sensor_msgs/CompressedImage``, with ``input_type: compressed``), applies the knobs with
:func:`runespoor.codec.encode_frame` (the same function training and profiling use) and
publishes ``runespoor/encoded``.  Follows ``runespoor/rate_policy`` from the next frame on and
estimates the uplink from ``runespoor/link_feedback``.  The control logic is
:class:`runespoor.edge_control.EdgeController`; this node only adapts messages.
"""

import array
from collections import deque
import os
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from runespoor import codec
from runespoor.edge_control import (EdgeController, Knobs, MODE_TAIL, PolicyError, PolicyUpdate,
                                    ProfileError, ProfileTable)
from runespoor.safe_files import MAX_CONFIG_BYTES, read_text_file, UnsafeFileError
from runespoor_edge import image_conv
from runespoor_edge.node_main import ThrottledWarnings
from runespoor_edge.ros_common import (CAMERA_QOS, describe, DIAG_QOS, FEEDBACK_QOS, float_range,
                                       int_range, POLICY_QOS, stamp_to_s, UPLINK_QOS)
from runespoor_msgs.msg import EncodedFrame, LinkFeedback, RatePolicy
from sensor_msgs.msg import CompressedImage, Image

SCALE_NOTE = 'one of ' + ', '.join(str(s) for s in codec.SCALES)

#: name -> (default, descriptor); defaults mirror config/edge.yaml.
PARAMETERS = {
    'input_type': ('raw', describe('camera input: raw (sensor_msgs/Image on camera/image_raw) or '
                                   'compressed (CompressedImage on camera/image_raw/compressed)',
                                   read_only=True, additional_constraints='raw | compressed')),
    'scale': (4, describe('standard config: downsampling factor per side',
                          additional_constraints=SCALE_NOTE, integer_range=int_range(1, 8))),
    'jpeg_quality': (70, describe('standard config: JPEG quality',
                                  integer_range=int_range(1, 100))),
    'frame_rate': (0.0, describe('standard config: frames sent per second; 0 = every frame [Hz]',
                                 floating_point_range=float_range(0.0, 240.0))),
    'tail_scale': (2, describe('tail-specific config: downsampling factor per side',
                               additional_constraints=SCALE_NOTE, integer_range=int_range(1, 8))),
    'tail_jpeg_quality': (40, describe('tail-specific config: JPEG quality',
                                       integer_range=int_range(1, 100))),
    'tail_frame_rate': (0.0, describe('tail-specific config: frames per second; 0 = every [Hz]',
                                      floating_point_range=float_range(0.0, 240.0))),
    'use_profile': (False, describe('take standard/tail configs from the profile table at the '
                                    'current bandwidth instead of the knob parameters')),
    'profile_file': ('', describe('profile YAML; empty = share/runespoor_edge/config/'
                                  'profile_default.yaml (read at start-up only: a regular file '
                                  'of at most 16 MiB)', read_only=True)),
    'bandwidth_source': ('fixed', describe('bandwidth for the profile lookup: fixed (parameter '
                                           'bandwidth_kbps) or estimate (from link feedback)',
                                           additional_constraints='fixed | estimate')),
    'bandwidth_kbps': (0.0, describe('uplink bandwidth budget; 0 = unknown [kbit/s]',
                                     floating_point_range=float_range(0.0, 1e7))),
    'bandwidth_window_s': (2.0, describe('window of the link-feedback estimate [s]',
                                         floating_point_range=float_range(0.1, 60.0))),
    'uplink_reliability': ('best_effort', describe(
        'QoS reliability of runespoor/encoded: best_effort (drop, never stall) or reliable',
        read_only=True, additional_constraints='best_effort | reliable')),
    'input_reliability': ('best_effort', describe(
        'QoS reliability of the camera subscription: best_effort (sensor data QoS) or '
        'reliable (for large raw frames that Fast DDS drops as best effort, docs/nodes.md)',
        read_only=True, additional_constraints='best_effort | reliable')),
    'frame_id': ('', describe("frame_id of EncodedFrame; empty = copy the camera's")),
    'diagnostics_period_s': (1.0, describe('period of /diagnostics [s]', read_only=True,
                                           floating_point_range=float_range(0.1, 60.0))),
    'controller': ('cac', describe(
        'knob controller: cac (profile + RatePolicy, paper §3.2) or awstream (the baseline: '
        'bandwidth-driven choice with periodic online re-profiling; ignores RatePolicy)',
        read_only=True, additional_constraints='cac | awstream')),
    'awstream_stats_file': ('', describe(
        'awstream: profile_summary.json of `runespoor profile` (config_stats = candidates '
        'with bytes and accuracy); empty = the standard configs of the profile table',
        read_only=True)),
    'awstream_period_s': (10.0, describe('awstream: online re-profiling period; 0 = never [s]',
                                         read_only=True,
                                         floating_point_range=float_range(0.0, 3600.0))),
    'awstream_seg_weights': ('', describe(
        'awstream: segmentation checkpoint for re-profiling on the raw frame; "palette" = the '
        'palette test segmenter; empty = no re-profiling', read_only=True)),
    'awstream_method': ('bilinear', describe('awstream: reconstruction used when re-profiling '
                                             '(bilinear | sr | asr | cloudseg)', read_only=True)),
    'awstream_sr_dir': ('models/sr', describe('awstream: folder of <method>_x<scale>.pt',
                                              read_only=True)),
    'awstream_fps': (17.0, describe('awstream: frame rate that converts the candidate bytes '
                                    'per frame into kbit/s [Hz]', read_only=True,
                                    floating_point_range=float_range(0.1, 240.0))),
    'cloud_timeout_s': (3.0, describe(
        'fall back to the standard config at the last good bandwidth (policy dropped, '
        '/diagnostics ERROR) after this long without link feedback or a policy from the '
        'cloud; recovers with the next feedback; 0 = never [s]',
        floating_point_range=float_range(0.0, 3600.0))),
    'policy_rate_hz': (10.0, describe(
        'at most this many RatePolicy messages accepted per second on average (bursts of '
        'max(2, rate)); more are rejected and counted; 0 = no limit [Hz]',
        floating_point_range=float_range(0.0, 1000.0))),
    'max_input_pixels': (codec.MAX_SOURCE_PIXELS, describe(
        'largest camera frame accepted (width x height); a compressed frame is refused from '
        "its header, before decoding; raise the cloud's max_source_pixels with it [pixels]",
        read_only=True,
        integer_range=int_range(1, 16384 * 16384))),
    'emulated_uplink_kbps': (0.0, describe(
        'in-process link emulation (token bucket) for machines without tc shaping: frames wait '
        'until the bucket lets them out; 0 = off [kbit/s]',
        floating_point_range=float_range(0.0, 1e7))),
    'emulated_queue_ms': (400.0, describe(
        'emulation: a frame that would wait longer than this is dropped (like tc tbf latency) '
        '[ms]', floating_point_range=float_range(1.0, 60000.0))),
}
#: Parameters naming files or folders: read-only, read once at start-up (never on a remote
#: parameter call), through runespoor.safe_files / runespoor.checkpoint.
FILE_PARAMETERS = frozenset({'profile_file', 'awstream_stats_file', 'awstream_seg_weights',
                             'awstream_sr_dir'})


class EdgeNode(Node):
    """Thin ROS adapter around :class:`EdgeController` and :func:`codec.encode_frame`."""

    def __init__(self, node_name='runespoor_edge', **kwargs):
        super().__init__(node_name, **kwargs)
        for name, (default, desc) in PARAMETERS.items():
            self.declare_parameter(name, default, desc)
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self._check(p)
        self.controller = EdgeController(
            Knobs(p['scale'], p['jpeg_quality'], float(p['frame_rate'])),
            tail=Knobs(p['tail_scale'], p['tail_jpeg_quality'], float(p['tail_frame_rate'])),
            profile=self._load_profile(p['profile_file']), use_profile=p['use_profile'],
            bandwidth_source=p['bandwidth_source'], bandwidth_kbps=float(p['bandwidth_kbps']),
            cloud_timeout_s=float(p['cloud_timeout_s']),
            policy_rate_hz=float(p['policy_rate_hz']))
        self._max_input_pixels = int(p['max_input_pixels'])
        self.controller.estimator.rate.window_s = float(p['bandwidth_window_s'])
        self.awstream = None
        self._profiling = None
        if p['controller'] == 'awstream':
            self.awstream = self._make_awstream(p)
        self.link = EmulatedLink(self, p['emulated_uplink_kbps'], p['emulated_queue_ms'])
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.sequence = 0
        self.counters = {'frames_in': 0, 'frames_sent': 0, 'frames_gated': 0,
                         'input_errors': 0, 'encode_errors': 0, 'policies_rejected': 0,
                         'feedback_samples': 0, 'feedback_rejected': 0, 'fallbacks': 0,
                         'decoder_warnings': 0, 'emulated_drops': 0, 'awstream_profiles': 0,
                         'awstream_raw_bytes': 0}
        self._encode_ms = deque(maxlen=200)
        self._bytes = deque(maxlen=200)
        self._last_error = ''
        self._warnings = ThrottledWarnings(self.get_logger())
        self._mode = None
        self._fallback = False

        self.pub = self.create_publisher(EncodedFrame, 'runespoor/encoded',
                                         UPLINK_QOS[p['uplink_reliability']])
        camera_qos = CAMERA_QOS[p['input_reliability']]
        if p['input_type'] == 'compressed':
            self.create_subscription(CompressedImage, 'camera/image_raw/compressed',
                                     self._on_compressed, camera_qos)
        else:
            self.create_subscription(Image, 'camera/image_raw', self._on_image, camera_qos)
        self.create_subscription(RatePolicy, 'runespoor/rate_policy', self._on_policy,
                                 POLICY_QOS)
        self.create_subscription(LinkFeedback, 'runespoor/link_feedback', self._on_feedback,
                                 FEEDBACK_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', DIAG_QOS)
        self.create_timer(float(p['diagnostics_period_s']), self._publish_diagnostics)
        std = self.controller.standard
        self.get_logger().info(
            f'edge ready: input {p["input_type"]} on '
            f'{self.resolve_topic_name("camera/image_raw")}, uplink '
            f'{self.resolve_topic_name("runespoor/encoded")} ({p["uplink_reliability"]}), '
            f'standard x{std.scale} q{std.jpeg_quality} {std.frame_rate:g} fps, tail '
            f'x{self.controller.tail.scale} q{self.controller.tail.jpeg_quality}, profile '
            f'{"on" if p["use_profile"] else "off"}, controller {p["controller"]}, image '
            f'conversion: {image_conv.backend()}'
            + (f', EMULATED uplink {p["emulated_uplink_kbps"]:g} kbit/s (in-process token '
               'bucket)' if p['emulated_uplink_kbps'] > 0 else ''))

    # -- parameters ------------------------------------------------------------------------
    @staticmethod
    def _check(p):
        """Raise ValueError for inconsistent parameter values (names the parameter)."""
        for key in ('scale', 'tail_scale'):
            if key in p and p[key] not in codec.SCALES:
                raise ValueError(f'parameter {key}={p[key]!r}: {SCALE_NOTE}')
        for key in ('jpeg_quality', 'tail_jpeg_quality'):
            if key in p and not 1 <= p[key] <= 100:
                raise ValueError(f'parameter {key}={p[key]!r}: must be in [1, 100]')
        for key in ('frame_rate', 'tail_frame_rate', 'bandwidth_kbps', 'cloud_timeout_s',
                    'policy_rate_hz'):
            if key in p and not (np.isfinite(p[key]) and p[key] >= 0):
                raise ValueError(f'parameter {key}={p[key]!r}: must be >= 0')
        if 'bandwidth_window_s' in p and not p['bandwidth_window_s'] > 0:
            raise ValueError('parameter bandwidth_window_s must be > 0')
        if p.get('input_type', 'raw') not in ('raw', 'compressed'):
            raise ValueError(f'parameter input_type={p["input_type"]!r}: raw or compressed')
        if p.get('bandwidth_source', 'fixed') not in ('fixed', 'estimate'):
            raise ValueError(f'parameter bandwidth_source={p["bandwidth_source"]!r}: '
                             'fixed or estimate')
        for key, profiles in (('uplink_reliability', UPLINK_QOS),
                              ('input_reliability', CAMERA_QOS)):
            if p.get(key, 'best_effort') not in profiles:
                raise ValueError(f'parameter {key}: best_effort or reliable')
        if p.get('controller', 'cac') not in ('cac', 'awstream'):
            raise ValueError(f'parameter controller={p["controller"]!r}: cac or awstream')
        if p.get('emulated_uplink_kbps', 0.0) < 0 or not np.isfinite(
                p.get('emulated_uplink_kbps', 0.0)):
            raise ValueError('parameter emulated_uplink_kbps must be >= 0')

    def _load_profile(self, path):
        """Read the profile YAML ``path`` (a regular file of bounded size; ValueError if not)."""
        import yaml
        if not path:
            path = default_profile_path()
        try:  # never blocks: a FIFO, device or huge file is refused before reading
            text = read_text_file(path, MAX_CONFIG_BYTES, 'profile file', empty_ok=False)
            table = ProfileTable.from_dict(yaml.safe_load(text), path=str(path))
        except UnsafeFileError as exc:
            raise ValueError(f'parameter profile_file: {exc}') from exc
        except yaml.YAMLError as exc:
            raise ValueError(f'parameter profile_file: profile file {path} is not valid YAML: '
                             f'{exc}') from exc
        except ProfileError as exc:
            raise ValueError(f'parameter profile_file: {exc}') from exc
        self.get_logger().info(f'profile {table.name!r} ({len(table.entries)} rows) from {path}')
        return table

    def _on_set_parameters(self, params):
        new = {prm.name: prm.value for prm in params if prm.name in PARAMETERS}
        merged = {name: self.get_parameter(name).value for name in PARAMETERS}
        merged.update(new)
        try:
            for prm in params:
                if prm.name in PARAMETERS and prm.type_ != Parameter.Type.NOT_SET:
                    want = type(PARAMETERS[prm.name][0])
                    if want is float and isinstance(prm.value, int):
                        raise ValueError(f'parameter {prm.name} is a float (write {prm.value}.0)')
                    if not isinstance(prm.value, want):
                        raise ValueError(f'parameter {prm.name} must be {want.__name__}')
            self._check(merged)
            files = sorted(set(new) & FILE_PARAMETERS)
            if files:  # read_only already; never open a file named by a remote caller
                raise ValueError(f'parameter {files[0]} names a file: it is read only at start-up '
                                 '(restart the node to change it)')
            self.controller.configure(
                standard=Knobs(merged['scale'], merged['jpeg_quality'],
                               float(merged['frame_rate'])),
                tail=Knobs(merged['tail_scale'], merged['tail_jpeg_quality'],
                           float(merged['tail_frame_rate'])),
                profile=None, use_profile=merged['use_profile'],
                bandwidth_source=merged['bandwidth_source'],
                bandwidth_kbps=float(merged['bandwidth_kbps']))
            self.controller.estimator.rate.window_s = float(merged['bandwidth_window_s'])
            self.controller.cloud_timeout_s = float(merged['cloud_timeout_s'])
            self.controller.policy_limiter.configure(float(merged['policy_rate_hz']))
            if self.awstream is not None:
                self.awstream.on_bandwidth(float(merged['bandwidth_kbps']))
                self.awstream.bandwidth_source = merged['bandwidth_source']
            self.link.configure(float(merged['emulated_uplink_kbps']),
                                float(merged['emulated_queue_ms']))
        except ValueError as exc:
            self.get_logger().warning(f'rejected parameter change: {exc}')
            return SetParametersResult(successful=False, reason=str(exc))
        if new:
            self.get_logger().info(f'parameters changed: {new}')
        return SetParametersResult(successful=True)

    # -- inputs ----------------------------------------------------------------------------
    def _on_image(self, msg):
        self._handle(msg, msg.width * msg.height,
                     lambda: image_conv.imgmsg_to_bgr8(msg))

    def _on_compressed(self, msg):
        notes = []

        def convert():
            image = image_conv.compressed_to_bgr8(msg, self._max_input_pixels, notes)
            if notes:
                self.counters['decoder_warnings'] += 1
                self._warn_throttled('decoder', f'damaged camera JPEG/PNG data '
                                     f'({self.counters["decoder_warnings"]} frames so far): '
                                     f'{notes[0]}')
            return image
        self._handle(msg, 0, convert)

    def _warn_throttled(self, key, text):
        """Log ``text`` as a warning at most once a second per ``key``."""
        self._warnings.warn(key, text)

    def _input_error(self, text):
        """Count and log a bad input: each new kind at once, repeats at most once a second."""
        self.counters['input_errors'] += 1
        self._last_error = text
        key = text.split(':')[1][:24] if ':' in text else text[:24]
        self._warn_throttled(key, f'{text} ({self.counters["input_errors"]} input errors '
                             'so far)')

    def _handle(self, msg, pixels, convert):
        self.counters['frames_in'] += 1
        capture = msg.header.stamp
        t = stamp_to_s(capture)
        if t <= 0:
            capture = self.get_clock().now().to_msg()
            t = stamp_to_s(capture)
        if pixels > self._max_input_pixels:
            self._input_error(f'dropped camera frame: {msg.width}x{msg.height} above '
                              f'max_input_pixels {self._max_input_pixels}')
            return
        if self.awstream is not None:
            decision = self.awstream.on_frame(t, None, pixels or None)
        else:
            decision = self.controller.on_frame(t, pixels or None, now=time.monotonic())
            self._note_fallback()
        if not decision.send:
            self.counters['frames_gated'] += 1
            return
        try:
            image = convert()
        except (image_conv.ImageConversionError, codec.CodecError) as exc:
            self._input_error(f'dropped camera frame: {exc}')
            return
        except Exception as exc:  # noqa: B902 - a converter bug must not stop the camera path
            self._input_error(f'dropped camera frame: conversion failed: {exc!r}')
            return
        if self.awstream is not None:
            self._maybe_reprofile(t, image)
        knobs = decision.knobs
        t0 = time.perf_counter()
        try:
            enc = codec.encode_frame(image, knobs.scale, knobs.jpeg_quality)
        except codec.CodecError as exc:
            self.counters['encode_errors'] += 1
            self._last_error = f'encode failed: {exc}'
            self.get_logger().error(self._last_error, throttle_duration_sec=1.0)
            return
        encode_ms = (time.perf_counter() - t0) * 1e3
        if self._mode != decision.mode:
            self._mode = decision.mode
            self.get_logger().info(
                f'{"TAIL" if decision.mode == MODE_TAIL else "standard"} config from frame '
                f'{self.sequence}: x{knobs.scale} q{knobs.jpeg_quality} '
                f'{knobs.frame_rate:g} fps (policy {decision.policy_sequence})')
        out = EncodedFrame()
        out.header.stamp = capture
        out.header.frame_id = self.get_parameter('frame_id').value or msg.header.frame_id
        out.sequence = self.sequence
        out.source_width = enc.source_width
        out.source_height = enc.source_height
        out.knobs.scale = knobs.scale
        out.knobs.jpeg_quality = knobs.jpeg_quality
        out.knobs.frame_rate = float(knobs.frame_rate)
        out.knobs.tail_specific = bool(knobs.tail_specific)
        out.policy_sequence = decision.policy_sequence
        out.image.header = out.header
        out.image.format = 'jpeg'
        out.image.data = array.array('B', enc.data)
        out.encode_ms = float(encode_ms)
        out.bandwidth_estimate_kbps = float(decision.bandwidth_kbps)
        out.send_stamp = self.get_clock().now().to_msg()
        self.controller.note_sent(out.sequence, len(enc.data), stamp_to_s(out.send_stamp))
        if not self.link.send(out, len(enc.data)):
            self.counters['emulated_drops'] += 1
        self.sequence += 1
        self.counters['frames_sent'] += 1
        self._encode_ms.append(encode_ms)
        self._bytes.append(len(enc.data))

    def _on_policy(self, msg):
        if self.awstream is not None:
            self.get_logger().info(f'RatePolicy {msg.policy_sequence} ignored (controller '
                                   'awstream has no content awareness)', once=True)
            return
        try:
            policy = PolicyUpdate(
                policy_sequence=int(msg.policy_sequence), mode=int(msg.mode),
                standard=Knobs(int(msg.standard.scale), int(msg.standard.jpeg_quality),
                               float(msg.standard.frame_rate), False),
                tail=Knobs(int(msg.tail.scale), int(msg.tail.jpeg_quality),
                           float(msg.tail.frame_rate), True),
                trigger_sequence=int(msg.trigger_sequence), hold_s=float(msg.hold_s))
            self.controller.on_policy(policy, now=time.monotonic(), frames_sent=self.sequence)
        except PolicyError as exc:
            self.counters['policies_rejected'] += 1
            self._last_error = f'rejected RatePolicy: {exc}'
            self._warn_throttled('policy', f'{self._last_error} '
                                 f'({self.counters["policies_rejected"]} rejected so far)')
            return
        self.get_logger().info(
            f'RatePolicy {msg.policy_sequence}: mode '
            f'{"tail" if msg.mode == MODE_TAIL else "standard"} (trigger frame '
            f'{msg.trigger_sequence}), applied from the next frame')

    def _on_feedback(self, msg):
        sample = (int(msg.sequence), int(msg.bytes), stamp_to_s(msg.send_stamp),
                  stamp_to_s(msg.header.stamp))
        if not self.controller.on_feedback(*sample, now=time.monotonic()):
            return
        self.counters['feedback_samples'] += 1
        if self.awstream is not None:
            self.awstream.on_feedback(*sample)  # same estimator: it only sees believed samples

    def _note_fallback(self):
        """Log the cloud-silence fallback when it starts and ends."""
        ctl = self.controller
        if ctl.fallback == self._fallback:
            return
        self._fallback = ctl.fallback
        if ctl.fallback:
            std = ctl._fallback_config(None)
            if ctl.last_heard is None:  # start-up: the cloud may still be loading its models
                self.get_logger().warning(
                    f'no link feedback from a cloud yet ({ctl.cloud_timeout_s:g} s after the '
                    f'first frame): standard config x{std.scale} q{std.jpeg_quality} until '
                    'one answers')
                return
            self.get_logger().error(
                f'no link feedback or policy from the cloud for {ctl.cloud_timeout_s:g} s: '
                f'FALLBACK to the standard config x{std.scale} q{std.jpeg_quality} at the last '
                f'good bandwidth {ctl.fallback_kbps:.0f} kbit/s (policy dropped)')
        else:
            self.get_logger().info('cloud heard again: fallback ended, following the profile '
                                   'and the next RatePolicy')

    # -- AWStream baseline -------------------------------------------------------------
    def _make_awstream(self, p):
        """Build the AWStream-style controller (runespoor.cac.awstream) from the parameters."""
        from runespoor.cac.awstream import AWStreamController
        kw = {'period_s': float(p['awstream_period_s']),
              'bandwidth_source': p['bandwidth_source'],
              'bandwidth_kbps': float(p['bandwidth_kbps']),
              'estimator': self.controller.estimator}
        if p['awstream_stats_file']:
            import json
            from runespoor.cac.selection import ConfigStats
            try:  # a regular file of bounded size, never a FIFO or device
                summary = json.loads(read_text_file(p['awstream_stats_file'], MAX_CONFIG_BYTES,
                                                    'statistics file', empty_ok=False))
                stats = [ConfigStats(**{k: (float('nan') if v is None else v)
                                        for k, v in d.items()})
                         for d in summary['config_stats']]
                w, h = summary['source_size']
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f'parameter awstream_stats_file: cannot use '
                                 f'{p["awstream_stats_file"]}: {exc}') from exc
            ctl = AWStreamController.from_stats(stats, float(p['awstream_fps']), w, h, **kw)
        else:
            ctl = AWStreamController.from_profile(self.controller.profile, **kw)
        ctl.measure = self._awstream_measure(
            p, sorted({c.knobs.scale for c in ctl.candidates if c.knobs.scale > 1}))
        self.get_logger().info(
            f'controller awstream: {len(ctl.candidates)} candidate configs, re-profiling '
            + (f'every {ctl.period_s:g} s' if ctl.measure is not None and ctl.period_s > 0
               else 'off'))
        return ctl

    def _awstream_measure(self, p, scales):
        """Return AWStream's online-profiling callable for ``scales``, or None (none)."""
        weights = p['awstream_seg_weights']
        if not weights or p['awstream_period_s'] <= 0:
            return None
        from runespoor.cac.awstream import make_measure
        from runespoor.checkpoint import CheckpointError
        from runespoor.device import resolve_device
        from runespoor.cloud_pipeline import make_reconstructor, ModelError
        from runespoor.tasks.segmentation.analytics import Segmenter
        try:
            import torch
            torch.set_num_threads(1)  # the camera path keeps the other cores
        except ImportError:
            pass
        try:
            device = resolve_device('cpu')
            recon = make_reconstructor(p['awstream_method'], p['awstream_sr_dir'], device,
                                       tuple(scales))
            if weights == 'palette':
                seg = Segmenter('palette')
            else:  # read safely (weights_only=True): its arch, then the model
                from runespoor.checkpoint import inspect_checkpoint
                arch = inspect_checkpoint(weights, kind='seg',
                                          what='segmentation checkpoint')['arch']
                seg = Segmenter(arch, weights, device)
        except (ModelError, CheckpointError, OSError, ValueError) as exc:
            raise ValueError(f'awstream re-profiling models: {exc}') from exc

        def analyse(lr, scale, size=None):
            hr, tensor = recon.reconstruct(lr, scale, size)
            return seg(hr, tensor)
        return make_measure(analyse)

    def _maybe_reprofile(self, t, image):
        """Start an online re-profiling on ``image`` in the background when one is due."""
        busy = self._profiling is not None and self._profiling.is_alive()
        if busy or not self.awstream.profiling_due(t):
            return
        raw = codec.encode_frame(image, 1, 95)  # AWStream uploads raw data as a reference
        self.counters['awstream_raw_bytes'] += len(raw.data)

        def work():
            try:  # Linux: per-thread niceness, the camera path keeps priority
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
            except (AttributeError, OSError):
                pass
            t0 = time.monotonic()
            try:
                self.awstream.reprofile(t, image)
            except Exception as exc:  # noqa: B902 - keep streaming; report it
                self._last_error = f'awstream re-profiling failed: {exc!r}'
                self.get_logger().error(self._last_error)
                return
            self.counters['awstream_profiles'] += 1
            best = self.awstream._choose(self.awstream.current_bandwidth_kbps(), None)
            self.get_logger().info(
                f'awstream re-profiling {self.awstream.profiles} at t={t:.2f} took '
                f'{time.monotonic() - t0:.2f} s; choice now x{best.knobs.scale} '
                f'q{best.knobs.jpeg_quality}')
        self._profiling = threading.Thread(target=work, name='awstream-profiling', daemon=True)
        self._profiling.start()

    def destroy_node(self):
        """Stop the emulated link's sender thread, then destroy the node."""
        self.link.close()
        return super().destroy_node()

    # -- diagnostics -----------------------------------------------------------------------
    def _publish_diagnostics(self):
        ctl = self.controller
        std, tail, bw = ctl.configs()
        status = DiagnosticStatus()
        status.name = f'{self.get_fully_qualified_name()}: uplink'
        status.hardware_id = 'runespoor_edge'
        errors = self.counters['input_errors'] + self.counters['encode_errors'] + \
            self.counters['policies_rejected']
        status.level = DiagnosticStatus.WARN if errors else DiagnosticStatus.OK
        status.message = self._last_error or 'ok'
        if ctl.fallback:
            lost = ctl.last_heard is not None  # contact lost (not: no cloud yet at start-up)
            status.level = DiagnosticStatus.ERROR if lost else DiagnosticStatus.WARN
            status.message = (f'cloud silent for {ctl.cloud_silence_s(time.monotonic()):.1f} s: '
                              'fallback to the standard config' if lost else
                              'no cloud heard yet: standard config')
        mode = ctl.policy.mode if ctl.policy is not None else 0
        values = dict(self.counters)
        values.update({
            'mode': 'tail' if mode == MODE_TAIL else 'standard',
            'policy_sequence': ctl.policy.policy_sequence if ctl.policy else 0,
            'policies_applied': ctl.policies_applied,
            'standard_config': f'x{std.scale} q{std.jpeg_quality} {std.frame_rate:g}fps',
            'tail_config': f'x{tail.scale} q{tail.jpeg_quality} {tail.frame_rate:g}fps',
            'bandwidth_used_kbps': f'{bw:.1f}',
            'link_throughput_kbps': f'{ctl.estimator.throughput_kbps():.1f}',
            'link_queuing_delay_ms': f'{ctl.estimator.queuing_delay_ms():.1f}',
            'cloud_silence_s': f'{ctl.cloud_silence_s(time.monotonic()):.1f}',
            'fallback': 'on' if ctl.fallback else 'off',
            'fallbacks': ctl.fallbacks,
            'feedback_rejected': ctl.feedback_rejected,
            'encode_ms_p50': f'{np.median(self._encode_ms):.2f}' if self._encode_ms else 'n/a',
            'bytes_per_frame_mean': f'{np.mean(self._bytes):.0f}' if self._bytes else 'n/a',
        })
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.diag_pub.publish(arr)


class EmulatedLink:
    """
    In-process uplink emulation: a token bucket between the encoder and the publisher.

    Used where the link cannot be shaped with ``tc`` (``runespoor.cac.shaper.TokenBucket``,
    reported as emulation).  A frame leaves when the bucket allows; one that would wait longer
    than ``queue_ms`` is dropped, like ``tc tbf``'s latency limit.  ``rate_kbps == 0``
    publishes at once.  A sender thread does the waiting, so the executor never sleeps.
    """

    def __init__(self, node, rate_kbps=0.0, queue_ms=400.0):
        self.node = node
        self.bucket = None
        self.queue_ms = float(queue_ms)
        self._pending = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = None
        self.configure(rate_kbps, queue_ms)

    def configure(self, rate_kbps, queue_ms):
        """Change the emulated rate [kbit/s] (0 = off) and the queue limit [ms]."""
        from runespoor.cac.shaper import TokenBucket
        with self._cond:
            self.queue_ms = float(queue_ms)
            now = time.monotonic()
            if rate_kbps <= 0:
                self.bucket = None
            elif self.bucket is None:
                self.bucket = TokenBucket(rate_kbps * 1000.0, 4096, now)
            else:
                self.bucket.set_rate(rate_kbps * 1000.0, now)
            if self.bucket is not None and self._thread is None:
                self._thread = threading.Thread(target=self._run, name='emulated-link',
                                                daemon=True)
                self._thread.start()

    def send(self, msg, nbytes):
        """Publish ``msg`` now or after the bucket's wait; return False if it was dropped."""
        with self._cond:
            if self.bucket is None:
                self.node.pub.publish(msg)
                return True
            now = time.monotonic()
            wait = self.bucket.delay_for(nbytes, now)
            if wait * 1000.0 > self.queue_ms:
                self.bucket.tokens += nbytes  # never entered the queue
                return False
            self._pending.append((now + wait, msg))
            self._cond.notify()
            return True

    def _run(self):
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait(0.5)
                if self._closed:
                    return
                due, msg = self._pending[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                self._pending.popleft()
            try:
                self.node.pub.publish(msg)
            except Exception:  # noqa: B902 - context shut down under us
                return

    def close(self):
        """Stop the sender thread (frames still waiting are dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def default_profile_path():
    """Path of the installed default profile (falls back to the source tree)."""
    try:
        from ament_index_python.packages import get_package_share_directory
        path = os.path.join(get_package_share_directory('runespoor_edge'), 'config',
                            'profile_default.yaml')
        if os.path.isfile(path):
            return path
    except (ImportError, LookupError, ValueError):
        pass
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'config',
                        'profile_default.yaml')


def run(node_factory, args=None, node_name='runespoor_edge', **kwargs):
    """
    Spin the node made by ``node_factory`` until Ctrl-C / SIGTERM; shut down once.

    Bad parameters at start-up are logged at FATAL under ``node_name`` and give status 2; a
    second SIGINT is ignored (see :mod:`runespoor_edge.node_main`).
    """
    from runespoor_edge.node_main import run as run_node
    return run_node(node_factory, args, node_name=node_name, **kwargs)


def main(args=None):
    """Entry point of ``ros2 run runespoor_edge edge_node``."""
    return run(EdgeNode, args)


if __name__ == '__main__':
    sys.exit(main())
