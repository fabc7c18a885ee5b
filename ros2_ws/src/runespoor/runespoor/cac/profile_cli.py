# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
r"""
``runespoor profile``: tail-aware offline profiling with the real models (paper §3.2).

Example::

    runespoor profile --data data/synth512 --split val --seg models/seg.pt \\
        --sr-dir models --method asr --out out/profile --frames 60

Reads frames (and labels) of a Cityscapes-layout split, reconstructs every ``(scale, quality)``
with the chosen method (``<sr-dir>/<method>_x<scale>.pt``) and segments it with the analytics
model, then writes ``profile.yaml`` (the edge's format), ``measurements.json``,
``profile_summary.json``, ``pareto.png`` and ``tail_threshold.png`` to ``--out``.  Exit status
0 on success, 2 on a data or model problem (the message names the file).
"""

import os
import sys


def _floats(text):
    return [float(v) for v in text.replace(',', ' ').split()]


def _ints(text):
    return [int(v) for v in text.replace(',', ' ').split()]


def _size(text):
    if text.lower() == 'native':
        return None
    w, _, h = text.lower().partition('x')
    return int(w), int(h)


def add_arguments(parser):
    """Add the ``profile`` options to ``parser``."""
    from runespoor.cac import profiling as p
    parser.add_argument('--data', required=True, help='Cityscapes-layout data root')
    parser.add_argument('--split', default='val', help='split to profile (default val)')
    parser.add_argument('--seg', required=True,
                        help='segmentation checkpoint (runespoor train) or, with --seg-arch, '
                             'a plain state dict')
    parser.add_argument('--seg-arch', default=None,
                        help='architecture of a plain state-dict --seg file')
    parser.add_argument('--sr-dir', default=None,
                        help='folder with <method>_x<scale>.pt (not needed for bilinear)')
    parser.add_argument('--method', default='asr', choices=('asr', 'sr', 'cloudseg', 'bilinear'),
                        help='reconstruction on the cloud (default asr)')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--frames', type=int, default=60,
                        help='profile N frames spread evenly over the split (0 = all; '
                             'default 60)')
    parser.add_argument('--scales', type=_ints, default=list(p.DEFAULT_SCALES),
                        help='scales, e.g. "2,4,6,8"')
    parser.add_argument('--qualities', type=_ints, default=list(p.DEFAULT_QUALITIES),
                        help='JPEG qualities, e.g. "40,50,60,70,80,90"')
    parser.add_argument('--bandwidths', type=_floats, default=list(p.DEFAULT_BANDWIDTHS_MBIT),
                        help='bandwidth targets in Mbit/s at --reference-size, e.g. "1,2,5,10"')
    parser.add_argument('--reference-size', type=_size, default=p.REFERENCE_SIZE,
                        help='frame size the bandwidths refer to (default 2048x1024); they are '
                             'scaled by the pixel ratio to the profiled frames; "native": '
                             'they are rates of the profiled frames')
    parser.add_argument('--fps', type=float, default=p.DEFAULT_FPS, help='frame rate (17)')
    parser.add_argument('--accuracy-vs', dest='reference', choices=p.REFERENCES,
                        default='label',
                        help='score against the label (default) or the HR prediction')
    parser.add_argument('--tail-fraction', type=float, default=0.1,
                        help='share of frames that are tail frames (0.1)')
    parser.add_argument('--target-recall', type=float, default=0.9,
                        help='share of tail frames the threshold must catch (0.9)')
    parser.add_argument('--small-region-fraction', type=float, default=None,
                        help='component area below which a region is small (fraction of the '
                             'frame; default runespoor.regions.DEFAULT_MAX_AREA_FRACTION)')
    parser.add_argument('--tail-bytes-tolerance', type=float, default=0.1,
                        help='a tail-specific config may cost at most this share more than '
                             'the standard one on the same frames (0.1); negative: the older '
                             'rule (best on tail frames within the budget)')
    parser.add_argument('--measurements', default=None,
                        help='re-analyse this measurements.json (configs, threshold, outputs) '
                             'instead of profiling; --data/--seg are then only recorded')
    parser.add_argument('--name', default=None, help='profile name (default from the data)')
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda')
    parser.add_argument('--cities', default=None,
                        help='only frames of these cities/clips, e.g. "elmstead_01" (comma list)')
    parser.add_argument('--features', action='store_true',
                        help='also record per-frame summary features of each forward pass '
                             '(confidence, entropy, class histogram; runespoor.tail_features) '
                             'for the fitted tail detector')
    parser.add_argument('--cache-dir', default=None,
                        help="store each frame's results here and reuse them on a rerun "
                             '(resumable long runs)')
    parser.add_argument('--reverse', action='store_true',
                        help='profile the frames last to first (a second process sharing '
                             '--cache-dir then meets the first one half-way)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0 = torch default)')
    parser.add_argument('--no-plots', action='store_true', help='skip the PNG plots')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


