# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
r"""
``runespoor experiment cac``: the paper's §5.3 experiment (Fig. 15) over DDS.

Example::

    runespoor experiment cac --out results/cac --data data/synth512 \\
        [--clip-frames 340] [--schedule 0:10,5:5,12:2,19:10] [--modes asr,cac,awstream] \\
        [--shaper auto|netns|inprocess] [--method asr] [--speed 0.5] [--repeats 3] \\
        [--tail-detector fitted|ratio]

For every mode it starts the cloud, the edge, a monitor
(:mod:`runespoor_bringup.experiment_monitor`) and the source (the clip replayed from its
folder) as separate processes on a fresh ROS domain.  With ``--shaper netns`` (``auto`` picks
it when the machine allows) the edge, the source and the monitor run in one network namespace
and the cloud in another, joined by a veth pair whose edge -> cloud direction is shaped with
``tc tbf`` (:class:`runespoor.cac.shaper.ShapedLink`); DDS runs over UDPv4 on the veth.
Otherwise the edge's in-process token bucket (parameter ``emulated_uplink_kbps``) emulates the
link, and the output says so.  The schedule's steps change the ``tc`` rate and the edge's
``bandwidth_kbps`` (the monitor).

Without ``--profile`` it first profiles (``runespoor profile``) on ``--profile-split`` at the
schedule's scaled rates.  It writes ``cac_experiment.json``, ``cac_fig15.png`` and the logs
(``work/``) to ``--out``.

This module has the command's options and nothing that needs ROS: the run itself is
``python -m runespoor_bringup.experiment_cac`` (the ROS workspace: it starts the nodes), which
this command runs as a child process with the same options, forwarding SIGINT / SIGTERM to it
and returning its exit status.  The plan, the scoring and the report are
:mod:`runespoor.cac.experiment_plan` and :mod:`runespoor.cac.experiment`.
"""

import argparse
import importlib.util
import signal
import subprocess
import sys

from runespoor.cac.experiment import MODES, PAPER_SCHEDULE

DEFAULT_SCHEDULE = ','.join(f'{t:g}:{r:g}' for t, r in PAPER_SCHEDULE)
CAC_HELP = 'CAC vs ASR-only vs AWStream under a bandwidth schedule (paper §5.3, Fig. 15)'
#: The module that runs the experiment's ROS graph (package runespoor_bringup).
RUNNER = 'runespoor_bringup.experiment_cac'


def add_arguments(parser):
    """Add the ``experiment`` sub-commands (only ``cac`` so far) to ``parser``."""
    sub = parser.add_subparsers(dest='experiment', metavar='EXPERIMENT')
    sub.required = True
    add_cac_arguments(sub.add_parser('cac', help=CAC_HELP, description=CAC_HELP))


