# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The evaluation loop: reconstruct every frame for every run and hand it to the analytics task.

A *run* is one ``(method, scale, quality)``; ``('hr', 1, None)`` runs the analytics model on
the original frames.  For each run and frame the edge's degradation is applied exactly as the
robot does it (:func:`runespoor.codec.encode_frame`: ``INTER_AREA`` downsampling, OpenCV JPEG),
the decoded frame is reconstructed to the source size (:class:`runespoor.reconstruct.
Reconstructor`), scored for PSNR and SSIM against the original (``uint8`` RGB), and passed to
the task's eval plug-in (:mod:`runespoor.tasks`), which runs its analytics model and returns
what to keep per frame (segmentation: the confusion matrix,
:mod:`runespoor.tasks.segmentation.evaluation`; detection: the detections,
:mod:`runespoor.tasks.detection.evaluation`).  The JPEG's size in bytes is kept too; for HR
the bytes are the size of the original file and PSNR/SSIM are not defined.  Per-frame records
are cached (:mod:`.cache`), so a re-run computes only what changed.

A task's eval plug-in, and what it shares with this loop (``Frame``, ``EvalError``,
``load_analytics_model``), are described in :mod:`.plugin_api`.
"""

import os
import time

import numpy as np

from runespoor.device import DeviceError, resolve_device
from runespoor.evaluation.cache import file_digest, IMAGE_FIELDS, run_key, RunCache
from runespoor.evaluation.plugin_api import EvalError, SR_METHODS


def plan_runs(config):
    """
    Return ``(runs, sr_checkpoints, skipped)`` for ``config``.

    ``runs`` lists ``(method, scale, quality)``, HR first.  A missing SR checkpoint raises
    :class:`EvalError` naming every missing file, unless ``skip_missing`` is set: then its
    runs are left out and listed in ``skipped``.
    """
    runs = [('hr', 1, None)]
    sr_checkpoints, skipped, missing = {}, [], []
    for scale in config.scales:
        for method in config.methods:
            path = config.checkpoint_path(method, scale)
            if path is not None:
                if not os.path.isfile(path):
                    missing.append(path)
                    skipped.append({'method': method, 'scale': scale,
                                    'reason': f'checkpoint {path} is missing'})
                    continue
                sr_checkpoints[(method, scale)] = path
            for quality in config.qualities:
                runs.append((method, scale, quality))
    if missing and not config.skip_missing:
        raise EvalError('missing SR checkpoint(s): ' + ', '.join(missing)
                        + ' (train them, fix `checkpoints:` in the eval config, or set '
                        '`skip_missing: true` to leave those methods out)')
    return runs, sr_checkpoints, skipped


def image_metrics(reference_bgr, recon_bgr):
    """Return ``(PSNR, SSIM)`` of a reconstruction against the original, on uint8 RGB."""
    from runespoor.metrics.image import psnr, ssim
    ref = reference_bgr[:, :, ::-1]
    test = recon_bgr[:, :, ::-1]
    return psnr(ref, test), ssim(ref, test)


def checkerboard(degrade, recon_bgr, scale):
    """
    Return the grid periodicity of ``recon_bgr`` against bilinear of the same LR frame.

    :func:`runespoor.metrics.image.grid_periodicity` of the last frame ``degrade`` produced;
    0 for bilinear itself, a few grey levels for a model that paints a periodic pattern.
    """
    from runespoor.metrics.image import grid_periodicity
    from runespoor.tensors import tensor_to_bgr
    bilinear = degrade.reconstructor('bilinear').reconstruct_bgr(
        degrade.last_lr, scale, recon_bgr.shape[:2])
    return grid_periodicity(recon_bgr, tensor_to_bgr(bilinear), scale)


def run_name(method, scale, quality):
    """Return the cache file stem of a run: ``hr`` or ``<method>_x<scale>_q<quality>``."""
    return 'hr' if method == 'hr' else f'{method}_x{scale}_q{quality}'


def get_task(config):
    """Return the eval plug-in of ``config``'s task (:meth:`runespoor.tasks.Task.eval_plugin`)."""
    from runespoor.tasks import TaskError
    try:
        return config.task_plugin.eval_plugin(config)
    except TaskError as exc:
        raise EvalError(str(exc)) from exc


