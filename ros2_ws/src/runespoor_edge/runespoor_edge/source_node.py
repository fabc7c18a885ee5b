# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Frame source: publishes ``sensor_msgs/Image`` (bgr8) on ``camera/image_raw``.

Modes (parameter ``mode``):

- ``synthetic``: needs no files.  ``pattern: palette`` draws flat Cityscapes-palette street
  bands with small objects (poles, signs, lights, people) that vanish for ``tail_frames`` of
  every ``tail_period_frames`` frames, so the tail detector has something to find; the cloud's
  ``seg_arch: palette`` test segmenter reads these exactly.  ``pattern: scene`` renders the
  procedural street scenes of :mod:`runespoor.data.scene` (realistic, for trained models).
- ``folder``: a Cityscapes-layout folder (``leftImg8bit_sequence/...`` or any folder); every
  ``*.png`` / ``*.jpg`` below ``path`` in name order, at ``rate`` fps (default 17).
- ``bag``: a rosbag2 bag (SQLite3 or MCAP) read with ``rosbags``; ``sensor_msgs/Image`` or
  ``CompressedImage`` on ``bag_topic`` (empty: the first image topic) at the recorded rate.

``rate_multiplier`` speeds up or slows down replay; ``loop`` restarts at the end;
``max_frames`` > 0 stops after that many frames; ``exit_when_done`` ends the process (status 0)
when the clip is over, so ``ros2 launch`` can end with it.  Header stamps are the publication
time.

