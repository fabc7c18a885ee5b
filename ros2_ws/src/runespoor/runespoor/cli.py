"""
The ``runespoor`` command: one entry point for the offline tools.

Each sub-command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``.  The table below is the explicit list (no import magic).  Command modules
keep heavy imports (torch) inside their functions, so building the parser stays fast.
"""

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS = {
    'data': ('runespoor.data.cli',
             'synthetic Cityscapes-layout data (synth) and its statistics (stats)'),
    'bag': ('runespoor.data.bag_cli', 'write a sequence into a rosbag2 bag (make), or info'),
    'train': ('runespoor.training.cli', 'train the segmentation model and the SR / ASR models'),
    'convert': ('runespoor.convert_cli',
                'foreign SR weights -> a Runespoor SR checkpoint, through a key map (sr)'),
    'eval': ('runespoor.evaluation.cli',
             'evaluate methods x scales x JPEG qualities; write the paper-shaped report'),
    'profile': ('runespoor.cac.profile_cli',
                'tail-aware offline profiling: edge profile YAML + tail-frame threshold'),
    'tail': ('runespoor.cac.tail_cli',
             'fit the tail-frame detectors (paper rule + fitted) and score them on a held-out '
             'clip'),
    'experiment': ('runespoor.cac.experiment_cli', 'the CAC experiment of paper §5.3 (cac)'),
}


def build_parser():
    """Return the argument parser with one sub-parser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog='runespoor',
        description='Runespoor offline tools: data, training, evaluation, profiling.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        module = importlib.import_module(module_name)
        module.add_arguments(p)
    return parser


def main(argv=None):
    """Parse ``argv`` and run the chosen command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    return int(module.run(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
