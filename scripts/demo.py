#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
One-command demo (``make demo``): a synthetic clip through source -> edge -> cloud over DDS.

1. Makes a 512x256 clip and writes it as a rosbag2 bag (``runespoor.data.bag.write_bag``):
   procedural street scenes (``runespoor.data.scene``) when a trained segmentation model is
   at ``--seg-weights``, otherwise the flat "palette" pattern that the cloud's ``palette`` test
   segmenter reads without a model (said clearly in the output).
2. Starts the source (replaying the bag), the edge and the cloud, each its own process, on a
   random ROS_DOMAIN_ID, from the packages' YAML files plus demo overrides.
3. Prints one line per second (frames in/out, uplink kbit/s, tail flags, mode, latency) and
   writes ``out/demo/``: ``summary.json``, ``maps/*.png`` (colourised maps),
   ``strip.png`` (input | reconstructed | segmentation, standard and tail frames) and the
   nodes' logs.

    source scripts/env.sh && python scripts/demo.py [--frames 170] [--method bilinear]

``--task detection`` (``make demo TASK=detection``) runs the drone-view detection path instead:
a 640x360 clip of :mod:`runespoor.data.drone` as a bag, the edge at x2, the cloud with
``config/cloud_detection.yaml`` (the detector ``models/det/retinanet_r18_lite.pt``, which must
exist: the demo says what to train and stops otherwise; ASR when ``models/det/sr`` has
``asr_x2.pt`` and ``asr_x4.pt``, else bilinear), and writes ``out/demo_detection/``:
``summary.json`` (detections per frame, tail flags, latencies) and ``strip.png`` (input |
detections).
"""

import argparse
import json
import os
import shutil
import sys
import time

import cv2
import numpy as np
from rclpy.qos import (DurabilityPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from runespoor import image_conv
from runespoor.cloud_pipeline import caption
from runespoor.labels import colorize
from runespoor_bringup.graph import Graph
from runespoor_cloud.testing import child_env, free_domain_id, Probe
from runespoor_msgs.msg import (Detection2DArray, EncodedFrame, RatePolicy, SemanticMap,
                                TailFrameFlag)
from sensor_msgs.msg import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H = 512, 256
#: Detection demo: frame size and rate of the drone clip, edge knobs (standard x2; tail: one
#: resolution level higher and lower quality, as config/edge.yaml's x2 q40 for its x4 q70).
DET_W, DET_H, DET_FPS = 640, 360, 15.0
DET_EDGE = {'scale': 2, 'jpeg_quality': 70, 'tail_scale': 1, 'tail_jpeg_quality': 40}


def log(text):
    print(f'[demo] {text}', flush=True)


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
    if arch == 'auto':  # the arch the checkpoint records, read safely
        from runespoor.checkpoint import inspect_checkpoint
        arch = inspect_checkpoint(weights, kind='seg', what='segmentation checkpoint')['arch']
    log(f'segmentation model {arch} from {weights}')
    return arch, weights, 'scene'


def make_clip(pattern, frames, path):
    """Render the clip and write it as a bag; return the bag path (or None: no bag support)."""
    if pattern == 'palette':
        from runespoor_edge.source_node import palette_frame
        images = (palette_frame(i, W, H, 40, 12) for i in range(frames))
    else:
        from runespoor.data.scene import make_scene
        scene = make_scene(np.random.default_rng(7), frames)
        images = (scene.render(i, (W, H))[0] for i in range(frames))
    try:
        from runespoor.data.bag import write_bag
    except ImportError as exc:
        log(f'no bag writer ({exc}); the source renders the {pattern} pattern live instead')
        return None
    if os.path.exists(path):
        shutil.rmtree(path)
    t0 = time.monotonic()
    n = write_bag(path, images, fps=17.0)
    log(f'wrote {n} frames ({pattern}, {W}x{H}) to bag {os.path.relpath(path, REPO)} '
        f'in {time.monotonic() - t0:.1f} s')
    return path


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


class Monitor:
    """
    The demo's own node, on a fresh ROS domain: what it sees of the graph.

    Counts the camera frames and keeps them by stamp (at most 400), with ``reconstructed``
    also the cloud's reconstructions; collects the uplink (``encoded``), the cloud's results
    (``result_type`` on ``result_topic``), the tail flags and the rate policies.
    """

    def __init__(self, result_type, result_topic, camera_qos, reconstructed=False):
        self.domain = free_domain_id()
        self.probe = Probe(self.domain, 'runespoor_demo_monitor')
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.camera, self.recon = {}, {}
        self.counts = {'in': 0}
        node = self.probe.node
        node.create_subscription(Image, 'camera/image_raw', self._on_camera, camera_qos)
        if reconstructed:
            node.create_subscription(Image, 'runespoor/reconstructed', self._on_recon,
                                     qos_profile_sensor_data)
        self.encoded = self.probe.collect(EncodedFrame, 'runespoor/encoded',
                                          qos_profile_sensor_data)
        self.results = self.probe.collect(result_type, result_topic, reliable)
        self.flags = self.probe.collect(TailFrameFlag, 'runespoor/tail_flag', reliable)
        self.policies = self.probe.collect(RatePolicy, 'runespoor/rate_policy', latched)

    def _on_camera(self, msg):
        self.counts['in'] += 1
        if len(self.camera) < 400:
            self.camera[stamp_key(msg.header.stamp)] = image_conv.imgmsg_to_bgr8(msg)

    def _on_recon(self, msg):
        if len(self.recon) < 400:
            self.recon[stamp_key(msg.header.stamp)] = image_conv.imgmsg_to_bgr8(msg)


def stream(args, mon, out, t_start, nodes, started, cloud_params=None, extra=lambda new: ''):
    """
    Run the graph (``nodes``: overrides of ``cloud``, ``edge``, ``source``); return the outcome.

    Starts the cloud (``cloud_params``: its parameter file, default the package's) and the
    edge, the source once the cloud is up, logs ``started``, then prints one line a second
    (frames in / out / analysed, uplink, ``extra(new results)``, tail flags, mode, end-to-end
    latency) until the source has finished and no result came for 3 s, or ``args.timeout``
    passes.  A node dying raises.  The nodes are stopped and the monitor closed in any case.
    Returns ``(status, enc_bytes, source log)``: status ``ok`` or ``timeout``; ``enc_bytes``
    ``[(arrival time, bytes)]`` of the uplink frames.
    """
    results, encoded, flags, policies = mon.results, mon.encoded, mon.flags, mon.policies
    probe = mon.probe
    graph = Graph(child_env(mon.domain), log_dir=os.path.join(out, 'logs'))
    enc_bytes = []  # (arrival time, bytes)
    status = 'ok'
    try:
        graph.start('cloud', params_file=cloud_params, overrides=nodes['cloud'])
        graph.start('edge', overrides=nodes['edge'])
        if not probe.spin_until(lambda: len(graph.alive()) < 2 or
                                probe.node.count_publishers('runespoor/link_feedback') > 0,
                                60):
            raise RuntimeError('cloud did not come up in 60 s')
        if len(graph.alive()) < 2:
            raise RuntimeError('a node died at start-up:\n' + graph.log('cloud')[-2000:])
        graph.start('source', overrides=nodes['source'])
        log(started)
        last_print = last_result = time.monotonic()
        seen = [0, 0, 0, 0]
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            n_results = len(results)
            probe.spin_until(lambda: False, 0.2)
            now = time.monotonic()
            if len(results) != n_results:
                last_result = now
            for f in encoded[len(enc_bytes):]:
                enc_bytes.append((now, len(f.image.data)))
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
    ap.add_argument('--frames', type=int, help='clip length (default 170 at 17 fps; '
                                               'detection: 120 at 15 fps)')
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
    ap.add_argument('--timeout', type=float, default=150.0, help='max seconds of streaming')
    args = ap.parse_args(argv)
    if args.task == 'detection':
        return detection_main(args)
    args.frames = 170 if args.frames is None else args.frames
    args.out = args.out or os.path.join(REPO, 'out', 'demo')
    args.sr_dir = args.sr_dir or os.path.join(REPO, 'models', 'sr')
    args.scale = 4 if args.scale is None else args.scale

    pick_method(args, (2, args.scale))
    t_start = time.monotonic()
    out = fresh_dir(args.out, 'maps')
    from runespoor.checkpoint import CheckpointError
    try:
        seg_arch, seg_weights, pattern = seg_choice(args)
    except CheckpointError as exc:
        log(f'refusing the segmentation weights: {exc}')
        return 2
    bag = make_clip(pattern, args.frames, os.path.join(out, 'clip_bag'))
    source = {'rate': 17.0, 'loop': False, 'max_frames': args.frames, 'width': W, 'height': H,
              'wait_for_subscribers_s': 20.0, 'min_subscribers': 2}  # edge + this monitor
    source.update({'mode': 'bag', 'path': bag} if bag else
                  {'mode': 'synthetic', 'pattern': pattern})
    cloud = {'seg_arch': seg_arch, 'seg_weights': seg_weights, 'method': args.method,
             'sr_dir': args.sr_dir, 'sr_scales': sorted({2, args.scale}), 'device': 'auto',
             'publish_reconstructed_every_n': 1,
             'queue_size': 2, 'hold_s': 1.0}
    edge = {'scale': args.scale, 'jpeg_quality': args.quality}
    mon = Monitor(SemanticMap, 'runespoor/semantic_map', qos_profile_sensor_data,
                  reconstructed=True)
    status, enc_bytes, source_log = stream(
        args, mon, out, t_start, {'cloud': cloud, 'edge': edge, 'source': source},
        f'streaming {args.frames} frames at 17 fps (ROS_DOMAIN_ID={mon.domain}, edge x'
        f'{args.scale} q{args.quality}, tail x2 q40, cloud {args.method} + {seg_arch})')
    summary = write_outputs(out, args, seg_arch, pattern, mon, enc_bytes, status, source_log)
    return finish(summary, out, 'summary.json, strip.png, maps/', t_start, status)


def write_outputs(out, args, seg_arch, pattern, mon, enc_bytes, status, source_log):
    """Write summary.json, the colourised maps and the side-by-side strip; return summary."""
    maps, camera, recon = mon.results, mon.camera, mon.recon
    summary = {
        'status': status,
        **frame_counts(mon, source_log),
        **link_stats(mon, enc_bytes),
        'method': args.method,
        'scale': args.scale,
        'jpeg_quality': args.quality,
        'scales_seen': sorted({int(f.knobs.scale) for f in mon.encoded}),
        'segmentation': seg_arch,
        'data': pattern,
        'resolution': [W, H],
    }
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    for m in maps[::max(1, len(maps) // 20)]:
        labels = image_conv.imgmsg_to_numpy(m.labels)
        cv2.imwrite(os.path.join(out, 'maps', f'map_{m.sequence:05d}.png'),
                    colorize(labels, bgr=True))
    rows = []
    flag_by_seq = {f.sequence: f for f in mon.flags}
    for want_tail in (False, True):
        picked = [m for m in maps if stamp_key(m.header.stamp) in camera and
                  stamp_key(m.header.stamp) in recon and
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
            rows.append(np.hstack([
                caption(camera[key], f'input #{m.sequence}'),
                caption(recon[key], f'{m.method} from x{m.knobs.scale} '
                                    f'q{m.knobs.jpeg_quality}'
                                    f'{" (tail config)" if want_tail else ""}'),
                caption(seg, f'{m.small_region_ratio * 100:.2f}% small -> {verdict}')]))
    if rows:
        cv2.imwrite(os.path.join(out, 'strip.png'), np.vstack(rows))
    return summary


# ------------------------------------------------------------------------------ detection
TRAIN_DETECTOR = """
    runespoor data drone --out data/drone640            # synthetic VisDrone-layout frames
    runespoor train det --config ros2_ws/src/runespoor/config/train/det.yaml \\
        --data data/drone640 --out out/det
    cp out/det/det.pt models/det/retinanet_r18_lite.pt"""


def detection_main(args):
    """Run ``--task detection``; return the exit status."""
    args.frames = 120 if args.frames is None else args.frames
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
    t_start = time.monotonic()
    fresh_dir(args.out)
    bag, gt_counts = make_drone_clip(make_scene, args.frames, os.path.join(args.out, 'clip_bag'))
    from runespoor_bringup.graph import CLOUD_TASK_PARAMS, config_path
    # 640x360 raw frames (691 kB) are too big for best effort on a loaded machine: reliable
    # camera topic end to end (docs/nodes.md); the uplink stays best effort.
    source = {'mode': 'bag', 'path': bag, 'rate': DET_FPS, 'loop': False,
              'max_frames': args.frames, 'wait_for_subscribers_s': 20.0,
              'min_subscribers': 2, 'reliability': 'reliable'}  # edge + this monitor
    cloud = {'det_arch': args.det_arch, 'det_weights': args.det_weights,
             'method': args.method, 'sr_dir': args.sr_dir, 'device': 'auto', 'queue_size': 2}
    edge = dict(DET_EDGE, scale=args.scale, jpeg_quality=args.quality,
                input_reliability='reliable')
    mon = Monitor(Detection2DArray, 'runespoor/detections',
                  QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    status, enc_bytes, source_log = stream(
        args, mon, args.out, t_start, {'cloud': cloud, 'edge': edge, 'source': source},
        f'streaming {args.frames} frames at {DET_FPS:g} fps (ROS_DOMAIN_ID={mon.domain}, edge '
        f'x{edge["scale"]} q{edge["jpeg_quality"]}, tail x{edge["tail_scale"]} '
        f'q{edge["tail_jpeg_quality"]}, cloud {args.method} + {args.det_arch})',
        cloud_params=config_path('runespoor_cloud', CLOUD_TASK_PARAMS['detection']),
        extra=boxes_per_frame)
    summary = write_detection_outputs(args, mon, enc_bytes, gt_counts, status, source_log)
    return finish(summary, args.out, 'summary.json, strip.png', t_start, status)


def boxes_per_frame(new):
    """Per-second line: mean boxes per frame of the ``new`` results."""
    per_frame = [len(d.detections) for d in new]
    return f' | boxes/frame {np.mean(per_frame) if per_frame else float("nan"):5.1f}'


def make_drone_clip(make_scene, frames, path):
    """Render the drone clip, write it as a bag; return (bag path, objects per frame)."""
    from runespoor.data.bag import write_bag
    scene = make_scene(0, 'val', 0, frames)
    gt = []

    def images():
        for i in range(frames):
            img, ann = scene.render(i, (DET_W, DET_H))
            gt.append(int(np.count_nonzero((ann.categories >= 1) & (ann.categories <= 10))))
            yield img

    t0 = time.monotonic()
    n = write_bag(path, images(), fps=DET_FPS)
    log(f'wrote {n} drone-view frames ({DET_W}x{DET_H}, runespoor.data.drone, '
        f'{np.mean(gt):.0f} objects per frame) to bag {os.path.relpath(path, REPO)} in '
        f'{time.monotonic() - t0:.1f} s')
    return path, gt


def msg_detections(msg):
    """Detection2DArray -> runespoor.cloud_pipeline.Detections."""
    from runespoor.cloud_pipeline import Detections
    d = msg.detections
    return Detections(np.array([[b.x, b.y, b.x + b.width, b.y + b.height] for b in d],
                               np.float32).reshape(-1, 4),
                      np.array([b.score for b in d], np.float32),
                      np.array([b.class_id for b in d], np.int64))


def write_detection_outputs(args, mon, enc_bytes, gt_counts, status, source_log):
    """Write summary.json and the strip (input | detections); return the summary."""
    from runespoor.cloud_pipeline import draw_detections
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