def add_cac_arguments(p):
    """Add the options of ``runespoor experiment cac`` to the parser ``p``."""
    p.add_argument('--out', required=True, help='output directory')
    p.add_argument('--data', default='data/synth512', help='Cityscapes-layout root')
    p.add_argument('--clip', default=None,
                   help='folder of the clip frames (default: the first demoVideo clip of '
                        '--data, e.g. leftImg8bit/demoVideo/elmstead_00)')
    p.add_argument('--clip-frames', type=int, default=340, help='frames to stream (340 = 20 s)')
    p.add_argument('--fps', type=float, default=17.0, help='clip frame rate (17)')
    p.add_argument('--speed', type=float, default=1.0,
                   help='replay speed: the clip is streamed at fps*speed and every time and '
                        'link rate is scaled with it, so each frame meets the same budget '
                        '(use < 1 when the cloud cannot keep up on CPU)')
    p.add_argument('--schedule', default=DEFAULT_SCHEDULE,
                   help='clip seconds : nominal Mbit/s steps (paper: 0:10,5:5,12:2,19:10)')
    p.add_argument('--top-mbit', type=float, default=None,
                   help='link rate [Mbit/s] the highest nominal step becomes (default: what '
                        'the richest profiled config needs on the clip, / --headroom)')
    p.add_argument('--top-config', default='2x90',
                   help='SCALExQUALITY whose measured rate defines the top step (2x90)')
    p.add_argument('--headroom', type=float, default=0.85,
                   help='the edge plans for this share of the link rate (0.85)')
    p.add_argument('--modes', default=','.join(MODES), help='asr,cac,awstream')
    p.add_argument('--shaper', choices=('auto', 'netns', 'inprocess'), default='auto')
    p.add_argument('--method', default='asr', choices=('asr', 'sr', 'cloudseg', 'bilinear'),
                   help='cloud reconstruction (asr falls back to sr when asr_x*.pt are '
                        'missing, and says so)')
    p.add_argument('--sr-dir', default='models/sr')
    p.add_argument('--seg', default='models/seg/swiftnet_r18_lite.pt',
                   help='segmentation checkpoint, or "palette" (test segmenter, no model)')
    p.add_argument('--profile', default=None,
                   help='profile directory (profile.yaml [+ profile_summary.json]) or a '
                        'profile YAML; default: profile now into OUT/profile')
    p.add_argument('--profile-split', default='val')
    p.add_argument('--profile-frames', type=int, default=24)
    p.add_argument('--profile-qualities', default='40,60,75,90')
    p.add_argument('--profile-scales', default='2,4,6,8',
                   help='scales to profile (and whose SR checkpoints must exist)')
    p.add_argument('--tail-configs', choices=('fill', 'profile'), default='fill',
                   help='fill (default): where profiling kept the standard config as the tail '
                        'one, use the paper rule (finer scale, lowest quality, frame rate '
                        'lowered to the same bytes/s); profile: as profiled')
    p.add_argument('--tail-detector', choices=('fitted', 'ratio'), default='fitted',
                   help='tail-frame detector of the cloud in CAC mode: fitted (default, as '
                        'in the cloud node: --tail-model on the summary features of the '
                        'forward pass) or ratio (the small-region-ratio rule of the paper, '
                        '--tail-threshold / --tail-direction)')
    p.add_argument('--tail-model', default='models/tail/tail_model_seg.json',
                   help='JSON of `runespoor tail` for --tail-detector fitted')
    p.add_argument('--tail-threshold', type=float, default=None,
                   help='ratio rule threshold (default: tail_detection of the profile)')
    p.add_argument('--tail-direction', choices=('below', 'above'), default=None,
                   help='tail rule direction (default: tail_detection of the profile)')
    p.add_argument('--hold-s', type=float, default=1.0,
                   help='CAC hold time in clip seconds (back to standard after calm)')
    p.add_argument('--awstream-period-s', type=float, default=10.0,
                   help='AWStream re-profiling period in clip seconds (10, paper)')
    p.add_argument('--repeats', type=int, default=1,
                   help='run every mode this many times, interleaved (asr, cac, awstream, '
                        'asr, ...); the report gives each repeat and the spread')
    p.add_argument('--timeout', type=float, default=600.0, help='per mode [s]')
    p.add_argument('--keep-records', action='store_true',
                   help='keep the raw monitor records (work/<mode>/records.npz)')


def cac_argv(args):
    """Return the command line of :func:`add_cac_arguments`'s options that gives ``args``."""
    parser = argparse.ArgumentParser(add_help=False)
    add_cac_arguments(parser)
    argv = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if isinstance(action, argparse._StoreTrueAction):
            argv += [action.option_strings[0]] if value else []
        elif value is not None:
            argv += [action.option_strings[0], str(value)]
    return argv


def run(args):
    """Run the experiment in ``python -m runespoor_bringup.experiment_cac``; its exit status."""
    if args.experiment != 'cac':
        return 2
    if importlib.util.find_spec(RUNNER.split('.')[0]) is None:
        print(f'runespoor experiment cac starts ROS 2 nodes: it needs the Runespoor workspace '
              f'(runespoor_bringup, runespoor_edge, runespoor_cloud, runespoor_msgs) built and '
              f'sourced (source scripts/env.sh, or install/setup.bash of ros2_ws); it then runs '
              f'python -m {RUNNER}', file=sys.stderr)
        return 2
    command = ('runespoor experiment cac ' + ' '.join(sys.argv[3:])
               if sys.argv[1:3] == ['experiment', 'cac'] else None)
    cmd = [sys.executable, '-m', RUNNER] + cac_argv(args) + \
        (['--record-command', command] if command else [])
    # its own session: a Ctrl-C reaches it once, from here, so its clean-up (nodes, network
    # namespaces) is not interrupted by a second copy of the same signal
    child = subprocess.Popen(cmd, start_new_session=True)

    def forward(signum, frame):
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, like a shell
