#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Soak run: the real graph (source -> edge -> cloud, separate processes over DDS) for N minutes.

Starts the nodes with ``runespoor_cloud.graph.Graph`` from the packages' YAML files, as
``scripts/run_graph.py`` does (synthetic source at 512x256, 17 fps, looping; edge defaults),
with the cheap test models (``--models test``: the cloud's ``palette`` test segmenter and
bilinear reconstruction, as the DDS tests use) or the shipped ones (``--models shipped``:
SwiftNet-R18-lite + ASR on the procedural street scene).  Every ``--sample-s`` it records each
node process's RSS, thread count and open file descriptors (``/proc``) and the nodes'
``/diagnostics`` counters; this process also keeps the latencies of every ``SemanticMap``.

Writes ``bench_soak.json``: per process RSS start / end / max and the least-squares slope
[MB/min] after a warm-up, threads and fds, frames in / sent / received / analysed, drops, error
counters, latency p50 / p90 / p99 (whole run, first and last minute), and a verdict per
criterion (memory slope below ``--max-slope-mb-min``, frames still flowing at the end, all
nodes alive, no error counters, fds and threads bounded):

    source scripts/env.sh
    nice -n 10 python benchmarks/bench_soak.py --minutes 15 --out out/bench
    python benchmarks/bench_soak.py --minutes 0.3 --sample-s 1 --out /tmp/soak   # smoke run
