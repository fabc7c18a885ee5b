r"""
``runespoor convert sr``: foreign SR weights -> a Runespoor SR checkpoint, through a key map.

::

    runespoor convert sr --weights carn_m.pth --arch carn_m --scale 4 \
        --key-map carn_reference --out models/sr/sr_x4_reference.pt
    runespoor convert sr --print-key-map carn_reference > my_map.yaml   # a start for your own

The checkpoint (:func:`runespoor.checkpoint.save_checkpoint`, kind ``sr``, method ``sr``)
records the architecture and its kwargs (read from the weights' shapes), and under
``converted_from`` the source file, its SHA-256, the key map and its rules and what was
dropped; eval configs, the cloud node and ``runespoor train sr|asr|cloudseg --init`` then use
it as any SR checkpoint.  Bad input (unknown or malformed key map, weights that do not fit,
an existing ``--out`` without ``--force``) exits with status 2 and says why.
"""

import sys


def add_arguments(parser):
    """Add the ``convert`` options to ``parser``."""
    sub = parser.add_subparsers(dest='what', metavar='WHAT')
    sub.required = True
    p = sub.add_parser('sr', help='foreign SR weights -> a Runespoor SR checkpoint',
                       description='Rename the tensors of a foreign SR state dict by a key map, '
                                   'load them strictly into a Runespoor SR network and write a '
                                   'Runespoor checkpoint (docs/user_models.md, "Foreign SR '
                                   'weights").')
    a = p.add_argument
    a('--weights', metavar='FILE', help='the foreign weights file (a torch.save state dict; read '
                                        'with weights_only=True)')
    a('--arch', default='carn_m', help='Runespoor SR arch (carn, carn_m; default carn_m)')
    a('--scale', type=int, help='SR scale (2, 3, 4, 6, 8); selects the branch of a multi-scale '
                                'file')
    a('--key-map', default='carn_reference', metavar='NAME|FILE.yaml',
      help='a named key map (carn_reference: github.com/nmhkahn/CARN-pytorch) or a YAML file '
           'of [pattern, replacement] pairs (default carn_reference)')
    a('--global-residual', action='store_true',
      help='build with the global residual over bilinear (not in the reference; changes what '
           'the weights compute: for fine-tuning only)')
    a('--out', metavar='FILE.pt', help='the Runespoor checkpoint to write')
    a('--force', action='store_true', help='replace --out if it exists')
    a('--print-key-map', metavar='NAME|FILE.yaml',
      help='print the rules of a key map as YAML (the file format) and exit')


def _sha256(path):
    import hashlib

    from .safe_files import MAX_CHECKPOINT_BYTES, open_regular_file
    digest = hashlib.sha256()
    with open_regular_file(path, MAX_CHECKPOINT_BYTES, 'SR weights file') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _command(args):
    import shlex
    parts = ['runespoor', 'convert', 'sr', '--weights', args.weights, '--arch', args.arch,
             '--scale', str(args.scale), '--key-map', args.key_map, '--out', args.out]
    if args.global_residual:
        parts.append('--global-residual')
    return ' '.join(shlex.quote(p) for p in parts)


def _print_key_map(spec):
    import yaml

    from .archs.key_maps import get_key_map
    key_map = get_key_map(spec)
    if key_map.description:
        print(f'# {key_map.description}')
    print('# [pattern, replacement(, note)]: the first rule whose pattern matches rewrites the '
          'key;\n# unmatched keys stay; null drops the tensor; {scale} is the scale converted.')
    for rule in key_map.to_list():
        print(yaml.safe_dump([rule], default_flow_style=None, width=1000, allow_unicode=True),
              end='')
    return 0


def run(args):
    """Run ``runespoor convert``; return the exit status."""
    import os

    from .archs.key_maps import KeyMapError

    def fail(message):
        print(f'runespoor convert sr: {message}', file=sys.stderr)
        return 2

    if args.print_key_map:
        try:
            return _print_key_map(args.print_key_map)
        except KeyMapError as exc:
            return fail(exc)
    for flag, value in (('--weights', args.weights), ('--scale', args.scale),
                        ('--out', args.out)):
        if value is None:
            return fail(f'{flag} is required')
    if os.path.exists(args.out) and not args.force:
        return fail(f'{args.out} exists; pass --force to replace it')
    if os.path.abspath(args.out) == os.path.abspath(args.weights):
        return fail('--out must not be the --weights file')

    import torch

    from .archs import SR_ARCHS, WeightsError
    from .archs.carn import UPSAMPLE_STAGES
    from .archs.key_maps import build_foreign_sr, get_key_map
    from .checkpoint import CheckpointError, load_model, save_checkpoint
    from .safe_files import UnsafeFileError
    if args.arch not in SR_ARCHS:
        return fail(f'unknown SR arch {args.arch!r}; choose one of {", ".join(SR_ARCHS)}')
    if args.scale not in UPSAMPLE_STAGES:
        return fail(f'unsupported SR scale {args.scale}; choose one of '
                    f'{", ".join(map(str, sorted(UPSAMPLE_STAGES)))}')
    try:
        key_map = get_key_map(args.key_map)
        model, info = build_foreign_sr(args.weights, args.arch, args.scale, key_map,
                                       global_residual=args.global_residual)
        sha = _sha256(args.weights)
    except (KeyMapError, WeightsError, UnsafeFileError, ValueError) as exc:
        return fail(exc)
    for note in info['notes']:
        print(note)
    source = {'file': os.path.abspath(args.weights), 'sha256': sha, 'key_map': key_map.name,
              'key_map_rules': key_map.to_list(), 'renamed': info['renamed'],
              'dropped': info['dropped'], 'tied': info['tied'], 'notes': info['notes']}
    config = {'kind': 'sr', 'method': 'sr', 'arch': args.arch, 'arch_kwargs': info['arch_kwargs'],
              'scale': int(args.scale), 'key_map': key_map.name,
              'global_residual': bool(args.global_residual)}
    try:
        save_checkpoint(args.out, model, config, command=_command(args),
                        data={'source': 'converted foreign weights', 'file': source['file']},
                        extra={'converted_from': source})
        loaded, _ = load_model(args.out, kind='sr', method='sr', scale=args.scale)
    except (OSError, CheckpointError) as exc:
        print(f'runespoor convert sr: cannot write {args.out}: {exc}', file=sys.stderr)
        return 1
    x = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        same = torch.equal(loaded(x), model(x))
    if not same:  # cannot happen with fp32 checkpoints; a guard for the file just written
        print(f'runespoor convert sr: {args.out} does not reproduce the converted model',
              file=sys.stderr)
        return 1
    kw = ', '.join(f'{k}={v}' for k, v in info['arch_kwargs'].items())
    print(f'wrote {args.out}: {args.arch} x{args.scale} ({kw}) from {args.weights} '
          f'(sha256 {sha[:12]}...), key map {key_map.name}; reloaded and checked bit-identical')
    return 0
