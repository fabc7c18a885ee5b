# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
One run of ``runespoor experiment cac`` (paper §5.3, Fig. 15) without its processes.

The experiment streams one clip through the ROS graph once per mode; the graph (cloud, edge,
monitor and source as child processes, the shaped link) is driven by
:mod:`runespoor_bringup.experiment_cac`.  Everything else is here, without ROS:

- :class:`CacRun` plans the run from the command's arguments: the clip (:func:`clip_paths`),
  the reconstruction method (:func:`resolve_method`), the schedule scaled to what the clip's
  frames cost, the profile (:func:`make_profile`: ``runespoor profile`` in a child process, or
  :func:`read_profile`), the HR reference predictions (:func:`hr_predictions`) and the nodes'
  parameters per mode (``cfg``); then it scores each mode's records
  (:func:`runespoor.cac.experiment.score_mode`) and writes ``cac_experiment.json`` and
  ``cac_fig15.png``.
- :func:`load_segmenter`: the segmentation model of the HR reference.

The schedule, the modes, the scoring and the plot are :mod:`runespoor.cac.experiment`.
"""

import glob
import json
import os
import subprocess
import sys
import time

from runespoor.cac import experiment
from runespoor.cac.experiment import MODES


#: Queue of the shaped link at full speed: tbf ``latency`` / the edge's ``emulated_queue_ms``.
LINK_QUEUE_MS = 400.0
#: The edge's ``cloud_timeout_s`` at full speed (config/edge.yaml).
EDGE_CLOUD_TIMEOUT_S = 3.0
#: Slowest replay at which ``--shaper auto`` uses the kernel-shaped link.  The tbf rates are
#: scaled with the replay, but DDS's own traffic over the veth (discovery, heartbeats,
#: acknowledgements, ~14 kbit/s measured) keeps its wall-clock rate, so at a slow replay it takes
#: a large share of the scaled link and frames are lost in the queue: at speed 0.05, 2.08 MB
#: crossed the tbf for 1.38 MB of frames and 30 % of the frames were lost (0.4: none of ASR's).
#: Slower replays get the in-process bucket, which charges the frames' bytes only.
NETNS_MIN_SPEED = 0.25


def log(message):
    """Print ``message`` to stderr with the command's prefix."""
    print(f'[runespoor experiment] {message}', file=sys.stderr, flush=True)


def _parse_config(text):
    s, _, q = text.lower().partition('x')
    return int(s), int(q)


def clip_paths(args):
    """Return (image paths, label paths or None) of the clip, ``--clip-frames`` long."""
    clip = args.clip
    if clip is None:
        clips = sorted(glob.glob(os.path.join(args.data, 'leftImg8bit', 'demoVideo', '*')))
        if not clips:
            raise RuntimeError(f'no clip under {args.data}/leftImg8bit/demoVideo (make one: '
                               f'runespoor data synth --out {args.data} --clips 1)')
        clip = clips[0]
    images = sorted(f for f in glob.glob(os.path.join(clip, '*.png'))
                    if f.endswith('_leftImg8bit.png'))
    if len(images) < args.clip_frames:
        raise RuntimeError(f'clip {clip} has {len(images)} frames, --clip-frames '
                           f'{args.clip_frames} asked')
    images = images[:args.clip_frames]
    labels = [f.replace(os.sep + 'leftImg8bit' + os.sep, os.sep + 'gtFine' + os.sep)
               .replace('_leftImg8bit.png', '_gtFine_labelTrainIds.png') for f in images]
    if not all(os.path.isfile(f) for f in labels):
        labels = None
    return clip, images, labels


def resolve_method(args):
    """Return (method, note): asr falls back to sr when its checkpoints are missing."""
    if args.method in ('bilinear',):
        return args.method, None
    scales = [int(v) for v in args.profile_scales.split(',') if int(v) > 1]
    missing = [s for s in scales
               if not os.path.isfile(os.path.join(args.sr_dir, f'{args.method}_x{s}.pt'))]
    if missing and args.method == 'asr':
        note = (f'asr checkpoints missing in {args.sr_dir} '
                f'({", ".join(f"asr_x{s}.pt" for s in missing)}): using sr (standard L1 SR) '
                'instead')
        log(note)
        return 'sr', note
    if missing:
        raise RuntimeError(f'{args.method} checkpoints missing in {args.sr_dir}: '
                           + ', '.join(f'{args.method}_x{s}.pt' for s in missing))
    return args.method, None


