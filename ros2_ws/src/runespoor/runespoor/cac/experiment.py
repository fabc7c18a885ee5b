# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The CAC experiment of paper §5.3 (Fig. 15), the parts without ROS.

``runespoor experiment cac`` (:mod:`runespoor.cac.experiment_cli`; the graph:
``runespoor_bringup.experiment_cac``) streams one long clip through source -> edge -> cloud
(separate processes over DDS, the uplink shaped by a bandwidth schedule) once per mode, and a
monitor process records what crossed the link.  :mod:`.experiment_plan` plans a run and writes
its report; this module holds the rest of what needs no ROS:

- the schedule: :func:`parse_schedule` (``"0:10,5:5,12:2,19:10"``, clip seconds : nominal
  Mbit/s) and :func:`scale_schedule` (the paper's rates are relative steps; we scale them to
  what our frames cost, SPEC §3);
- the modes (:data:`MODES`): ``asr`` (ASR only: the profile's standard config for the
  bandwidth, no tail detection), ``cac`` (ASR + CAC: tail flags -> RatePolicy -> tail-specific
  config from the next frame, back after the hold), ``awstream`` (the AWStream-style baseline:
  bandwidth-driven choice with periodic online re-profiling);
- scoring (:func:`score_mode`): per analysed frame the mIoU of the cloud's map against the same
  segmentation model's prediction on the HR frame (``relative``, the paper's §5.3 baseline,
  with the label's void pixels ignored) and against the label (``absolute``); per clip second
  the mean of both, frames and kbit/s sent and received;
- reaction times (:func:`reaction_times`): from the cloud's RatePolicy stamp (it finished the
  tail frame) to the ``send_stamp`` of the first EncodedFrame the edge sent with
  ``policy_sequence >=`` that policy (and, for a tail policy, the tail-specific knobs);
- the Fig. 15-shaped plot (:func:`plot_fig15`).

