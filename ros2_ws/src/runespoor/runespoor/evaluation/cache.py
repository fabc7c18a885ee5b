# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Per-frame result cache of ``runespoor eval``.

One ``.npz`` file per *run key* (method, scale, JPEG quality, hashes of the segmentation and SR
checkpoints, cache format version), holding one record per frame, keyed by a hash of the
frame's image and label files: the frame's confusion matrix, PSNR, SSIM and encoded bytes.
A re-run loads the file and computes only the frames it lacks, so changing a checkpoint, adding
a scale or adding frames recomputes just what changed.  Files are written atomically.
"""

import hashlib
import json
import os

import numpy as np

#: Bump when the meaning of a cached record changes.
CACHE_VERSION = 1


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
    """The cached per-frame records of one run (method x scale x quality x checkpoints)."""

    def __init__(self, cache_dir, name, key, num_classes):
        self.path = os.path.join(cache_dir, f'{name}_{key}.npz')
        self.num_classes = num_classes
        self.records = {}
        if os.path.isfile(self.path):
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    for i, frame in enumerate(data['frames']):
                        self.records[str(frame)] = (data['conf'][i], float(data['psnr'][i]),
                                                    float(data['ssim'][i]),
                                                    int(data['bytes'][i]))
            except (OSError, KeyError, ValueError):
                self.records = {}  # unreadable cache: recompute

    def get(self, frame):
        """``(conf, psnr, ssim, bytes)`` of ``frame`` or None."""
        return self.records.get(frame)

    def put(self, frame, conf, psnr, ssim, nbytes):
        """Store one frame's record (call :meth:`save` to write it)."""
        self.records[frame] = (np.asarray(conf, np.int64), float(psnr), float(ssim),
                               int(nbytes))

    def save(self):
        """Write all records atomically."""
        if not self.records:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        frames = sorted(self.records)
        tmp = f'{self.path}.tmp{os.getpid()}.npz'
        np.savez_compressed(
            tmp, frames=np.array(frames, dtype=str),
            conf=np.stack([self.records[f][0] for f in frames]).astype(np.int64),
            psnr=np.array([self.records[f][1] for f in frames], np.float64),
            ssim=np.array([self.records[f][2] for f in frames], np.float64),
            bytes=np.array([self.records[f][3] for f in frames], np.int64))
        os.replace(tmp, self.path)
