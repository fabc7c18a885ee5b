#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The uplink between edge and cloud under packet loss (0/10/30/50 %) and a rate limit.

``--link netns`` (the default when running as root with ``ip``, ``nft`` and ``tc``): the source
and the edge run in their own network namespace, joined to this one by a veth pair; the cloud
and this process stay outside, so every edge <-> cloud packet crosses the veth.  Loss: an
nftables ``numgen random mod 100 < L drop`` rule on the namespace's output to the veth (the
uplink; ``--both-directions`` also drops on its input); rate: ``tc tbf`` on the same
interface.  DDS finds the peers over the veth with a Fast DDS XML profile (UDPv4 only -- shared
memory would bypass the link -- and the other side's address as initial peer).  A 100 % loss
blackout first checks that frames really cross the veth.  ``--link emulated`` (the fallback,
said in the JSON, with the reason): the edge's in-process token bucket
(``emulated_uplink_kbps``) for the rate, and a relay in this process that drops the share of
frames for the loss.

Per loss level: frames sent and delivered (delivered fraction, from the sequences in the
cloud's ``LinkFeedback``), packets dropped by the rule, cloud analysed frames, end-to-end
latency p50/p90/p99 of the ``SemanticMap``s, the edge's view of the link, and whether the graph
recovered after the loss was removed (``--recovery-frames`` maps of frames captured after the
removal within ``--recovery-bound-s``).  Everything the run created (namespace, veth, nftables
table, tc qdisc) is removed at the end, on Ctrl-C and on errors.  Writes
``bench_lossy_link.json``::

    source scripts/env.sh
    python benchmarks/bench_lossy_link.py --out out/bench        # full sweep, ~4 min
    python benchmarks/bench_lossy_link.py --losses 0,50 --phase-s 4 --out /tmp/lossy  # smoke
"""

import argparse
import atexit
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from graph_watch import environment, Graph, map_latencies, node_command, Watch

PREFIX = 'runespoor_lossy_'
CLOUD = {'seg_arch': 'palette', 'seg_weights': '', 'method': 'bilinear', 'device': 'cpu',
         'diagnostics_period_s': 1.0}


def log(text):
    print(f'[lossy] {text}', flush=True)


def _run(cmd, check=True, stdin=None):
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)}: {out.stderr.strip() or out.stdout.strip()}')
    return out


def netns_unavailable():
    """Return why a real netns link cannot be built here, or '' if it can."""
    if os.geteuid() != 0:
        return 'not running as root'
    missing = [t for t in ('ip', 'nft', 'tc') if shutil.which(t) is None]
    return f'missing tools: {", ".join(missing)}' if missing else ''


def remove_stale():
    """Remove namespaces (and their veths) left by runs of this script that were killed."""
    out = _run(['ip', 'netns', 'list'], check=False).stdout
    removed = []
    for name in re.findall(rf'^({PREFIX}(\d+))', out, re.M):
        ns, pid = name
        if not os.path.exists(f'/proc/{pid}'):
            _run(['ip', 'link', 'del', f'rsl{pid}c'], check=False)
            _run(['ip', 'netns', 'del', ns], check=False)
            removed.append(ns)
    return removed


class NetnsLink:
    """
    The edge side in its own network namespace, joined to this one by a veth pair.

    ``up`` makes the namespace, the veth (``rsl<pid>c`` here, ``rsl<pid>e`` in the namespace,
    a /30 of 10.213.0.0/16), a ``tc tbf`` qdisc and an nftables table ``runespoor_loss`` in the
    namespace; ``set_loss`` replaces its drop rules; ``down`` removes all of it (idempotent,
    also registered with ``atexit``).
    """

    TABLE = 'runespoor_loss'
    #: tbf queue limit (as the edge's emulated_queue_ms default): packets waiting longer drop
    QUEUE_MS = 400

    def burst_bytes(self):
        """Return the tbf bucket: 10 ms of the rate, at least two full-size IP packets.

        tbf's queue holds ``rate * latency + burst`` bytes; a large burst (a whole 64 kB
        DDS datagram) made it seconds long at a few hundred kbit/s.
        """
        return max(3028, int(self.rate_kbps * 1000 / 8 * 0.01))

    def __init__(self, rate_kbps, both_directions=False):
        pid = os.getpid()
        self.ns, self.host_if, self.ns_if = f'{PREFIX}{pid}', f'rsl{pid}c', f'rsl{pid}e'
        self.rate_kbps, self.both = rate_kbps, both_directions
        self.host_ip = self.ns_ip = None
        self.loss = 0
        self._made = False

    def _ns(self, *cmd, stdin=None, check=True):
        return _run(['ip', 'netns', 'exec', self.ns, *cmd], check=check, stdin=stdin)

    def _subnet(self):
        used = _run(['ip', '-o', '-4', 'addr'], check=False).stdout
        for k in [os.getpid() % 200 + 20] + list(range(20, 250)):
            if f' 10.213.{k}.' not in used:
                return f'10.213.{k}.1', f'10.213.{k}.2'
        raise RuntimeError('no free 10.213.x.0/30 subnet')

    def up(self):
        """Build the namespace, the veth pair, the rate limit and the (empty) loss table."""
        atexit.register(self.down)
        self.host_ip, self.ns_ip = self._subnet()
        self._made = True
        _run(['ip', 'netns', 'add', self.ns])
        _run(['ip', 'link', 'add', self.host_if, 'type', 'veth', 'peer', 'name', self.ns_if])
        _run(['ip', 'link', 'set', self.ns_if, 'netns', self.ns])
        _run(['ip', 'addr', 'add', f'{self.host_ip}/30', 'dev', self.host_if])
        _run(['ip', 'link', 'set', self.host_if, 'up'])
        self._ns('ip', 'addr', 'add', f'{self.ns_ip}/30', 'dev', self.ns_if)
        self._ns('ip', 'link', 'set', self.ns_if, 'up')
        self._ns('ip', 'link', 'set', 'lo', 'up')
        if self.rate_kbps > 0:
            self._ns('tc', 'qdisc', 'add', 'dev', self.ns_if, 'root', 'tbf', 'rate',
                     f'{self.rate_kbps:g}kbit', 'burst', str(self.burst_bytes()),
                     'latency', f'{self.QUEUE_MS}ms')
        self._ns('nft', '-f', '-', stdin=(
            f'table inet {self.TABLE} {{\n'
            '  chain up { type filter hook output priority 0; policy accept; }\n'
            '  chain down { type filter hook input priority 0; policy accept; }\n}\n'))
        self.set_loss(0)

    def set_loss(self, percent):
        """Drop ``percent`` % of the packets to the veth (and from it with both directions)."""
        rules = [f'flush chain inet {self.TABLE} up', f'flush chain inet {self.TABLE} down',
                 f'add rule inet {self.TABLE} up oifname "{self.ns_if}" counter']
        match = '' if percent >= 100 else f'numgen random mod 100 < {int(percent)} '
        if percent > 0:
            rules.append(f'add rule inet {self.TABLE} up oifname "{self.ns_if}" {match}'
                         'counter drop')
        if self.both:
            rules.append(f'add rule inet {self.TABLE} down iifname "{self.ns_if}" counter')
            if percent > 0:
                rules.append(f'add rule inet {self.TABLE} down iifname "{self.ns_if}" '
                             f'{match}counter drop')
        self._ns('nft', '-f', '-', stdin='\n'.join(rules) + '\n')
        self.loss = percent

    def counters(self):
        """Packets seen and dropped by the loss rules since the last ``set_loss``."""
        data = json.loads(self._ns('nft', '-j', 'list', 'table', 'inet', self.TABLE).stdout)
        out = {}
        for item in data['nftables']:
            rule = item.get('rule')
            if not rule:
                continue
            counter = next(e['counter']['packets'] for e in rule['expr'] if 'counter' in e)
            drop = any('drop' in e for e in rule['expr'])
            key = f'{rule["chain"]}_{"dropped" if drop else "packets"}'
            out[key] = out.get(key, 0) + counter
        return out

    def tbf_drops(self):
        """Packets the rate limit (tc tbf) dropped so far (None without a rate limit)."""
        if self.rate_kbps <= 0:
            return None
        text = self._ns('tc', '-s', 'qdisc', 'show', 'dev', self.ns_if, check=False).stdout
        found = re.search(r'dropped (\d+)', text)
        return int(found.group(1)) if found else None

    def prefix(self):
        """Command prefix that runs a process in the namespace."""
        return ['ip', 'netns', 'exec', self.ns]

    def down(self):
        """Remove the nftables table, the qdisc, the veth and the namespace (idempotent)."""
        if not self._made:
            return
        self._made = False
        self._ns('nft', 'delete', 'table', 'inet', self.TABLE, check=False)
        _run(['ip', 'link', 'del', self.host_if], check=False)
        _run(['ip', 'netns', 'del', self.ns], check=False)
        log(f'removed namespace {self.ns}, veth {self.host_if}/{self.ns_if}, nftables table '
            f'{self.TABLE}, tc qdisc')

    def describe(self):
        return {'namespace': self.ns, 'veth': [self.host_if, self.ns_if],
                'addresses': {'cloud_side': self.host_ip, 'edge_side': self.ns_ip},
                'loss_rule': 'nftables inet, numgen random mod 100 < L drop, on the '
                             'namespace output to the veth' +
                             (' and its input' if self.both else '') +
                             '; it counts datagrams (before IP fragmentation) and acts '
                             'before the rate limit',
                'rate_limit': f'tc tbf rate {self.rate_kbps:g}kbit burst {self.burst_bytes()} '
                              f'latency {self.QUEUE_MS}ms on the edge side of the veth '
                              '(its drops are IP packets, after fragmentation)'
                              if self.rate_kbps > 0 else 'none'}


def fastdds_profile(path, peers):
    """Write a Fast DDS profile: UDPv4 only (no shared memory), ``peers`` as initial peers."""
    locators = ''.join(f'<locator><udpv4><address>{p}</address></udpv4></locator>'
                       for p in peers)
    with open(path, 'w') as f:
        f.write(f"""<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles">
 <profiles>
  <transport_descriptors>
   <transport_descriptor><transport_id>runespoor_udp</transport_id><type>UDPv4</type>
   </transport_descriptor>
  </transport_descriptors>
  <participant profile_name="runespoor_lossy" is_default_profile="true">
   <rtps>
    <userTransports><transport_id>runespoor_udp</transport_id></userTransports>
    <useBuiltinTransports>false</useBuiltinTransports>
    <builtin><initialPeersList>{locators}</initialPeersList></builtin>
   </rtps>
  </participant>
 </profiles>
</dds>
""")
    return path


def dds_env(env, profile):
    """``env`` with ``profile`` as the Fast DDS default profile (2.x and 3.x names)."""
    env = dict(env)
    env['FASTRTPS_DEFAULT_PROFILES_FILE'] = env['FASTDDS_DEFAULT_PROFILES_FILE'] = profile
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'SUBNET'
    env.pop('ROS_LOCALHOST_ONLY', None)
    env.pop('ROS_STATIC_PEERS', None)
    return env


def make_graph(log_dir, envs, prefixes):
    """Return a ``Graph`` whose nodes each get their own environment and command prefix."""

    class LinkGraph(Graph):
        def start(self, key, **kwargs):
            cmd = prefixes.get(key, []) + node_command(key, **kwargs)
            os.makedirs(self.log_dir, exist_ok=True)
            out = open(os.path.join(self.log_dir, f'{key}.log'), 'w')
            self._logs.append(out)
            self.procs[key] = subprocess.Popen(cmd, env=envs[key], stdout=out,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True)
            return self.procs[key]

    return LinkGraph(envs['cloud'], log_dir=log_dir)


class Relay:
    """Emulated loss: edge -> ``runespoor/encoded_edge`` -> drop ``loss`` % -> the cloud."""

    def __init__(self, node, seed=0):
        from rclpy.qos import qos_profile_sensor_data
        from runespoor_msgs.msg import EncodedFrame
        self.loss, self.passed, self.dropped = 0, 0, 0
        self.rng = random.Random(seed)
        self.pub = node.create_publisher(EncodedFrame, 'runespoor/encoded',
                                         qos_profile_sensor_data)
        node.create_subscription(EncodedFrame, 'runespoor/encoded_edge', self._on_frame,
                                 qos_profile_sensor_data)

    def _on_frame(self, msg):
        if self.rng.random() * 100.0 < self.loss:
            self.dropped += 1
        else:
            self.passed += 1
            self.pub.publish(msg)

    def set_loss(self, percent):
        self.loss, self.passed, self.dropped = percent, 0, 0

    def counters(self):
        return {'up_packets': self.passed + self.dropped, 'up_dropped': self.dropped}


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='out/bench', help='folder for bench_lossy_link.json')
    ap.add_argument('--link', choices=('auto', 'netns', 'emulated'), default='auto',
                    help='auto: netns+nftables when root with ip/nft/tc, else emulated')
    ap.add_argument('--losses', default='0,10,30,50', help='loss levels [%%], comma-separated')
    ap.add_argument('--rate-kbps', type=float, default=500.0,
                    help='uplink rate limit [kbit/s]; 0 = none')
    ap.add_argument('--both-directions', action='store_true',
                    help='netns: also drop cloud -> edge packets (policy, feedback, acks)')
    ap.add_argument('--phase-s', type=float, default=40.0, help='measured time per level [s]')
    ap.add_argument('--settle-s', type=float, default=3.0,
                    help='time after changing the loss before measuring [s]')
    ap.add_argument('--blackout-s', type=float, default=3.0,
                    help='netns: 100 %% loss this long first, to check that frames cross the '
                         'veth; 0 = skip')
    ap.add_argument('--recovery-bound-s', type=float, default=10.0,
                    help='frames must flow again this soon after the loss is removed [s]')
    ap.add_argument('--recovery-frames', type=int, default=3,
                    help='maps of frames captured after the removal that count as recovered')
    ap.add_argument('--fps', type=float, default=17.0, help='source frame rate [Hz]')
    ap.add_argument('--size', default='512x256', help='source frame size WxH')
    ap.add_argument('--scale', type=int, default=2, help='edge standard scale')
    ap.add_argument('--quality', type=int, default=70, help='edge standard JPEG quality')
    ap.add_argument('--domain-id', type=int, help='ROS_DOMAIN_ID (default: random)')
    ap.add_argument('--start-timeout-s', type=float, default=90.0,
                    help='longest wait for the first map (DDS discovery over the link)')
    ap.add_argument('--log-dir', help='node logs (default: a temporary folder)')
    return ap


def delivered(feedback):
    """Frames sent (edge sequences are contiguous) and received, from feedback sequences."""
    seqs = {row[1] for row in feedback}
    if not seqs:
        return 0, 0
    return max(seqs) - min(seqs) + 1, len(seqs)


class Run:
    """One run of the graph over a link: start, measure per loss level, stop."""

    def __init__(self, args, kind, link, log_dir, domain):
        self.args, self.kind, self.link, self.domain = args, kind, link, domain
        self.log_dir = log_dir
        self.watch = self.graph = self.relay = None

    def start(self):
        """Start cloud, edge and source over the link; raise RuntimeError if no map comes."""
        from runespoor_cloud.testing import child_env
        args = self.args
        base = child_env(self.domain)
        # Raw camera frames (393 kB at 512x256) cross UDP loopback here, without shared
        # memory: best effort lost most of them (fragments), so the camera link is reliable.
        edge = {'scale': args.scale, 'jpeg_quality': args.quality,
                'diagnostics_period_s': 1.0, 'input_reliability': 'reliable'}
        remap = None
        if self.kind == 'netns':
            prof = os.path.join(self.log_dir, 'fastdds_{}.xml')
            cloud_env = dds_env(base, fastdds_profile(prof.format('cloud'),
                                                      ['127.0.0.1', self.link.ns_ip]))
            edge_env = dds_env(base, fastdds_profile(prof.format('edge'),
                                                     ['127.0.0.1', self.link.host_ip]))
            os.environ.update({k: cloud_env[k] for k in (
                'FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE',
                'ROS_AUTOMATIC_DISCOVERY_RANGE')})
            envs = {'cloud': cloud_env, 'edge': edge_env, 'source': edge_env}
            prefixes = {'edge': self.link.prefix(), 'source': self.link.prefix()}
        else:
            envs = {k: base for k in ('cloud', 'edge', 'source')}
            prefixes = {}
            edge['emulated_uplink_kbps'] = args.rate_kbps
            remap = {'runespoor/encoded': 'runespoor/encoded_edge'}
        self.watch = Watch(self.domain, 'runespoor_bench_lossy')
        if self.kind == 'emulated':
            self.relay = Relay(self.watch.node)
            self.link = self.relay
        self.graph = make_graph(self.log_dir, envs, prefixes)
        w, h = (int(v) for v in args.size.lower().split('x'))
        self.graph.start('cloud', overrides=CLOUD)
        self.graph.start('edge', overrides=edge, remappings=remap)
        self.graph.start('source', overrides={
            'mode': 'synthetic', 'pattern': 'palette', 'width': w, 'height': h,
            'rate': args.fps, 'loop': True, 'max_frames': 0, 'reliability': 'reliable'})
        ok = self.watch.spin_until(lambda: len(self.watch.maps) >= 5 or
                                   len(self.graph.alive()) < 3, args.start_timeout_s)
        if not ok or len(self.graph.alive()) < 3:
            raise RuntimeError(
                f'no SemanticMap within {args.start_timeout_s:g} s over the {self.kind} link '
                f'(nodes alive: {self.graph.alive()}); logs: ' + ' | '.join(
                    f'{k}: {self.graph.log(k)[-600:]}' for k in self.graph.procs))

    def stop(self):
        codes = self.graph.stop() if self.graph else {}
        if self.watch:
            self.watch.close()
        self.watch = None
        return codes

    def recovery(self):
        """Remove the loss; seconds until ``recovery_frames`` maps of new frames (or None)."""
        args, watch = self.args, self.watch
        self.link.set_loss(0)
        t_wall, t_mono = time.time(), time.monotonic()
        fresh = []

        def flowing():
            fresh[:] = [m for m in watch.maps if m[2] >= t_wall]
            return len(fresh) >= args.recovery_frames

        ok = watch.spin_until(flowing, args.recovery_bound_s)
        return {'recovered': bool(ok), 'bound_s': args.recovery_bound_s,
                'frames': args.recovery_frames,
                'recovery_s': round(fresh[args.recovery_frames - 1][0] - t_mono, 3)
                if ok else None}

    def blackout(self):
        """100 % loss for ``blackout_s``: no frame sent meanwhile may arrive (veth carries it)."""
        args, watch = self.args, self.watch
        self.link.set_loss(100)
        t_block = time.time()
        watch.spin_for(args.blackout_s)
        t_open = time.time()
        rec = self.recovery()  # waits for newer frames, so stragglers would be in by then
        # by the edge's send stamp (same clock): a loaded cloud may report older frames late
        leaked = sorted({f[1] for f in watch.feedback if t_block + 0.01 < f[3] < t_open - 0.01})
        return {'loss_percent': 100, 'seconds': args.blackout_s,
                'frames_received_during_blackout': len(leaked), 'leaked_sequences': leaked[:20],
                'link_verified': not leaked, **rec}

    def level(self, loss):
        """Measure one loss level, then remove the loss and measure the recovery."""
        args, watch = self.args, self.watch
        self.link.set_loss(loss)
        watch.spin_for(args.settle_s)
        c0 = self.link.counters()
        tbf0 = self.link.tbf_drops() if self.kind == 'netns' else None
        edge0 = watch.values('runespoor_edge')
        t0 = time.monotonic()
        watch.spin_for(args.phase_s)
        t1 = time.monotonic()
        c1 = self.link.counters()
        tbf1 = self.link.tbf_drops() if self.kind == 'netns' else None
        edge1 = watch.values('runespoor_edge')
        fb = [f for f in watch.feedback if t0 <= f[0] < t1]
        maps = [m for m in watch.maps if t0 <= m[0] < t1]
        sent, got = delivered(fb)
        up = {k: c1.get(k, 0) - c0.get(k, 0) for k in c1}
        packets = up.get('up_packets', 0)
        row = {
            'loss_percent': loss, 'seconds': round(t1 - t0, 2),
            'frames_sent': sent, 'frames_delivered': got,
            'delivered_fraction': round(got / sent, 4) if sent else None,
            'cloud_analysed': len(maps),
            'analysed_fps': round(len(maps) / (t1 - t0), 2),
            'uplink_kbps_delivered': round(sum(f[2] for f in fb) * 8 / 1000 / (t1 - t0), 1),
            'packets': {'uplink': packets, 'dropped_by_loss_rule': up.get('up_dropped', 0),
                        'measured_loss': round(up.get('up_dropped', 0) / packets, 4)
                        if packets else None,
                        'dropped_by_rate_limit': (tbf1 - tbf0) if tbf0 is not None
                        and tbf1 is not None else None},
            'latency_ms': map_latencies(maps)['end_to_end_ms'],
            'uplink_ms': map_latencies(maps)['uplink_ms'],
            'edge': {k: edge1.get(k) for k in ('mode', 'link_throughput_kbps',
                                               'bandwidth_used_kbps', 'bytes_per_frame_mean',
                                               'emulated_drops')},
            'edge_frames_sent_diag': (edge1.get('frames_sent', 0) - edge0.get('frames_sent', 0))
            if edge0 and edge1 else None,
        }
        if 'down_packets' in up:
            row['packets']['downlink'] = up.get('down_packets', 0)
            row['packets']['downlink_dropped'] = up.get('down_dropped', 0)
        row['after_loss_removed'] = self.recovery()
        lat = row['latency_ms']
        log(f'loss {loss:3d} %: delivered {row["delivered_fraction"]} ({got}/{sent}), '
            f'analysed {len(maps)}, e2e p50 {lat["p50"]} p90 {lat["p90"]} p99 {lat["p99"]} '
            f'ms, recovered {row["after_loss_removed"]["recovered"]} in '
            f'{row["after_loss_removed"]["recovery_s"]} s')
        return row


def main(argv=None):
    args = build_parser().parse_args(argv)
    from runespoor_cloud.testing import free_domain_id
    losses = [int(v) for v in args.losses.split(',') if v.strip()]
    domain = args.domain_id if args.domain_id is not None else free_domain_id()
    log_dir = args.log_dir or tempfile.mkdtemp(prefix='bench_lossy_')
    os.makedirs(log_dir, exist_ok=True)
    report = {'benchmark': 'edge -> cloud uplink under packet loss and a rate limit',
              'command': 'python benchmarks/bench_lossy_link.py ' + ' '.join(
                  sys.argv[1:] if argv is None else argv),
              'environment': environment(),
              'settings': {k: getattr(args, k) for k in (
                  'losses', 'rate_kbps', 'both_directions', 'phase_s', 'settle_s',
                  'blackout_s', 'recovery_bound_s', 'recovery_frames', 'fps', 'size',
                  'scale', 'quality')},
              'domain_id': domain, 'log_dir': log_dir, 'notes': []}
    report['settings']['cloud'] = CLOUD
    kind = args.link
    why = netns_unavailable() if kind != 'emulated' else 'asked for --link emulated'
    if kind == 'auto':
        kind = 'emulated' if why else 'netns'
    if kind == 'netns' and why:
        raise SystemExit(f'--link netns: {why}')

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    status = 'ok'
    levels, check, codes = [], None, {}
    while True:
        link = None
        run = None
        try:
            if kind == 'netns':
                stale = remove_stale()
                if stale:
                    report['notes'].append(f'removed stale namespaces {stale}')
                link = NetnsLink(args.rate_kbps, args.both_directions)
                link.up()
                report['link_setup'] = link.describe()
            run = Run(args, kind, link, log_dir, domain)
            log(f'link {kind}: starting cloud, edge, source (domain {domain}, logs {log_dir})')
            run.start()
            if kind == 'netns' and args.blackout_s > 0:
                check = run.blackout()
                log(f'blackout check: {check}')
                if not check['link_verified']:
                    raise RuntimeError(f'{check["frames_received_during_blackout"]} frames '
                                       'arrived with 100 % loss on the veth: DDS bypasses it')
            for loss in losses:
                levels.append(run.level(loss))
                if len(run.graph.alive()) < 3:
                    status = 'node_died'
                    break
            report['nodes_alive_at_end'] = run.graph.alive()
            break
        except KeyboardInterrupt:
            status = 'interrupted'
            break
        except RuntimeError as exc:
            if kind == 'netns' and not levels and args.link == 'auto':
                report['netns_failure'] = str(exc)
                report['notes'].append('netns+nftables did not work here; fell back to the '
                                       'emulated link (reason in netns_failure)')
                log(f'netns link failed ({exc}); falling back to the emulated link')
                kind, check = 'emulated', None
                continue
            status = 'failed'
            report['error'] = str(exc)
            log(str(exc))
            break
        finally:
            if run is not None:
                codes = run.stop()
            if link is not None:
                link.down()
    report.update({
        'link': 'netns+nftables' if kind == 'netns' else 'emulated',
        'link_detail': (f'veth + nftables numgen drop + tc tbf {args.rate_kbps:g} kbit/s'
                        if kind == 'netns' else
                        f'edge emulated_uplink_kbps={args.rate_kbps:g} (in-process token '
                        'bucket) + loss by a relay in the benchmark process' +
                        (f' ({why})' if why else '')),
        'status': status, 'link_check': check, 'levels': levels, 'exit_codes': codes,
        'summary': {str(r['loss_percent']): {
            'delivered_fraction': r['delivered_fraction'], 'cloud_analysed': r['cloud_analysed'],
            'e2e_p50_ms': r['latency_ms']['p50'], 'e2e_p90_ms': r['latency_ms']['p90'],
            'e2e_p99_ms': r['latency_ms']['p99'],
            'recovered': r['after_loss_removed']['recovered'],
            'recovery_s': r['after_loss_removed']['recovery_s']} for r in levels},
    })
    from bench_reconstruct import write_json
    write_json(args.out, 'bench_lossy_link', report)
    ok = status == 'ok' and levels and all(r['after_loss_removed']['recovered'] for r in levels)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
