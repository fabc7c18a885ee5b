r"""
``runespoor train seg|det|sr|asr|cloudseg``: train the analytics models and the SR models.

Settings come from built-in defaults per task, then an optional YAML file (``--config``, keys
as the long option names with ``_``), then the command line.  Examples (512x256 demo data)::

    runespoor train seg --config config/train/seg.yaml --data data/cityscapes --out out/seg
    runespoor train sr --config config/train/sr.yaml --scale 4 --out out/sr_x4
    runespoor train asr --config config/train/finetune.yaml --scale 4 \
        --init out/sr_x4/sr_x4.pt --seg out/seg/seg.pt --out out/asr_x4

The detection task (drone view, VisDrone-DET layout: ``--data`` holds
``VisDrone2019-DET-train`` and ``VisDrone2019-DET-val``) uses ``--analytics detection``::

    runespoor train det --config config/train/det.yaml --data data/drone640 --out out/det
    runespoor train sr --analytics detection --data data/drone640 --scale 4 \
        --init models/sr/sr_x4.pt --out out/det_sr_x4
    runespoor train asr --analytics detection --data data/drone640 --scale 4 \
        --init out/det_sr_x4/sr_x4.pt --det out/det/det.pt --out out/det_asr_x4

``--data random`` trains on tiny generated blobs (a smoke test of the whole path).
"""

import shlex
import sys

TASKS = ('seg', 'det', 'sr', 'asr', 'cloudseg')

#: Defaults per task (sized for the 512x256 CPU demo; see config/train/*.yaml).
DEFAULTS = {
    'common': {'data': None, 'out': None, 'seed': 0, 'device': 'auto', 'threads': 0,
               'workers': 0, 'resume': None, 'resume_weights': None, 'rewarm': 50,
               'val_every': 0, 'val_batches': None,
               'checkpoint_every': 100, 'progress': True, 'num_classes': 19,
               'quality': [40, 90], 'lr': None, 'steps': None, 'batch': None, 'arch': None,
               'analytics': 'segmentation'},
    'seg': {'arch': 'swiftnet_r18_lite', 'steps': 3000, 'batch': 8, 'crop': [256, 256],
            'lr': 2e-3, 'weight_decay': 1e-4, 'warmup': 100, 'weights': None},
    'det': {'arch': 'retinanet_r18_lite', 'steps': 2500, 'batch': 8, 'crop': [192, 320],
            'lr': 2e-3, 'weight_decay': 1e-4, 'warmup': 100, 'weights': None,
            'num_classes': 10, 'analytics': 'detection', 'input_size': None},
    'sr': {'arch': 'carn_m', 'scale': 4, 'steps': 600, 'batch': 8, 'patch': 32, 'lr': 5e-4,
           'global_residual': True, 'init': None, 'init_key_map': None, 'seg': None,
           'det': None, 'analytics_model': None},
    'asr': {'scale': 4, 'steps': 150, 'batch': 4, 'crop': None, 'lr': 1e-4, 'alpha': None,
            'beta': None, 'max_area_fraction': None, 'init': None, 'seg': None, 'det': None,
            'analytics_model': None, 'analytics_target': None, 'judge_jitter': None,
            'grid_weight': None},
    'cloudseg': {'scale': 4, 'steps': 150, 'batch': 4, 'crop': None, 'lr': 1e-4,
                 'alpha': None, 'beta': None, 'init': None, 'seg': None, 'det': None,
                 'analytics_model': None,
                 # grid_weight applies; ASR's other loss options are refused by the task
                 'analytics_target': None, 'judge_jitter': None, 'grid_weight': None},
}