class ModelAnalyser:
    """Reconstruct a received frame and segment it: ``(lr_bgr, scale, size) -> train ids``."""

    def __init__(self, reconstructor, seg_model, device='cpu', features=False,
                 small_region_fraction=None):
        self.reconstructor = reconstructor
        self.seg_model = seg_model
        self.device = device
        self.features = features
        self.small_region_fraction = small_region_fraction

    def __call__(self, lr_bgr, scale, size=None):
        """
        Return the ``H x W`` uint8 train-id map of the frame reconstructed to ``size``.

        With ``features`` an :class:`runespoor.tail_features.AnalysisOutput` (map + summary
        features of the same logits) instead.
        """
        import torch
        with torch.no_grad():
            x = self.reconstructor.reconstruct_bgr(lr_bgr, scale, size)
            logits = self.seg_model(x)
            if self.features:
                from runespoor.regions import DEFAULT_MAX_AREA_FRACTION
                from runespoor.tail_features import seg_features_torch
                frac = self.small_region_fraction or DEFAULT_MAX_AREA_FRACTION
                return seg_features_torch(logits, small_region_fraction=frac)
            return logits.argmax(1)[0].to(torch.uint8).cpu().numpy()


def pick_frames(frames, count):
    """Return ``count`` frames spread evenly over ``frames`` (all when ``count`` <= 0)."""
    if count <= 0 or count >= len(frames):
        return list(frames)
    step = len(frames) / float(count)
    return [frames[int(i * step)] for i in range(count)]


def load_models(args, scales, device):
    """Load the reconstructor and the segmentation model; raise ``ProfilingError`` clearly."""
    from runespoor.cac.profiling import ProfilingError
    from runespoor.checkpoint import CheckpointError, load_model
    from runespoor.reconstruct import checkpoint_name, Reconstructor
    if not os.path.isfile(args.seg):
        raise ProfilingError(f'segmentation checkpoint {args.seg} does not exist '
                             '(train one with `runespoor train seg`)')
    sr_scales = [s for s in scales if s > 1] if args.method != 'bilinear' else []
    if sr_scales:
        if not args.sr_dir:
            raise ProfilingError(f'--method {args.method} needs --sr-dir with '
                                 f'{args.method}_x<scale>.pt files')
        missing = [os.path.join(args.sr_dir, checkpoint_name(args.method, s))
                   for s in sr_scales
                   if not os.path.isfile(os.path.join(args.sr_dir,
                                                      checkpoint_name(args.method, s)))]
        if missing:
            raise ProfilingError('missing SR checkpoint(s): ' + ', '.join(missing))
    try:
        if args.seg_arch:
            from runespoor.archs import build_seg, WeightsError
            try:
                seg = build_seg(args.seg_arch, weights=args.seg).to(device).eval()
            except (WeightsError, ValueError) as exc:
                raise ProfilingError(str(exc)) from exc
        else:
            seg, _ = load_model(args.seg, kind='seg', device=device)
        recon = Reconstructor(args.method, checkpoint_dir=args.sr_dir, device=device,
                              scales=sr_scales)
    except CheckpointError as exc:
        raise ProfilingError(str(exc)) from exc
    return recon, seg


