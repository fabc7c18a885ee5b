# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
r"""
The ROS graph of ``runespoor experiment cac`` (paper §5.3, Fig. 15): one mode at a time.

Run by ``runespoor experiment cac`` (:mod:`runespoor.cac.experiment_cli`, which has no ROS
import) as a child process with the same options, or directly::

    python -m runespoor_bringup.experiment_cac --out results/cac --data data/synth512 ...
    ros2 run runespoor_bringup experiment_cac --out results/cac ...

:class:`runespoor.cac.experiment_plan.CacRun` plans the run (clip, schedule, profile, HR
reference, node parameters), scores each mode and writes the report; this module runs each
mode's graph: the cloud, the edge, the monitor (:mod:`.experiment_monitor`) and the source as
separate processes (:func:`.graph.node_command`) on a fresh random ``ROS_DOMAIN_ID``, over a
``tc``-shaped veth between two network namespaces (:class:`runespoor.cac.shaper.ShapedLink`)
or with the edge's in-process token bucket, and changes the link's rate at the schedule's
steps.  SIGINT / SIGTERM stop the nodes and delete the namespaces (exit status 130).
"""

import argparse
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from runespoor.cac.experiment import MODES
from runespoor.cac.experiment_cli import add_cac_arguments, CAC_HELP
from runespoor.cac.experiment_plan import CacRun, log
from runespoor.cac.shaper import ShapedLink
from runespoor_bringup.graph import node_command