class Degrader:
    """The edge's codec and the cloud's reconstruction of one frame, for every method."""

    def __init__(self, sr_checkpoints, device):
        self.sr_checkpoints = sr_checkpoints
        self.device = device
        self.reconstructors = {}
        self.last_lr = None  # the decoded low-resolution frame of the last call

    def reconstructor(self, method):
        """Return the (cached) :class:`runespoor.reconstruct.Reconstructor` of ``method``."""
        from runespoor.reconstruct import Reconstructor
        if method not in self.reconstructors:
            checkpoints = ({s: p for (m, s), p in self.sr_checkpoints.items() if m == method}
                           if method in SR_METHODS else None)
            self.reconstructors[method] = Reconstructor(method, checkpoints=checkpoints,
                                                        device=self.device)
        return self.reconstructors[method]

    def __call__(self, image, image_path, method, scale, quality):
        """
        Degrade and reconstruct ``image`` (BGR uint8) for one run.

        Returns ``(1 x 3 x H x W RGB tensor on the device, bytes sent)``; for HR the frame
        itself and the size of its original file.
        """
        from runespoor.codec import decode_jpeg, encode_frame
        from runespoor.tensors import bgr_to_tensor
        if method == 'hr':
            return bgr_to_tensor(image, self.device), os.path.getsize(image_path)
        encoded = encode_frame(image, scale, quality)
        lr = decode_jpeg(encoded.data)
        self.last_lr = lr
        recon = self.reconstructor(method).reconstruct_bgr(lr, scale, image.shape[:2])
        return recon, len(encoded.data)


def evaluate(config, out_dir, progress=True, log=print):
    """
    Run every planned run over the data set, using and filling the cache.

    Returns a dict with ``task``, ``frames`` (names, in stream order), ``resolution``,
    ``runs`` (``{(method, scale, quality): {task arrays..., 'psnr': N, 'ssim': N,
    'bytes': N}}``; segmentation: ``'conf': N x C x C``), ``models`` (paths and hashes),
    ``skipped``, ``device``, ``computed`` (frames computed, not cached), ``time_s`` and the
    task's extras.
    """
    import torch
    from tqdm import tqdm

    from runespoor.tensors import tensor_to_bgr

    start = time.monotonic()
    task = get_task(config)
    frames = task.frames()
    runs, sr_checkpoints, skipped = plan_runs(config)
    for item in skipped:
        log(f'skipping {item["method"]} x{item["scale"]}: {item["reason"]}')
    try:
        device = resolve_device(config.device)
    except DeviceError as exc:
        raise EvalError(str(exc)) from exc
    model, model_info = task.load_model(device)
    models = {task.model_key: model_info, 'sr': {}}
    for (method, scale), path in sorted(sr_checkpoints.items()):
        models['sr'][f'{method}_x{scale}'] = {'path': path, 'sha256': file_digest(path)}

    cache_dir = config.cache_dir or os.path.join(out_dir, 'cache')
    fields = dict(task.fields, **IMAGE_FIELDS)
    frame_keys = [''.join(file_digest(p) for p in f.files) for f in frames]
    degrade = Degrader(sr_checkpoints, device)
    results, computed = {}, 0

    for method, scale, quality in runs:
        sr_hash = models['sr'].get(f'{method}_x{scale}', {}).get('sha256')
        key = run_key(method=method, scale=scale, quality=quality, sr=sr_hash,
                      **task.key_fields(model_info))
        name = task.cache_prefix + run_name(method, scale, quality)
        cache = RunCache(cache_dir, name, key, fields)
        wants_image = config.image_metrics and method != 'hr'
        todo = [i for i, k in enumerate(frame_keys)
                if cache.get(k) is None or (wants_image and (
                    np.isnan(cache.get(k)['psnr']) or np.isnan(cache.get(k)['grid'])))]
        if todo:
            bar = tqdm(todo, desc=name, disable=not progress, leave=False, unit='frame')
            for n, i in enumerate(bar):
                image, truth = task.load(frames[i])
                with torch.no_grad():
                    recon, nbytes = degrade(image, frames[i].image_path, method, scale,
                                            quality)
                    record = task.analyse(model, recon, truth)
                record['psnr'] = record['ssim'] = record['grid'] = float('nan')
                if wants_image:
                    recon_bgr = tensor_to_bgr(recon)
                    record['psnr'], record['ssim'] = image_metrics(image, recon_bgr)
                    record['grid'] = checkerboard(degrade, recon_bgr, scale)
                record['bytes'] = nbytes
                cache.put(frame_keys[i], record)
                computed += 1
                if (n + 1) % 50 == 0:
                    cache.save()
            cache.save()
        records = [cache.get(k) for k in frame_keys]
        results[(method, scale, quality)] = dict(
            task.collect(records),
            psnr=np.array([r['psnr'] for r in records]),
            ssim=np.array([r['ssim'] for r in records]),
            grid=np.array([r['grid'] for r in records]),
            bytes=np.array([r['bytes'] for r in records]))
    out = {
        'task': task.name,
        'frames': [f.name for f in frames],
        'runs': results,
        'models': models,
        'skipped': skipped,
        'device': device,
        'computed': computed,
        'time_s': None,
    }
    out.update(task.extras(frames, results))
    out['time_s'] = time.monotonic() - start
    return out
