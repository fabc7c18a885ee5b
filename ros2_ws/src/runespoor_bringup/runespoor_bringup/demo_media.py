# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The ROS-free pieces of ``make demo`` (``scripts/demo.py``): clip, replay rate, video, accuracy.

* :func:`street_clip` -- the demo's procedural street clip (:mod:`runespoor.data.scene`) with
  one *hard stretch* in its middle (motion blur and low contrast at full strength, and a crowd
  zone of small pedestrians and cyclists ahead of the camera), frames and train-id labels;
  :func:`cached_clip` keeps it (bag + labels) under ``out/`` so later runs skip rendering.
* :func:`replay_rate` -- the source rate the cloud sustains from measured per-frame times.
* :func:`open_video` / :func:`video_frame` -- the MP4 (``mp4v``; MJPG ``.avi`` when OpenCV
  cannot write MP4) of input | reconstruction | analytics with knobs, bandwidth and tail state
  burned in.
* :class:`AccuracyTally` -- confusion matrices of the clip against its labels per method and
  per config (standard / tail-specific), mIoU and class-wise tail mIoU
  (:mod:`runespoor.metrics.segmentation`).
"""

import hashlib
import json
import os
import shutil
import time

import cv2
import numpy as np

#: Seed of the demo clip's street (the demo has always used 7).
CLIP_SEED = 7
#: Where the hard stretch lies, as fractions of the clip.
HARD_SPAN = (0.4, 0.7)
#: Bump when the clip recipe changes (invalidates :func:`cached_clip`).
CLIP_VERSION = 1


def hard_range(frames, span=HARD_SPAN):
    """Return ``(first, last)`` frame of the clip's hard stretch (inclusive)."""
    return int(round(frames * span[0])), int(round(frames * span[1])) - 1


def street_scene(frames, seed=CLIP_SEED, span=HARD_SPAN):
    """
    Return the demo's :class:`runespoor.data.scene.Scene` of ``frames`` frames (17 fps).

    No random hard stretches (``hard=0``); instead one deterministic stretch over ``span`` of
    the clip: blur and low contrast at full strength (``Scene.effects``), ramping in and out
    over 5 frames, and a crowd zone (many small pedestrians, cyclists, parked bicycles) on the
    street the camera sees during it.
    """
    from runespoor.data.scene import make_scene
    a, b = hard_range(frames, span)
    probe = make_scene(np.random.default_rng(seed), frames, hard=0.0, crowd_zones=[])
    z0 = float(probe.cam_z[a]) + 5.0
    z1 = float(probe.cam_z[b]) + 40.0
    scene = make_scene(np.random.default_rng(seed), frames, hard=0.0, crowd_zones=[(z0, z1)])
    scene.effects = [(a, b, 'both', 1.0)]
    return scene


def street_clip(frames, size, seed=CLIP_SEED):
    """Yield ``(bgr, train_ids)`` of every frame of :func:`street_scene` at ``size = (W, H)``."""
    from runespoor.labels import label_ids_to_train_ids
    scene = street_scene(frames, seed)
    for i in range(frames):
        img, ids = scene.render(i, size)
        yield img, label_ids_to_train_ids(ids)


def palette_clip(frames, size):
    """Yield ``(bgr, train_ids)`` of the source node's palette pattern (no model needed)."""
    from runespoor_edge.source_node import palette_frame, palette_train_ids
    w, h = size
    for i in range(frames):
        yield palette_frame(i, w, h, 40, 12), palette_train_ids(i, w, h, 40, 12)


def _recipe_key(pattern, frames, size):
    """Hash of what the clip depends on: pattern, length, size, recipe and generator source."""
    h = hashlib.sha1(json.dumps([pattern, frames, list(size), CLIP_SEED, HARD_SPAN,
                                 CLIP_VERSION]).encode())
    if pattern == 'scene':
        from runespoor.data import scene
        with open(scene.__file__, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()[:12]


def cached_clip(cache_root, pattern, frames, size, fps=17.0, log=print):
    """
    Return ``(bag path, images, labels, seconds spent)`` of the demo clip, rendering it once.

    ``pattern``: ``scene`` (:func:`street_clip`) or ``palette`` (:func:`palette_clip`).  The
    bag (``runespoor.data.bag.write_bag``, stamped at ``fps``) and ``labels.npz`` go to
    ``cache_root/<pattern>-<key>/``, the key hashing the recipe and the generator's source, so a
    changed generator renders again.  ``images``: ``N x H x W x 3`` BGR; ``labels``: ``N x H x W``
    train ids.
    """
    from runespoor.data.bag import read_bag, write_bag
    t0 = time.monotonic()
    folder = os.path.join(cache_root, f'{pattern}-{frames}-{_recipe_key(pattern, frames, size)}')
    bag, npz = os.path.join(folder, 'clip_bag'), os.path.join(folder, 'labels.npz')
    if os.path.isfile(npz) and os.path.isdir(bag):
        labels = np.load(npz)['labels']
        images = np.stack([img for _, img in read_bag(bag)])
        if len(images) == len(labels) == frames:
            log(f'clip from the cache {os.path.relpath(folder)} ({frames} frames, '
                f'{time.monotonic() - t0:.1f} s)')
            return bag, images, labels, time.monotonic() - t0
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    clip = street_clip(frames, size) if pattern == 'scene' else palette_clip(frames, size)
    images, labels = map(np.stack, zip(*clip))
    write_bag(bag, iter(images), fps=fps)
    np.savez_compressed(npz, labels=labels)
    log(f'rendered {frames} frames ({pattern}, {size[0]}x{size[1]}) into '
        f'{os.path.relpath(folder)} in {time.monotonic() - t0:.1f} s (cached for the next run)')
    return bag, images, labels, time.monotonic() - t0


def replay_rate(frame_s, recorded_fps=17.0, headroom=0.85, floor=0.5):
    """
    Return the replay rate [fps] a cloud needing ``frame_s`` seconds per frame keeps up with.

    ``frame_s``: measured seconds per frame of each config the edge may send (standard and
    tail-specific); the slowest decides, so the cloud keeps up in either mode.  ``headroom``
    leaves time for decoding, publishing and the other processes.  Never above
    ``recorded_fps``, never below ``floor``.
    """
    slowest = max(float(s) for s in frame_s)
    if slowest <= 0:
        return float(recorded_fps)
    return float(min(recorded_fps, max(floor, headroom / slowest)))


def open_video(path_stem, fps, size):
    """
    Open a video writer for ``size = (W, H)`` frames; return ``(writer, path, codec)``.

    ``path_stem.mp4`` with the ``mp4v`` codec; where this OpenCV build cannot write it,
    ``path_stem.avi`` with MJPG.  ``(None, None, reason)`` if neither opens.
    """
    for ext, fourcc in (('mp4', 'mp4v'), ('avi', 'MJPG')):
        path = f'{path_stem}.{ext}'
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps),
                                 (int(size[0]), int(size[1])))
        if writer.isOpened():
            return writer, path, fourcc
        writer.release()
        if os.path.exists(path):
            os.remove(path)
    return None, None, 'no video writer (OpenCV can write neither mp4v nor MJPG here)'