def run(args):
    """Profile, write the outputs and print a summary; return the exit status."""
    from runespoor.cac import profiling as p
    from runespoor.data.cityscapes import list_frames, read_image, read_label
    from runespoor.device import DeviceError, resolve_device
    from runespoor.regions import DEFAULT_MAX_AREA_FRACTION

    def log(message):
        print(f'[runespoor profile] {message}', file=sys.stderr)

    settings = p.ProfileSettings(
        scales=tuple(args.scales), qualities=tuple(args.qualities),
        bandwidths_mbit=tuple(args.bandwidths), fps=args.fps,
        reference_size=(None if args.reference_size is None
                        else tuple(args.reference_size)), reference=args.reference,
        tail_fraction=args.tail_fraction, target_recall=args.target_recall,
        tail_bytes_tolerance=(None if getattr(args, 'tail_bytes_tolerance', 0.1) < 0
                              else getattr(args, 'tail_bytes_tolerance', 0.1)),
        small_region_fraction=(DEFAULT_MAX_AREA_FRACTION if args.small_region_fraction is None
                               else args.small_region_fraction),
        name=args.name or f'{os.path.basename(os.path.normpath(args.data))}-{args.split}-'
                          f'{args.method}',
        notes={'data': args.data, 'split': args.split, 'seg': args.seg, 'method': args.method,
               'sr_dir': args.sr_dir})
    if getattr(args, 'measurements', None):
        return reanalyse(args, settings, log)
    try:
        settings.check()
        try:
            frames = list_frames(args.data, args.split,
                                 require_labels=args.reference == 'label')
        except (OSError, ValueError) as exc:
            raise p.ProfilingError(f'data {args.data} split {args.split!r}: {exc}') from exc
        if getattr(args, 'cities', None):
            wanted = {c.strip() for c in args.cities.split(',') if c.strip()}
            frames = [f for f in frames if f.city in wanted]
        if not frames:
            raise p.ProfilingError(f'no frames under {args.data}/leftImg8bit/{args.split}'
                                   + (f' for cities {args.cities}'
                                      if getattr(args, 'cities', None) else ''))
        frames = pick_frames(frames, args.frames)
        if getattr(args, 'threads', 0):
            import torch
            torch.set_num_threads(int(args.threads))
        device = resolve_device(args.device)
        recon, seg = load_models(args, settings.scales, device)
    except (p.ProfilingError, DeviceError) as exc:
        log(f'error: {exc}')
        return 2
    with_features = bool(getattr(args, 'features', False))
    analyse = ModelAnalyser(recon, seg, device, features=with_features,
                            small_region_fraction=settings.small_region_fraction)
    feature_names = ()
    if with_features:
        from runespoor.tail_features import seg_feature_names
        feature_names = seg_feature_names(settings.num_classes)

    def frame_iter():
        for f in (frames[::-1] if getattr(args, 'reverse', False) else frames):
            image = read_image(f.image_path)
            label = read_label(f.label_path, image.shape) if f.label_path else None
            name = os.path.basename(f.image_path).replace('_leftImg8bit.png', '')
            yield f'{f.city}/{name}', image, label

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=len(frames), desc='profiling', unit='frame', file=sys.stderr)
    log(f'{len(frames)} frames x {len(settings.configs)} configs, method {args.method}, '
        f'device {device}')
    try:
        meas, summary, paths = p.profile(
            frame_iter(), analyse, settings, args.out,
            progress=(lambda i, n: bar.update(1)) if bar else None, plots=not args.no_plots,
            cache_dir=getattr(args, 'cache_dir', None), feature_names=feature_names)
    except p.ProfilingError as exc:
        log(f'error: {exc}')
        return 2
    finally:
        if bar is not None:
            bar.close()
    print(format_summary(summary))
    for kind, path in paths.items():
        log(f'wrote {kind}: {path}')
    return 0


