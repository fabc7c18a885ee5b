"""
Write a synthetic street-scene data set in the exact Cityscapes layout.

:func:`generate` renders scenes of :mod:`runespoor.data.scene` and writes::

    leftImg8bit/{train,val}/<city>/<city>_<seq>_000019_leftImg8bit.png       labelled frames
    gtFine/{train,val}/<city>/<city>_<seq>_000019_gtFine_{labelIds,labelTrainIds,color}.png
    leftImg8bit_sequence/{train,val}/<city>/<city>_<seq>_0000{00..29}_leftImg8bit.png
    leftImg8bit/demoVideo/<city>_NN/<city>_NN_000000_<frame>_leftImg8bit.png long clips
    gtFine/demoVideo/<city>_NN/..._gtFine_*.png                               their labels
    synth_meta.json                                                           parameters, timing

Every labelled frame is frame 19 of its own 30-frame, 17 fps snippet (as in Cityscapes); the
first ``n_sequences`` snippets of each split also get all 30 frames in
``leftImg8bit_sequence``.  Long clips (``clip_frames`` frames each) are continuous drives with
per-frame labels, for the controller experiments.  Output is a pure function of ``seed`` and
``size`` (the scene is the same at every size; only the pixel grid differs).
"""

import json
import os
import time

import cv2
import numpy as np

from . import cityscapes as cs, sizes
from .scene import FPS, make_scene
from ..labels import colorize_label_ids, label_ids_to_train_ids

TRAIN_CITIES = ('ashbury', 'birchfield', 'coldwater')
VAL_CITIES = ('dunmore',)
CLIP_CITY = 'elmstead'
SNIPPET_FRAMES = 30
LABELLED_FRAME = 19
#: Named sizes (width, height): full Cityscapes resolution and CPU presets.
PRESETS = {'full': (2048, 1024), 'half': (1024, 512), 'quarter': (512, 256),
           'tiny': (256, 128)}
_SPLIT_CODE = {'train': 1, 'val': 2, 'demoVideo': 3}
_PNG = [int(cv2.IMWRITE_PNG_COMPRESSION), 1]


def parse_size(text):
    """Parse ``'2048x1024'`` or a preset name (:data:`PRESETS`) into ``(width, height)``."""
    return sizes.parse_size(text, PRESETS, (16, 8))


def scene_rng(seed, split, index):
    """Return the random generator of scene ``index`` of ``split`` (independent per scene)."""
    return np.random.default_rng([int(seed), _SPLIT_CODE[split], int(index)])


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, image, _PNG):
        raise OSError(f'{path}: could not write PNG')


def write_frame(root, split, city, seq, frame, image, label_ids=None, sequence=False,
                write_color=True):
    """Write one frame (BGR) and, if given, its label-id map in the Cityscapes layout."""
    _write(cs.image_path(root, split, city, seq, frame, sequence), image)
    if label_ids is not None:
        _write(cs.label_path(root, split, city, seq, frame, 'labelIds'), label_ids)
        _write(cs.label_path(root, split, city, seq, frame, 'labelTrainIds'),
               label_ids_to_train_ids(label_ids))
        if write_color:
            _write(cs.label_path(root, split, city, seq, frame, 'color'),
                   colorize_label_ids(label_ids, bgr=True))


def render_snippet_frame(seed, split, index, t, size, hard=0.15):
    """Render frame ``t`` of snippet ``index`` of ``split``: ``(bgr, label_ids)``."""
    scene = make_scene(scene_rng(seed, split, index), SNIPPET_FRAMES, hard=hard)
    return scene.render(t, size)


def generate(out_dir, size=(512, 256), seed=0, n_train=20, n_val=10, n_sequences=2,
             clip_frames=340, n_clips=1, hard=0.15, write_color=True, progress=None):
    """
    Write a synthetic Cityscapes-layout data set under ``out_dir``; return a summary dict.

    ``size`` is ``(width, height)`` (or a string for :func:`parse_size`); ``n_train`` and
    ``n_val`` labelled frames; ``n_sequences`` snippets per split with all 30 frames;
    ``n_clips`` long clips of ``clip_frames`` frames with per-frame labels (split
    ``demoVideo``); ``hard`` the expected number of hard stretches per 30 frames.
    ``progress`` (optional) is called with ``(done, total)`` after each written frame.
    The summary holds the counts and the rendering and writing speed (frames/s).
    """
    size = parse_size(size)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    total = (n_train + n_val + (min(n_sequences, n_train) + min(n_sequences, n_val))
             * SNIPPET_FRAMES + n_clips * clip_frames)
    done = 0
    t_render = t_write = 0.0
    t0 = time.perf_counter()

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    for split, n, cities in (('train', n_train, TRAIN_CITIES), ('val', n_val, VAL_CITIES)):
        for i in range(n):
            city, seq = cities[i % len(cities)], i // len(cities)
            a = time.perf_counter()
            scene = make_scene(scene_rng(seed, split, i), SNIPPET_FRAMES, hard=hard)
            t_render += time.perf_counter() - a
            frames = range(SNIPPET_FRAMES) if i < n_sequences else (LABELLED_FRAME,)
            for t in frames:
                a = time.perf_counter()
                img, lab = scene.render(t, size)
                b = time.perf_counter()
                if t == LABELLED_FRAME:
                    write_frame(out_dir, split, city, seq, t, img, lab, write_color=write_color)
                    tick()
                if i < n_sequences:
                    write_frame(out_dir, split, city, seq, t, img, sequence=True)
                    tick()
                t_render += b - a
                t_write += time.perf_counter() - b
    for k in range(n_clips):
        city = f'{CLIP_CITY}_{k:02d}'
        a = time.perf_counter()
        scene = make_scene(scene_rng(seed, 'demoVideo', k), clip_frames, hard=hard)
        t_render += time.perf_counter() - a
        for t in range(clip_frames):
            a = time.perf_counter()
            img, lab = scene.render(t, size)
            b = time.perf_counter()
            write_frame(out_dir, 'demoVideo', city, 0, t, img, lab, write_color=write_color)
            t_render += b - a
            t_write += time.perf_counter() - b
            tick()
    n_rendered = (n_train + n_val + n_clips * clip_frames
                  + (min(n_sequences, n_train) + min(n_sequences, n_val))
                  * (SNIPPET_FRAMES - 1))
    wall = time.perf_counter() - t0
    summary = {
        'generator': 'runespoor.data.synth', 'size': list(size), 'seed': int(seed),
        'n_train': n_train, 'n_val': n_val, 'n_sequences': n_sequences,
        'clip_frames': clip_frames, 'n_clips': n_clips, 'hard': hard, 'fps': FPS,
        'frames_rendered': n_rendered, 'files_written': done,
        'render_fps': n_rendered / t_render if t_render else None,
        'render_and_write_fps': n_rendered / (t_render + t_write) if t_render else None,
        'wall_s': wall,
    }
    with open(os.path.join(out_dir, 'synth_meta.json'), 'w') as fh:
        json.dump(summary, fh, indent=2)
    return summary