def add_arguments(parser):
    """Add the ``train`` options to ``parser``."""
    a = parser.add_argument
    a('task', choices=TASKS, help='what to train: seg model, detector, base SR, ASR or CloudSeg '
                                  'fine-tune')
    a('--analytics', metavar='TASK',
      help='sr/asr/cloudseg: the analytics task and its data: a task of the registry '
           '(segmentation, the default: Cityscapes layout; detection: VisDrone-DET layout) or a '
           'plug-in task by import path package.module:Class (its Task.training_data; '
           'docs/architecture.md)')
    a('--config', help='YAML file of settings (keys = long option names with _)')
    a('--data', help='dataset root (Cityscapes layout; detection: a folder holding '
                     'VisDrone2019-DET-train/-val), or "random" for a smoke test')
    a('--out', help='output folder (checkpoints, log.jsonl, metrics.json)')
    a('--arch', help='architecture (seg: swiftnet_r18[_lite], lraspp_mobilenet_v3_large...; '
                     'sr: carn, carn_m; asr/cloudseg: the arch of a plain state dict given '
                     'as --seg / --det)')
    a('--scale', type=int, help='SR scale: 2, 4, 6 or 8')
    a('--steps', type=int, help='total optimiser steps')
    a('--batch', type=int, help='batch size')
    a('--patch', type=int, help='SR: LR patch side in pixels (HR patch = patch * scale)')
    a('--crop', type=int, nargs=2, metavar=('H', 'W'),
      help='seg/det/fine-tune: crop size of the HR frames (default: whole frames for '
           'fine-tuning)')
    a('--lr', type=float, help='peak learning rate (poly decay to 0)')
    a('--weight-decay', type=float, help='seg: AdamW weight decay')
    a('--warmup', type=int, help='seg: linear warm-up steps')
    a('--quality', type=int, nargs=2, metavar=('LO', 'HI'),
      help='JPEG quality range of the degraded LR frames (inclusive)')
    a('--alpha', type=float, help='fine-tune: weight of the L1 term (0.95 seg, 0.9 det)')
    a('--beta', type=float, help='fine-tune: weight of the analytics term (0.05 seg, 0.1 det)')
    a('--max-area-fraction', type=float,
      help='asr: small-region / small-box cutoff (fraction of frame; 0.001 seg, 0.0005 det)')
    a('--analytics-target', choices=('label', 'hr'),
      help='asr (segmentation): what the analytics term compares with on the detailed pixels: '
           'label (paper Eq. 3, the default) or hr (KL to the prediction of the frozen model on '
           'the HR frame, minimal at SR = HR; docs/evaluation.md)')
    a('--judge-jitter', type=int, metavar='PX',
      help='asr (segmentation): the frozen model sees the frames at a random crop offset of '
           '0..PX-1 pixels each step (default 0: none)')
    a('--grid-weight', type=float, metavar='G',
      help='asr / cloudseg (segmentation): add G x the per-phase mean error of SR against HR on '
           'the SR grid '
           '(runespoor.losses.grid_error): makes a checkerboard cost what it is (default 0)')
    a('--global-residual', type=_yes_no, metavar='yes|no',
      help='sr: predict a residual over bilinear upsampling (default yes; the paper: no)')
    a('--init', help='asr/cloudseg: base SR checkpoint to start from; sr: optional initial '
                     'weights (e.g. the street model for drone video)')
    a('--init-key-map', metavar='NAME|FILE.yaml',
      help='sr: --init is a foreign state dict (e.g. the CARN-M reference weights): rename its '
           'tensors by this key map (carn_reference, or a YAML file of [pattern, replacement] '
           'pairs; docs/user_models.md "Foreign SR weights"); the model is --arch, its width '
           'read from the weights, without global residual unless --global-residual yes')
    a('--seg', help='asr/cloudseg: checkpoint of the frozen segmentation model; sr: an '
                    'optional validation judge (mIoU on SR vs bilinear in the validation '
                    'records, for curves; it does not affect training)')
    a('--det', help='asr/cloudseg --analytics detection: checkpoint of the frozen detector; '
                    'sr: an optional validation judge')
    a('--analytics-model', metavar='FILE.yaml',
      help='asr/cloudseg: your own frozen analytics model by configuration (a YAML mapping of '
           'runespoor.user_models keys: torchvision / torchscript / builder, weights, normalize, '
           'input_size, class_map; docs/user_models.md); instead of --seg / --det')
    a('--weights', help='seg/det: weights file to start from (checkpoint or state dict)')
    a('--input-size', type=int, nargs=2, metavar=('SHORT', 'LONG'),
      help='det: resize every input so its short side is SHORT px, the long side at most LONG '
           '(torchvision convention; recorded in the checkpoint, so the cloud and the '
           'evaluation resize alike); default: the frame as it comes')
    a('--num-classes', type=int, help='classes (segmentation 19, detection 10)')
    a('--seed', type=int, help='random seed')
    a('--device', help="'cpu', 'cuda' or 'auto'")
    a('--threads', type=int, help='torch CPU threads (0: leave as is)')
    a('--workers', type=int, help='DataLoader worker processes')
    a('--resume', help='continue from a last.pt of the same run')
    a('--resume-weights', metavar='FILE',
      help='continue a run from a weights-only checkpoint that records its step (e.g. the '
           'committed fp16 weights of an unfinished run): the LR schedule goes on at that '
           'step, with a fresh optimiser re-warmed over --rewarm steps')
    a('--rewarm', type=int, help='with --resume-weights: linear LR re-warm-up steps (50)')
    a('--val-every', type=int, help='validate every N steps (0: only at the end)')
    a('--val-batches', type=int, help='validate on at most N batches')
    a('--checkpoint-every', type=int, help='write last.pt every N steps')
    a('--no-progress', dest='progress', action='store_const', const=False,
      help='no tqdm progress bar')