def reanalyse(args, settings, log):
    """Choose configs and fit the threshold again from a ``measurements.json``; write ``--out``."""
    import json
    from runespoor.cac import profiling as p
    try:
        with open(args.measurements, encoding='utf-8') as f:
            meas = p.Measurements.from_json(json.load(f))
        settings.check()
        if [tuple(c) for c in meas.configs] != settings.configs:
            settings.scales = tuple(sorted({s for s, _ in meas.configs}))
            settings.qualities = tuple(sorted({q for _, q in meas.configs}))
        settings.reference = meas.settings.get('reference', settings.reference)
        settings.notes = dict(meas.settings.get('notes') or settings.notes,
                              measurements=args.measurements)
        summary = p.analyse_measurements(meas, settings)
        paths = p.write_outputs(meas, summary, settings, args.out, not args.no_plots)
    except (OSError, ValueError, KeyError, p.ProfilingError) as exc:
        log(f'error: {args.measurements}: {exc}')
        return 2
    print(format_summary(summary))
    for kind, path in paths.items():
        log(f'wrote {kind}: {path}')
    return 0


def format_summary(summary):
    """Return a short Markdown summary of a profiling summary dict."""
    lines = [f'Profiled {summary["frames"]} frames of {summary["source_size"][0]}x'
             f'{summary["source_size"][1]}; {len(summary["tail_frames"])} tail frames.', '',
             '| target Mbit/s (nominal) | kbit/s here | standard | tail | need kbit/s | '
             'tail shape | bytes tail/std | tail mIoU gain vs standard | vs next shape | '
             'one level finer, cheapest: bytes / tail mIoU gain |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for s in summary['selections']:
        std, tail = s['standard'], s['tail']
        mark = {True: '', False: ' (over budget)'}
        shape = s.get('shape') or {}
        lines.append(f'| {s["nominal_mbit"]:g} | {s["target_kbps"]:.0f} | '
                     f'x{std["scale"]} q{std["jpeg_quality"]}{mark[std["fits"]]} | '
                     f'x{tail["scale"]} q{tail["jpeg_quality"]}{mark[tail["fits"]]} | '
                     f'{s["need_kbps"]:.0f} | {shape.get("winner", "n/a")} | '
                     f'{_num(shape.get("bytes_ratio"), 2)} | '
                     f'{_pts(shape.get("margin_over_standard"))} | '
                     f'{_pts(shape.get("margin_over_next_shape"))} | '
                     f'{_finer(shape.get("candidates", {}).get("finer_level_cheapest"), std)} |')
    lines += ['', '| scale | threshold | direction | recall | precision | r | '
              'recall/precision at 1 % |', '|---|---|---|---|---|---|---|']
    th = summary['threshold']
    entries = [(f'x{k}', v) for k, v in th['scales'].items()] + [('pooled', th['pooled'])]
    for name, fit in entries:
        ref = fit['reference']
        r = fit['regression']['r']
        lines.append(f'| {name} | {100 * fit["threshold"]:.3f} % | {fit["direction"]} | '
                     f'{_pct(fit["recall"])} | {_pct(fit["precision"])} | '
                     f'{"n/a" if r is None else f"{r:.2f}"} | '
                     f'{_pct(ref["recall"])} / {_pct(ref["precision"])} |')
    return '\n'.join(lines)


def _finer(entry, std):
    if not entry:
        return 'n/a'
    gain = (None if entry['acc_tail'] is None or std.get('acc_tail') is None
            else entry['acc_tail'] - std['acc_tail'])
    return (f'x{entry["scale"]} q{entry["jpeg_quality"]}: {entry["bytes_ratio"]:.2f}x / '
            f'{_pts(gain)}')


def _num(value, digits):
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _pts(value):
    return 'n/a' if value is None else f'{100 * value:+.1f} pts'


def _pct(value):
    return 'n/a' if value is None else f'{100 * value:.0f} %'