Times: seconds; rates kbit/s unless the name says Mbit.
"""

import math

import numpy as np

#: Experiment modes, in plot order: key -> label.
MODES = {'asr': 'ASR only', 'cac': 'ASR + CAC', 'awstream': 'AWStream-style'}
#: The paper's §5.3 schedule: (clip second, nominal Mbit/s).
PAPER_SCHEDULE = ((0.0, 10.0), (5.0, 5.0), (12.0, 2.0), (19.0, 10.0))
FPS = 17.0


class ExperimentError(RuntimeError):
    """An experiment that cannot run or whose records are unusable; the text says why."""


def parse_schedule(text):
    """Parse ``"0:10,5:5,12:2,19:10"`` into ``[(t_s, mbit), ...]`` sorted by time."""
    steps = []
    for item in str(text).replace(' ', '').split(','):
        if not item:
            continue
        try:
            t, rate = item.split(':')
            t, rate = float(t), float(rate)
        except ValueError as exc:
            raise ValueError(f'schedule step {item!r}: expected SECONDS:MBIT') from exc
        if not (math.isfinite(t) and t >= 0 and math.isfinite(rate) and rate > 0):
            raise ValueError(f'schedule step {item!r}: time >= 0 and rate > 0 required')
        steps.append((t, rate))
    if not steps:
        raise ValueError('empty schedule')
    steps.sort()
    if steps[0][0] != 0.0:
        raise ValueError('the schedule must start at t=0')
    return steps


def scale_schedule(steps, factor):
    """Return the schedule with every rate multiplied by ``factor`` (Mbit/s stay Mbit/s)."""
    if not factor > 0:
        raise ValueError(f'scale factor {factor!r} must be > 0')
    return [(t, r * factor) for t, r in steps]


def rate_at(steps, t):
    """Return the rate of ``steps`` in force at time ``t``."""
    rate = steps[0][1]
    for ts, r in steps:
        if ts <= t:
            rate = r
    return rate


def top_rate_factor(top_config_kbps, headroom, nominal_top_mbit):
    """
    Return the factor that maps the paper's top rate onto our frames.

    The paper's 10 Mbit/s carries its richest configuration at 17 fps (§5.3); ours carries
    the richest profiled configuration (``top_config_kbps``, measured on the clip) with the
    edge's ``headroom`` (fraction of the link it plans to fill).
    """
    if not (top_config_kbps > 0 and 0 < headroom <= 1 and nominal_top_mbit > 0):
        raise ValueError('top rate, headroom and nominal top must be > 0')
    return top_config_kbps / headroom / 1000.0 / nominal_top_mbit


def paper_rule_tail_rows(rows, config_stats, fps=FPS):
    """
    Fill in tail-specific configs by the paper's rule where profiling found none.

    Paper §3.2: a tail-specific config has "a higher resolution, lower encoding quality, and
    the same data size".  For a row whose tail config equals its standard one, the tail config
    becomes the next finer profiled scale at the lowest profiled quality; when that costs more
    bytes per frame than the standard config (measured in ``config_stats``, all frames), its
    frame rate is lowered so the rate stays the row's (the trade ``profile_default.yaml``
    makes).  Returns ``(rows, notes)``; rows at the finest profiled scale are left alone.
    """
    size = {(int(c['scale']), int(c['quality'])): float(c['bytes_all']) for c in config_stats
            if c.get('bytes_all') is not None}
    scales = sorted({s for s, _ in size})
    qualities = sorted({q for _, q in size})
    out, notes = [], []
    for row in rows:
        row = {k: (dict(v) if isinstance(v, dict) else v) for k, v in row.items()}
        std, tail = row['standard'], row['tail']
        same = (int(std['scale']), int(std['jpeg_quality'])) == \
            (int(tail['scale']), int(tail['jpeg_quality']))
        finer = [s for s in scales if s < int(std['scale'])]
        if same and finer and (int(std['scale']), int(std['jpeg_quality'])) in size:
            cfg = (finer[-1], qualities[0])
            ratio = size[(int(std['scale']), int(std['jpeg_quality']))] / size[cfg]
            rate = 0.0 if ratio >= 1.0 else round(fps * ratio, 2)
            row['tail'] = {'scale': cfg[0], 'jpeg_quality': cfg[1], 'frame_rate': rate}
            notes.append(f'row {row["bandwidth_kbps"]:g} kbit/s: tail x{cfg[0]} q{cfg[1]}'
                         + (f' at {rate:g} fps' if rate else '') + ' (paper rule; profiling '
                         f'kept x{std["scale"]} q{std["jpeg_quality"]})')
        out.append(row)
    return out, notes


def speed_rows(rows, speed):
    """Return ``rows`` with every non-zero ``frame_rate`` multiplied by ``speed`` (replay)."""
    out = []
    for row in rows:
        row = {k: (dict(v) if isinstance(v, dict) else v) for k, v in row.items()}
        for key in ('standard', 'tail'):
            if float(row[key].get('frame_rate', 0) or 0) > 0:
                row[key]['frame_rate'] = round(float(row[key]['frame_rate']) * speed, 3)
        out.append(row)
    return out


def profile_yaml(profile, rows):
    """Return the edge's profile YAML text: ``profile`` (parsed) with ``rows`` as entries."""
    import yaml
    doc = dict(profile)
    doc['entries'] = rows
    return ('# Profile the edge loaded in runespoor experiment cac: the profiled rows, tail '
            "configs filled in by the paper's rule\n# where profiling kept the standard one "
            '(--tail-configs fill, runespoor.cac.experiment.paper_rule_tail_rows), frame rates '
            'x --speed.\n'
            + yaml.safe_dump({'profile': doc}, sort_keys=False, default_flow_style=None))


def reaction_times(policies, frames):
    """
    Return one record per RatePolicy: how long until the edge sent a frame under it.

    ``policies``: dicts ``{policy_sequence, mode, stamp_s, trigger_sequence}`` (``stamp_s`` =
    RatePolicy header stamp, the cloud's time when it finished the frame).  ``frames``: dicts
    ``{sequence, policy_sequence, tail_specific, send_s, capture_s}`` of the EncodedFrames the
    edge sent.  The reaction is ``send_s`` of the first frame whose ``policy_sequence`` is at
    least the policy's (and, for a tail policy, with the tail-specific knobs) minus
    ``stamp_s``; ``None`` when no such frame was sent.  ``from_capture_ms`` adds the detection
    path: from the capture of the triggering frame to that first switched frame.
    """
    frames = sorted(frames, key=lambda f: f['send_s'])
    capture_of = {f['sequence']: f['capture_s'] for f in frames}
    out = []
    for p in sorted(policies, key=lambda p: p['policy_sequence']):
        want_tail = int(p['mode']) == 1
        first = None
        for f in frames:
            if f['send_s'] < p['stamp_s'] - 0.5:  # clearly before the policy existed
                continue
            if f['policy_sequence'] >= p['policy_sequence'] and \
                    bool(f['tail_specific']) == want_tail:
                first = f
                break
        rec = {'policy_sequence': int(p['policy_sequence']), 'mode': 'tail' if want_tail
               else 'standard', 'trigger_sequence': int(p['trigger_sequence']),
               'stamp_s': p['stamp_s'], 'first_sequence': None, 'reaction_ms': None,
               'from_capture_ms': None}
        if first is not None:
            rec['first_sequence'] = int(first['sequence'])
            rec['reaction_ms'] = (first['send_s'] - p['stamp_s']) * 1e3
            cap = capture_of.get(int(p['trigger_sequence']))
            if cap is not None:
                rec['from_capture_ms'] = (first['send_s'] - cap) * 1e3
        out.append(rec)
    return out