def _yes_no(text):
    value = text.strip().lower()
    if value in ('yes', 'true', '1', 'on'):
        return True
    if value in ('no', 'false', '0', 'off'):
        return False
    raise ValueError(f'expected yes or no, got {text!r}')


def resolve_config(args):
    """Merge defaults < YAML (``args.config``) < explicit options into one dict."""
    cfg = dict(DEFAULTS['common'])
    cfg.update(DEFAULTS[args.task])
    if args.config:
        import yaml
        with open(args.config) as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f'config file {args.config} must hold a mapping')
        unknown = sorted(set(loaded) - set(cfg) - {'task'})
        if unknown:
            raise ValueError(f'config file {args.config}: unknown keys {unknown}')
        if loaded.get('task', args.task) != args.task:
            raise ValueError(f'config file {args.config} is for task {loaded["task"]!r}, '
                             f'not {args.task!r}')
        cfg.update({k: v for k, v in loaded.items() if k != 'task'})
    for key, value in vars(args).items():
        if key in ('task', 'config', 'func', '_module', 'command') or value is None:
            continue
        if key in cfg:
            cfg[key] = value
    cfg['task'] = args.task
    return cfg


def _loader(dataset, batch, shuffle, workers, seed, drop_last=True, collate_fn=None):
    import torch
    from torch.utils.data import DataLoader
    g = torch.Generator()
    g.manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch, shuffle=shuffle, num_workers=workers,
                      drop_last=drop_last and shuffle, generator=g,
                      persistent_workers=workers > 0, collate_fn=collate_fn)


def build_data(cfg):
    """Return ``(train_dataset, val_dataset, data description)``: the task's training data."""
    from ..tasks import get_task
    if not cfg['data']:
        raise ValueError('no data: pass --data ROOT (in the layout of the task) or --data random')
    return get_task(cfg['analytics']).training_data(cfg)


def _seg_model(cfg):
    """Build the segmentation model ``train seg`` trains (``--arch``, optional ``--weights``)."""
    from ..archs import build_seg
    model = build_seg(cfg['arch'], num_classes=cfg['num_classes'], weights=cfg['weights'])
    return model, {'num_classes': cfg['num_classes']}


def _analytics_model(cfg, device):
    """
    Load the frozen analytics model of ``train asr|cloudseg`` (or ``train sr``'s judge).

    ``--analytics-model FILE.yaml`` (a :mod:`runespoor.user_models` mapping: the user's own
    network) wins; else ``--seg`` / ``--det``: a Runespoor checkpoint, or a plain state dict
    of ``--arch``.
    """
    from ..tasks import get_task
    from ..tasks.model_files import ModelError, model_spec_param
    task = get_task(cfg['analytics'])
    option = task.model_option
    path = cfg.get(option) if option else None
    try:
        spec = model_spec_param(cfg.get('analytics_model'), '--analytics-model')
    except ModelError as exc:
        raise ValueError(str(exc)) from exc
    if spec is None and path:
        spec = {'weights': path}
        if cfg.get('arch') and cfg['task'] != 'sr':  # sr: --arch is the SR model's
            spec['arch'] = cfg['arch']
    if spec is None and option:
        raise ValueError(f'{cfg["task"]} needs the frozen {task.name} model: --{option} PATH '
                         '(a checkpoint or, with --arch, a state dict) or --analytics-model '
                         'FILE.yaml (docs/user_models.md)')
    return task.frozen_model(spec, device, f'{cfg["task"]} analytics model')