#: Band colours (BGR): standard config, tail-specific config, frame not analysed.
BAND_STD, BAND_TAIL, BAND_SKIP = (60, 110, 60), (40, 40, 190), (70, 70, 70)


def _text(img, text, org, scale=0.45):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)


def video_frame(panels, titles, lines, state='std'):
    """
    Compose one video frame: ``panels`` side by side, a title on each, ``lines`` below.

    ``panels``: BGR images of the same height; ``titles``: one caption per panel; ``lines``:
    up to three text lines burned into a band under the panels, coloured by ``state``
    (``std`` green, ``tail`` red: tail-specific config, ``skip`` grey: not analysed).
    """
    row = np.hstack([np.ascontiguousarray(p) for p in panels]).copy()
    x = 0
    for p, title in zip(panels, titles):
        cv2.rectangle(row, (x, 0), (x + p.shape[1], 20), (0, 0, 0), -1)
        _text(row, title, (x + 5, 15))
        x += p.shape[1]
    band = np.empty((20 * max(1, len(lines)) + 8, row.shape[1], 3), np.uint8)
    band[:] = {'tail': BAND_TAIL, 'skip': BAND_SKIP}.get(state, BAND_STD)
    for i, line in enumerate(lines):
        _text(band, line, (6, 20 * i + 19), 0.5)
    return np.vstack([row, band])


class AccuracyTally:
    """
    Confusion matrices of one clip against its labels, per method and per group of frames.

    :meth:`add` one frame's prediction with the groups it belongs to (the demo: its config,
    ``standard`` / ``tail_specific``, and ``hard_stretch`` / ``ordinary``); :meth:`summary`
    gives, per method, the mIoU and per-class IoU over all frames and the mIoU per group, and the
    class-wise tail mIoU (paper Table 2: the worst half of the classes, ranked once from the
    ``baseline`` method among the classes present in the labels, the same set for every
    method).
    """

    def __init__(self, num_classes=19):
        self.num_classes = int(num_classes)
        self.conf = {}   # (method, group or None: all frames) -> C x C
        self.frames = {}
        self.groups = []

    def add(self, method, groups, labels, pred):
        """Count one frame of ``groups`` (names): ``H x W`` train ids (255 = void)."""
        from runespoor.metrics.segmentation import confusion_matrix
        c = confusion_matrix(labels, pred, self.num_classes)
        for group in (None,) + tuple(groups):
            if group is not None and group not in self.groups:
                self.groups.append(group)
            key = (method, group)
            self.conf[key] = self.conf.get(key, 0) + c
            self.frames[key] = self.frames.get(key, 0) + 1

    def summary(self, baseline='bilinear'):
        """Return ``{method: {miou, tail_miou, per-config mIoU, frames}, 'tail_classes': ...}``."""
        from runespoor.labels import TRAIN_ID_NAMES
        from runespoor.metrics.segmentation import (class_pixel_share, iou_per_class, mean_iou,
                                                    tail_miou, worst_classes)
        methods = sorted({m for m, _ in self.conf}, key=lambda m: (m == baseline, m))
        total = {m: self.conf[(m, None)] for m in methods}
        out = {}
        tail = []
        if baseline in total:
            share = class_pixel_share(total[baseline])
            tail = worst_classes(iou_per_class(total[baseline]), eligible=share > 0).tolist()
            out['tail_classes'] = [TRAIN_ID_NAMES[c] for c in tail]
            out['tail_classes_from'] = baseline

        def r(v):
            return None if v is None or not np.isfinite(v) else round(float(v), 4)
        for m in methods:
            ious = iou_per_class(total[m])
            entry = {'frames': int(self.frames[(m, None)]),
                     'miou': r(mean_iou(total[m])),
                     'tail_miou': r(tail_miou(ious, tail)) if tail else None,
                     'iou': {TRAIN_ID_NAMES[c]: r(ious[c]) for c in range(self.num_classes)
                             if np.isfinite(ious[c])}}
            for group in self.groups:
                if (m, group) in self.conf:
                    entry[f'miou_{group}'] = r(mean_iou(self.conf[(m, group)]))
                    entry[f'frames_{group}'] = self.frames[(m, group)]
            out[m] = entry
        return out