``wait_for_subscribers`` (default on in the bag launch file): before the first frame, wait
until ``min_subscribers`` subscribe to ``camera/image_raw`` (the edge) and every topic in
``wait_for_topics`` has a subscriber (``runespoor/encoded``: the cloud, which subscribes once
its models are loaded), at most ``wait_for_subscribers_s``; otherwise the first frames of a
bag are lost while the graph starts.  Woken by the publisher's *matched* event where rclpy
has it (Iron and newer), by a graph check every 0.1 s on Humble.
"""

import glob
import os
import sys
import threading
import time

import cv2
import numpy as np
from rclpy.node import Node
try:  # the matched event (Iron and newer); Humble has neither the class nor the event
    from rclpy.event_handler import PublisherEventCallbacks
except ImportError:  # pragma: no cover - Humble
    PublisherEventCallbacks = None
from runespoor_edge import image_conv
from runespoor_edge.ros_common import CAMERA_QOS, describe
from sensor_msgs.msg import Image

#: Train ids used by the palette pattern.
ROAD, SIDEWALK, BUILDING, POLE, LIGHT, SIGN, VEGETATION, SKY, PERSON = 0, 1, 2, 5, 6, 7, 8, 10, 11


def _palette_bgr():
    from runespoor.labels import TRAIN_ID_PALETTE
    return np.asarray(TRAIN_ID_PALETTE)[:, ::-1]


def palette_train_ids(index, width, height, tail_period_frames=40, tail_frames=12, seed=0):
    """
    Return the ``H x W`` train-id map of palette-pattern frame ``index``.

    Large bands (sky, building, vegetation, sidewalk, road) plus small objects that drift
    sideways; during the last ``tail_frames`` of each ``tail_period_frames`` there are none
    (a tail frame: its small-region ratio is 0).
    """
    ids = np.empty((height, width), np.uint8)
    h = height
    ids[:int(0.30 * h)] = SKY
    ids[int(0.30 * h):int(0.55 * h)] = BUILDING
    ids[int(0.55 * h):int(0.62 * h)] = VEGETATION
    ids[int(0.62 * h):int(0.70 * h)] = SIDEWALK
    ids[int(0.70 * h):] = ROAD
    if tail_period_frames > 0 and index % tail_period_frames >= tail_period_frames - tail_frames:
        return ids
    rng = np.random.default_rng(seed)
    u = max(1, width // 128)  # object size unit: 4 px at 512 wide
    n = 40
    xs = rng.uniform(0, width, n)
    speed = rng.uniform(-3, 3, n) * u
    kinds = rng.choice([POLE, POLE, SIGN, LIGHT, PERSON], n)
    ys = rng.uniform(0.56, 0.66, n) * h
    for x0, v, kind, y in zip(xs, speed, kinds, ys):
        x = int((x0 + v * index) % width)
        y = int(y)
        if kind == POLE:
            ids[max(0, y - 6 * u):y, x:x + u] = POLE
        elif kind == SIGN:
            ids[max(0, y - 5 * u):y - 3 * u, x:x + 2 * u] = SIGN
        elif kind == LIGHT:
            ids[max(0, y - 6 * u):y - 4 * u, x:x + u] = LIGHT
        else:
            ids[max(0, y - 4 * u):y, x:x + u] = PERSON
    return ids


def palette_frame(index, width, height, tail_period_frames=40, tail_frames=12, seed=0):
    """Return the BGR uint8 image of palette-pattern frame ``index`` (see above)."""
    ids = palette_train_ids(index, width, height, tail_period_frames, tail_frames, seed)
    return np.ascontiguousarray(_palette_bgr()[ids].astype(np.uint8))


def synthetic_frames(p):
    """Frames of the synthetic mode: yields ``(t_s, bgr)`` forever (or ``max_frames``)."""
    w, h, rate = p['width'], p['height'], p['rate'] or 17.0
    if p['pattern'] == 'scene':
        from runespoor.data.scene import make_scene
        n = 17 * 60
        scene = make_scene(np.random.default_rng(p['seed']), n)
        i = 0
        while True:
            yield i / rate, scene.render(i % n, (w, h))[0]
            i += 1
            if i % n == 0 and not p['loop']:
                return
    i = 0
    while True:
        yield i / rate, palette_frame(i, w, h, p['tail_period_frames'], p['tail_frames'],
                                      p['seed'])
        i += 1


def folder_frames(p):
    """Frames of a folder, in name order, at ``rate`` (default 17 fps)."""
    root = p['path']
    files = sorted(f for ext in ('png', 'jpg', 'jpeg')
                   for f in glob.glob(os.path.join(root, '**', f'*.{ext}'), recursive=True)
                   if not f.endswith(('_labelIds.png', '_color.png', '_instanceIds.png',
                                      '_labelTrainIds.png')))
    if not files:
        raise ValueError(f'parameter path: no .png/.jpg frames under {root!r}')
    rate = p['rate'] or 17.0
    t = 0.0
    while True:
        for f in files:
            img = cv2.imread(f, cv2.IMREAD_COLOR)
            if img is None:
                continue
            yield t, img
            t += 1.0 / rate
        if not p['loop']:
            return


def bag_frames(p):
    """Frames of a rosbag2 bag at the recorded rate (or ``rate`` when > 0)."""
    try:
        from rosbags.highlevel import AnyReader
    except ImportError as exc:
        raise ValueError('mode bag needs the "rosbags" Python package') from exc
    from pathlib import Path
    path = Path(p['path'])
    if not path.exists():
        raise ValueError(f'parameter path: bag {path} does not exist')
    types = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
    offset = 0.0
    while True:
        with AnyReader([path]) as reader:
            conns = [c for c in reader.connections if c.msgtype in types and
                     (not p['bag_topic'] or c.topic == p['bag_topic'])]
            if not conns:
                raise ValueError(f'bag {path} has no image topic {p["bag_topic"] or ""}')
            conns = [c for c in conns if c.topic == conns[0].topic]
            first = None
            last = 0.0
            for i, (conn, stamp, raw) in enumerate(reader.messages(connections=conns)):
                msg = reader.deserialize(raw, conn.msgtype)
                first = stamp if first is None else first
                t = (stamp - first) * 1e-9 if not p['rate'] else i / p['rate']
                last = t
                try:
                    if conn.msgtype.endswith('CompressedImage'):
                        img = image_conv.compressed_to_bgr8(msg)
                    else:
                        img = image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False)
                except image_conv.ImageConversionError:
                    continue
                yield offset + t, img
        if not p['loop']:
            return
        offset += last + 1.0 / (p['rate'] or 17.0)


PARAMETERS = {
    'mode': ('synthetic', describe('synthetic | folder | bag', read_only=True)),
    'pattern': ('palette', describe('synthetic pattern: palette | scene', read_only=True)),
    'path': ('', describe('folder of frames or rosbag2 bag (modes folder, bag)', read_only=True)),
    'bag_topic': ('', describe('image topic in the bag; empty = the first one', read_only=True)),
    'width': (512, describe('synthetic frame width [px]', read_only=True, lo=16, hi=8192,
                            kind=int)),
    'height': (256, describe('synthetic frame height [px]', read_only=True, lo=16, hi=8192,
                             kind=int)),
    'rate': (0.0, describe('frames per second; 0 = recorded rate (bag) or 17 [Hz]',
                           read_only=True, lo=0.0, hi=1000.0)),
    'rate_multiplier': (1.0, describe('replay speed factor', read_only=True, lo=0.01,
                                      hi=100.0)),
    'loop': (True, describe('restart at the end of the folder / bag', read_only=True)),
    'max_frames': (0, describe('stop after this many frames; 0 = no limit', read_only=True)),
    'seed': (0, describe('seed of the synthetic pattern', read_only=True)),
    'tail_period_frames': (40, describe('palette pattern: frames per cycle', read_only=True)),
    'tail_frames': (12, describe('palette pattern: frames without small objects per cycle',
                                 read_only=True)),
    'frame_id': ('camera_optical_frame', describe('header.frame_id of the images',
                                                  read_only=True)),
    'exit_when_done': (False, describe('end the process (status 0) when the clip or bag is '
                                       'over (loop false, or max_frames reached)',
                                       read_only=True)),
    'wait_for_subscribers': (False, describe('before the first frame, wait until the graph is '
                                             'ready: min_subscribers on camera/image_raw and one '
                                             'on each of wait_for_topics', read_only=True)),
    'wait_for_topics': ('', describe('comma-separated topics that need a subscriber too before '
                                     'the first frame, e.g. runespoor/encoded (the cloud)',
                                     read_only=True)),
    'wait_for_subscribers_s': (0.0, describe('longest wait for subscribers [s]; with '
                                             'wait_for_subscribers false, > 0 turns the wait on '
                                             '(older configs); 0 with it true = 60 s',
                                             read_only=True)),
    'min_subscribers': (1, describe('subscribers of camera/image_raw to wait for',
                                    read_only=True)),
    'reliability': ('best_effort', describe('QoS of camera/image_raw: best_effort (sensor data) '
                                            'or reliable', read_only=True)),
}


class SourceNode(Node):
    """Publishes frames of a :func:`synthetic_frames` / folder / bag sequence in time."""

    def __init__(self, node_name='runespoor_source', **kwargs):
        super().__init__(node_name, **kwargs)
        for name, (default, desc) in PARAMETERS.items():
            self.declare_parameter(name, default, desc)
        self.p = {name: self.get_parameter(name).value for name in PARAMETERS}
        makers = {'synthetic': synthetic_frames, 'folder': folder_frames, 'bag': bag_frames}
        if self.p['mode'] not in makers:
            raise ValueError(f'parameter mode={self.p["mode"]!r}: synthetic, folder or bag')
        if self.p['pattern'] not in ('palette', 'scene'):
            raise ValueError(f'parameter pattern={self.p["pattern"]!r}: palette or scene')
        if self.p['mode'] != 'synthetic' and not os.path.exists(self.p['path']):
            raise ValueError(f'parameter path={self.p["path"]!r} does not exist '
                             f'(mode {self.p["mode"]})')
        self.frames = makers[self.p['mode']](self.p)
        if self.p['reliability'] not in ('best_effort', 'reliable'):
            raise ValueError('parameter reliability: best_effort or reliable')
        qos = CAMERA_QOS[self.p['reliability']]
        self._matched = threading.Event()
        extra = {}
        if PublisherEventCallbacks is not None:
            extra['event_callbacks'] = PublisherEventCallbacks(
                matched=lambda info: self._matched.set())
        self.pub = self.create_publisher(Image, 'camera/image_raw', qos, **extra)
        self.published = 0
        self.failed = False
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.get_logger().info(
            f'source: mode {self.p["mode"]}'
            f'{" (" + self.p["pattern"] + ")" if self.p["mode"] == "synthetic" else ""}'
            f'{" " + self.p["path"] if self.p["path"] else ""}, x{self.p["rate_multiplier"]:g}'
            f' speed, publishing on {self.resolve_topic_name("camera/image_raw")}')
        self._thread.start()

    def _missing_subscribers(self):
        """Return what the graph still lacks before the first frame (empty: ready)."""
        missing = []
        have = self.pub.get_subscription_count()
        if have < self.p['min_subscribers']:
            missing.append(f'{self.pub.topic_name} ({have}/{self.p["min_subscribers"]} '
                           'subscribers)')
        for topic in self.p['wait_for_topics'].split(','):
            topic = topic.strip()
            if topic and self.count_subscribers(topic) < 1:
                missing.append(self.resolve_topic_name(topic))
        return missing

    def wait_for_graph(self):
        """Block (publishing thread) until :meth:`_missing_subscribers` is empty or timeout."""
        timeout = self.p['wait_for_subscribers_s']
        if not self.p['wait_for_subscribers'] and timeout <= 0:
            return True
        timeout = timeout if timeout > 0 else 60.0
        missing = self._missing_subscribers()
        if not missing:
            return True
        self.get_logger().info(f'waiting up to {timeout:g} s for subscribers: '
                               f'{", ".join(missing)}')
        t0 = time.monotonic()
        deadline = t0 + timeout
        while not self._stop.is_set() and missing and time.monotonic() < deadline:
            # the matched event wakes this at once for our own topic; other topics (and
            # Humble) are checked every 0.1 s
            self._matched.wait(0.1)
            self._matched.clear()
            missing = self._missing_subscribers()
        if missing:
            if not self._stop.is_set():
                self.get_logger().warning(
                    f'no subscribers after {timeout:g} s: {", ".join(missing)}; starting anyway')
            return False
        self.get_logger().info(f'graph ready after {time.monotonic() - t0:.1f} s; '
                               'publishing')
        return True

    def _run(self):
        self.wait_for_graph()
        start = time.monotonic()
        mult = self.p['rate_multiplier']
        try:
            for t, img in self.frames:
                due = start + t / mult
                while not self._stop.is_set():
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    self._stop.wait(min(left, 0.1))
                if self._stop.is_set():
                    return
                msg = image_conv.numpy_to_imgmsg(img, 'bgr8')
                msg.header.stamp = self.get_clock().now().to_msg()
                msg.header.frame_id = self.p['frame_id']
                self.pub.publish(msg)
                self.published += 1
                if self.p['max_frames'] and self.published >= self.p['max_frames']:
                    break
        except ValueError as exc:
            self.failed = True
            self.get_logger().error(str(exc))
        except Exception as exc:  # noqa: B902 - a dying context during shutdown
            if not self._stop.is_set():
                self.failed = True
                self.get_logger().error(f'source stopped: {exc!r}')
        finally:
            self.get_logger().info(f'source finished after {self.published} frames')
            self.done.set()

    def exit_status(self):
        """``None`` while publishing (or ``exit_when_done`` is off), else 0 / 1 (failed)."""
        if not self.p['exit_when_done'] or not self.done.is_set():
            return None
        return 1 if self.failed else 0

    def destroy_node(self):
        """Stop the publishing thread, then destroy the node."""
        self._stop.set()
        self._thread.join(2.0)
        return super().destroy_node()


def main(args=None):
    """
    Entry point of ``ros2 run runespoor_edge source_node``.

    Bad parameters (e.g. a ``path`` that does not exist) give status 2 with a FATAL line;
    with ``exit_when_done`` the process ends when the clip is over (0) or unreadable (1).
    """
    from runespoor_edge.node_main import run
    return run(SourceNode, args, node_name='runespoor_source',
               done=lambda node: node.exit_status())


if __name__ == '__main__':
    sys.exit(main())