def _foreign_init(cfg, args):
    """
    Build ``train sr``'s model from foreign ``--init`` weights renamed by ``--init-key-map``.

    Returns ``(model, arch_kwargs)``; the weights give the width (the reference has no global
    residual, so it is off unless ``--global-residual yes`` is on the command line).
    """
    from ..archs.key_maps import build_foreign_sr
    if cfg['task'] != 'sr':
        raise ValueError('--init-key-map is for train sr; for asr / cloudseg convert the '
                         'weights first: runespoor convert sr --weights FILE --key-map ... '
                         '--out sr_xN.pt, then --init sr_xN.pt')
    if not cfg.get('init'):
        raise ValueError('--init-key-map renames the tensors of --init FILE: give --init')
    if cfg.get('resume'):
        raise ValueError('--init-key-map with --resume: the run resumes from its own last.pt; '
                         'drop --init / --init-key-map')
    residual = bool(getattr(args, 'global_residual', None))
    model, info = build_foreign_sr(cfg['init'], cfg['arch'], cfg['scale'], cfg['init_key_map'],
                                   global_residual=residual, what='--init weights file')
    for note in info['notes']:
        print(f'--init: {note}')
    return model, info['arch_kwargs']


def _det_model(cfg):
    from ..archs import build_det
    kwargs = {'num_classes': cfg['num_classes']}
    if cfg.get('input_size'):
        short, long = (int(v) for v in cfg['input_size'])
        if not 0 < short <= long:
            raise ValueError(f'--input-size {short} {long}: need 0 < SHORT <= LONG')
        kwargs.update(min_size=short, max_size=long)
    model = build_det(cfg['arch'], weights=cfg['weights'], **kwargs)
    return model, kwargs


