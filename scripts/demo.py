#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
One-command demo (``make demo``): a synthetic clip through source -> edge -> cloud over DDS.

1. Starts the edge and the cloud at once (each its own process, on a random ROS_DOMAIN_ID,
   from the packages' YAML files plus demo overrides; the cloud with one torch thread per
   spare core, ``--cloud-threads``), and while they load:
2. makes a 512x256 clip (:mod:`runespoor_bringup.demo_media`): procedural street scenes
   (``runespoor.data.scene``) with a *hard stretch* in the middle (blur, low contrast, a crowd
   of small road users) when a trained segmentation model is at ``--seg-weights``, otherwise
   the flat "palette" pattern that the cloud's ``palette`` test segmenter reads without a model
   (said clearly in the output).  Clip and labels are cached under ``out/demo_cache/``;
3. times the cloud's own pipeline code on a clip frame in the standard and the tail-specific
   config (a short calibration) and replays the clip at the rate the cloud sustains in either
   (``replaying at X fps ... (recorded 17 fps)``; the cloud's hold time is scaled to cover the
   same frames as at 17 fps).  ``--rate`` fixes the rate instead;
4. prints one line per second (frames in/out, uplink kbit/s, tail flags, mode, latency) and a
   line for every CAC switch (policy sent, edge following), then writes ``out/demo/``:
   ``summary.json`` (counts, start-up time, replay rate, the clip's accuracy against its labels
   for the method used and for bilinear on the same received frames, per config),
   ``demo.mp4`` (input | reconstruction | analytics, knobs, bandwidth and tail state burned
   in; MJPG ``demo.avi`` where OpenCV cannot write MP4), ``maps/*.png`` (colourised maps),
   ``strip.png`` (standard and tail frames) and the nodes' logs.

    source scripts/env.sh && python scripts/demo.py [--frames 85] [--method bilinear]

``--task detection`` (``make demo TASK=detection``) runs the drone-view detection path instead:
a 640x360 clip of :mod:`runespoor.data.drone` as a bag, the edge at x2, the cloud with
``config/cloud_detection.yaml`` (the detector ``models/det/retinanet_r18_lite.pt``, which must
exist: the demo says what to train and stops otherwise; ASR when ``models/det/sr`` has
``asr_x2.pt`` and ``asr_x4.pt``, else bilinear), and writes ``out/demo_detection/``:
``summary.json`` (detections per frame, tail flags, latencies) and ``strip.png`` (input |
detections).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import threading
import time

import cv2
import numpy as np
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import (DurabilityPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from runespoor.cloud_pipeline import caption
from runespoor.labels import colorize
from runespoor_bringup import demo_media
from runespoor_bringup.graph import Graph
from runespoor_cloud.testing import child_env, free_domain_id, Probe
from runespoor_edge import image_conv
from runespoor_msgs.msg import (Detection2DArray, EncodedFrame, RatePolicy, SemanticMap,
                                TailFrameFlag)
from sensor_msgs.msg import Image
from std_msgs.msg import Empty

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H = 512, 256
#: The source waits for a subscriber on this topic (this monitor's "go") before its first frame.
GATE = 'runespoor_demo/start'
#: Recorded rate of the segmentation clip [fps] (the synthetic clips' 17 fps, Cityscapes').
FPS = 17.0
#: Cloud hold time at the recorded rate [s] (scaled with the replay rate).
HOLD_S = 1.0
#: Cloud fast path of the demo (runespoor.fast_path): channels-last convolutions on the CPU
#: too (ASR x4 + segmentation at 512x256 took 224 instead of 313 ms per frame, x2 635 instead
#: of 770 ms, 1 thread, same fp32 arithmetic); precision as the cloud's default.
CLOUD_FAST = {'precision': 'auto', 'channels_last': 'on'}
#: Edge configs of the segmentation demo: standard (--scale/--quality) and tail-specific,
#: the latter as config/edge.yaml's (one resolution level higher, lower quality).
TAIL_KNOBS = (2, 40)
#: Detection demo: frame size and rate of the drone clip, edge knobs (standard x2; tail: one
#: resolution level higher and lower quality, as config/edge.yaml's x2 q40 for its x4 q70).
DET_W, DET_H, DET_FPS = 640, 360, 15.0
DET_EDGE = {'scale': 2, 'jpeg_quality': 70, 'tail_scale': 1, 'tail_jpeg_quality': 40}


def log(text):
    print(f'[demo] {text}', flush=True)


def manifest_arch(weights):
    """Return the arch ``models/manifest.json`` lists for ``weights`` if its sha256 matches."""
    try:
        with open(os.path.join(REPO, 'models', 'manifest.json')) as f:
            entries = json.load(f)['checkpoints']
        rel = os.path.relpath(os.path.abspath(weights), REPO)
        entry = next(e for e in entries if e['file'] == rel and e.get('kind') == 'seg')
        with open(weights, 'rb') as f:
            if hashlib.sha256(f.read()).hexdigest() == entry['sha256']:
                return entry['arch']
    except (OSError, ValueError, KeyError, StopIteration):
        pass
    return None


def seg_choice(args):
    """Return (seg_arch, seg_weights, data pattern) for what is available."""
    weights = args.seg_weights
    if args.data == 'palette' or not os.path.isfile(weights):
        if args.data != 'palette':
            log(f'no segmentation weights at {weights}: using the cloud\'s "palette" TEST '
                'segmenter on flat palette frames (no DNN). Train a model (models/seg/...) '
                'to run the real analytics path.')
        return 'palette', '', 'palette'
    arch = args.seg_arch
    if arch == 'auto':  # the shipped file's arch from the manifest, else read safely (torch)
        arch = manifest_arch(weights)
    if arch in (None, 'auto'):
        from runespoor.checkpoint import inspect_checkpoint
        arch = inspect_checkpoint(weights, kind='seg', what='segmentation checkpoint')['arch']
    log(f'segmentation model {arch} from {weights}')
    return arch, weights, 'scene'


def stamp_key(stamp):
    return (stamp.sec, stamp.nanosec)


def percentile(values, q):
    return float(np.percentile(values, q)) if values else None


def pick_method(args, scales):
    """Resolve ``--method auto``: asr when ``args.sr_dir`` has ``asr_x<s>.pt`` of ``scales``."""
    if args.method != 'auto':
        return
    have = all(os.path.isfile(os.path.join(args.sr_dir, f'asr_x{s}.pt')) for s in scales)
    args.method = 'asr' if have else 'bilinear'
    log(f'reconstruction: {args.method}' + ('' if have else
        f' (no {" / ".join(f"asr_x{s}.pt" for s in scales)} in {args.sr_dir})'))


def fresh_dir(path, *sub):
    """Remove ``path`` if it exists, make it (and ``sub`` in it); return its absolute path."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(os.path.join(path, *sub))
    return path


def process_age_s():
    """Return how long ago this process started [s] (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open('/proc/self/stat') as f:
            start_ticks = int(f.read().rsplit(')', 1)[1].split()[19])
        with open('/proc/uptime') as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf('SC_CLK_TCK'))
    except (OSError, ValueError, IndexError):
        return 0.0


def cloud_threads(requested):
    """
    Torch threads of the cloud process: ``requested``, or (0) one per core but one.

    On 2 cores that is 1: the other core serves the source, the edge, DDS and this monitor;
    two torch threads competing with them made ASR x4 slower than one on a loaded machine.
    """
    return int(requested) if requested > 0 else max(1, (os.cpu_count() or 2) - 1)


class Monitor:
    """
    The demo's own node, on a fresh ROS domain: what it sees of the graph.

    Counts the camera frames and keeps at most ``keep`` of them; with ``clip`` (the clip's
    frames, in order) it also tells each camera stamp's clip index (:meth:`index_of`, by the
    frame's content: the source sends the clip's pixels unchanged); with ``reconstructed`` it
    keeps the cloud's reconstructions (at most ``keep``); it collects
    the uplink (``encoded``), the cloud's results (``result_type`` on ``result_topic``), the
    tail flags and the rate policies.
    """

    def __init__(self, result_type, result_topic, camera_qos, reconstructed=False, keep=400,
                 clip=None, store_camera=True):
        self.domain = free_domain_id()
        self.probe = Probe(self.domain, 'runespoor_demo_monitor')
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.camera, self.recon = {}, {}
        self.camera_order = {}  # stamp -> clip index
        self.clip_index = {}    # content key -> clip index
        self.set_clip(clip)
        self.store_camera = bool(store_camera)
        self.keep = int(keep)
        self.counts = {'in': 0}
        node = self.probe.node
        node.create_subscription(Image, 'camera/image_raw', self._on_camera, camera_qos)
        if reconstructed:
            node.create_subscription(Image, 'runespoor/reconstructed', self._on_recon,
                                     qos_profile_sensor_data)
        self.encoded = []  # watch_uplink() subscribes once the cloud is up
        self.results = self.probe.collect(result_type, result_topic, reliable)
        self.flags = self.probe.collect(TailFrameFlag, 'runespoor/tail_flag', reliable)
        self.policies = self.probe.collect(RatePolicy, 'runespoor/rate_policy', latched)

    def watch_uplink(self):
        """
        Subscribe to the uplink (``runespoor/encoded``) into :attr:`encoded`.

        Called once the cloud is up: until then the cloud's subscription is the only one, and
        the source waits for it (``wait_for_topics``) before its first frame.
        """
        self.probe.node.create_subscription(EncodedFrame, 'runespoor/encoded',
                                            self.encoded.append, qos_profile_sensor_data)

    def _on_camera(self, msg):
        self.counts['in'] += 1
        if self.clip_index:
            idx = self.clip_index.get(self.content_key(msg.data))
            if idx is not None:
                self.camera_order[stamp_key(msg.header.stamp)] = idx
        if self.store_camera and len(self.camera) < self.keep:
            self.camera[stamp_key(msg.header.stamp)] = image_conv.imgmsg_to_bgr8(msg)

    def set_clip(self, clip):
        """Index the clip's frames (``N x H x W x 3`` BGR, in order) by their content."""
        for i, img in enumerate(clip if clip is not None else ()):
            self.clip_index[self.content_key(np.ascontiguousarray(img).reshape(-1))] = i

    @staticmethod
    def content_key(data):
        """Return a short key of raw image bytes ``data`` (every 997th byte, and the size)."""
        view = memoryview(data).cast('B')
        return len(view), bytes(view[::997])

    def index_of(self, stamp):
        """Return the clip index of the camera frame stamped ``stamp`` (None: not seen)."""
        return self.camera_order.get(stamp_key(stamp))

    def _on_recon(self, msg):
        if len(self.recon) < self.keep:
            self.recon[stamp_key(msg.header.stamp)] = image_conv.imgmsg_to_bgr8(msg)

    def set_parameter(self, node, name, value, timeout_s=10.0):
        """Set float parameter ``name`` of ``node`` (e.g. ``/runespoor_cloud``); return ok."""
        cli = self.probe.node.create_client(SetParameters, f'{node}/set_parameters')
        try:
            if not self.probe.spin_until(cli.service_is_ready, timeout_s):
                return False
            req = SetParameters.Request(parameters=[Parameter(name=name, value=ParameterValue(
                type=ParameterType.PARAMETER_DOUBLE, double_value=float(value)))])
            fut = cli.call_async(req)
            self.probe.spin_until(fut.done, timeout_s)
            return bool(fut.done() and fut.result().results[0].successful)
        finally:
            self.probe.node.destroy_client(cli)


def cac_events(mon, seen, t0):
    """Print a line for each new rate policy and each switch of the edge's config."""
    for p in mon.policies[seen['policies']:]:
        mode = 'TAIL' if p.mode == RatePolicy.MODE_TAIL else 'standard'
        flag = next((f for f in reversed(mon.flags) if f.sequence == p.trigger_sequence), None)
        why = ''
        if flag is not None:
            rule = '>' if flag.direction == TailFrameFlag.DIRECTION_ABOVE else '<'
            verdict = 'tail' if flag.is_tail else 'not tail'
            why = f' (signal {flag.signal_value:.4f} {rule} {flag.threshold:.4f}? {verdict})'
        log(f'>>> CAC t={time.monotonic() - t0:5.1f}s: cloud sends RatePolicy '
            f'{p.policy_sequence}: {mode} mode, triggered by frame {p.trigger_sequence}{why}')
    seen['policies'] = len(mon.policies)
    for f in mon.encoded[seen['encoded']:]:
        tail = bool(f.knobs.tail_specific)
        if tail != seen['tail_config']:
            log(f'>>> CAC t={time.monotonic() - t0:5.1f}s: edge sends frame {f.sequence} in '
                f'the {"TAIL-SPECIFIC" if tail else "standard"} config x{f.knobs.scale} '
                f'q{f.knobs.jpeg_quality} ({len(f.image.data) / 1000:.1f} kB)')
            seen['tail_config'] = tail
    seen['encoded'] = len(mon.encoded)


def stream(args, mon, out, t_start, nodes, started, cloud_params=None, extra=lambda new: '',
           prepare=None, env=None, timing=None):
    """
    Run the graph (``nodes``: overrides of ``cloud``, ``edge``, ``source``); return the outcome.

    Starts the cloud (``cloud_params``: its parameter file, default the package's; ``env``:
    extra environment of the nodes), the edge and the source (which waits for the cloud and
    for a subscriber on :data:`GATE`), then calls ``prepare(mon)`` while they load (it returns
    the ``started`` text and ``before_source(mon)``, called once the cloud is up, e.g. to write
    the bag the source opens at its first frame), opens the gate, logs ``started``, prints
    one line a second (frames in / out / analysed, uplink, ``extra(new results)``, tail flags,
    mode, end-to-end latency) and a line per CAC switch until the source has finished and no
    result came for 3 s, or ``args.timeout`` passes.  A node dying raises.  ``timing`` (a dict)
    receives the start-up times [s after ``t_start``].  The nodes are stopped and the monitor
    closed in any case.  Returns ``(status, enc_bytes, source log)``: status ``ok`` or
    ``timeout``; ``enc_bytes`` ``[(arrival time, bytes)]`` of the uplink frames.
    """
    results, encoded, flags, policies = mon.results, mon.encoded, mon.flags, mon.policies
    probe = mon.probe
    timing = {} if timing is None else timing
    graph = Graph(dict(child_env(mon.domain), **(env or {})), log_dir=os.path.join(out, 'logs'))
    enc_bytes = []  # (arrival time, bytes)
    status = 'ok'
    try:
        graph.start('cloud', params_file=cloud_params, overrides=nodes['cloud'])
        graph.start('edge', overrides=nodes['edge'])
        # the source starts now too (process start and DDS discovery take seconds) but waits
        # for the cloud's subscription and for this monitor's go (a subscription on GATE)
        graph.start('source', overrides=dict(
            nodes['source'], wait_for_topics=f'runespoor/encoded,{GATE}'))
        timing['nodes_started_s'] = time.monotonic() - t_start
        before_source = None
        if prepare is not None:
            started, before_source = prepare(mon)
        if not probe.spin_until(lambda: len(graph.alive()) < 3 or
                                probe.node.count_subscribers('runespoor/encoded') > 0, 60):
            raise RuntimeError('cloud did not come up in 60 s')
        if len(graph.alive()) < 3:
            raise RuntimeError('a node died at start-up:\n' + '\n'.join(
                graph.log(k)[-1500:] for k in graph.procs))
        timing['cloud_ready_s'] = time.monotonic() - t_start
        mon.watch_uplink()
        if before_source is not None:
            before_source(mon)
        probe.node.create_subscription(Empty, GATE, lambda msg: None, 1)
        timing['source_go_s'] = time.monotonic() - t_start
        log(started() if callable(started) else started)
        last_print = last_result = time.monotonic()
        seen = [0, 0, 0, 0]
        events = {'policies': 0, 'encoded': 0, 'tail_config': False}
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            n_results = len(results)
            probe.spin_until(lambda: False, 0.2)
            now = time.monotonic()
            if len(results) != n_results:
                last_result = now
                timing.setdefault('first_result_s', now - t_start)
            for f in encoded[len(enc_bytes):]:
                enc_bytes.append((now, len(f.image.data)))
            cac_events(mon, events, t_start)
            if now - last_print >= 1.0:
                window = [b for t, b in enc_bytes if t > now - 1.0]
                new = results[seen[1]:]
                new_flags = flags[seen[2]:]
                lat = [r.end_to_end_ms for r in new]
                mode = 'TAIL' if policies and policies[-1].mode == RatePolicy.MODE_TAIL \
                    else 'std'
                print(f'[demo] t={now - t_start:5.1f}s in {mon.counts["in"] - seen[0]:3d} '
                      f'out {len(encoded) - seen[3]:3d} analysed {len(new):3d} | uplink '
                      f'{sum(window) * 8 / 1000:7.1f} kbit/s{extra(new)} | tail flags '
                      f'{sum(f.is_tail for f in new_flags):2d}/{len(new_flags):2d} | mode '
                      f'{mode:4s} | e2e latency p50 '
                      f'{np.median(lat) if lat else float("nan"):6.1f} ms', flush=True)
                seen = [mon.counts['in'], len(results), len(flags), len(encoded)]
                last_print = now
            if 'source finished' in graph.log('source') and now - last_result > 3.0:
                break
            if len(graph.alive()) < 3:
                raise RuntimeError('a node died:\n' + '\n'.join(
                    graph.log(k)[-1500:] for k in graph.procs))
        else:
            status = 'timeout'
            log(f'stopped after the {args.timeout:g} s timeout')
    finally:
        codes = graph.stop()
        probe.close()
    log(f'nodes stopped: {codes}')
    return status, enc_bytes, graph.log('source')


def frame_counts(mon, source_log):
    """Summary entries: frames published, received here, sent, analysed, skipped."""
    import re
    found = re.findall(r'source finished after (\d+) frames', source_log)
    return {
        'frames_published': int(found[-1]) if found else mon.counts['in'],
        'frames_received_by_monitor': mon.counts['in'],
        'frames_encoded': len(mon.encoded),
        'frames_analyzed': len(mon.results),
        # bounded queue, newest first
        'frames_skipped_by_cloud': len(mon.encoded) - len(mon.results),
    }


def link_stats(mon, enc_bytes):
    """Summary entries: tail frames and policies, uplink rate and size, latencies (p50/p90)."""
    encoded, results = mon.encoded, mon.results
    span = (enc_bytes[-1][0] - enc_bytes[0][0]) if len(enc_bytes) > 1 else 0.0
    kbps = sum(b for _, b in enc_bytes[1:]) * 8 / 1000 / span if span > 0 else 0.0
    lat = [r.end_to_end_ms for r in results]
    return {
        'tail_frames': int(sum(f.is_tail for f in mon.flags)),
        'tail_flags': len(mon.flags),
        'policies': [{'policy_sequence': p.policy_sequence, 'mode': int(p.mode),
                      'trigger_sequence': p.trigger_sequence} for p in mon.policies],
        'frames_sent_tail_specific': int(sum(f.knobs.tail_specific for f in encoded)),
        'uplink_kbps_mean': round(kbps, 1),
        'bytes_per_frame_mean': round(float(np.mean([len(f.image.data) for f in encoded])), 1)
        if encoded else None,
        'latency_ms_p50': percentile(lat, 50),
        'latency_ms_p90': percentile(lat, 90),
        'inference_ms_p50': percentile([r.inference_ms for r in results], 50),
        'reconstruct_ms_p50': percentile([r.reconstruct_ms for r in results], 50),
    }


def tail_verdict(flag_by_seq, sequence):
    """Return how the cloud flagged frame ``sequence``: ``TAIL frame`` or ``not tail``."""
    f = flag_by_seq.get(sequence)
    return 'TAIL frame' if f is not None and f.is_tail else 'not tail'


def finish(summary, out, written, t_start, status):
    """Log the summary (less per-frame entries) and what was written; return the exit status."""
    log(json.dumps({k: v for k, v in summary.items() if k != 'frames'}, indent=1))
    log(f'wrote {os.path.relpath(out, os.getcwd())}/ ({written}) in '
        f'{time.monotonic() - t_start:.0f} s')
    return 0 if status == 'ok' and summary['frames_analyzed'] > 0 else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--task', choices=('segmentation', 'detection'), default='segmentation')
    ap.add_argument('--frames', type=int, help='clip length (default 85, 5 s at 17 fps; '
                                               'detection: 60 at 15 fps)')
    ap.add_argument('--out', help='output folder (default out/demo; detection: '
                                  'out/demo_detection)')
    ap.add_argument('--method', default='auto',
                    help='bilinear | sr | asr | cloudseg; auto: asr when the SR folder has '
                         'asr_x2.pt and asr_x4.pt (the scales the demo uses), else bilinear')
    ap.add_argument('--sr-dir', help='SR checkpoints (default models/sr; detection: '
                                     'models/det/sr)')
    ap.add_argument('--seg-weights', default=os.path.join(REPO, 'models', 'seg',
                                                          'swiftnet_r18_lite.pt'))
    ap.add_argument('--seg-arch', default='auto')
    ap.add_argument('--data', choices=('auto', 'palette'), default='auto')
    ap.add_argument('--det-weights', default=os.path.join(REPO, 'models', 'det',
                                                          'retinanet_r18_lite.pt'),
                    help='detection: the detector checkpoint (kind det)')
    ap.add_argument('--det-arch', default='retinanet_r18_lite', help='detection: its arch')
    ap.add_argument('--scale', type=int, help='edge standard scale (default 4; detection 2)')
    ap.add_argument('--quality', type=int, default=70, help='edge standard JPEG quality')
    ap.add_argument('--rate', type=float, default=0.0,
                    help='replay rate [fps]; 0 = the rate the cloud sustains (calibrated at '
                         'start-up, at most the recorded 17 fps)')
    ap.add_argument('--cloud-threads', type=int, default=0,
                    help='torch threads of the cloud process; 0 = one per CPU core but one')
    ap.add_argument('--cache', default=os.path.join(REPO, 'out', 'demo_cache'),
                    help='folder of the rendered clip, reused by later runs')
    ap.add_argument('--video-fps', type=float, default=FPS / 2,
                    help='frame rate of demo.mp4 (default half the recorded 17 fps)')
    ap.add_argument('--cloud-param', action='append', default=[], metavar='NAME=VALUE',
                    help='extra cloud parameter (YAML value), e.g. tail_threshold=0.02; the '
                         'default is config/cloud.yaml as it is (the tail detector too)')
    ap.add_argument('--timeout', type=float, default=600.0, help='max seconds of streaming')
    args = ap.parse_args(argv)
    if args.task == 'detection':
        return detection_main(args)
    args.frames = 85 if args.frames is None else args.frames
    args.out = args.out or os.path.join(REPO, 'out', 'demo')
    args.sr_dir = args.sr_dir or os.path.join(REPO, 'models', 'sr')
    args.scale = 4 if args.scale is None else args.scale

    t_start = time.monotonic() - process_age_s()  # from the start of python, imports included
    pick_method(args, (2, args.scale))
    out = fresh_dir(args.out, 'maps')
    from runespoor.checkpoint import CheckpointError
    try:
        seg_arch, seg_weights, pattern = seg_choice(args)
    except CheckpointError as exc:
        log(f'refusing the segmentation weights: {exc}')
        return 2
    threads = cloud_threads(args.cloud_threads)
    cloud = {'seg_arch': seg_arch, 'seg_weights': seg_weights, 'method': args.method,
             'sr_dir': args.sr_dir, 'sr_scales': sorted({TAIL_KNOBS[0], args.scale}),
             'device': 'auto', 'publish_reconstructed_every_n': 1, 'map_output': 'full',
             'queue_size': 2, 'hold_s': HOLD_S, **CLOUD_FAST}
    import yaml
    for item in args.cloud_param:
        name, sep, value = item.partition('=')
        if not sep or not name:
            ap.error(f'--cloud-param {item!r}: expected NAME=VALUE')
        cloud[name.strip()] = yaml.safe_load(value)
        log(f'cloud parameter {name.strip()} = {cloud[name.strip()]!r} (--cloud-param)')
    edge = {'scale': args.scale, 'jpeg_quality': args.quality, 'tail_scale': TAIL_KNOBS[0],
            'tail_jpeg_quality': TAIL_KNOBS[1], 'input_reliability': 'reliable'}
    # reliable camera topic: the edge and this monitor see every frame, in order (clip index)
    bag = os.path.join(out, 'clip_bag')  # written once the replay rate is known
    os.makedirs(bag)
    source = {'mode': 'bag', 'path': bag, 'rate': 0.0, 'loop': False,
              'max_frames': args.frames, 'wait_for_subscribers_s': 300.0,
              'min_subscribers': 2,  # edge + this monitor
              'reliability': 'reliable'}
    mon = Monitor(SemanticMap, 'runespoor/semantic_map',
                  QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
                  reconstructed=True, keep=args.frames, store_camera=False)
    ctx = {'timing': {}}

    def prepare(mon):
        """While edge and cloud load: the clip, the models of this process, warm runs."""
        # torch and the models load in a thread while this one renders or reads the clip
        loader = threading.Thread(target=lambda: ctx.update(
            bilinear=Offline(seg_arch, seg_weights, threads)), name='load-models')
        loader.start()
        try:
            _, ctx['images'], ctx['labels'], ctx['clip_s'] = demo_media.cached_clip(
                args.cache, pattern, args.frames, (W, H), FPS, log=log)
        finally:
            loader.join()
        if 'bilinear' not in ctx:
            raise RuntimeError('loading the models in the demo process failed (see above)')
        mon.set_clip(ctx['images'])
        off = ctx['bilinear']
        ctx['calibrator'] = Calibration(
            args, off.seg, off.device, off.fast,
            ctx['images'][demo_media.hard_range(args.frames)[0]],
            {'standard': (args.scale, args.quality), 'tail_specific': TAIL_KNOBS}, (W, H), FPS,
            recon=off.bilinear if args.method == 'bilinear' else None)
        return (lambda: f'streaming {args.frames} frames at {ctx["rate"]:.2f} fps '
                f'(ROS_DOMAIN_ID={mon.domain}, edge x{args.scale} q{args.quality}, tail '
                f'x{TAIL_KNOBS[0]} q{TAIL_KNOBS[1]}, cloud {args.method} + {seg_arch}, '
                f'{threads} torch thread{"s" if threads > 1 else ""})'), before_source

    def before_source(mon):
        """Once the cloud is up (and idle): calibrate, scale the hold time, set the rate."""
        t = ctx['timing']
        log(f'cloud ready {t["cloud_ready_s"]:.1f} s after start (nodes started at '
            f'{t["nodes_started_s"]:.1f} s)')
        ctx['rate'], ctx['calibration'] = ctx['calibrator'].measure()
        write_retimed_bag(bag, ctx['images'], ctx['rate'])
        ctx['hold_s'] = set_hold(mon, HOLD_S, FPS, ctx['rate'])
        ctx['bilinear'].start(mon)

    try:
        status, enc_bytes, source_log = stream(
            args, mon, out, t_start, {'cloud': cloud, 'edge': edge, 'source': source}, '',
            prepare=prepare, env={'OMP_NUM_THREADS': str(threads)}, timing=ctx['timing'])
    finally:
        if 'bilinear' in ctx:
            ctx['bilinear'].stop()
    t = ctx['timing']
    if 'first_result_s' in t:
        log(f'start-up: first analysed frame {t["first_result_s"]:.1f} s after the demo '
            f'started (python start; cloud ready at {t["cloud_ready_s"]:.1f} s; clip '
            f'{ctx["clip_s"]:.1f} s while the nodes loaded; calibration '
            f'{ctx["calibration"]["seconds"]:.1f} s once the cloud was up)')
    t_done = time.monotonic()
    ctx['bilinear'].finish(mon, log)
    summary = write_outputs(out, args, seg_arch, pattern, mon, enc_bytes, status, source_log,
                            ctx)
    log(f'outputs written in {time.monotonic() - t_done:.1f} s (bilinear baseline included)')
    return finish(summary, out, f'summary.json, {os.path.basename(summary["video"] or "-")}, '
                  'strip.png, maps/', t_start, status)


class Offline:
    """
    The demo process's own copy of the cloud's analytics: calibration and the bilinear baseline.

    Same library code and models as the cloud node (:class:`runespoor.tasks.segmentation.analytics.Segmenter`,
    bilinear reconstruction, same torch thread count).  :meth:`start` runs, in a thread, every
    received uplink frame (the same JPEG bytes the cloud decoded) through bilinear +
    segmentation while the clip streams; :meth:`finish` completes the rest.
    """

    def __init__(self, seg_arch, seg_weights, threads):
        import torch
        from runespoor.cloud_pipeline import make_reconstructor
        from runespoor.tasks.segmentation.analytics import Segmenter
        from runespoor.device import resolve_device
        from runespoor import fast_path
        torch.set_num_threads(threads)
        self.device = resolve_device('auto')
        # the cloud's fast path (CLOUD_FAST), without CUDA graphs in this process
        self.fast = fast_path.resolve(self.device, CLOUD_FAST['precision'],
                                      CLOUD_FAST['channels_last'], 'off')
        self.seg = Segmenter(seg_arch, seg_weights, self.device)
        fast_path.apply(None, self.seg, self.fast)
        self.bilinear = make_reconstructor('bilinear', device=self.device)
        self.pred = {}  # EncodedFrame sequence -> (stamp key, labels)
        self._stop = threading.Event()
        self._thread = None
        self._done = 0

    def analyse(self, data, scale, size):
        """Decode ``data`` (JPEG), upsample bilinearly to ``size`` (H, W), segment."""
        from runespoor import codec
        lr, _ = codec.decode_image(bytes(data))
        hr, tensor = self.bilinear.reconstruct(lr, scale, size)
        return self.seg(hr, tensor)

    def _step(self, encoded):
        if self._done >= len(encoded):
            return False
        f = encoded[self._done]
        self._done += 1
        self.pred[int(f.sequence)] = (stamp_key(f.header.stamp), self.analyse(
            f.image.data, int(f.knobs.scale), (int(f.source_height), int(f.source_width))))
        return True

    def start(self, mon):
        """Work through ``mon.encoded`` in a thread while the clip streams."""
        def work():
            try:  # Linux: this thread only, so it yields to the nodes on a busy CPU
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
            except (AttributeError, OSError):
                pass
            while not self._stop.is_set():
                if not self._step(mon.encoded):
                    self._stop.wait(0.05)
        self._thread = threading.Thread(target=work, name='bilinear-baseline', daemon=True)
        self._thread.start()

    def stop(self):
        """Stop the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def finish(self, mon, say):
        """Stop the thread and analyse what it had not reached yet."""
        self.stop()
        t0, left = time.monotonic(), len(mon.encoded) - self._done
        while self._step(mon.encoded):
            pass
        if left > 0:
            say(f'bilinear baseline: {left} frames after the stream took '
                f'{time.monotonic() - t0:.1f} s ({len(self.pred)} in all)')


class Calibration:
    """
    Time the cloud's pipeline on a clip frame per config, for the replay rate.

    The same :class:`runespoor.cloud_pipeline.CloudPipeline` code and models the cloud node
    runs (decode, reconstruction with ``args.method`` from ``args.sr_dir``, the ``analytics``
    model, its tail signal), in this process with the cloud's thread count and fast path
    ``fast``, on ``image`` (BGR, ``size = (W, H)``) sent in each of ``configs`` (name ->
    (scale, quality)).  The constructor loads the SR models and runs each config once
    (first-call costs, while the nodes load); :meth:`measure` times one more run of each once
    the cloud is up and idle.  ``fps``: the clip's recorded rate; ``recon``: a ready
    reconstructor (bilinear) instead of loading one.
    """

    def __init__(self, args, analytics, device, fast, image, configs, size, fps, recon=None):
        from runespoor import codec, fast_path
        from runespoor.cloud_pipeline import (CloudPipeline, make_reconstructor,
                                              PipelineConfig)
        self.args, self.device, self.configs, self.size, self.fps = \
            args, device, configs, size, fps
        if recon is None:
            scales = sorted({c[0] for c in configs.values() if c[0] > 1}) or [2]
            recon = make_reconstructor(args.method, args.sr_dir, device, scales)
            fast_path.apply(recon, None, fast)
        self.pipe = CloudPipeline(recon, analytics, PipelineConfig())
        self.arch = getattr(analytics, 'arch', '?')
        self.encoded = {k: codec.encode_frame(image, s, q) for k, (s, q) in configs.items()}
        self.seq = 0
        self._run_all()

    def _run_all(self):
        from runespoor.cloud_pipeline import EncodedInput
        out = {}
        for name, enc in self.encoded.items():
            frame = EncodedInput(self.seq, enc.data, enc.scale, enc.quality, *self.size)
            self.seq += 1
            self.pipe.admit(frame)
            t = time.perf_counter()
            self.pipe.process(frame)
            out[name] = time.perf_counter() - t
        return out

    def measure(self):
        """Return (replay rate [fps], details): ``replay_rate`` of the slower config."""
        args, configs, fps = self.args, self.configs, self.fps
        t0 = time.monotonic()
        frame_s = self._run_all()
        rate = demo_media.replay_rate(frame_s.values(), fps)
        details = {'seconds': round(time.monotonic() - t0, 2), 'device': str(self.device),
                   'frame_ms': {k: round(v * 1e3, 1) for k, v in frame_s.items()},
                   'sustained_fps': {k: round(1.0 / v, 2) for k, v in frame_s.items()},
                   'rate_fps': round(rate, 2)}
        what = ', '.join(f'{k.replace("_", "-")} x{configs[k][0]} q{configs[k][1]} '
                         f'{v * 1e3:.0f} ms' for k, v in frame_s.items())
        if args.rate > 0:
            log(f'calibration: {what} per frame; replaying at the requested {args.rate:g} '
                f'fps (--rate; recorded {fps:g} fps)')
            details['rate_fps'] = args.rate
            return float(args.rate), details
        if rate < fps:
            log(f'calibration ({args.method} + {self.arch} on {self.device}): {what} per '
                f'frame; replaying at {rate:.2f} fps, the rate this CPU cloud sustains in '
                f'either config (recorded {fps:g} fps)')
        else:
            log(f'calibration: {what} per frame; replaying at the recorded {fps:g} fps')
        return rate, details


def write_retimed_bag(bag, images, rate):
    """
    Write ``images`` as the bag ``bag`` stamped at ``rate`` fps, replacing its placeholder.

    The source replays a bag at its recorded stamps and opens it at its first frame, so the
    clip is written once the replay rate is known, where the (empty) placeholder folder was.
    """
    from runespoor.data.bag import write_bag
    shutil.rmtree(bag + '.tmp', ignore_errors=True)
    write_bag(bag + '.tmp', iter(images), fps=rate)
    os.replace(bag + '.tmp', bag)


def set_hold(mon, hold_s, fps, rate):
    """Set the cloud's hold time to ``hold_s`` of the clip at the replay ``rate``; return it."""
    scaled = hold_s * fps / rate
    if abs(scaled - hold_s) > 1e-6:
        ok = mon.set_parameter('/runespoor_cloud', 'hold_s', scaled)
        refused = '' if ok else ' NOT SET (parameter refused)'
        log(f'cloud hold time {scaled:.1f} s = {hold_s:g} s of the clip at {fps:g} fps '
            f'({fps * hold_s:.0f} frames){refused}')
    return scaled


def stage_fps(maps):
    """Per scale: median cloud time per frame (decode .. postprocess) in the stream, as fps."""
    out = {}
    for scale in sorted({int(m.knobs.scale) for m in maps}):
        ms = [m.decode_ms + m.reconstruct_ms + m.inference_ms + m.postprocess_ms
              for m in maps if int(m.knobs.scale) == scale]
        out[f'x{scale}'] = {'frames': len(ms), 'frame_ms_p50': round(float(np.median(ms)), 1),
                            'fps': round(1000.0 / float(np.median(ms)), 2)}
    return out


def policy_in_force(policies, sequence):
    """Return the mode of the last policy triggered at or before frame ``sequence``."""
    mode = RatePolicy.MODE_STANDARD
    for p in policies:
        if p.trigger_sequence <= sequence:
            mode = p.mode
    return 'TAIL' if mode == RatePolicy.MODE_TAIL else 'standard'


def accuracy(mon, offline, labels, method, hard=None):
    """
    Return the clip's accuracy: ``method`` (the cloud's maps), bilinear on the same frames.

    Per config the frames were sent in, and (``hard``: the hard stretch's first and last
    frame) inside and outside the hard stretch.
    """
    tally = demo_media.AccuracyTally()
    for m in mon.results:
        idx = mon.index_of(m.header.stamp)
        base = offline.pred.get(int(m.sequence))
        if idx is None or m.labels.height != labels.shape[1]:
            continue
        if base is None and method != 'bilinear':  # its JPEG never reached this monitor
            continue
        groups = ('tail_specific' if m.knobs.tail_specific else 'standard',)
        if hard is not None:
            groups += ('hard_stretch' if hard[0] <= idx <= hard[1] else 'ordinary',)
        tally.add(method, groups, labels[idx], image_conv.imgmsg_to_numpy(m.labels))
        if method != 'bilinear':
            tally.add('bilinear', groups, labels[idx], base[1])
    return tally.summary()


def write_video(out, args, seg_arch, mon, ctx, flag_by_seq):
    """Write demo.mp4 (or .avi): one frame per clip frame; return (path, codec)."""
    images = ctx['images']
    n = len(images)
    writer, path, codec = demo_media.open_video(os.path.join(out, 'demo'), args.video_fps,
                                                (3 * W, H + 3 * 20 + 8))
    if writer is None:
        log(codec)
        return None, codec
    if codec != 'mp4v':
        log(f'OpenCV here cannot write MP4 (mp4v): wrote {os.path.basename(path)} with MJPG')
    maps = {mon.index_of(m.header.stamp): m for m in mon.results}
    enc = {mon.index_of(f.header.stamp): f for f in mon.encoded}
    blank = np.full((H, W, 3), 40, np.uint8)
    try:
        for i in range(n):
            m, f = maps.get(i), enc.get(i)
            recon = mon.recon.get(stamp_key(m.header.stamp)) if m is not None else None
            if f is not None:
                tail_cfg = bool(f.knobs.tail_specific)
                kb = len(f.image.data) / 1000
                sent = (f'edge sent x{f.knobs.scale} q{f.knobs.jpeg_quality} '
                        f'{"TAIL-SPECIFIC" if tail_cfg else "standard"} config, {kb:.1f} kB '
                        f'= {kb * 8 * FPS:.0f} kbit/s at {FPS:g} fps')
            else:
                tail_cfg, sent = False, 'not seen on the uplink'
            lines = [f'frame {i + 1}/{n} | {sent}']
            if m is not None:
                fl = flag_by_seq.get(m.sequence)
                rule = '>' if fl is not None and fl.direction == TailFrameFlag.DIRECTION_ABOVE \
                    else '<'
                verdict = ('TAIL FRAME' if fl.is_tail else 'not tail') if fl is not None \
                    else '?'
                sig = (f'tail signal {fl.signal_value:.4f} (tail if {rule} '
                       f'{fl.threshold:.4f}) -> {verdict}') if fl is not None else ''
                lines.append(f'cloud {m.method} + {seg_arch}: {sig} | CAC mode '
                             f'{policy_in_force(mon.policies, m.sequence)}')
                seg = colorize(image_conv.imgmsg_to_numpy(m.labels), bgr=True)
                state = 'tail' if tail_cfg else 'std'
            else:
                lines.append("not analysed (dropped by the cloud's bounded queue)" if f is not None
                             else "no result seen for this frame by the demo's monitor")
                seg, state = blank, 'skip'
            lines.append(f'replayed at {ctx["rate"]:.2f} fps (recorded {FPS:g}), video '
                         f'{args.video_fps:g} fps'
                         + (f', e2e latency {m.end_to_end_ms:.0f} ms' if m is not None else ''))
            panel_in = images[i]
            frame = demo_media.video_frame(
                [panel_in, recon if recon is not None else blank, seg],
                [f'input #{i}', f'{args.method} reconstruction' if recon is not None
                 else 'no reconstruction', 'segmentation'], lines, state)
            writer.write(frame)
    finally:
        writer.release()
    return path, codec


def write_outputs(out, args, seg_arch, pattern, mon, enc_bytes, status, source_log, ctx):
    """Write summary.json, demo.mp4, the colourised maps and the strip; return summary."""
    maps, recon = mon.results, mon.recon
    flag_by_seq = {f.sequence: f for f in mon.flags}
    counts = frame_counts(mon, source_log)
    streamed = counts['frames_published']
    a, b = demo_media.hard_range(args.frames)
    acc = accuracy(mon, ctx['bilinear'], ctx['labels'], args.method,
                   (a, b) if pattern == 'scene' else None)
    video, codec = write_video(out, args, seg_arch, mon, ctx, flag_by_seq)
    flags = mon.flags
    summary = {
        'status': status,
        **counts,
        'share_analyzed': round(counts['frames_analyzed'] / streamed, 3) if streamed else None,
        # results this monitor matched to their clip frame (for the accuracy and the video)
        'frames_matched_to_clip': sum(mon.index_of(m.header.stamp) is not None for m in maps),
        **link_stats(mon, enc_bytes),
        'method': args.method,
        'scale': args.scale,
        'jpeg_quality': args.quality,
        'tail_config': {'scale': TAIL_KNOBS[0], 'jpeg_quality': TAIL_KNOBS[1]},
        'scales_seen': sorted({int(f.knobs.scale) for f in mon.encoded}),
        'segmentation': seg_arch,
        'data': pattern,
        'hard_stretch_frames': [a, b] if pattern == 'scene' else None,
        'resolution': [W, H],
        'tail_detector': {
            'signal': {0: 'small_region_ratio', 1: 'small_box_share', 2: 'tail_probability'}.get(
                int(flags[0].signal), int(flags[0].signal)),
            'threshold': round(float(flags[0].threshold), 5),
            'threshold_by_scale': {f'x{int(m.knobs.scale)}': round(float(
                flag_by_seq[m.sequence].threshold), 5) for m in maps if m.sequence in flag_by_seq},
            'direction': 'above' if flags[0].direction == TailFrameFlag.DIRECTION_ABOVE
            else 'below', 'from': "the cloud's config (config/cloud.yaml)" + (
                f', overridden: {args.cloud_param}' if args.cloud_param else '')}
        if flags else None,
        'replay': {'rate_fps': round(ctx['rate'], 3), 'recorded_fps': FPS,
                   'hold_s': round(ctx['hold_s'], 2), 'calibration': ctx['calibration'],
                   'cloud_in_stream': stage_fps(maps),
                   'cloud_torch_threads': cloud_threads(args.cloud_threads)},
        'startup_s': {k: round(v, 2) for k, v in ctx['timing'].items()},
        'clip_s': round(ctx['clip_s'], 2),
        'accuracy': dict(acc, note="the clip's labels; bilinear: the same received JPEG "
                                   'frames upsampled bilinearly and segmented by the same model '
                                   'in this process'),
        'video': os.path.relpath(video, out) if video else None,
        'video_codec': codec,
        'frames': [{'sequence': int(m.sequence),
                    'index': mon.index_of(m.header.stamp),
                    'scale': int(m.knobs.scale), 'jpeg_quality': int(m.knobs.jpeg_quality),
                    'tail_specific': bool(m.knobs.tail_specific),
                    'is_tail': bool(flag_by_seq[m.sequence].is_tail)
                    if m.sequence in flag_by_seq else None,
                    'signal': round(float(flag_by_seq[m.sequence].signal_value), 5)
                    if m.sequence in flag_by_seq else None,
                    'small_region_ratio': round(float(m.small_region_ratio), 5),
                    'end_to_end_ms': round(float(m.end_to_end_ms), 1)} for m in maps],
    }
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    for m in maps[::max(1, len(maps) // 20)]:
        labels = image_conv.imgmsg_to_numpy(m.labels)
        cv2.imwrite(os.path.join(out, 'maps', f'map_{m.sequence:05d}.png'),
                    colorize(labels, bgr=True))
    rows = []
    images = ctx['images']
    for want_tail in (False, True):
        picked = [m for m in maps if stamp_key(m.header.stamp) in recon and
                  mon.index_of(m.header.stamp) is not None and
                  bool(m.knobs.tail_specific) == want_tail]
        # tail config: show one frame that has small objects (sent at the higher resolution
        # while the hold time keeps the tail config) and one tail frame
        picked.sort(key=lambda m: m.small_region_ratio <= 0.0)
        picked = picked[:1] + [m for m in picked if m.small_region_ratio <= 0.0][:1] \
            if want_tail else picked[:2]
        for m in picked:
            key = stamp_key(m.header.stamp)
            verdict = tail_verdict(flag_by_seq, m.sequence)
            seg = colorize(image_conv.imgmsg_to_numpy(m.labels), bgr=True)
            idx = mon.index_of(m.header.stamp)
            rows.append(np.hstack([
                caption(images[idx], f'input #{idx}'),
                caption(recon[key], f'{m.method} from x{m.knobs.scale} '
                                    f'q{m.knobs.jpeg_quality}'
                                    f'{" (tail config)" if want_tail else ""}'),
                caption(seg, f'{m.small_region_ratio * 100:.2f}% small -> {verdict}')]))
    if rows:
        cv2.imwrite(os.path.join(out, 'strip.png'), np.vstack(rows))
    report(summary, acc, args.method)
    return summary


def report(summary, acc, method):
    """Log the figures a reader looks for: frames analysed, accuracy, tail frames."""
    streamed = summary['frames_published']
    log(f'analysed {summary["frames_analyzed"]} of {streamed} streamed frames '
        f'({100.0 * summary["frames_analyzed"] / max(1, streamed):.0f} %), replayed at '
        f'{summary["replay"]["rate_fps"]:.2f} fps')
    for m in [method] + (['bilinear'] if method != 'bilinear' else []):
        e = acc.get(m)
        if e:
            per = ', '.join(f'{c.replace("_", " ")} {e[f"miou_{c}"]:.3f} '
                            f'({e[f"frames_{c}"]})'
                            for c in ('standard', 'tail_specific', 'hard_stretch', 'ordinary')
                            if f'miou_{c}' in e)
            log(f'accuracy {m:8s}: mIoU {e["miou"]:.3f}, class-wise tail mIoU '
                f'{e["tail_miou"] if e["tail_miou"] is not None else float("nan"):.3f} over '
                f'{e["frames"]} frames ({per})')
    if summary['tail_frames'] == 0 and summary['tail_detector']:
        d = summary['tail_detector']
        sig = [f['signal'] for f in summary['frames'] if f['signal'] is not None]
        log(f'NO frame was flagged by the configured tail detector (signal {d["direction"]} '
            f'{d["threshold"]:g}; this clip\'s signal {min(sig):.4f}..{max(sig):.4f}), so the '
            'edge stayed in the standard config')


# ------------------------------------------------------------------------------ detection
TRAIN_DETECTOR = """
    runespoor data drone --out data/drone640            # synthetic VisDrone-layout frames
    runespoor train det --config ros2_ws/src/runespoor/config/train/det.yaml \\
        --data data/drone640 --out out/det
    cp out/det/det.pt models/det/retinanet_r18_lite.pt"""


def detection_main(args):
    """Run ``--task detection``; return the exit status."""
    args.frames = 60 if args.frames is None else args.frames
    args.out = os.path.abspath(args.out or os.path.join(REPO, 'out', 'demo_detection'))
    args.sr_dir = args.sr_dir or os.path.join(REPO, 'models', 'det', 'sr')
    args.scale = DET_EDGE['scale'] if args.scale is None else args.scale
    if not os.path.isfile(args.det_weights):
        log(f'no detector at {args.det_weights}: the detection demo needs a trained detector '
            '(it does not fake detections). Train one (CPU: the default 3000 steps take a '
            f'while), then rerun:{TRAIN_DETECTOR}')
        return 2
    try:
        from runespoor.data.drone import make_scene
    except ImportError as exc:
        log(f'no drone-view clip generator (runespoor.data.drone: {exc}); the detection demo '
            'renders its clip with it')
        return 2
    pick_method(args, (2, 4))
    log(f'detector {args.det_arch} from {args.det_weights}')
    t_start = time.monotonic() - process_age_s()
    fresh_dir(args.out)
    from runespoor_bringup.graph import CLOUD_TASK_PARAMS, config_path
    cloud_params = config_path('runespoor_cloud', CLOUD_TASK_PARAMS['detection'])
    import yaml
    with open(cloud_params) as f:
        det_cfg = yaml.safe_load(f)['runespoor_cloud']['ros__parameters']
    threads = cloud_threads(args.cloud_threads)
    bag = os.path.join(args.out, 'clip_bag')  # written once the replay rate is known
    os.makedirs(bag)
    # 640x360 raw frames (691 kB) are too big for best effort on a loaded machine: reliable
    # camera topic end to end (docs/nodes.md); the uplink stays best effort.
    source = {'mode': 'bag', 'path': bag, 'rate': 0.0, 'loop': False,
              'max_frames': args.frames, 'wait_for_subscribers_s': 300.0,
              'min_subscribers': 2, 'reliability': 'reliable'}  # edge + this monitor
    cloud = {'det_arch': args.det_arch, 'det_weights': args.det_weights,
             'method': args.method, 'sr_dir': args.sr_dir, 'device': 'auto', 'queue_size': 2}
    edge = dict(DET_EDGE, scale=args.scale, jpeg_quality=args.quality,
                input_reliability='reliable')
    mon = Monitor(Detection2DArray, 'runespoor/detections',
                  QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    ctx = {'timing': {}}

    def prepare(mon):
        """While edge and cloud load: the clip and this process's copy of the cloud's models."""
        import torch
        from runespoor import fast_path
        from runespoor.tasks.detection.analytics import DetectorAnalytics
        from runespoor.device import resolve_device
        ctx['images'], ctx['gt'] = make_drone_clip(make_scene, args.frames)
        torch.set_num_threads(threads)
        device = resolve_device('auto')
        fast = fast_path.resolve(device, det_cfg.get('precision', 'auto'),
                                 det_cfg.get('channels_last', 'auto'), 'off')
        det = DetectorAnalytics(args.det_arch, args.det_weights, device,
                                score_threshold=float(det_cfg.get('det_score_threshold', 0.3)))
        fast_path.apply(None, det, fast)
        ctx['calibrator'] = Calibration(
            args, det, device, fast, ctx['images'][len(ctx['images']) // 2],
            {'standard': (edge['scale'], edge['jpeg_quality']),
             'tail_specific': (edge['tail_scale'], edge['tail_jpeg_quality'])},
            (DET_W, DET_H), DET_FPS)
        return (lambda: f'streaming {args.frames} frames at {ctx["rate"]:.2f} fps '
                f'(ROS_DOMAIN_ID={mon.domain}, edge x{edge["scale"]} q{edge["jpeg_quality"]}, '
                f'tail x{edge["tail_scale"]} q{edge["tail_jpeg_quality"]}, cloud {args.method} '
                f'+ {args.det_arch}, {threads} torch thread{"s" if threads > 1 else ""})'), \
            before_source

    def before_source(mon):
        """Once the cloud is up: calibrate, write the clip at the replay rate, scale the hold."""
        ctx['rate'], ctx['calibration'] = ctx['calibrator'].measure()
        write_retimed_bag(bag, ctx['images'], ctx['rate'])
        ctx['hold_s'] = set_hold(mon, float(det_cfg.get('hold_s', HOLD_S)), DET_FPS,
                                 ctx['rate'])

    status, enc_bytes, source_log = stream(
        args, mon, args.out, t_start, {'cloud': cloud, 'edge': edge, 'source': source}, '',
        cloud_params=cloud_params, extra=boxes_per_frame, prepare=prepare,
        env={'OMP_NUM_THREADS': str(threads)}, timing=ctx['timing'])
    summary = write_detection_outputs(args, mon, enc_bytes, ctx['gt'], status, source_log)
    extra = {'share_analyzed': round(summary['frames_analyzed'] / summary['frames_published'], 3)
             if summary['frames_published'] else None,
             'replay': {'rate_fps': round(ctx['rate'], 3), 'recorded_fps': DET_FPS,
                        'hold_s': round(ctx['hold_s'], 2), 'calibration': ctx['calibration'],
                        'cloud_torch_threads': threads},
             'startup_s': {k: round(v, 2) for k, v in ctx['timing'].items()}}
    summary.update(extra)
    with open(os.path.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    log(f'analysed {summary["frames_analyzed"]} of {summary["frames_published"]} streamed '
        f'frames, replayed at {ctx["rate"]:.2f} fps; first analysed frame '
        f'{ctx["timing"].get("first_result_s", float("nan")):.1f} s after start')
    return finish(summary, args.out, 'summary.json, strip.png', t_start, status)


def boxes_per_frame(new):
    """Per-second line: mean boxes per frame of the ``new`` results."""
    per_frame = [len(d.detections) for d in new]
    return f' | boxes/frame {np.mean(per_frame) if per_frame else float("nan"):5.1f}'


def make_drone_clip(make_scene, frames):
    """Render the drone clip; return (BGR frames, objects per frame)."""
    scene = make_scene(0, 'val', 0, frames)
    images, gt = [], []
    t0 = time.monotonic()
    for i in range(frames):
        img, ann = scene.render(i, (DET_W, DET_H))
        images.append(img)
        gt.append(int(np.count_nonzero((ann.categories >= 1) & (ann.categories <= 10))))
    log(f'rendered {frames} drone-view frames ({DET_W}x{DET_H}, runespoor.data.drone, '
        f'{np.mean(gt):.0f} objects per frame) in {time.monotonic() - t0:.1f} s')
    return images, gt


def msg_detections(msg):
    """Detection2DArray -> runespoor.tasks.detection.analytics.Detections."""
    from runespoor.tasks.detection.analytics import Detections
    d = msg.detections
    return Detections(np.array([[b.x, b.y, b.x + b.width, b.y + b.height] for b in d],
                               np.float32).reshape(-1, 4),
                      np.array([b.score for b in d], np.float32),
                      np.array([b.class_id for b in d], np.int64))


def write_detection_outputs(args, mon, enc_bytes, gt_counts, status, source_log):
    """Write summary.json and the strip (input | detections); return the summary."""
    from runespoor.tasks.detection.analytics import draw_detections
    dets, flags, encoded, camera = mon.results, mon.flags, mon.encoded, mon.camera
    flag_by_seq = {f.sequence: f for f in flags}
    per_frame = [len(d.detections) for d in dets]
    classes = {}
    for d in dets:
        for b in d.detections:
            classes[b.label] = classes.get(b.label, 0) + 1
    summary = {
        'status': status,
        'task': 'detection',
        **frame_counts(mon, source_log),
        'detections_per_frame_mean': round(float(np.mean(per_frame)), 2) if dets else None,
        'detections_per_frame_min': min(per_frame) if dets else None,
        'detections_per_frame_max': max(per_frame) if dets else None,
        'ground_truth_objects_per_frame_mean': round(float(np.mean(gt_counts)), 1)
        if gt_counts else None,
        'detections_by_class': dict(sorted(classes.items(), key=lambda kv: -kv[1])),
        'small_box_share_mean': round(float(np.mean([d.small_box_share for d in dets])), 4)
        if dets else None,
        'tail_threshold': float(flags[0].threshold) if flags else None,
        **link_stats(mon, enc_bytes),
        'decode_ms_p50': percentile([d.decode_ms for d in dets], 50),
        'inference_ms_p90': percentile([d.inference_ms for d in dets], 90),
        'method': args.method,
        'detector': {'arch': args.det_arch, 'weights': os.path.relpath(args.det_weights, REPO)},
        'edge': dict(DET_EDGE, scale=args.scale, jpeg_quality=args.quality),
        'scales_seen': sorted({int(f.knobs.scale) for f in encoded}),
        'data': 'runespoor.data.drone (seed 0, val clip 0)',
        'resolution': [DET_W, DET_H],
        'fps': DET_FPS,
        'frames': [{'sequence': int(d.sequence), 'detections': len(d.detections),
                    'small_box_share': round(float(d.small_box_share), 4),
                    'is_tail': bool(flag_by_seq[d.sequence].is_tail)
                    if d.sequence in flag_by_seq else None,
                    'scale': int(d.knobs.scale), 'jpeg_quality': int(d.knobs.jpeg_quality),
                    'end_to_end_ms': round(float(d.end_to_end_ms), 1),
                    'inference_ms': round(float(d.inference_ms), 1)} for d in dets],
    }
    with open(os.path.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    rows = []
    for want_tail in (False, True):
        picked = [d for d in dets if stamp_key(d.header.stamp) in camera and
                  bool(d.knobs.tail_specific) == want_tail]
        picked = picked[len(picked) // 3::max(1, len(picked) // 3)][:2]
        for d in picked:
            img = camera[stamp_key(d.header.stamp)]
            verdict = tail_verdict(flag_by_seq, d.sequence)
            annotated = draw_detections(img, msg_detections(d))
            rows.append(np.hstack([
                caption(img, f'input #{d.sequence}'),
                caption(annotated, f'{len(d.detections)} boxes, {d.method} from '
                                   f'x{d.knobs.scale} q{d.knobs.jpeg_quality}'
                                   f'{" (tail config)" if want_tail else ""}, '
                                   f'{d.small_box_share * 100:.0f}% small -> {verdict}')]))
    if rows:
        cv2.imwrite(os.path.join(args.out, 'strip.png'), np.vstack(rows))
    return summary


if __name__ == '__main__':
    sys.exit(main())
