"""
``runespoor data``: generate the synthetic data set and measure its statistics.

``runespoor data synth --out DIR --size 512x256 --seed 0`` writes the Cityscapes layout
(:mod:`runespoor.data.synth`); ``runespoor data stats --root DIR --split val`` prints (and
optionally writes) the label statistics and JPEG sizes next to the real Cityscapes figures.
"""

import json
import sys


def add_arguments(parser):
    """Add the ``synth``, ``stats``, ``drone`` and ``drone-stats`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest='data_command', metavar='ACTION')
    sub.required = True
    p = sub.add_parser('synth', help='write a synthetic Cityscapes-layout data set')
    p.add_argument('--out', required=True, help='output root folder')
    p.add_argument('--size', default='512x256',
                   help='WIDTHxHEIGHT or full/half/quarter/tiny (default 512x256)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--train', type=int, default=60, help='labelled train frames')
    p.add_argument('--val', type=int, default=20, help='labelled val frames')
    p.add_argument('--sequences', type=int, default=4,
                   help='snippets per split written with all 30 frames')
    p.add_argument('--clips', type=int, default=1, help='long clips (split demoVideo)')
    p.add_argument('--clip-frames', type=int, default=340, help='frames per long clip')
    p.add_argument('--hard', type=float, default=0.15,
                   help='expected hard stretches per 30 frames')
    p.add_argument('--no-color', action='store_true', help='skip *_gtFine_color.png')
    p = sub.add_parser('stats', help='label statistics and JPEG sizes vs real Cityscapes')
    p.add_argument('--root', help='Cityscapes-layout root to measure')
    p.add_argument('--split', default='val')
    p.add_argument('--synth-size', default=None,
                   help='measure freshly rendered synthetic frames of this size instead')
    p.add_argument('--frames', type=int, default=20, help='at most this many frames')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--jpeg-frames', type=int, default=6, help='frames for the JPEG table')
    p.add_argument('--json', help='also write the statistics to this JSON file')
    p = sub.add_parser('drone', help='write a synthetic drone-view VisDrone2019-DET data set')
    p.add_argument('--out', required=True, help='output root folder')
    p.add_argument('--size', default='640x360',
                   help='WIDTHxHEIGHT or full/half/third (default 640x360)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--train', type=int, default=300, help='train frames')
    p.add_argument('--val', type=int, default=100, help='val frames (consecutive clip frames)')
    p.add_argument('--clip-frames', type=int, default=50, help='frames per val clip')
    p.add_argument('--train-clip-frames', type=int, default=15,
                   help='train frames taken from each train clip')
    p.add_argument('--train-stride', type=int, default=3,
                   help='train frames are every N-th frame of their clip')
    p.add_argument('--hard', type=float, default=0.25, help='share of hard clips')
    p = sub.add_parser('drone-stats', help='per-class box statistics of a VisDrone-DET split')
    p.add_argument('--root', required=True, help='split folder with images/ and annotations/')
    p.add_argument('--frames', type=int, default=0, help='at most this many frames (0: all)')
    p.add_argument('--json', help='also write the statistics to this JSON file')


def _progress(done, total):
    if done == total or done % 25 == 0:
        sys.stderr.write(f'\r{done}/{total}')
        if done == total:
            sys.stderr.write('\n')


def _run_synth(args):
    from .synth import generate
    summary = generate(args.out, size=args.size, seed=args.seed, n_train=args.train,
                       n_val=args.val, n_sequences=args.sequences, clip_frames=args.clip_frames,
                       n_clips=args.clips, hard=args.hard, write_color=not args.no_color,
                       progress=_progress)
    print(json.dumps(summary, indent=2))
    return 0


def _run_stats(args):
    import numpy as np
    from . import stats
    from ..labels import label_ids_to_train_ids
    if args.synth_size:
        from .synth import LABELLED_FRAME, parse_size, render_snippet_frame
        size = parse_size(args.synth_size)
        pairs = [render_snippet_frame(args.seed, 'val', i, LABELLED_FRAME, size)
                 for i in range(args.frames)]
        labels = [label_ids_to_train_ids(lab) for _, lab in pairs]
        images = [img for img, _ in pairs]
        width = size[0]
    elif args.root:
        from .cityscapes import CityscapesFrames
        ds = CityscapesFrames.from_root(args.root, args.split)
        n = min(len(ds), args.frames)
        idx = np.linspace(0, len(ds) - 1, n).round().astype(int) if n else []
        items = [ds[int(i)] for i in idx]
        labels = [it['label'] for it in items]
        images = [it['image'] for it in items]
        width = images[0].shape[1] if images else 0
    else:
        print('runespoor data stats: give --root or --synth-size', file=sys.stderr)
        return 2
    if not labels:
        print('runespoor data stats: no frames found', file=sys.stderr)
        return 1
    st = stats.label_stats(labels)
    sizes = stats.jpeg_sizes(images[:args.jpeg_frames])
    print(stats.format_label_table(st))
    print()
    print(f'JPEG KB per frame ({width} px wide, {min(len(images), args.jpeg_frames)} frames; '
          'real = SPEC reference at the same output size):')
    print(stats.format_jpeg_table(sizes, width))
    if args.json:
        st['jpeg_bytes'] = {f'x{s}_q{q}': v for (s, q), v in sizes.items()}
        with open(args.json, 'w') as fh:
            json.dump(st, fh, indent=2)
    return 0


def _run_drone(args):
    from .drone import generate
    summary = generate(args.out, size=args.size, seed=args.seed, n_train=args.train,
                       n_val=args.val, clip_frames=args.clip_frames,
                       train_clip_frames=args.train_clip_frames, train_stride=args.train_stride,
                       hard=args.hard, progress=_progress)
    print(json.dumps(summary, indent=2))
    return 0


def _run_drone_stats(args):
    from .drone import drone_stats, format_drone_stats
    st = drone_stats(args.root, max_frames=args.frames or None)
    if not st['frames']:
        print(f'runespoor data drone-stats: no frames in {args.root}', file=sys.stderr)
        return 1
    print(format_drone_stats(st))
    if args.json:
        with open(args.json, 'w') as fh:
            json.dump(st, fh, indent=2)
    return 0


def run(args):
    """Run ``runespoor data <action>``; return the exit status."""
    if args.data_command == 'synth':
        return _run_synth(args)
    if args.data_command == 'drone':
        return _run_drone(args)
    if args.data_command == 'drone-stats':
        return _run_drone_stats(args)
    return _run_stats(args)