def run(args):
    """Run ``runespoor train``; return the exit status."""
    import json

    import torch

    from ..archs import build_sr, count_parameters
    from ..checkpoint import CheckpointError, ForeignFileError, load_model
    from ..device import DeviceError, resolve_device
    from .loop import seed_everything
    from ..tasks import get_task
    from .runs import finetune_sr, train_det, train_seg, train_sr, warm_resume

    try:
        cfg = resolve_config(args)
    except (OSError, ValueError) as exc:
        print(f'runespoor train: {exc}', file=sys.stderr)
        return 2
    if not cfg['out']:
        print('runespoor train: --out is required', file=sys.stderr)
        return 2
    if cfg['threads']:
        torch.set_num_threads(int(cfg['threads']))
    try:
        device = torch.device(resolve_device(cfg['device']))
    except DeviceError as exc:
        print(f'runespoor train: {exc}', file=sys.stderr)
        return 2
    seed_everything(cfg['seed'])
    command = 'runespoor train ' + ' '.join(shlex.quote(a) for a in sys.argv[2:]) \
        if len(sys.argv) > 1 and sys.argv[1] == 'train' else None
    resume = cfg['resume']
    if cfg.get('resume_weights'):
        if resume:
            print('runespoor train: give --resume (exact, a last.pt) or --resume-weights '
                  '(warm), not both', file=sys.stderr)
            return 2
        resume = warm_resume(cfg['resume_weights'], cfg['rewarm'])
    common = {'steps': cfg['steps'], 'lr': cfg['lr'], 'device': device, 'out_dir': cfg['out'],
              'seed': cfg['seed'], 'resume': resume, 'val_every': cfg['val_every'],
              'checkpoint_every': cfg['checkpoint_every'], 'progress': cfg['progress'],
              'command': command, 'val_batches': cfg['val_batches']}
    task = cfg['task']
    sr_init = None  # train sr --init: (model, arch_kwargs, arch), bad input exits 2
    try:
        if getattr(args, 'init_key_map', None) or cfg.get('init_key_map'):
            sr_init = _foreign_init(cfg, args) + (cfg['arch'],)
        elif task == 'sr' and cfg['init']:  # e.g. start drone SR from the street model
            try:
                model, init_ckpt = load_model(cfg['init'], kind='sr', scale=cfg['scale'])
            except ForeignFileError as exc:
                raise CheckpointError(
                    f'--init {exc}; for foreign SR weights (a state dict of another code '
                    'base) add --init-key-map carn_reference or FILE.yaml, or convert them '
                    'first with runespoor convert sr (docs/user_models.md, "Foreign SR '
                    'weights")') from None
            default = {'global_residual': bool(cfg['global_residual'])}
            sr_init = (model, init_ckpt['config'].get('arch_kwargs', default),
                       init_ckpt['config']['arch'])
    except (CheckpointError, ValueError, RuntimeError, OSError) as exc:
        print(f'runespoor train {task}: {exc}', file=sys.stderr)
        return 2
    try:
        train_set, val_set, data_desc = build_data(cfg)
        analytics_task = get_task(cfg['analytics'])
        train_loader = _loader(train_set, cfg['batch'], True, cfg['workers'], cfg['seed'],
                               collate_fn=analytics_task.training_collate(task, 'train'))
        val_loader = _loader(val_set, 1, False, 0, cfg['seed'],
                             collate_fn=analytics_task.training_collate(task, 'val')) \
            if val_set is not None else None
        common['data'] = dict(data_desc, root=cfg['data'], train_samples=len(train_set),
                              val_samples=len(val_set) if val_set is not None else 0)
        run_cfg = {k: v for k, v in cfg.items() if k not in ('progress',)}
        if task == 'seg':
            model, arch_kwargs = _seg_model(cfg)
            print(f'seg model {cfg["arch"]}: {count_parameters(model):,} parameters')
            result = train_seg(model, train_loader, val_loader=val_loader,
                               config=dict(run_cfg, arch_kwargs=arch_kwargs),
                               weight_decay=cfg['weight_decay'], warmup=cfg['warmup'],
                               **common)
        elif task == 'det':
            model, arch_kwargs = _det_model(cfg)
            print(f'detector {cfg["arch"]}: {count_parameters(model):,} parameters')
            result = train_det(model, train_loader, val_loader=val_loader,
                               config=dict(run_cfg, arch_kwargs=arch_kwargs),
                               weight_decay=cfg['weight_decay'], warmup=cfg['warmup'],
                               **common)
        elif task == 'sr':
            arch_kwargs = {'global_residual': bool(cfg['global_residual'])}
            if sr_init is not None:  # --init: a checkpoint, or foreign weights (key map)
                model, arch_kwargs, run_cfg['arch'] = sr_init
            else:
                model = build_sr(cfg['arch'], scale=cfg['scale'], **arch_kwargs)
            print(f'SR model {run_cfg["arch"]} x{cfg["scale"]}: '
                  f'{count_parameters(model):,} parameters')
            judge = None
            if cfg.get('seg') or cfg.get('det') or cfg.get('analytics_model'):
                judge, _ = _analytics_model(cfg, device)  # validation only, frozen
            result = train_sr(model, train_loader, val_loader=val_loader, judge=judge,
                              analytics=cfg['analytics'],
                              config=dict(run_cfg, arch_kwargs=arch_kwargs), **common)
        else:
            init = cfg['init'] or cfg['resume'] or cfg.get('resume_weights')
            if not init:
                raise ValueError(f'{task} fine-tunes a base SR model: --init PATH (sr_x<N>.pt)')
            sr_model, sr_ckpt = load_model(init, kind='sr', scale=cfg['scale'], device=device)
            analytics_model, _ = _analytics_model(cfg, device)
            sr_cfg = sr_ckpt['config']
            kw = {}
            if task == 'asr' and cfg.get('max_area_fraction') is not None:
                kw['max_area_fraction'] = cfg['max_area_fraction']
            if task == 'asr' and data_desc.get('frame_area'):
                kw['frame_area'] = data_desc['frame_area']
            kw['loss_options'] = {'target': cfg.get('analytics_target'),   # asr only: the
                                  'jitter': cfg.get('judge_jitter'),       # task says so
                                  'grid_weight': cfg.get('grid_weight')}
            result = finetune_sr(sr_model, analytics_model, train_loader, method=task,
                                 val_loader=val_loader, alpha=cfg['alpha'], beta=cfg['beta'],
                                 analytics=cfg['analytics'],
                                 config=dict(run_cfg, arch=sr_cfg['arch'],
                                             arch_kwargs=sr_cfg.get('arch_kwargs', {})),
                                 **kw, **common)
    except (CheckpointError, ValueError, RuntimeError, OSError) as exc:
        print(f'runespoor train {task}: {exc}', file=sys.stderr)
        return 1
    summary = {k: v for k, v in result['metrics'].items() if not isinstance(v, list)}
    print(json.dumps({'checkpoint': result['checkpoint'], 'step': result['step'],
                      'train_time_s': round(result['train_time_s'], 1), 'metrics': summary}))
    return 0
