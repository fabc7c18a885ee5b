# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The soak and lossy-link benchmarks run end to end with tiny settings and write their JSON.

Each benchmark runs as its own process (as ``make bench`` runs it) for seconds instead of
minutes; the test waits on its exit with a generous timeout and checks the documented fields
and that frames flowed.  The figures themselves (memory slope, latencies, delivered fractions)
vary by machine and are not asserted.  The lossy-link run uses the real network namespace
where this machine allows it (root with ``ip``, ``nft``, ``tc``) and the emulated link in any
case; its namespace, veth and rules must be gone afterwards, also after a Ctrl-C.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from systest import REPO

pytestmark = [pytest.mark.ros, pytest.mark.slow]

BENCH = REPO / 'benchmarks'
EXIT_TIMEOUT_S = 600  # generous: start-up of three nodes on a loaded 2-core machine


def netns_possible():
    """Return True where bench_lossy_link.py can build its namespace (its own rule)."""
    return os.geteuid() == 0 and all(shutil.which(t) for t in ('ip', 'nft', 'tc'))


def run_bench(script, args, out):
    proc = subprocess.run([sys.executable, str(BENCH / script), '--out', str(out), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=EXIT_TIMEOUT_S)
    name = script[:-3]
    path = out / f'{name}.json'
    assert path.is_file(), f'{script} wrote no JSON (rc {proc.returncode}):\n' \
        f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    with open(path) as f:
        return proc, json.load(f)


def leftover_namespaces(pid):
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.startswith(f'runespoor_lossy_{pid}')]


def test_soak_writes_process_figures_and_verdicts(domain, tmp_path):
    proc, rep = run_bench('bench_soak.py', ['--minutes', '0.15', '--sample-s', '1',
                                            '--warmup-min', '0.05',
                                            '--domain-id', str(domain)], tmp_path)
    assert rep['status'] == 'ok', proc.stdout[-3000:]
    for key in ('source', 'edge', 'cloud'):
        p = rep['processes'][key]
        assert p['samples'] >= 2
        assert set(p['rss_mb']) >= {'start', 'end', 'max'}
        assert 0 < p['rss_mb']['start'] <= p['rss_mb']['max']
        assert isinstance(p['rss_slope_mb_per_min'], float)
        assert p['threads']['end'] > 0 and p['fds']['end'] > 0
        for criterion in (f'{key}_memory_slope', f'{key}_fds_threads_bounded'):
            assert rep['verdict'][criterion]['pass'] in (True, False)
    frames = rep['frames']
    assert frames['maps_seen_by_benchmark'] > 0
    assert frames['edge_sent'] > 0 and frames['cloud_analysed'] > 0
    assert set(rep['drops']) >= {'cloud_queue_full', 'uplink_lost'}
    assert any(k.startswith('cloud_errors_') for k in rep['errors'])
    lat = rep['latency_ms']['end_to_end_ms']
    assert lat['n'] > 0 and lat['p50'] is not None and lat['p90'] >= lat['p50']
    assert rep['verdict']['frames_flowing_at_end']['pass'] is True
    assert rep['verdict']['all_nodes_alive']['pass'] is True
    assert rep['verdict']['overall'] in ('pass', 'fail', 'inconclusive')
    assert rep['environment']['cpu_count'] and rep['environment']['commit']


LEVEL_FIELDS = {'loss_percent', 'frames_sent', 'frames_delivered', 'delivered_fraction',
                'cloud_analysed', 'latency_ms', 'packets', 'after_loss_removed'}


@pytest.mark.parametrize('link', ['auto', 'emulated'])
def test_lossy_link_sweep_delivers_recovers_and_cleans_up(domain, tmp_path, link):
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / 'bench_lossy_link.py'), '--out', str(tmp_path),
         '--link', link, '--losses', '0,50', '--phase-s', '3', '--settle-s', '1',
         '--blackout-s', '1', '--recovery-bound-s', '60', '--domain-id', str(domain)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=EXIT_TIMEOUT_S)
    assert (tmp_path / 'bench_lossy_link.json').is_file(), out[-3000:]
    rep = json.loads((tmp_path / 'bench_lossy_link.json').read_text())
    assert rep['status'] == 'ok', out[-3000:]
    expected = 'netns+nftables' if link == 'auto' and netns_possible() else 'emulated'
    assert rep['link'] == expected, rep.get('netns_failure')
    if rep['link'] == 'netns+nftables':
        assert rep['link_check']['link_verified'] is True
        assert rep['link_setup']['namespace'] == f'runespoor_lossy_{proc.pid}'
        assert not leftover_namespaces(proc.pid)
    assert [r['loss_percent'] for r in rep['levels']] == [0, 50]
    for row in rep['levels']:
        assert set(row) >= LEVEL_FIELDS
        assert row['frames_delivered'] > 0 and row['cloud_analysed'] > 0
        assert 0 < row['delivered_fraction'] <= 1
        assert set(row['latency_ms']) >= {'p50', 'p90', 'p99'}
        assert row['after_loss_removed']['recovered'] is True
    lossless, lossy = rep['levels']
    assert lossless['packets']['dropped_by_loss_rule'] == 0
    assert lossy['packets']['dropped_by_loss_rule'] > 0
    assert set(rep['summary']) == {'0', '50'}
    assert proc.returncode == 0, out[-3000:]


@pytest.mark.skipif(not netns_possible(), reason='needs root with ip, nft and tc (netns link)')
def test_lossy_link_removes_its_namespace_on_ctrl_c(domain, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / 'bench_lossy_link.py'), '--out', str(tmp_path),
         '--link', 'netns', '--losses', '30', '--phase-s', '600', '--domain-id', str(domain)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:  # wait for the event: the namespace exists, nodes start
            lines.append(line)
            if 'starting cloud, edge, source' in line:
                break
        assert leftover_namespaces(proc.pid), ''.join(lines)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=EXIT_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not leftover_namespaces(proc.pid), ''.join(lines) + rest
    assert f'rsl{proc.pid}c' not in subprocess.run(['ip', '-o', 'link'], capture_output=True,
                                                   text=True).stdout
    rep = json.loads((tmp_path / 'bench_lossy_link.json').read_text())
    assert rep['status'] == 'interrupted'
