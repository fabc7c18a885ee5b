# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Link shaping for the CAC experiment (paper §5.3 shapes the edge's uplink with Linux ``tc``).

Two implementations:

(a) **Real** -- :class:`ShapedLink`: two network namespaces (``<name>-edge`` and
    ``<name>-cloud``) joined by a veth pair; the edge side's egress (the uplink) goes through a
    token-bucket filter (``tc tbf``, the rate) under ``netem`` (the one-way delay), the cloud
    side's egress gets the same delay only.  Processes are started inside a namespace with
    :meth:`ShapedLink.exec_prefix`.  A multicast route on each veth lets DDS discovery work
    between the namespaces.  The namespaces (and with them the veth pair and qdiscs) are
    always deleted on exit, also after a failed setup.  Needs root, ``ip`` and ``tc``;
    :func:`netns_available` says whether this machine can.  Some kernels (containers) have
    ``tbf`` but no ``sch_netem``: then a delay cannot be added (see ``require_delay``).
(b) **Emulated** -- :class:`TokenBucket`: an in-process token bucket that tells a sender how
    long to wait before a message may leave.  Use it where namespaces are not available, and
    report it as emulation (``TokenBucket.kind``): it shapes what the sender does, not the
    kernel's queues.

Rates are Mbit/s (10**6 bit/s) for :class:`ShapedLink` and bit/s for :class:`TokenBucket`.
"""

import os
import shutil
import subprocess
import threading

#: Address block of the veth pair (edge .1, cloud .2).
DEFAULT_SUBNET = '10.213.{n}.{host}'


class ShaperError(RuntimeError):
    """A shaping command that failed; the message holds the command and its error output."""


def _run(cmd, check=True):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=20)
    if check and proc.returncode != 0:
        raise ShaperError(f'{" ".join(cmd)} failed ({proc.returncode}): '
                          f'{proc.stderr.strip() or proc.stdout.strip()}')
    return proc


def netns_unavailable_reason():
    """Return why network namespaces cannot be used here, or None when they can."""
    if os.name != 'posix' or not hasattr(os, 'geteuid'):
        return 'not a POSIX system'
    if os.geteuid() != 0:
        return 'needs root (ip netns add, tc qdisc)'
    for tool in ('ip', 'tc'):
        if shutil.which(tool) is None:
            return f'the {tool!r} command is not installed (iproute2)'
    probe = f'rsp-probe-{os.getpid()}'
    try:
        proc = _run(['ip', 'netns', 'add', probe], check=False)
        if proc.returncode != 0:
            return f'ip netns add failed: {proc.stderr.strip()}'
    except (OSError, subprocess.SubprocessError) as exc:
        return f'ip netns add failed: {exc}'
    finally:
        try:
            _run(['ip', 'netns', 'del', probe], check=False)
        except (OSError, subprocess.SubprocessError):
            pass
    return None


def netns_available():
    """Return True if :class:`ShapedLink` can run here (root, iproute2, netns support)."""
    return netns_unavailable_reason() is None


def _tbf_args(rate_mbit, burst_bytes, latency_ms):
    return ['tbf', 'rate', f'{float(rate_mbit):g}mbit', 'burst', str(int(burst_bytes)),
            'latency', f'{float(latency_ms):g}ms']


class ShapedLink:
    """
    Two network namespaces joined by a veth pair whose edge -> cloud direction is shaped.

    Constructor arguments:
        rate_mbit: uplink rate (edge -> cloud) [Mbit/s].
        delay_ms: one-way delay added in both directions [ms] (0: none).
        name: prefix of the namespace names (default ``rsp<pid>``); at most 8 characters are
            used in interface names.
        burst_bytes: token-bucket depth (default: 10 ms at the rate, at least 4 KiB).
        latency_ms: most time a packet may wait in the token bucket before it is dropped.
        subnet: third octet of ``10.213.<n>.0/30`` (default: derived from the pid).
        require_delay: with ``delay_ms > 0`` on a kernel without ``sch_netem``, raise (True)
            or shape the rate only and say so in ``notes`` (False; ``delay_applied`` False).

    Use as a context manager; ``edge`` / ``cloud`` hold the namespace names and ``edge_ip`` /
    ``cloud_ip`` the addresses.  ``kind`` is ``'netns+tc'``.
    """

    kind = 'netns+tc'

    def __init__(self, rate_mbit, delay_ms=0.0, name=None, burst_bytes=None, latency_ms=400.0,
                 subnet=None, require_delay=True):
        if not rate_mbit > 0:
            raise ValueError(f'rate_mbit {rate_mbit!r} must be > 0')
        if delay_ms < 0:
            raise ValueError(f'delay_ms {delay_ms!r} must be >= 0')
        self.name = (name or f'rsp{os.getpid() % 100000}')[:8]
        self.edge = f'{self.name}-edge'
        self.cloud = f'{self.name}-cloud'
        self._veth_edge = f'{self.name}e'
        self._veth_cloud = f'{self.name}c'
        n = (os.getpid() % 250) + 1 if subnet is None else int(subnet)
        self.edge_ip = DEFAULT_SUBNET.format(n=n, host=1)
        self.cloud_ip = DEFAULT_SUBNET.format(n=n, host=2)
        self.rate_mbit = float(rate_mbit)
        self.delay_ms = float(delay_ms)
        self.burst_bytes = burst_bytes
        self.latency_ms = float(latency_ms)
        self.require_delay = bool(require_delay)
        self.delay_applied = False
        self.notes = []
        self.active = False

    # -- commands ----------------------------------------------------------------------
    def exec_prefix(self, ns):
        """Return the command prefix that runs a program in ``ns`` (``'edge'`` or ``'cloud'``)."""
        name = {'edge': self.edge, 'cloud': self.cloud}.get(ns, ns)
        if name not in (self.edge, self.cloud):
            raise ValueError(f'unknown namespace {ns!r}; use edge or cloud')
        return ['ip', 'netns', 'exec', name]

    def address(self, ns):
        """Return the IPv4 address of the ``'edge'`` or ``'cloud'`` side."""
        return {'edge': self.edge_ip, 'cloud': self.cloud_ip}[ns]

    def _ns(self, ns, *cmd):
        return _run(['ip', 'netns', 'exec', ns] + list(cmd))

    def _burst(self, rate_mbit):
        if self.burst_bytes:
            return int(self.burst_bytes)
        return max(4096, int(rate_mbit * 1e6 / 8 * 0.01))

    def _shape_args(self, rate_mbit):
        return _tbf_args(rate_mbit, self._burst(rate_mbit), self.latency_ms)

    # -- life cycle --------------------------------------------------------------------
    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def setup(self):
        """Create the namespaces, the veth pair, addresses, routes and qdiscs."""
        try:
            for ns in (self.edge, self.cloud):
                _run(['ip', 'netns', 'del', ns], check=False)  # a leftover of a crashed run
                _run(['ip', 'netns', 'add', ns])
            self.active = True
            _run(['ip', 'link', 'add', self._veth_edge, 'netns', self.edge, 'type', 'veth',
                  'peer', 'name', self._veth_cloud, 'netns', self.cloud])
            for ns, dev, ip in ((self.edge, self._veth_edge, self.edge_ip),
                                (self.cloud, self._veth_cloud, self.cloud_ip)):
                self._ns(ns, 'ip', 'addr', 'add', f'{ip}/30', 'dev', dev)
                self._ns(ns, 'ip', 'link', 'set', 'dev', dev, 'up')
                self._ns(ns, 'ip', 'link', 'set', 'dev', 'lo', 'up')
                self._ns(ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', dev)
            self.delay_applied = self.delay_ms > 0 and self._add_delay()
            where = ['parent', '1:1'] if self.delay_applied else ['root']
            self._ns(self.edge, 'tc', 'qdisc', 'add', 'dev', self._veth_edge, *where,
                     'handle', '10:', *self._shape_args(self.rate_mbit))
        except BaseException:
            self.teardown()
            raise

    def _add_delay(self):
        """Add the netem delay on both sides; False (or raise) when the kernel lacks netem."""
        for ns, dev in ((self.edge, self._veth_edge), (self.cloud, self._veth_cloud)):
            try:
                self._ns(ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:',
                         'netem', 'delay', f'{self.delay_ms:g}ms', 'limit', '10000')
            except ShaperError as exc:
                if 'unknown' not in str(exc).lower() or self.require_delay:
                    raise ShaperError(f'{exc} (the kernel has no sch_netem; pass '
                                      'require_delay=False to shape the rate only)') from exc
                if ns == self.cloud:  # the edge side got netem already: take it off
                    self._ns(self.edge, 'tc', 'qdisc', 'del', 'dev', self._veth_edge, 'root')
                self.notes.append(f'delay {self.delay_ms:g} ms not applied: netem is not '
                                  'available in this kernel')
                return False
        return True

    def set_rate(self, rate_mbit):
        """Change the uplink rate [Mbit/s] of the running link (``tc qdisc change``)."""
        if not rate_mbit > 0:
            raise ValueError(f'rate_mbit {rate_mbit!r} must be > 0')
        if not self.active:
            raise ShaperError('set_rate on a link that is not set up')
        where = ['parent', '1:1'] if self.delay_applied else ['root']
        self._ns(self.edge, 'tc', 'qdisc', 'change', 'dev', self._veth_edge, *where,
                 'handle', '10:', *self._shape_args(rate_mbit))
        self.rate_mbit = float(rate_mbit)

    def qdisc_show(self):
        """Return ``tc -s qdisc show`` of the edge side (for logs)."""
        return self._ns(self.edge, 'tc', '-s', 'qdisc', 'show', 'dev',
                        self._veth_edge).stdout

    def teardown(self):
        """Delete both namespaces (the veth pair and qdiscs go with them); never raises."""
        for ns in (self.edge, self.cloud):
            try:
                _run(['ip', 'netns', 'del', ns], check=False)
            except (OSError, subprocess.SubprocessError):
                pass
        self.active = False


class TokenBucket:
    """
    In-process token-bucket shaper (emulation; ``kind = 'token-bucket (in-process emulation)'``).

    Tokens are bytes; they accrue at ``rate_bps / 8`` per second up to ``burst`` bytes.  A
    message of ``n`` bytes takes ``n`` tokens; when there are not enough the bucket goes into
    debt and :meth:`delay_for` returns how long the sender must wait so that the message leaves
    at the shaped rate (later messages queue behind it).  Thread-safe.
    """

    kind = 'token-bucket (in-process emulation)'

    def __init__(self, rate_bps, burst, now=0.0):
        if not rate_bps > 0:
            raise ValueError(f'rate_bps {rate_bps!r} must be > 0')
        if not burst >= 0:
            raise ValueError(f'burst {burst!r} must be >= 0')
        self.rate_bps = float(rate_bps)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = float(now)
        self._lock = threading.Lock()

    def _refill(self, now):
        now = float(now)
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate_bps / 8.0)
            self.last = now

    def delay_for(self, nbytes, now):
        """Take ``nbytes`` at time ``now`` [s]; return the seconds to wait before sending."""
        if nbytes < 0:
            raise ValueError(f'nbytes {nbytes!r} must be >= 0')
        with self._lock:
            self._refill(now)
            self.tokens -= float(nbytes)
            if self.tokens >= 0:
                return 0.0
            return -self.tokens * 8.0 / self.rate_bps

    def set_rate(self, rate_bps, now):
        """Change the rate at time ``now`` [s] (tokens accrued so far are kept)."""
        if not rate_bps > 0:
            raise ValueError(f'rate_bps {rate_bps!r} must be > 0')
        with self._lock:
            self._refill(now)
            self.rate_bps = float(rate_bps)
