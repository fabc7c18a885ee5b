# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
``runespoor eval --config FILE --out DIR``: the paper's tables and figures from one command.

The config's ``task`` picks segmentation (paper Tables 2-5, Figs. 1/9/13/14) or detection
(Table 6, Figs. 8/10): one runner (:mod:`.runner`) and, per task of :mod:`runespoor.tasks`, an
eval plug-in, a report and figures (``runespoor.tasks.<task>.evaluation`` / ``.report`` /
``.figures``).

Writes ``DIR/report.md``, ``DIR/report.json`` and ``DIR/fig*.png``; per-frame results are
cached under ``DIR/cache`` (or the config's ``cache_dir``) so a re-run only computes what
changed.  Exit status 0 on success, 2 on a config, data or checkpoint problem (the message
names the file).
"""

import json
import os
import platform
import sys


def add_arguments(parser):
    """Add the ``eval`` options to ``parser``."""
    parser.add_argument('--config', required=True,
                        help='evaluation YAML (see config/eval/synthetic_val.yaml, '
                        'drone_val.yaml)')
    parser.add_argument('--out', required=True, help='output directory for the report')
    parser.add_argument('--device', default=None,
                        help='override the config: auto | cpu | cuda | cuda:N')
    parser.add_argument('--limit', type=int, default=None,
                        help='override the config: evaluate only the first N frames')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm progress bars')


def machine_info():
    """CPU and GPU names and library versions, for the report."""
    import numpy
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {'cpu': f'{cpu} ({os.cpu_count()} logical cores)', 'gpu': gpu,
            'torch': torch.__version__, 'numpy': numpy.__version__,
            'python': platform.python_version(), 'platform': platform.platform()}


def run(args):
    """Run the evaluation described by ``args.config`` and write the report to ``args.out``."""
    from runespoor.evaluation.config import ConfigError, load_config
    from runespoor.evaluation.report_common import to_json
    from runespoor.evaluation.runner import EvalError, evaluate

    def log(message):
        print(f'[runespoor eval] {message}', file=sys.stderr)

    try:
        config = load_config(args.config)
        if args.device:
            config.device = args.device
        if args.limit:
            config.limit = args.limit
        os.makedirs(args.out, exist_ok=True)
        result = evaluate(config, args.out, progress=not args.no_progress, log=log)
    except (ConfigError, EvalError) as exc:
        log(f'error: {exc}')
        return 2
    result['machine'] = machine_info()
    task_report, task_figures = config.task_plugin.report(), config.task_plugin.figures()
    summary = task_report.summarise(config, result)
    figure_list = task_figures.write_all(summary, args.out) if task_figures else []
    summary['figures'] = [{'title': t, 'file': f} for t, f in figure_list]
    with open(os.path.join(args.out, 'report.json'), 'w', encoding='utf-8') as f:
        json.dump(to_json(summary), f, indent=1)
    with open(os.path.join(args.out, 'report.md'), 'w', encoding='utf-8') as f:
        f.write(task_report.markdown(summary, figure_list))
    log(f'wrote {os.path.join(args.out, "report.md")} ({result["computed"]} frame-runs '
        f'computed in {result["time_s"]:.1f} s)')
    return 0
