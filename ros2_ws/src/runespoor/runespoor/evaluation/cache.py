# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Per-frame result cache of ``runespoor eval``.

One ``.npz`` file per *run key* (task, method, scale, JPEG quality, hashes of the analytics and
SR checkpoints, cache format version), holding one record per frame, keyed by a hash of the
frame's image and ground-truth files.  What a record holds is the task's choice, declared as
*fields* (see :class:`RunCache`): segmentation keeps the frame's confusion matrix, detection
its detections; both keep PSNR, SSIM and the encoded bytes.  A re-run loads the file and
computes only the frames it lacks, so changing a checkpoint, adding a scale or adding frames
recomputes just what changed.  Files are written atomically.
"""

import hashlib
import json
import os

import numpy as np

#: Bump when the meaning of a cached record changes.
CACHE_VERSION = 1

#: Kinds of cached fields: one number, one fixed-shape array, or a variable-length array.
FIELD_KINDS = ('scalar', 'array', 'ragged')

#: Fields every task caches: reconstruction quality and the size of what was sent.
IMAGE_FIELDS = {'psnr': ('scalar', np.float64), 'ssim': ('scalar', np.float64),
                'grid': ('scalar', np.float64), 'bytes': ('scalar', np.int64)}


def file_digest(path, length=16):
    """Hex SHA-256 of the file at ``path``, shortened to ``length`` characters."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()[:length]


def run_key(**fields):
    """Short stable hash of a run's identity (keyword fields, JSON-serialisable)."""
    payload = json.dumps(dict(fields, cache_version=CACHE_VERSION), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


class RunCache:
    """
    The cached per-frame records of one run (method x scale x quality x checkpoints).

    ``fields`` maps a field name to ``(kind, dtype)`` or ``(kind, dtype, item shape)``:
    ``'scalar'`` (one number per frame), ``'array'`` (an array of the same shape for every
    frame, stacked in the file) or ``'ragged'`` (a variable number of items of ``item shape``
    per frame: concatenated in the file, with ``<name>__len`` holding each frame's count).
    A record is a dict of those fields.
    """

    def __init__(self, cache_dir, name, key, fields):
        self.path = os.path.join(cache_dir, f'{name}_{key}.npz')
        self.fields = {}
        for field, spec in fields.items():
            kind, dtype = spec[0], np.dtype(spec[1])
            if kind not in FIELD_KINDS:
                raise ValueError(f'cache field {field!r}: unknown kind {kind!r}')
            self.fields[field] = (kind, dtype, tuple(spec[2]) if len(spec) > 2 else ())
        self.records = {}
        if os.path.isfile(self.path):
            try:
                self._load()
            except (OSError, KeyError, ValueError):
                self.records = {}  # unreadable cache: recompute

    def _load(self):
        with np.load(self.path, allow_pickle=False) as data:
            frames = [str(f) for f in data['frames']]
            columns = {}
            for field, (kind, dtype, _) in self.fields.items():
                values = data[field]
                if kind == 'ragged':
                    lengths = data[f'{field}__len'].astype(np.int64)
                    if lengths.size != len(frames) or int(lengths.sum()) != len(values):
                        raise ValueError(f'{self.path}: inconsistent {field!r}')
                    values = np.split(values, np.cumsum(lengths)[:-1]) if frames else []
                elif len(values) != len(frames):
                    raise ValueError(f'{self.path}: inconsistent {field!r}')
                columns[field] = values
        for i, frame in enumerate(frames):
            self.records[frame] = {field: self._convert(field, columns[field][i])
                                   for field in self.fields}

    def _convert(self, field, value):
        kind, dtype, shape = self.fields[field]
        if kind == 'scalar':
            return float(value) if dtype.kind == 'f' else int(value)
        value = np.asarray(value, dtype=dtype)
        return value.reshape((-1,) + shape) if kind == 'ragged' else value

    def get(self, frame):
        """Return the record (dict of fields) of ``frame`` or None."""
        return self.records.get(frame)

    def put(self, frame, record):
        """Store one frame's record, a dict with every field (call :meth:`save` to write)."""
        missing = set(self.fields) - set(record)
        if missing:
            raise ValueError(f'cache record lacks {", ".join(sorted(missing))}')
        self.records[frame] = {f: self._convert(f, record[f]) for f in self.fields}

    def save(self):
        """Write all records atomically."""
        if not self.records:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        frames = sorted(self.records)
        arrays = {'frames': np.array(frames, dtype=str)}
        for field, (kind, dtype, shape) in self.fields.items():
            values = [self.records[f][field] for f in frames]
            if kind == 'ragged':
                arrays[field] = np.concatenate(
                    [np.asarray(v, dtype).reshape((-1,) + shape) for v in values])
                arrays[f'{field}__len'] = np.array([len(v) for v in values], np.int64)
            elif kind == 'array':
                arrays[field] = np.stack(values).astype(dtype)
            else:
                arrays[field] = np.array(values, dtype)
        tmp = f'{self.path}.tmp{os.getpid()}.npz'
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, self.path)