def summarise(values):
    """Return ``{n, median, p90, mean, min, max}`` of the finite ``values`` (None if empty)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if arr.size == 0:
        return {'n': 0, 'median': None, 'p90': None, 'mean': None, 'min': None, 'max': None}
    return {'n': int(arr.size), 'median': float(np.median(arr)),
            'p90': float(np.percentile(arr, 90)), 'mean': float(arr.mean()),
            'min': float(arr.min()), 'max': float(arr.max())}


def frame_scores(pred, hr_pred, label, num_classes=19):
    """
    Return ``(relative, absolute)`` mIoU of one predicted map.

    ``relative``: against ``hr_pred`` (the model on the HR frame) with the label's void pixels
    (255) ignored, as the paper's §5.3 does; ``absolute``: against ``label`` (NaN without one).
    """
    from runespoor.cac.profiling import frame_accuracy
    ref = np.asarray(hr_pred).copy()
    if label is not None:
        ref[np.asarray(label) == 255] = 255
    rel = frame_accuracy(pred, ref, num_classes)
    ab = frame_accuracy(pred, label, num_classes) if label is not None else float('nan')
    return rel, ab


def score_mode(rec, hr_preds, labels, steps, fps=FPS, speed=1.0, num_classes=19):
    """
    Score one mode's records (the monitor's output, plain arrays); return the mode's JSON.

    ``rec`` keys: ``camera_stamp_ns`` (in clip order), ``enc_*``, ``map_stamp_ns``,
    ``map_labels``, ``fb_*``, ``pol_*``, ``t0_s`` (first camera frame, monotonic), rate log.
    ``steps``: the scaled schedule in clip seconds (Mbit/s the link had).  Clip time of a
    frame = its index / ``fps``; wall time = clip time / ``speed``.
    """
    index_of = {int(s): i for i, s in enumerate(rec['camera_stamp_ns'])}
    n_clip = len(hr_preds)
    dur = int(math.ceil(n_clip / fps))
    per = [{'t': s, 'link_mbit': rate_at(steps, s), 'acc_rel': [], 'acc_abs': [],
            'bytes_sent': 0, 'frames_sent': 0, 'tail_config_frames': 0, 'bytes_received': 0,
            'frames_analysed': 0, 'tail_flags': 0} for s in range(dur)]
    frames = []
    rel_all, abs_all = [], []
    for j, stamp in enumerate(rec['enc_stamp_ns']):
        i = index_of.get(int(stamp))
        if i is None or i >= n_clip:
            continue
        b = per[min(dur - 1, int(i / fps))]
        b['bytes_sent'] += int(rec['enc_bytes'][j])
        b['frames_sent'] += 1
        b['tail_config_frames'] += int(rec['enc_tail'][j])
        frames.append({'sequence': int(rec['enc_seq'][j]),
                       'policy_sequence': int(rec['enc_policy_seq'][j]),
                       'tail_specific': bool(rec['enc_tail'][j]),
                       'send_s': float(rec['enc_send_ns'][j]) * 1e-9,
                       'capture_s': int(stamp) * 1e-9, 'index': i,
                       'scale': int(rec['enc_scale'][j]),
                       'quality': int(rec['enc_quality'][j])})
    per_frame = []
    flag_of = dict(zip((int(s) for s in rec.get('flag_seq', [])),
                       (bool(v) for v in rec.get('flag_tail', []))))
    for j, stamp in enumerate(rec['map_stamp_ns']):
        i = index_of.get(int(stamp))
        if i is None or i >= n_clip:
            continue
        label = labels[i] if labels is not None else None
        rel, ab = frame_scores(rec['map_labels'][j], hr_preds[i], label, num_classes)
        b = per[min(dur - 1, int(i / fps))]
        b['acc_rel'].append(rel)
        b['acc_abs'].append(ab)
        b['frames_analysed'] += 1
        seq = int(rec['map_seq'][j])
        b['tail_flags'] += int(flag_of.get(seq, False))
        rel_all.append(rel)
        abs_all.append(ab)
        per_frame.append({'index': i, 'sequence': seq, 'relative': rel, 'absolute': ab,
                          'scale': int(rec['map_scale'][j]),
                          'tail_specific': bool(rec['map_tail'][j]),
                          'tail_flag': flag_of.get(seq)})
    # system view: every clip frame gets the newest map of a frame at or before it
    latest = {}
    for j, stamp in enumerate(rec['map_stamp_ns']):
        i = index_of.get(int(stamp))
        if i is not None and i < n_clip and (i not in latest):
            latest[i] = j
    held, cur = [], None
    for i in range(n_clip):
        cur = latest.get(i, cur)
        if cur is None:
            continue
        label = labels[i] if labels is not None else None
        rel, _ = frame_scores(rec['map_labels'][cur], hr_preds[i], label, num_classes)
        per[min(dur - 1, int(i / fps))].setdefault('acc_held', []).append(rel)
        held.append(rel)
    # bytes that reached the cloud, by wall second since the first frame -> clip seconds
    t0 = rec['t0_wall_s']
    for j, recv_ns in enumerate(rec['fb_recv_ns']):
        clip_t = (float(recv_ns) * 1e-9 - t0) * speed
        if 0 <= clip_t < dur:
            per[int(clip_t)]['bytes_received'] += int(rec['fb_bytes'][j])
    seconds = []
    for b in per:
        sec = {k: v for k, v in b.items() if k not in ('acc_rel', 'acc_abs', 'acc_held')}
        sec['relative_miou'] = _nanmean(b['acc_rel'])
        sec['relative_miou_held'] = _nanmean(b.get('acc_held', []))
        sec['absolute_miou'] = _nanmean(b['acc_abs'])
        sec['kbps_sent'] = b['bytes_sent'] * 8 / 1000.0
        sec['kbps_received'] = b['bytes_received'] * 8 / 1000.0
        seconds.append(sec)
    policies = [{'policy_sequence': int(s), 'mode': int(m), 'stamp_s': int(t) * 1e-9,
                 'trigger_sequence': int(tr)}
                for s, m, t, tr in zip(rec['pol_seq'], rec['pol_mode'], rec['pol_stamp_ns'],
                                       rec['pol_trigger'])]
    reactions = reaction_times(policies, frames)
    tail_react = [r['reaction_ms'] for r in reactions if r['mode'] == 'tail']
    back_react = [r['reaction_ms'] for r in reactions if r['mode'] == 'standard']
    period_ms = 1000.0 / (fps * speed)
    rel_arr = np.asarray([v for v in rel_all if math.isfinite(v)])
    sent_bytes = int(sum(rec['enc_bytes']))
    return {
        'frames_published': len(rec['camera_stamp_ns']),
        'frames_sent': len(rec['enc_seq']),
        'frames_analysed': len(per_frame),
        'frames_sent_tail_config': int(sum(int(v) for v in rec['enc_tail'])),
        'bytes_sent': sent_bytes,
        'bytes_received': int(sum(rec['fb_bytes'])),
        'mean_kbps_sent': sent_bytes * 8 / 1000.0 / (n_clip / fps) if n_clip else None,
        'relative_miou_mean': float(rel_arr.mean()) if rel_arr.size else None,
        'relative_miou_p10': float(np.percentile(rel_arr, 10)) if rel_arr.size else None,
        'absolute_miou_mean': _nanmean(abs_all),
        'relative_miou_held_mean': _nanmean(held),
        'tail_flags': int(sum(1 for f in per_frame if f['tail_flag'])),
        'policies': len(policies),
        'reaction': {
            'definition': 'RatePolicy stamp (cloud finished the tail frame) -> send_stamp of '
                          'the first EncodedFrame with policy_sequence >= it and the config '
                          'of the policy',
            'frame_period_ms': period_ms,
            'to_tail_ms': summarise(tail_react),
            'to_tail_frames': summarise([v / period_ms for v in tail_react if v is not None]),
            'back_to_standard_ms': summarise(back_react),
            'from_trigger_capture_ms': summarise([r['from_capture_ms'] for r in reactions
                                                  if r['mode'] == 'tail']),
            'unanswered': sum(1 for r in reactions if r['reaction_ms'] is None),
            'events': reactions,
        },
        'per_second': seconds,
        'per_frame': per_frame,
        'configs_sent': _config_counts(frames),
    }


def _config_counts(frames):
    counts = {}
    for f in frames:
        key = f'x{f["scale"]}q{f["quality"]}{"-tail" if f["tail_specific"] else ""}'
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _nanmean(values):
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    return float(arr.mean()) if arr.size else None


def hard_seconds(modes, key='asr', fraction=0.2):
    """Return the clip seconds where mode ``key`` is worst (the clip's hard stretch)."""
    secs = [s for s in modes.get(key, {}).get('per_second', [])
            if s['relative_miou'] is not None]
    if not secs:
        return []
    n = max(1, int(round(fraction * len(secs))))
    worst = sorted(secs, key=lambda s: s['relative_miou'])[:n]
    return sorted(s['t'] for s in worst)


def plot_fig15(result, path):
    """Write the Fig. 15-shaped plot: per-second relative mIoU and kbit/s for each mode."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    modes = result['modes']
    steps = result['schedule']['link_mbit']
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    styles = {'asr': ('tab:blue', 'o'), 'cac': ('tab:red', 's'), 'awstream': ('tab:gray', '^')}
    dur = max((len(m['per_second']) for m in modes.values()), default=0)
    for key, m in modes.items():
        color, marker = styles.get(key, ('k', '.'))
        t = [s['t'] + 0.5 for s in m['per_second']]
        acc = [np.nan if s['relative_miou'] is None else s['relative_miou']
               for s in m['per_second']]
        ax1.plot(t, acc, marker=marker, color=color, label=MODES.get(key, key), lw=1.5,
                 ms=4)
        ax2.plot(t, [s['kbps_received'] for s in m['per_second']], marker=marker,
                 color=color, label=MODES.get(key, key), lw=1.2, ms=3)
        if key == 'cac':
            for e in m['reaction']['events']:
                if e['mode'] == 'tail' and e['first_sequence'] is not None:
                    fr = [f for f in m['per_frame'] if f['sequence'] >= e['first_sequence']]
                    if fr:
                        ax1.axvline(fr[0]['index'] / result['fps'], color=color, alpha=0.25,
                                    lw=1)
    xs, ys = [], []
    for i, (t, r) in enumerate(steps):
        end = steps[i + 1][0] if i + 1 < len(steps) else dur
        xs += [t, end]
        ys += [r * 1000, r * 1000]
    ax2.plot(xs, ys, 'k--', lw=1, label='link rate')
    for t, r in steps[1:]:
        for ax in (ax1, ax2):
            ax.axvline(t, color='k', ls=':', lw=0.8)
    for i, (t, r) in enumerate(steps):
        ax1.text(t + 0.1, 0.02, f'{result["schedule"]["nominal_mbit"][i][1]:g} Mbit/s '
                 f'nominal\n= {r * 1000:.0f} kbit/s', transform=ax1.get_xaxis_transform(),
                 fontsize=6.5, va='bottom')
    ax1.set_ylabel('relative mIoU (vs HR prediction)')
    ax1.set_ylim(0, 1.02)
    ax1.legend(loc='upper right', fontsize=8, ncol=3)
    ax1.grid(alpha=0.3)
    ax2.set_ylabel('received at the cloud [kbit/s]')
    ax2.set_ylim(0, max(ys) * 1.25 if ys else None)
    ax2.set_xlabel('clip time [s]')
    ax2.grid(alpha=0.3)
    ax2.legend(loc='upper right', fontsize=8, ncol=4)
    fig.suptitle(f'CAC experiment (paper Fig. 15 shape): {result["clip"]["frames"]} frames '
                 f'{result["clip"]["size"][0]}x{result["clip"]["size"][1]}, '
                 f'{result["method"]}, shaper {result["shaper"]["kind"]}', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