def load_segmenter(seg):
    """Return the analytics model as a ``bgr -> train ids`` callable (cloud_pipeline)."""
    from runespoor.tasks.segmentation.analytics import Segmenter
    if seg == 'palette':
        return Segmenter('palette'), 'palette', ''
    from runespoor.checkpoint import inspect_checkpoint
    arch = inspect_checkpoint(seg, kind='seg', what='segmentation checkpoint')['arch']
    return Segmenter(arch, seg, 'cpu'), arch, seg


def hr_predictions(images, labels, segment, cache):
    """Return (HR predictions, labels) of the clip; cached in ``cache`` (.npz)."""
    import cv2
    import numpy as np
    key = json.dumps([images[0], len(images)])
    if os.path.isfile(cache):
        data = np.load(cache)
        if str(data['key']) == key:
            return data['hr'], (data['labels'] if data['labels'].size else None)
    t0 = time.monotonic()
    hr = np.stack([segment(cv2.imread(f, cv2.IMREAD_COLOR)) for f in images])
    lab = np.stack([cv2.imread(f, cv2.IMREAD_GRAYSCALE) for f in labels]) if labels else None
    np.savez_compressed(cache, key=key, hr=hr,
                        labels=lab if lab is not None else np.zeros(0, np.uint8))
    log(f'HR predictions of {len(images)} frames in {time.monotonic() - t0:.1f} s')
    return hr, lab


def config_rate_kbps(images, scale, quality, fps, every=10):
    """Return the mean rate [kbit/s] of ``scale``/``quality`` on every ``every``-th frame."""
    import cv2
    from runespoor import codec
    sizes = [len(codec.encode_frame(cv2.imread(f, cv2.IMREAD_COLOR), scale, quality).data)
             for f in images[::every]]
    return sum(sizes) / float(len(sizes)) * 8 * fps / 1000.0