"""

import argparse
import os
import sys
import tempfile
import time

from graph_watch import (environment, Graph, map_latencies, percentiles, proc_sample,
                         slope_per_min, Watch)

#: cloud overrides per model set (test: no model files, as tests/test_bad_input.py)
CLOUD = {
    'test': {'seg_arch': 'palette', 'seg_weights': '', 'method': 'bilinear', 'device': 'cpu'},
    'shipped': {'seg_arch': 'swiftnet_r18_lite', 'seg_weights': 'models/seg/swiftnet_r18_lite.pt',
                'method': 'asr', 'sr_dir': 'models/sr', 'device': 'auto'},
}
PATTERN = {'test': 'palette', 'shipped': 'scene'}
#: diagnostics counters that are errors (the cloud's queue_full is load shedding, not an error)
EDGE_ERRORS = ('input_errors', 'encode_errors', 'policies_rejected')


def log(text):
    print(f'[soak] {text}', flush=True)


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='out/bench', help='folder for bench_soak.json')
    ap.add_argument('--minutes', type=float, default=15.0, help='soak duration [min]')
    ap.add_argument('--models', choices=tuple(CLOUD), default='test',
                    help='test: palette segmenter + bilinear (no model files); shipped: '
                         'models/seg + ASR from models/sr')
    ap.add_argument('--sample-s', type=float, default=10.0, help='sampling period [s]')
    ap.add_argument('--flow-window-s', type=float, default=30.0,
                    help='"frames flowing at end" = maps and edge frames in this last window [s]')
    ap.add_argument('--warmup-min', type=float, default=1.0,
                    help='memory slope fitted after this [min] (the second half of the '
                         'samples when the run is shorter than twice this)')
    ap.add_argument('--max-slope-mb-min', type=float, default=0.5,
                    help="verdict bound on each process's RSS slope [MB/min]")
    ap.add_argument('--max-fd-growth', type=int, default=8,
                    help='verdict bound on open fds / threads gained after the warm-up')
    ap.add_argument('--fps', type=float, default=17.0, help='source frame rate [Hz]')
    ap.add_argument('--size', default='512x256', help='source frame size WxH')
    ap.add_argument('--domain-id', type=int, help='ROS_DOMAIN_ID (default: random)')
    ap.add_argument('--start-timeout-s', type=float, default=180.0,
                    help='longest wait for the cloud and the first map')
    ap.add_argument('--log-dir', help='node logs (default: a temporary folder)')
    return ap


def fit_window(samples, warmup_s):
    """Return the samples after the warm-up (the second half of a short run), at least two."""
    if not samples:
        return []
    t_end = samples[-1]['t_s']
    after = [s for s in samples if s['t_s'] >= warmup_s]
    if t_end < 2 * warmup_s or len(after) < 2:
        after = [s for s in samples if s['t_s'] >= t_end / 2]
    return after if len(after) >= 2 else samples[-2:]


def summarise_process(key, samples, window, bound, max_growth):
    """Per-process figures and its verdicts from the ``/proc`` samples."""
    rows = [(s['t_s'], s['procs'][key]) for s in samples if s['procs'].get(key)]
    win = [(s['t_s'], s['procs'][key]) for s in window if s['procs'].get(key)]
    if not rows:
        return {'samples': 0}, {}
    rss = [r['rss_mb'] for _, r in rows]
    slope = slope_per_min([t for t, _ in win], [r['rss_mb'] for _, r in win])
    out = {'samples': len(rows),
           'rss_mb': {'start': rss[0], 'end': rss[-1], 'max': max(rss),
                      'fit_start': win[0][1]['rss_mb'] if win else None},
           'rss_slope_mb_per_min': None if slope is None else round(slope, 4),
           'rss_slope_all_mb_per_min': round(slope_per_min([t for t, _ in rows], rss) or 0, 4),
           # a step (allocator arena) early in the fit window inflates its slope; a leak
           # keeps its slope in the second half too
           'rss_slope_last_half_mb_per_min': round(slope_per_min(*zip(*[
               (t, r['rss_mb']) for t, r in rows if t >= rows[-1][0] / 2])) or 0, 4)
           if len(rows) >= 4 else None,
           'threads': {'start': rows[0][1]['threads'], 'end': rows[-1][1]['threads'],
                       'max': max(r['threads'] for _, r in rows)},
           'fds': {'start': rows[0][1]['fds'], 'end': rows[-1][1]['fds'],
                   'max': max(r['fds'] for _, r in rows)}}
    grow_fd = rows[-1][1]['fds'] - win[0][1]['fds'] if win else None
    grow_th = rows[-1][1]['threads'] - win[0][1]['threads'] if win else None
    verdicts = {
        f'{key}_memory_slope': {'pass': None if slope is None else slope < bound,
                                'value_mb_per_min': out['rss_slope_mb_per_min'],
                                'bound_mb_per_min': bound},
        f'{key}_fds_threads_bounded': {
            'pass': None if grow_fd is None else (grow_fd <= max_growth and
                                                  grow_th <= max_growth),
            'fd_growth': grow_fd, 'thread_growth': grow_th, 'bound': max_growth},
    }
    return out, verdicts


def uplink_lost(feedback):
    """Frames the cloud never received: gaps in the sequences of its link feedback."""
    seqs = {row[1] for row in feedback}
    return max(seqs) - min(seqs) + 1 - len(seqs) if seqs else None


def first_last_minute(maps, t0):
    """End-to-end latency of the first and the last minute (quarter of a short run)."""
    if not maps:
        return {}
    t_end = maps[-1][0]
    span = min(60.0, (t_end - t0) / 4.0)
    first = [m[3] for m in maps if m[0] - t0 <= span]
    last = [m[3] for m in maps if m[0] >= t_end - span]
    return {'span_s': round(span, 1), 'first': percentiles(first), 'last': percentiles(last)}


def main(argv=None):
    args = build_parser().parse_args(argv)
    from runespoor_cloud.testing import child_env, free_domain_id
    width, height = (int(v) for v in args.size.lower().split('x'))
    domain = args.domain_id if args.domain_id is not None else free_domain_id()
    log_dir = args.log_dir or tempfile.mkdtemp(prefix='bench_soak_')
    report = {'benchmark': 'soak: source -> edge -> cloud over DDS, separate processes',
              'command': 'python benchmarks/bench_soak.py ' + ' '.join(
                  sys.argv[1:] if argv is None else argv),
              'environment': environment(), 'niceness': os.nice(0),
              'settings': {'minutes': args.minutes, 'models': args.models,
                           'sample_s': args.sample_s, 'warmup_min': args.warmup_min,
                           'fps': args.fps, 'size': [width, height], 'domain_id': domain,
                           'cloud': CLOUD[args.models], 'source_pattern': PATTERN[args.models],
                           'edge': 'config/edge.yaml defaults (x4 q70, tail x2 q40)'},
              'log_dir': log_dir}
    watch = Watch(domain, 'runespoor_bench_soak')
    graph = Graph(child_env(domain), log_dir=log_dir)
    samples, status, t0 = [], 'ok', None
    try:
        cloud = dict(CLOUD[args.models], diagnostics_period_s=min(1.0, args.sample_s))
        graph.start('cloud', overrides=cloud)
        graph.start('edge', overrides={'diagnostics_period_s': min(1.0, args.sample_s)})
        if not watch.spin_until(lambda: len(graph.alive()) < 2 or watch.node.count_publishers(
                'runespoor/link_feedback') > 0, args.start_timeout_s) or len(graph.alive()) < 2:
            raise RuntimeError('cloud did not come up:\n' + graph.log('cloud')[-3000:])
        graph.start('source', overrides={
            'mode': 'synthetic', 'pattern': PATTERN[args.models], 'width': width,
            'height': height, 'rate': args.fps, 'loop': True, 'max_frames': 0})
        if not watch.spin_until(lambda: watch.maps or len(graph.alive()) < 3,
                                args.start_timeout_s) or len(graph.alive()) < 3:
            raise RuntimeError('no SemanticMap: ' + '\n'.join(
                f'--- {k}\n{graph.log(k)[-2000:]}' for k in graph.procs))
        t0 = time.monotonic()
        n_start = len(watch.maps)
        log(f'first map after start-up; soaking {args.minutes:g} min, sampling every '
            f'{args.sample_s:g} s (domain {domain}, logs {log_dir})')
        end = t0 + args.minutes * 60.0
        while True:
            now = time.monotonic()
            procs = {k: proc_sample(p.pid) if p.poll() is None else None
                     for k, p in graph.procs.items()}
            samples.append({'t_s': round(now - t0, 2), 'procs': procs,
                            'maps': len(watch.maps) - n_start,
                            'edge': watch.values('runespoor_edge'),
                            'cloud': watch.values('runespoor_cloud')})
            s = samples[-1]
            log(f't={s["t_s"]:7.1f}s maps {s["maps"]:6d} | ' + ' '.join(
                f'{k} {v["rss_mb"]:.1f}MB/{v["threads"]}thr/{v["fds"]}fd'
                for k, v in procs.items() if v))
            if len(graph.alive()) < 3:
                status = 'node_died'
                log(f'a node exited: {[k for k in graph.procs if k not in graph.alive()]}')
                break
            if now >= end:
                break
            watch.spin_for(min(args.sample_s, max(0.0, end - now)))
    except KeyboardInterrupt:
        status = 'interrupted'
    except RuntimeError as exc:
        status = 'failed_to_start'
        report['error'] = str(exc)
        log(str(exc))
    finally:
        alive_at_end = graph.alive()
        codes = graph.stop()
        watch.close()
    report.update(result(args, samples, watch, t0, status, alive_at_end, codes))
    from bench_reconstruct import write_json
    write_json(args.out, 'bench_soak', report)
    log(f'verdict: {report["verdict"]["overall"]}')
    return 0 if report['verdict']['overall'] != 'fail' and status == 'ok' else 1


def result(args, samples, watch, t0, status, alive_at_end, codes):
    """Return the JSON body: per-process figures, frame counts, latencies and verdicts."""
    window = fit_window(samples, args.warmup_min * 60.0)
    procs, verdict = {}, {}
    for key in ('source', 'edge', 'cloud'):
        procs[key], v = summarise_process(key, samples, window, args.max_slope_mb_min,
                                          args.max_fd_growth)
        verdict.update(v)
    maps = [m for m in watch.maps if t0 is not None and m[0] >= t0]
    last = samples[-1] if samples else {'edge': {}, 'cloud': {}, 'maps': 0, 't_s': 0}
    # "flowing at end": progress over the last flow_window_s (one sampling interval on a loaded
    # machine can see no map at all while the graph is fine)
    before = [x for x in samples[:-1] if x['t_s'] <= last['t_s'] - args.flow_window_s]
    prev = before[-1] if before else (samples[0] if len(samples) > 1 else last)
    edge, cloud = last['edge'], last['cloud']
    frames = {'edge_in': edge.get('frames_in'), 'edge_sent': edge.get('frames_sent'),
              'edge_gated': edge.get('frames_gated'),
              'cloud_received': cloud.get('frames_received'),
              'cloud_analysed': cloud.get('frames_analysed'),
              'maps_seen_by_benchmark': len(maps),
              'tail_frames': cloud.get('tail_frames'), 'policies_sent': cloud.get('policies_sent')}
    drops = {'cloud_queue_full': cloud.get('errors_queue_full'),
             'edge_emulated': edge.get('emulated_drops'),
             'uplink_lost': uplink_lost(watch.feedback)}
    errors = {f'cloud_{k}': v for k, v in cloud.items()
              if k.startswith('errors_') and k != 'errors_queue_full'}
    errors.update({f'edge_{k}': edge.get(k) for k in EDGE_ERRORS})
    flowing_maps = last['maps'] - prev['maps']
    flowing_edge = (edge.get('frames_sent', 0) or 0) - (prev['edge'].get('frames_sent', 0) or 0)
    verdict['frames_flowing_at_end'] = {
        'pass': status == 'ok' and flowing_maps > 0 and flowing_edge > 0,
        'maps_in_last_interval': flowing_maps, 'edge_frames_sent_in_last_interval':
        flowing_edge, 'interval_s': round(last['t_s'] - prev['t_s'], 2)}
    verdict['all_nodes_alive'] = {'pass': len(alive_at_end) == 3, 'alive': alive_at_end,
                                  'exit_codes': codes}
    verdict['no_errors'] = {'pass': all(not v for v in errors.values()) if errors else None,
                            'errors': errors}
    values = [v['pass'] for v in verdict.values()]
    verdict['overall'] = 'fail' if False in values else \
        ('inconclusive' if None in values else 'pass')
    duration = last['t_s']
    return {'status': status, 'duration_min': round(duration / 60.0, 3),
            'fit_window_s': [window[0]['t_s'], window[-1]['t_s']] if window else None,
            'processes': procs, 'frames': frames, 'drops': drops, 'errors': errors,
            'analysed_fps': round(len(maps) / duration, 2) if duration else None,
            'latency_ms': map_latencies(maps),
            'end_to_end_ms_over_time': first_last_minute(maps, t0),
            'verdict': verdict,
            'samples': [{'t_s': s['t_s'], 'maps': s['maps'],
                         'procs': s['procs'],
                         'edge': {k: s['edge'].get(k) for k in ('frames_in', 'frames_sent')},
                         'cloud': {k: s['cloud'].get(k) for k in
                                   ('frames_received', 'frames_analysed',
                                    'errors_queue_full')}} for s in samples]}


if __name__ == '__main__':
    sys.exit(main())
