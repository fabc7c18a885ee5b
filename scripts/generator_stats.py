#!/usr/bin/env python3
"""
Measure how the synthetic generator draws the classes a segmentation model confuses.

    python scripts/generator_stats.py measure --size 2048x1024 --frames 120 --json before.json
    python scripts/generator_stats.py probe --size 2048x1024 --frames 120 --json probe.json
    python scripts/generator_stats.py compare before.json after.json --md table.md

``measure`` renders the labelled frame (frame 19) of the first ``--frames`` snippets of
``--split`` (the very frames ``runespoor data synth --seed S`` writes) and records
``runespoor.data.stats.label_stats`` and ``appearance_stats`` (colour, texture, shape, ground
contact, riders on two-wheelers, pairwise colour / colour+texture Bayes errors), plus the
generator's git revision.  ``probe`` measures how well the classes can be told apart from
their local look: a linear softmax probe on HOG + colour features of patches centred on pixels
of each class (two context sizes: 64 and 256 px at 2048x1024), trained on the even frames
and tested on the odd ones, balanced per class; it reports the held-out confusion matrix --
a cheap stand-in for "is bus drawn like building" that does not depend on any trained
model.  ``compare`` prints (or writes) a markdown before/after table (and the probe's, if
given).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def _revision():
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--',
                                'ros2_ws/src/runespoor/runespoor/data/scene.py'], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return rev + ('+scene.py modified' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return None


def measure(args):
    from runespoor.data import stats
    from runespoor.data.synth import LABELLED_FRAME, parse_size, render_snippet_frame
    from runespoor.labels import label_ids_to_train_ids
    size = parse_size(args.size)
    timing = {'n': 0, 's': 0.0}

    def frames():   # rendered on the fly (a 2048x1024 frame is 8 MB with its labels)
        for i in range(args.frames):
            t0 = time.perf_counter()
            img, lab = render_snippet_frame(args.seed, args.split, i, LABELLED_FRAME, size)
            timing['s'] += time.perf_counter() - t0
            timing['n'] += 1
            yield img, label_ids_to_train_ids(lab)

    appearance = stats.appearance_stats(frames())
    labels = stats.label_stats(t for _, t in frames())
    t_render = timing['s'] / 2
    out = {'size': list(size), 'seed': args.seed, 'split': args.split, 'frames': args.frames,
           'revision': args.label or _revision(), 'render_s_per_frame': t_render / args.frames,
           'label_stats': labels, 'appearance': appearance}
    with open(args.json, 'w') as fh:
        json.dump(out, fh, indent=1)
    print(f'{args.frames} frames at {size[0]}x{size[1]}: {t_render / args.frames:.2f} s/frame; '
          f'wrote {args.json}')
    return 0


PROBE_CLASSES = ('building', 'car', 'truck', 'bus', 'person', 'rider', 'motorcycle', 'bicycle')


def _patch_features(img_small, img_tiny, cy, cx):
    """HOG (32x32 window, 9 bins) at two scales and the Lab colour mean / std of the patch."""
    import cv2
    import numpy as np
    hog = cv2.HOGDescriptor((32, 32), (16, 16), (8, 8), (8, 8), 9)
    feats = []
    for im, f in ((img_small, 1), (img_tiny, 4)):
        y, x = cy // f, cx // f
        pad = cv2.copyMakeBorder(im, 16, 16, 16, 16, cv2.BORDER_REFLECT)
        patch = pad[y:y + 32, x:x + 32]
        feats.append(hog.compute(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)).ravel())
        lab = cv2.cvtColor(patch, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
        feats.append(np.concatenate([lab.mean(0), lab.std(0)]) / 64.0)
    return np.concatenate(feats)


def probe(args):
    import cv2
    import numpy as np
    import torch
    from runespoor.data.synth import LABELLED_FRAME, parse_size, render_snippet_frame
    from runespoor.labels import label_ids_to_train_ids, TRAIN_ID_NAMES
    size = parse_size(args.size)
    ids = [TRAIN_ID_NAMES.index(n) for n in PROBE_CLASSES]
    rng = np.random.default_rng(0)
    data = {0: ([], []), 1: ([], [])}
    per_frame = args.patches
    for i in range(args.frames):
        img, lab = render_snippet_frame(args.seed, args.split, i, LABELLED_FRAME, size)
        tid = label_ids_to_train_ids(lab)
        small = cv2.resize(img, (size[0] // 2, size[1] // 2), interpolation=cv2.INTER_AREA)
        tiny = cv2.resize(img, (size[0] // 8, size[1] // 8), interpolation=cv2.INTER_AREA)
        tsmall = tid[1::2, 1::2]
        for k, c in enumerate(ids):
            ys, xs = np.nonzero(tsmall == c)
            if len(ys) == 0:
                continue
            pick = rng.choice(len(ys), size=min(per_frame, len(ys)), replace=False)
            for j in pick:
                data[i % 2][0].append(_patch_features(small, tiny, int(ys[j]), int(xs[j])))
                data[i % 2][1].append(k)
    n_cls = len(ids)

    def balanced(split, cap):
        x, y = np.array(data[split][0], np.float32), np.array(data[split][1])
        keep = []
        for k in range(n_cls):
            idx = np.flatnonzero(y == k)
            keep += list(rng.choice(idx, size=min(cap, len(idx)), replace=False))
        keep = np.array(sorted(keep))
        return x[keep], y[keep]

    xtr, ytr = balanced(0, args.cap)
    xte, yte = balanced(1, args.cap)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr_t = torch.tensor((xtr - mu) / sd)
    xte_t = torch.tensor((xte - mu) / sd)
    torch.manual_seed(0)
    model = torch.nn.Linear(xtr.shape[1], n_cls)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
    w = torch.tensor(1.0 / np.maximum(1, np.bincount(ytr, minlength=n_cls)), dtype=torch.float32)
    for _ in range(400):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xtr_t), torch.tensor(ytr), weight=w)
        loss.backward()
        opt.step()
    pred = model(xte_t).argmax(1).numpy()
    conf = np.zeros((n_cls, n_cls), np.int64)
    np.add.at(conf, (yte, pred), 1)
    rows = conf / np.maximum(1, conf.sum(1, keepdims=True))
    out = {'size': list(size), 'frames': args.frames, 'split': args.split, 'seed': args.seed,
           'revision': args.label or _revision(), 'classes': list(PROBE_CLASSES),
           'train_patches': np.bincount(ytr, minlength=n_cls).tolist(),
           'test_patches': np.bincount(yte, minlength=n_cls).tolist(),
           'confusion': conf.tolist(),
           'recall': {c: float(rows[k, k]) for k, c in enumerate(PROBE_CLASSES)},
           'mean_recall': float(np.mean(np.diag(rows)))}
    with open(args.json, 'w') as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps({k: out[k] for k in ('recall', 'mean_recall', 'test_patches')}))
    return 0


def _probe_lines(b, a):
    cls = b['classes']
    rb = np.asarray(b['confusion'], float)
    ra = np.asarray(a['confusion'], float)
    rb /= np.maximum(1, rb.sum(1, keepdims=True))
    ra /= np.maximum(1, ra.sum(1, keepdims=True))
    lines = ['', f"Patch probe (linear, HOG + colour at 64 and 256 px context, {b['frames']} "
             f'frames; train on even frames, test on odd ones, balanced; chance '
             f'{1 / len(cls):.3f}): held-out share of each class predicted as each class, '
             'before → after.', '',
             '| true \\ predicted | ' + ' | '.join(cls) + ' |',
             '|---' * (len(cls) + 1) + '|']
    for i, c in enumerate(cls):
        lines.append(f'| {c} | ' + ' | '.join(f'{rb[i, j]:.2f} → {ra[i, j]:.2f}'
                                              for j in range(len(cls))) + ' |')
    lines += ['', f"Mean recall {b['mean_recall']:.3f} → {a['mean_recall']:.3f}; test patches "
              f"per class before {b['test_patches']}, after {a['test_patches']}."]
    return lines


def _f(v, nd=2):
    if v is None:
        return '-'
    if isinstance(v, (list, tuple)):
        return '(' + ', '.join(f'{x:.0f}' for x in v) + ')'
    return f'{v:.{nd}f}'


def compare(args):
    with open(args.before) as fh:
        b = json.load(fh)
    with open(args.after) as fh:
        a = json.load(fh)
    lines = [f"Before: {b['revision']}, after: {a['revision']}; {b['frames']} / {a['frames']} "
             f"labelled frames of split {b['split']} (seed {b['seed']}) at "
             f"{b['size'][0]}x{b['size'][1]}.", '']
    lines += ['| class | frames with it % | px % | Lab mean | texture std | gradient '
              '| median w/h | ground contact |', '|---|---|---|---|---|---|---|---|']
    for name, cb in b['appearance']['classes'].items():
        ca = a['appearance']['classes'][name]
        cells = []
        for key, nd, scale in (('frames_present', 0, 100), ('pixel_percent', 3, 1),
                               ('lab_mean', 0, 1), ('texture_std', 1, 1), ('gradient', 1, 1),
                               ('median_aspect_wh', 2, 1), ('ground_contact', 2, 1)):
            vb, va = cb[key], ca[key]
            if isinstance(vb, (int, float)) and scale != 1:
                vb, va = vb * scale, va * scale
            cells.append(f'{_f(vb, nd)} → {_f(va, nd)}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
        if name == 'rider':
            rider_b, rider_a = cb, ca
    on_b, on_a = rider_b['on_two_wheeler'], rider_a['on_two_wheeler']
    px_b = rider_b['two_wheeler_px_per_rider_px']
    px_a = rider_a['two_wheeler_px_per_rider_px']
    lines += ['', 'Riders on a two-wheeler (bicycle/motorcycle pixels under or inside the '
              f'rider box): {_f(on_b)} → {_f(on_a)} of rider components; two-wheeler px per '
              f'rider px {_f(px_b)} → {_f(px_a)}.', '']
    lines += ['| pair | colour Bayes error | colour+texture Bayes error '
              '| Lab mean distance (sd) |',
              '|---|---|---|---|']
    for pair, pb in b['appearance']['pairs'].items():
        pa = a['appearance']['pairs'].get(pair)
        cells = []
        for key in ('colour_bayes_error', 'colour_texture_bayes_error', 'lab_mean_distance_sd'):
            cells.append(f'{_f(pb and pb[key], 3)} → {_f(pa and pa[key], 3)}')
        name = pair.replace('|', ' vs ')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    if args.probe:
        with open(args.probe[0]) as fh:
            pb = json.load(fh)
        with open(args.probe[1]) as fh:
            pa = json.load(fh)
        lines += _probe_lines(pb, pa)
    text = '\n'.join(lines) + '\n'
    if args.md:
        with open(args.md, 'w') as fh:
            fh.write(text)
    print(text)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('measure')
    m.add_argument('--size', default='2048x1024')
    m.add_argument('--frames', type=int, default=120)
    m.add_argument('--seed', type=int, default=0)
    m.add_argument('--split', default='train', choices=('train', 'val'))
    m.add_argument('--label', help='revision label stored in the JSON (default: git)')
    m.add_argument('--json', required=True)
    q = sub.add_parser('probe')
    q.add_argument('--size', default='2048x1024')
    q.add_argument('--frames', type=int, default=120)
    q.add_argument('--seed', type=int, default=0)
    q.add_argument('--split', default='train', choices=('train', 'val'))
    q.add_argument('--patches', type=int, default=12, help='patches per class and frame')
    q.add_argument('--cap', type=int, default=400, help='patches per class and split')
    q.add_argument('--label', help='revision label stored in the JSON (default: git)')
    q.add_argument('--json', required=True)
    c = sub.add_parser('compare')
    c.add_argument('before')
    c.add_argument('after')
    c.add_argument('--md')
    c.add_argument('--probe', nargs=2, metavar=('BEFORE', 'AFTER'), help='probe JSON files')
    args = p.parse_args(argv)
    return {'measure': measure, 'probe': probe, 'compare': compare}[args.cmd](args)


if __name__ == '__main__':
    sys.exit(main())