def make_profile(args, method, targets_kbps, out_dir):
    """Run ``runespoor profile`` at ``targets_kbps`` (native rates); return its folder."""
    mbit = ','.join(f'{k / 1000.0:.6g}' for k in targets_kbps)
    cmd = [sys.executable, '-m', 'runespoor.cli', 'profile', '--data', args.data,
           '--split', args.profile_split, '--seg', args.seg, '--sr-dir', args.sr_dir,
           '--method', method, '--out', out_dir, '--frames', str(args.profile_frames),
           '--qualities', args.profile_qualities, '--scales', args.profile_scales,
           '--reference-size', 'native',
           '--bandwidths', mbit, '--fps', f'{args.fps:g}', '--accuracy-vs', 'hr',
           '--no-progress']
    log('profiling: ' + ' '.join(cmd[2:]))
    t0 = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(os.path.join(out_dir, 'profile.log'), 'w') as f:
        f.write(proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(f'profiling failed ({proc.returncode}):\n{proc.stdout[-2000:]}')
    log(f'profiled in {time.monotonic() - t0:.0f} s')
    return out_dir


def read_profile(path):
    """Return (profile.yaml path, profile_summary.json path or '', parsed profile dict)."""
    import yaml
    if os.path.isdir(path):
        yml = os.path.join(path, 'profile.yaml')
        summary = os.path.join(path, 'profile_summary.json')
    else:
        yml, summary = path, os.path.join(os.path.dirname(path), 'profile_summary.json')
    with open(yml, 'r', encoding='utf-8') as f:
        data = yaml.safe_load(f)
    return yml, (summary if os.path.isfile(summary) else ''), data['profile']


class CacRun:
    """
    The ROS-free part of one experiment run: the plan, the scores, the report.

    ``args`` are the arguments of ``runespoor experiment cac``
    (:func:`runespoor.cac.experiment_cli.add_cac_arguments`); ``command`` is recorded in the
    JSON.  After construction: ``modes`` (to run, in order), ``work`` (the logs' folder),
    ``cfg`` (what the graph of one mode needs: schedule, shaper, the cloud's, the edge's and
    the source's parameters) and ``frames``.  Raises ``RuntimeError`` with the reason when the
    run cannot be planned (no clip, missing checkpoints, an unknown mode, no netns).
    """

    def __init__(self, args, command=None):
        from runespoor.cac.shaper import netns_unavailable_reason
        t_start = time.monotonic()
        out = os.path.abspath(args.out)
        work = os.path.join(out, 'work')
        os.makedirs(work, exist_ok=True)
        modes = [m.strip() for m in args.modes.split(',') if m.strip()]
        for m in modes:
            if m not in MODES:
                raise RuntimeError(f'--modes: unknown mode {m!r}; use {", ".join(MODES)}')
        nominal = experiment.parse_schedule(args.schedule)
        clip, images, labels = clip_paths(args)
        method, method_note = resolve_method(args)
        # shaper
        reason = netns_unavailable_reason()
        shaper = args.shaper
        slow = args.speed < NETNS_MIN_SPEED
        if shaper == 'auto':
            shaper = 'netns' if reason is None and not slow else 'inprocess'
            if reason is None and slow:
                reason = (f'speed {args.speed:g} < {NETNS_MIN_SPEED:g}: the own traffic of DDS '
                          'is not slowed with the replay and would crowd the scaled link')
        if shaper == 'netns' and reason is not None:
            raise RuntimeError(f'--shaper netns: {reason}')
        if shaper == 'netns' and slow:
            log(f'warning: --shaper netns at speed {args.speed:g}: DDS discovery and '
                'heartbeats keep their wall-clock rate on a link scaled down with the replay; '
                'expect frames lost in the queue (--shaper inprocess charges frame bytes only)')
        shaper_kind = (
            'netns + veth + tc tbf (kernel shaping; no netem delay)' if shaper == 'netns'
            else 'in-process token bucket in the edge (EMULATION, not kernel shaping)'
            + (f'; kernel shaping not used: {reason}' if reason else ''))
        log(f'shaper: {shaper_kind}')
        # scaling of the schedule
        top_cfg = _parse_config(args.top_config)
        top_cfg_kbps = config_rate_kbps(images, top_cfg[0], top_cfg[1], args.fps)
        top_nominal = max(r for _, r in nominal)
        if args.top_mbit:
            factor = args.top_mbit / top_nominal
        else:
            factor = experiment.top_rate_factor(top_cfg_kbps, args.headroom, top_nominal)
        link_mbit = experiment.scale_schedule(nominal, factor)
        steps_kbps = [(t, r * 1000.0) for t, r in link_mbit]
        targets = sorted({int(k * args.headroom) for _, k in steps_kbps})
        log('schedule (clip s : link kbit/s): '
            + ', '.join(f'{t:g}:{k:.0f}' for t, k in steps_kbps)
            + f' (factor {factor:.4f} of the nominal Mbit/s; x{top_cfg[0]} q{top_cfg[1]} needs '
            f'{top_cfg_kbps:.0f} kbit/s on the clip); edge plans for {args.headroom:g} of it')
        # profile
        profile_dir = args.profile
        if profile_dir is None:
            if args.seg == 'palette':
                raise RuntimeError('--seg palette needs --profile (no model to profile with)')
            profile_dir = make_profile(args, method, targets, os.path.join(out, 'profile'))
        yml, summary_json, profile = read_profile(profile_dir)
        det = profile.get('tail_detection', {})
        threshold = args.tail_threshold if args.tail_threshold is not None else \
            float(det.get('threshold', 0.01))
        direction = args.tail_direction or det.get('direction', 'below')
        log(f'tail rule: small-region ratio {direction} {threshold:g}'
            + (f' (profile: recall {det.get("recall")}, precision {det.get("precision")})'
               if det else ''))
        detector = getattr(args, 'tail_detector', 'ratio')
        tail_model = ''
        if detector == 'fitted' and 'cac' in modes:
            tail_model = os.path.abspath(args.tail_model)
            if not os.path.isfile(tail_model):
                raise RuntimeError(f'--tail-detector fitted: no tail model {args.tail_model} '
                                   '(fit one with runespoor tail, or use --tail-detector ratio)')
            log(f'tail detector in CAC mode: fitted, {args.tail_model} (the ratio rule above '
                'is the fallback of test segmenters only)')
        repeats = int(getattr(args, 'repeats', 1))
        if repeats < 1:
            raise RuntimeError(f'--repeats must be at least 1, not {repeats}')
        rows = [{'bandwidth_kbps': e['bandwidth_kbps'], 'standard': e['standard'],
                 'tail': e['tail']} for e in profile['entries']]
        rule_notes = []
        if args.tail_configs == 'fill':
            if summary_json:
                with open(summary_json) as f:
                    stats = json.load(f)['config_stats']
                rows, rule_notes = experiment.paper_rule_tail_rows(rows, stats, args.fps)
                for note in rule_notes:
                    log(note)
            else:
                rule_notes = ['no profile_summary.json beside the profile: tail configs as given']
        if rule_notes or args.speed != 1.0:
            # the edge's frame-rate gate runs on wall time: clip rates x speed
            yml = os.path.join(out, 'profile_experiment.yaml')
            with open(yml, 'w') as f:
                f.write(experiment.profile_yaml(profile, experiment.speed_rows(rows, args.speed)))
        scales = sorted({int(e[k]['scale']) for e in rows for k in ('standard', 'tail')
                         if int(e[k]['scale']) > 1})
        # HR reference
        segment, arch, weights = load_segmenter(args.seg)
        hr, lab = hr_predictions(images, labels, segment, os.path.join(work, 'hr_preds.npz'))
        cfg = {
            'steps_kbps': steps_kbps, 'speed': args.speed, 'headroom': args.headroom,
            'frames': len(images), 'shaper': shaper, 'tail_threshold': threshold,
            'tail_direction': direction, 'tail_detector': detector,
            'tail_model_file': tail_model,
            'timeout': args.timeout, 'keep_records': args.keep_records,
            'cloud': {'method': method, 'sr_dir': os.path.abspath(args.sr_dir),
                      'sr_scales': scales or [2], 'seg_arch': arch,
                      'seg_weights': os.path.abspath(weights) if weights else '',
                      'device': 'cpu', 'hold_s': args.hold_s / args.speed, 'queue_size': 2,
                      'publish_color': False, 'publish_reconstructed_every_n': 0},
            # the link's queue (tbf latency, or the in-process bucket's) and the edge's
            # cloud-silence fallback are wall-clock quantities too: at speed s a frame takes
            # 1/s as long to cross the scaled link and the cloud answers 1/s as late
            'link_queue_ms': LINK_QUEUE_MS / args.speed,
            'edge': {'use_profile': True, 'profile_file': os.path.abspath(yml),
                     'cloud_timeout_s': EDGE_CLOUD_TIMEOUT_S / args.speed,
                     'emulated_queue_ms': LINK_QUEUE_MS / args.speed,
                     'input_reliability': 'reliable',  # every camera frame reaches the edge
                     'bandwidth_source': 'fixed', 'awstream_stats_file':
                         os.path.abspath(summary_json) if summary_json else '',
                     'awstream_period_s': args.awstream_period_s / args.speed,
                     'awstream_seg_weights': os.path.abspath(weights) if weights else 'palette',
                     'awstream_method': method, 'awstream_sr_dir': os.path.abspath(args.sr_dir),
                     'awstream_fps': args.fps},
            'source': {'mode': 'folder', 'path': os.path.abspath(clip), 'rate': args.fps,
                       'rate_multiplier': args.speed, 'loop': False, 'max_frames': len(images),
                       'wait_for_subscribers_s': 60.0, 'min_subscribers': 2,
                       'reliability': 'reliable'},
        }
        result = {
            'experiment': 'cac', 'paper': '§5.3, Fig. 15',
            'command': command,
            'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            'machine': _machine(),
            'clip': {'path': clip, 'frames': len(images), 'size': [int(hr.shape[2]),
                                                                   int(hr.shape[1])],
                     'labels': labels is not None},
            'fps': args.fps, 'speed': args.speed,
            'method': method, 'method_note': method_note, 'segmentation': arch,
            'shaper': {'kind': shaper_kind, 'mode': shaper},
            'schedule': {'nominal_mbit': nominal, 'link_mbit': link_mbit, 'factor': factor,
                         'scaling': f'the top nominal step ({top_nominal:g} Mbit/s) carries '
                                    f'x{top_cfg[0]} q{top_cfg[1]} ({top_cfg_kbps:.0f} kbit/s on '
                                    f'this clip at {args.fps:g} fps) with the edge using '
                                    f'{args.headroom:g} of the link; other steps keep the '
                                    'ratios of the paper' if not args.top_mbit else
                                    f'--top-mbit {args.top_mbit:g}',
                         'edge_plans_for': args.headroom},
            'profile': {'file': yml, 'source': profile_dir, 'rows': rows,
                        'tail_configs': args.tail_configs, 'paper_rule_notes': rule_notes,
                        'tail_detection': det, 'tail_threshold_used': threshold,
                        'tail_direction_used': direction, 'tail_detector': detector,
                        'tail_model_file': tail_model},
            'repeats_planned': repeats,
            'accuracy': 'relative = mIoU of the map of the cloud vs the same segmentation model '
                        'on the HR frame (label void ignored), the §5.3 baseline of the paper; '
                        'absolute '
                        '= vs the synthetic label',
            'hold_s': args.hold_s, 'awstream_period_s': args.awstream_period_s,
            'modes': {},
        }
        self.t_start = t_start
        self.args, self.out, self.work, self.modes = args, out, work, modes
        self.cfg, self.result, self.frames = cfg, result, len(images)
        self._hr, self._labels, self._link_mbit = hr, lab, link_mbit

    def add_mode(self, mode, rec, meta, wall_s, repeat=0):
        """
        Score one run of a mode: its monitor records ``rec`` (and ``meta``); log the result.

        ``result['modes'][mode]`` holds the first repeat in full (the figure's); every repeat
        goes to ``result['repeats'][mode]`` (without the per-frame table).
        """
        args = self.args
        res = experiment.score_mode(rec, self._hr, self._labels, self._link_mbit, args.fps,
                                    args.speed)
        res['monitor'] = meta
        res['wall_s'] = wall_s
        res['repeat'] = repeat
        self.result['modes'].setdefault(mode, res)
        self.result.setdefault('repeats', {}).setdefault(mode, []).append(
            {k: v for k, v in res.items() if k != 'per_frame'})
        r = res['reaction']
        log(f'mode {mode} (repeat {repeat + 1}): {res["frames_sent"]} sent, '
            f'{res["frames_analysed"]} analysed, '
            f'relative mIoU {_fmt(res["relative_miou_mean"])} (p10 '
            f'{_fmt(res["relative_miou_p10"])}), {res["mean_kbps_sent"]:.0f} kbit/s, '
            f'{res["policies"]} policies, reaction median {_fmt(r["to_tail_ms"]["median"])} '
            f'ms in {wall_s:.0f} s')
        return res

    def write_partial(self):
        """
        Write what is scored so far to ``cac_experiment.json`` (``complete: false``).

        Called after every run of a mode, so a long experiment cut short (a session's end, a
        crash, Ctrl-C) still leaves its finished runs, with their summary, on disk.
        """
        self._write(complete=False)

    def _write(self, complete):
        result = self.result
        result['complete'] = complete
        result['hard_seconds'] = experiment.hard_seconds(result['modes'])
        result['summary'] = _summary(result)
        result['wall_s'] = time.monotonic() - self.t_start
        path = os.path.join(self.out, 'cac_experiment.json')
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(result, f, indent=1, default=_jsonable)
        os.replace(tmp, path)
        return path

    def finish(self):
        """Write ``cac_experiment.json`` and ``cac_fig15.png``, print the summary; return 0."""
        path = self._write(complete=True)
        result = self.result
        experiment.plot_fig15(result, os.path.join(self.out, 'cac_fig15.png'))
        log(f'wrote {path} and cac_fig15.png in {result["wall_s"]:.0f} s')
        print(json.dumps(result['summary'], indent=1, default=_jsonable))
        return 0


def _run_summary(m, hard, frames):
    """Return the headline figures of one run of a mode (``hard``: the hard clip seconds)."""
    hard_acc = [s['relative_miou'] for s in m['per_second']
                if s['t'] in hard and s['relative_miou'] is not None]
    mbit = m['bytes_sent'] * 8 / 1e6 if m['bytes_sent'] else 0.0
    rel = m['relative_miou_mean']
    return {
        'relative_miou_mean': rel,
        'relative_miou_p10': m['relative_miou_p10'],
        'relative_miou_hard_seconds': sum(hard_acc) / len(hard_acc) if hard_acc else None,
        'absolute_miou_mean': m['absolute_miou_mean'],
        'relative_miou_held_mean': m['relative_miou_held_mean'],
        'relative_miou_per_mbit': rel / mbit if rel is not None and mbit else None,
        'mean_kbps_sent': m['mean_kbps_sent'], 'bytes_sent': m['bytes_sent'],
        'frames_sent': m['frames_sent'], 'frames_analysed': m['frames_analysed'],
        'analysed_fraction': m['frames_analysed'] / frames if frames else None,
        'frames_sent_tail_config': m['frames_sent_tail_config'],
        'reaction_to_tail_ms_median': m['reaction']['to_tail_ms']['median'],
        'reaction_to_tail_ms_p90': m['reaction']['to_tail_ms']['p90'],
        'reaction_to_tail_frames_median': m['reaction']['to_tail_frames']['median'],
    }


#: Figures whose spread over the repeats the summary gives.
SPREAD_KEYS = ('relative_miou_mean', 'relative_miou_hard_seconds', 'relative_miou_held_mean',
               'absolute_miou_mean', 'relative_miou_per_mbit', 'mean_kbps_sent',
               'analysed_fraction', 'frames_sent_tail_config')


def spread(values):
    """Return ``{n, mean, std, min, max, values}`` of the non-None ``values`` (std: n - 1)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {'n': 0, 'mean': None, 'std': None, 'min': None, 'max': None, 'values': []}
    mean = sum(vals) / len(vals)
    std = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 \
        else 0.0
    return {'n': len(vals), 'mean': mean, 'std': std, 'min': min(vals), 'max': max(vals),
            'values': vals}


def _summary(result):
    """Per mode: the first run's figures, and with repeats their spread and bytes vs ASR."""
    hard = set(result['hard_seconds'])
    frames = result.get('clip', {}).get('frames')
    out = {}
    for key, m in result['modes'].items():
        out[key] = _run_summary(m, hard, frames)
        runs = [_run_summary(r, hard, frames) for r in result.get('repeats', {}).get(key, [])]
        if len(runs) > 1:
            out[key]['repeats'] = {k: spread([r[k] for r in runs]) for k in SPREAD_KEYS}
    base = out.get('asr')
    for key, s in out.items():
        kbps = s.get('repeats', {}).get('mean_kbps_sent', {}).get('mean', s['mean_kbps_sent'])
        ref = base.get('repeats', {}).get('mean_kbps_sent', {}).get(
            'mean', base['mean_kbps_sent']) if base else None
        s['bytes_vs_asr'] = kbps / ref if ref else None
    return out


def _fmt(v):
    return 'n/a' if v is None else f'{v:.3f}'


def _jsonable(v):
    import numpy as np
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f'not JSON serialisable: {type(v)}')


def _machine():
    import platform
    return {'node': platform.node(), 'cpus': os.cpu_count(), 'platform': platform.platform(),
            'python': platform.python_version()}
