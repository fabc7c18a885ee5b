# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The evaluation loop: reconstruct, segment and score every frame for every run.

A *run* is one ``(method, scale, quality)``; ``('hr', 1, None)`` runs the analytics model on
the original frames.  For each run and frame the edge's degradation is applied exactly as the
robot does it (:func:`runespoor.codec.encode_frame`: ``INTER_AREA`` downsampling, OpenCV JPEG),
the decoded frame is reconstructed to the source size (:class:`runespoor.reconstruct.
Reconstructor`), segmented, and scored against the label: confusion matrix, PSNR and SSIM of
the reconstruction against the original (``uint8`` RGB), and the JPEG's size in bytes.  For HR
the bytes are the size of the original (lossless PNG) file and PSNR/SSIM are not defined.
"""

import os
import time

import numpy as np

from runespoor.evaluation.cache import file_digest, run_key, RunCache
from runespoor.evaluation.config import SR_METHODS
from runespoor.metrics.segmentation import confusion_matrix, NUM_CLASSES


class EvalError(RuntimeError):
    """An evaluation that cannot run (missing data or checkpoint); the message names the file."""


def list_frames(root, split, limit=None):
    """
    Return ``[(frame_name, image_path, label_path), ...]`` of a Cityscapes-layout split.

    Uses :func:`runespoor.data.cityscapes.list_frames` (``*_gtFine_labelIds.png`` or
    ``*_labelTrainIds.png``), sorted by city, sequence and frame number: stream order for the
    frame-wise metric.  ``frame_name`` is ``<city>/<file stem>``.
    """
    from runespoor.data.cityscapes import list_frames as cityscapes_frames
    try:
        frames = cityscapes_frames(root, split, require_labels=True)
    except (OSError, ValueError) as exc:
        raise EvalError(f'data set {root} split {split!r}: {exc}') from exc
    if not frames:
        raise EvalError(f'no *_leftImg8bit.png frames under {root}/leftImg8bit/{split}')
    out = []
    for f in frames[:int(limit)] if limit else frames:
        name = os.path.basename(f.image_path)[:-len('_leftImg8bit.png')]
        out.append((f'{f.city}/{name}', f.image_path, f.label_path))
    return out


def load_frame(image_path, label_path):
    """Read a frame: ``(image BGR uint8 HxWx3, train-id label uint8 HxW)``."""
    from runespoor.data.cityscapes import read_image, read_label
    try:
        image = read_image(image_path)
        return image, read_label(label_path, image.shape)
    except (OSError, ValueError) as exc:
        raise EvalError(str(exc)) from exc


def resolve_device(name):
    """``'auto'`` -> ``'cuda'`` when available else ``'cpu'``; other names pass through."""
    import torch
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise EvalError(f'device {name!r} requested but CUDA is not available')
    return name


def load_segmentation(config, device):
    """Load the analytics model of ``config``; return ``(model, info dict)``."""
    from runespoor.checkpoint import CheckpointError, load_model
    if config.seg_checkpoint:
        path = config.seg_checkpoint
        if not os.path.isfile(path):
            raise EvalError(f'segmentation checkpoint {path} does not exist '
                            '(set segmentation.checkpoint in the eval config)')
        try:
            model, ckpt = load_model(path, kind='seg', device=device)
        except CheckpointError as exc:
            raise EvalError(str(exc)) from exc
        info = {'path': path, 'sha256': file_digest(path),
                'arch': ckpt['config'].get('arch'), 'metrics': ckpt.get('metrics', {}),
                'code_version': ckpt.get('code_version')}
    else:
        from runespoor.archs import build_seg, WeightsError
        path = config.seg_weights
        if not os.path.isfile(path):
            raise EvalError(f'segmentation weights {path} do not exist')
        try:
            model = build_seg(config.seg_arch, weights=path)
        except (WeightsError, ValueError) as exc:
            raise EvalError(str(exc)) from exc
        model = model.to(device).eval()
        info = {'path': path, 'sha256': file_digest(path), 'arch': config.seg_arch}
    return model, info


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


def _image_metrics(reference_bgr, recon_bgr):
    from runespoor.metrics.image import psnr, ssim
    ref = reference_bgr[:, :, ::-1]
    test = recon_bgr[:, :, ::-1]
    return psnr(ref, test), ssim(ref, test)


def evaluate(config, out_dir, progress=True, log=print):
    """
    Run every planned run over the data set, using and filling the cache.

    Returns a dict with ``frames`` (names, in stream order), ``runs`` (``{(method, scale,
    quality): {'conf': N x C x C, 'psnr': N, 'ssim': N, 'bytes': N}}``), ``models`` (paths
    and hashes), ``skipped``, ``device``, ``computed`` (frames computed, not cached) and
    ``time_s``.
    """
    import torch
    from tqdm import tqdm

    from runespoor.codec import decode_jpeg, encode_frame
    from runespoor.reconstruct import bgr_to_tensor, Reconstructor, tensor_to_bgr

    start = time.monotonic()
    frames = list_frames(config.dataset_root, config.split, config.limit)
    runs, sr_checkpoints, skipped = plan_runs(config)
    for item in skipped:
        log(f'skipping {item["method"]} x{item["scale"]}: {item["reason"]}')
    device = resolve_device(config.device)
    seg_model, seg_info = load_segmentation(config, device)
    models = {'segmentation': seg_info, 'sr': {}}
    for (method, scale), path in sorted(sr_checkpoints.items()):
        models['sr'][f'{method}_x{scale}'] = {'path': path, 'sha256': file_digest(path)}

    cache_dir = config.cache_dir or os.path.join(out_dir, 'cache')
    frame_keys = [file_digest(img) + file_digest(lbl) for _, img, lbl in frames]
    reconstructors = {}
    results, computed = {}, 0

    for method, scale, quality in runs:
        sr_hash = models['sr'].get(f'{method}_x{scale}', {}).get('sha256')
        key = run_key(method=method, scale=scale, quality=quality,
                      seg=seg_info['sha256'], sr=sr_hash)
        name = 'hr' if method == 'hr' else f'{method}_x{scale}_q{quality}'
        cache = RunCache(cache_dir, name, key, NUM_CLASSES)
        wants_image = config.image_metrics and method != 'hr'
        todo = [i for i, k in enumerate(frame_keys)
                if cache.get(k) is None or (wants_image and np.isnan(cache.get(k)[1]))]
        if todo:
            if method in SR_METHODS and method not in reconstructors:
                reconstructors[method] = Reconstructor(
                    method, checkpoints={s: p for (m, s), p in sr_checkpoints.items()
                                         if m == method}, device=device)
            elif method != 'hr' and method not in reconstructors:
                reconstructors[method] = Reconstructor(method, device=device)
            bar = tqdm(todo, desc=name, disable=not progress, leave=False, unit='frame')
            for n, i in enumerate(bar):
                _, image_path, label_path = frames[i]
                image, label = load_frame(image_path, label_path)
                size = image.shape[:2]
                with torch.no_grad():
                    if method == 'hr':
                        recon = bgr_to_tensor(image, device)
                        nbytes = os.path.getsize(image_path)
                    else:
                        encoded = encode_frame(image, scale, quality)
                        nbytes = len(encoded.data)
                        lr = decode_jpeg(encoded.data)
                        recon = reconstructors[method].reconstruct_bgr(lr, scale, size)
                    pred = seg_model(recon).argmax(1)[0].to(torch.uint8).cpu().numpy()
                conf = confusion_matrix(label, pred, NUM_CLASSES)
                psnr_value = ssim_value = float('nan')
                if wants_image:
                    psnr_value, ssim_value = _image_metrics(image, tensor_to_bgr(recon))
                cache.put(frame_keys[i], conf, psnr_value, ssim_value, nbytes)
                computed += 1
                if (n + 1) % 50 == 0:
                    cache.save()
            cache.save()
        records = [cache.get(k) for k in frame_keys]
        results[(method, scale, quality)] = {
            'conf': np.stack([r[0] for r in records]),
            'psnr': np.array([r[1] for r in records]),
            'ssim': np.array([r[2] for r in records]),
            'bytes': np.array([r[3] for r in records]),
        }
    first, _ = load_frame(frames[0][1], frames[0][2])
    return {
        'frames': [f[0] for f in frames],
        'resolution': f'{first.shape[1]}x{first.shape[0]}',
        'runs': results,
        'models': models,
        'skipped': skipped,
        'device': device,
        'computed': computed,
        'time_s': time.monotonic() - start,
    }