class Proc:
    """A child process whose output goes to a log file (and stdout lines to a queue)."""

    def __init__(self, name, cmd, env, log_dir, lines=False):
        self.name = name
        self.log_path = os.path.join(log_dir, f'{name}.log')
        self._log = open(self.log_path, 'w')
        self.lines = queue.Queue() if lines else None
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE if lines else
                                     self._log, stderr=self._log if lines else subprocess.STDOUT,
                                     text=True, start_new_session=True)
        if lines:
            threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_line(self, prefix, timeout):
        """Return the first stdout line starting with ``prefix`` (None: exit or timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                return None
            if line.startswith(prefix):
                return line
        return None

    def alive(self):
        return self.proc.poll() is None


def stop_all(procs, grace_s=5.0):
    """SIGINT, then SIGTERM, then SIGKILL the processes (only those started here)."""
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
        running = [p for p in procs if p.alive()]
        if not running:
            break
        for p in running:
            try:
                p.proc.send_signal(sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        for p in running:
            try:
                p.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for p in procs:
        if p.lines is None:
            p._log.close()
    return {p.name: p.proc.returncode for p in procs}


def run_mode(mode, cfg, work):
    """Run one mode; return (records dict, monitor meta, shaper notes)."""
    os.makedirs(work, exist_ok=True)
    steps = cfg['steps_kbps']
    speed = cfg['speed']
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 100))
    env['PYTHONUNBUFFERED'] = '1'
    env['RCUTILS_LOGGING_BUFFERED_STREAM'] = '0'
    # one BLAS/OpenMP thread per process: cloud, edge, source and monitor share the CPUs, and
    # oversubscribed torch threads are several times slower than one each
    env.setdefault('OMP_NUM_THREADS', '1')
    link = None
    prefix = {'edge': [], 'cloud': []}
    if cfg['shaper'] == 'netns':
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'SUBNET'
        env['FASTDDS_BUILTIN_TRANSPORTS'] = 'UDPv4'  # no shared memory: all over the veth
        link = ShapedLink(steps[0][1] * speed / 1000.0, name=f'rx{os.getpid() % 1000}',
                          require_delay=False, latency_ms=cfg.get('link_queue_ms', 400.0))
        link.setup()
        prefix = {'edge': link.exec_prefix('edge'), 'cloud': link.exec_prefix('cloud')}
    else:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    emulate = cfg['shaper'] == 'inprocess'
    bw0 = int(steps[0][1] * cfg['headroom'])
    cloud = dict(cfg['cloud'])
    cloud['tail_detector'] = 'ratio'
    if mode == 'cac':
        # the ratio rule's threshold stays set: it is what the cloud falls back to with a
        # test segmenter (palette) that has no summary features for the fitted detector
        cloud['tail_threshold'] = cfg['tail_threshold']
        cloud['tail_direction'] = cfg['tail_direction']
        if cfg.get('tail_detector') == 'fitted':
            cloud['tail_detector'] = 'fitted'
            cloud['tail_model_file'] = cfg['tail_model_file']
    else:  # never flags
        cloud['tail_threshold'], cloud['tail_direction'] = 0.0, 'below'
    edge = dict(cfg['edge'])
    edge.update({'bandwidth_kbps': float(bw0),
                 'controller': 'awstream' if mode == 'awstream' else 'cac'})
    if emulate:
        edge['emulated_uplink_kbps'] = float(steps[0][1] * speed)
    records = os.path.join(work, 'records.npz')
    monitor_cmd = [sys.executable, '-m', 'runespoor_bringup.experiment_monitor',
                   '--out', records, '--frames', str(cfg['frames']),
                   '--schedule', ','.join(f'{t:g}:{k:.3f}' for t, k in steps),
                   '--speed', f'{speed:g}', '--headroom', f'{cfg["headroom"]:g}',
                   '--timeout', f'{cfg["timeout"]:g}'] + (['--emulate'] if emulate else [])
    procs = []
    rate_log = []
    try:
        procs.append(Proc('cloud', prefix['cloud'] + node_command('cloud', overrides=cloud),
                          env, work))
        procs.append(Proc('edge', prefix['edge'] + node_command('edge', overrides=edge),
                          env, work))
        mon = Proc('monitor', prefix['edge'] + monitor_cmd, env, work, lines=True)
        procs.append(mon)
        if mon.wait_line('READY', 150) is None:
            raise RuntimeError(f'{mode}: edge/cloud not up; see {work}/*.log:\n'
                               + _tail(os.path.join(work, 'cloud.log')))
        procs.append(Proc('source', prefix['edge'] + node_command('source',
                                                                  overrides=cfg['source']),
                          env, work))
        line = mon.wait_line('T0', 90)
        if line is None:
            raise RuntimeError(f'{mode}: no camera frame; see {work}/source.log')
        t0 = float(line.split()[1])
        log(f'{mode}: graph up, the first camera frame reached the monitor')
        for t, kbps in steps[1:]:
            while time.monotonic() < t0 + t / speed:
                time.sleep(0.01)
            if link is not None:
                link.set_rate(kbps * speed / 1000.0)
                rate_log.append({'clip_s': t, 'tc_mbit': kbps * speed / 1000.0,
                                 'at_s': time.monotonic() - t0})
        if mon.wait_line('DONE', cfg['timeout']) is None:
            raise RuntimeError(f'{mode}: the monitor did not finish; see {work}/monitor.log')
        try:
            mon.proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
        if link is not None:
            rate_log.append({'tc': link.qdisc_show()})
    finally:
        log(f'{mode}: stopping the nodes' + (' and deleting the namespaces' if link else ''))
        codes = stop_all(procs)
        if link is not None:
            link.teardown()
    data = np.load(records)
    rec = {k: data[k] for k in data.files}
    with open(os.path.join(work, 'records.json')) as f:
        meta = json.load(f)
    meta['exit_codes'] = codes
    meta['tc_log'] = rate_log
    meta['link'] = {'edge_ns': link.edge, 'cloud_ns': link.cloud} if link is not None else None
    rec['t0_wall_s'] = meta['t0_wall_s']
    if not cfg['keep_records']:
        os.remove(records)
    return rec, meta


def _tail(path, n=2000):
    try:
        with open(path, 'r', errors='replace') as f:
            return f.read()[-n:]
    except OSError:
        return ''


def run_cac(args, command=None):
    """Plan the run, run every mode's graph, score it and write the report; return 0."""
    run = CacRun(args, command=command)
    repeats = max(1, int(getattr(args, 'repeats', 1)))
    for repeat in range(repeats):  # interleaved, so a drift of the machine hits every mode
        for mode in run.modes:
            log(f'mode {mode} ({MODES[mode]}), repeat {repeat + 1}/{repeats}: streaming '
                f'{run.frames} frames at {args.fps * args.speed:g} fps')
            t0 = time.monotonic()
            work = os.path.join(run.work, mode if repeats == 1 else f'{mode}_r{repeat + 1}')
            rec, meta = run_mode(mode, run.cfg, work)
            run.add_mode(mode, rec, meta, time.monotonic() - t0, repeat=repeat)
            run.write_partial()
    return run.finish()


def main(argv=None):
    """Parse ``argv`` (the options of ``runespoor experiment cac``), run; the exit status."""
    parser = argparse.ArgumentParser(prog='experiment_cac', description=CAC_HELP)
    add_cac_arguments(parser)
    parser.add_argument('--record-command', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    command = args.record_command or 'python -m runespoor_bringup.experiment_cac ' + ' '.join(
        sys.argv[1:] if argv is None else argv)

    def interrupt(signum, frame):
        # the clean-up (stop the nodes, delete the namespaces) must not be cut short by a
        # second signal (a double Ctrl-C, or the same signal sent to the parent and to us)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(f'signal {signum}')

    # also when started in the background (SIGINT ignored): stop the nodes, delete the
    # namespaces
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run_cac(args, command)
    except RuntimeError as exc:
        log(f'error: {exc}')
        return 2
    except KeyboardInterrupt:
        log('interrupted; nodes stopped, namespaces deleted')
        return 130


if __name__ == '__main__':
    sys.exit(main())
