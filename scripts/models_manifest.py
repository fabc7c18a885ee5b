#!/usr/bin/env python3
"""
Write models/manifest.json: what each shipped checkpoint is, how it was made, how good it is.

    python scripts/models_manifest.py [--models models] [--machine KEY=TEXT ...]

Reads the metadata every Runespoor checkpoint carries (command, config, data, seed, training
time, validation figures) and adds the file size and sha256, so the manifest cannot drift from
the files.  ``--machine`` records where a group of checkpoints was trained (by file-name prefix); a file
whose sha256 is already in the manifest keeps the machine recorded there.
"""

import argparse
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'ros2_ws', 'src', 'runespoor'))

from runespoor.checkpoint import load_checkpoint  # noqa: E402


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument('--models', default=os.path.join(HERE, '..', 'models'))
    ap.add_argument('--machine', action='append', default=[],
                    help='PREFIX=TEXT: machine that trained checkpoints whose file name or path '
                         '(models/...) starts so; the first matching PREFIX wins')
    args = ap.parse_args(argv)
    machines = dict(m.split('=', 1) for m in args.machine)
    out = os.path.join(args.models, 'manifest.json')
    known = {}  # sha256 -> machine of the manifest being replaced: unchanged files keep theirs
    if os.path.exists(out):
        with open(out) as f:
            known = {e['sha256']: e.get('machine') for e in json.load(f).get('checkpoints', [])}
    entries = []
    for dirpath, _, files in sorted(os.walk(args.models)):
        for name in sorted(files):
            if not name.endswith('.pt'):
                continue
            path = os.path.join(dirpath, name)
            ckpt = load_checkpoint(path)
            rel = os.path.relpath(path, os.path.join(args.models, '..'))
            digest = sha256(path)
            machine = next((t for p, t in machines.items()
                            if rel.startswith(p) or name.startswith(p)), known.get(digest))
            cfg = ckpt.get('config', {})
            entries.append({
                'file': rel, 'bytes': os.path.getsize(path), 'sha256': digest,
                'kind': cfg.get('kind'), 'method': cfg.get('method'), 'arch': cfg.get('arch'),
                'scale': cfg.get('scale'), 'step': ckpt.get('step'), 'seed': ckpt.get('seed'),
                'train_time_s': ckpt.get('train_time_s'), 'device': cfg.get('device'),
                'machine': machine, 'metrics': ckpt.get('metrics'), 'data': ckpt.get('data'),
                'command': ckpt.get('command'), 'created': ckpt.get('created'),
            })
    with open(out, 'w') as f:
        json.dump({'checkpoints': entries}, f, indent=1)
        f.write('\n')
    print(f'wrote {out} ({len(entries)} checkpoints)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
