"""
``runespoor bag``: write a Cityscapes-layout sequence into a rosbag2 bag, or describe one.

``runespoor bag make --root DIR --split demoVideo --out BAG`` writes the first clip (or the one
chosen with ``--city``/``--seq``) as ``sensor_msgs/Image`` bgr8 on ``/camera/image_raw`` at
17 fps; ``runespoor bag info BAG`` prints message count, duration and topics.
"""

import json
import sys


def add_arguments(parser):
    """Add the ``make`` and ``info`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest='bag_command', metavar='ACTION')
    sub.required = True
    p = sub.add_parser('make', help='write a Cityscapes-layout sequence into a rosbag2 bag')
    p.add_argument('--root', required=True, help='Cityscapes-layout root (real or synthetic)')
    p.add_argument('--split', default='demoVideo',
                   help='split whose sequences to use (leftImg8bit_sequence/<split> or '
                        'leftImg8bit/<split>); default demoVideo')
    p.add_argument('--city', help='city of the clip (default: the first)')
    p.add_argument('--seq', type=int, help='sequence number of the clip (default: the first)')
    p.add_argument('--out', required=True, help='bag folder to create (must not exist)')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    p.add_argument('--fps', type=float, default=17.0)
    p.add_argument('--topic', default='/camera/image_raw')
    p.add_argument('--max-frames', type=int, default=None)
    p = sub.add_parser('info', help='summarise a bag')
    p.add_argument('bag')


def run(args):
    """Run ``runespoor bag <action>``; return the exit status."""
    from . import bag
    if args.bag_command == 'info':
        print(json.dumps(bag.bag_info(args.bag), indent=2))
        return 0
    from .cityscapes import list_sequences, read_image
    seqs = [s for s in list_sequences(args.root, args.split)
            if (args.city is None or s.city == args.city)
            and (args.seq is None or s.seq == args.seq)]
    if not seqs:
        print(f'runespoor bag make: no sequence matches in {args.root} split {args.split}',
              file=sys.stderr)
        return 1
    paths = seqs[0].image_paths[:args.max_frames]
    n = bag.write_bag(args.out, (read_image(p) for p in paths), fps=args.fps,
                      topic=args.topic, storage=args.storage)
    print(f'wrote {n} frames of {seqs[0].city} seq {seqs[0].seq} to {args.out} '
          f'({args.storage}, {args.topic}, {args.fps} fps)')
    return 0
