# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Link shaping: token-bucket arithmetic, and a real netns + tc link when the machine allows."""

import subprocess
import sys
import time

import pytest

from runespoor.cac.shaper import netns_unavailable_reason, ShapedLink, TokenBucket


def test_token_bucket_arithmetic():
    tb = TokenBucket(rate_bps=8000, burst=500)   # 1000 bytes/s
    assert tb.delay_for(500, 0.0) == 0.0          # the burst goes at once
    assert tb.delay_for(1000, 0.0) == pytest.approx(1.0)
    assert tb.delay_for(500, 0.0) == pytest.approx(1.5)  # queued behind the previous one
    # at t = 3 s the debt of 1500 bytes is paid and 500 more accrued (capped at the burst)
    assert tb.delay_for(250, 3.0) == 0.0
    assert tb.tokens == pytest.approx(250.0)
    tb.set_rate(16000, 3.0)
    assert tb.delay_for(2250, 3.0) == pytest.approx(1.0)
    assert 'emulation' in TokenBucket.kind


def test_token_bucket_long_run_rate():
    tb = TokenBucket(rate_bps=5e6, burst=10000)
    now, sent = 0.0, 0
    for _ in range(2000):
        now += tb.delay_for(1500, now)   # send, then wait as told
        sent += 1500
    assert sent * 8 / now == pytest.approx(5e6, rel=0.01)


def test_token_bucket_rejects_bad_values():
    with pytest.raises(ValueError):
        TokenBucket(0, 10)
    with pytest.raises(ValueError):
        TokenBucket(100, 10).delay_for(-1, 0.0)


RECEIVER = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(20)
print('ready', flush=True)
c, _ = s.accept(); total = 0; first = last = None
while True:
    b = c.recv(65536)
    if not b:
        break
    now = time.monotonic(); first = first or now; last = now; total += len(b)
print(total, last - first, flush=True)
"""

SENDER = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
c.sendall(b'x' * int(sys.argv[3])); c.close()
"""

NETNS_REASON = netns_unavailable_reason()


@pytest.mark.skipif(NETNS_REASON is not None,
                    reason=f'network namespaces unavailable: {NETNS_REASON}')
def test_shaped_link_rate_between_namespaces():
    nbytes = 900_000   # ~1.4 s at 5 Mbit/s
    link = ShapedLink(5.0, name=f't{time.monotonic_ns() % 10000}')
    with link:
        assert 'tbf' in link.qdisc_show()
        recv = subprocess.Popen(link.exec_prefix('cloud') + [
            sys.executable, '-c', RECEIVER, link.cloud_ip, '5901'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert recv.stdout.readline().strip() == 'ready'
            subprocess.run(link.exec_prefix('edge') + [
                sys.executable, '-c', SENDER, link.cloud_ip, '5901', str(nbytes)],
                check=True, timeout=30)
            out, err = recv.communicate(timeout=30)
        finally:
            if recv.poll() is None:
                recv.kill()
        total, seconds = out.split()
        assert int(total) == nbytes, err
        mbit = int(total) * 8 / float(seconds) / 1e6
        print(f'measured {mbit:.2f} Mbit/s through a 5 Mbit/s tbf link')
        assert 3.5 <= mbit <= 6.5, f'measured {mbit:.2f} Mbit/s through a 5 Mbit/s link'
        link.set_rate(2.0)
        assert '2Mbit' in link.qdisc_show()
    listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    assert link.edge not in listed and link.cloud not in listed
    assert not link.active


@pytest.mark.skipif(NETNS_REASON is not None,
                    reason=f'network namespaces unavailable: {NETNS_REASON}')
def test_shaped_link_cleans_up_after_an_error():
    link = ShapedLink(5.0, name=f'u{time.monotonic_ns() % 10000}')
    with pytest.raises(RuntimeError):
        with link:
            raise RuntimeError('boom')
    listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    assert link.edge not in listed and link.cloud not in listed
    assert link.exec_prefix('edge') == ['ip', 'netns', 'exec', link.edge]


@pytest.mark.skipif(NETNS_REASON is not None,
                    reason=f'network namespaces unavailable: {NETNS_REASON}')
def test_shaped_link_delay_uses_netem_or_says_it_cannot():
    link = ShapedLink(5.0, delay_ms=20, name=f'd{time.monotonic_ns() % 10000}',
                      require_delay=False)
    with link:
        shown = link.qdisc_show()
        if link.delay_applied:
            assert 'netem' in shown and not link.notes
        else:  # e.g. a container kernel without sch_netem: rate only, and it says so
            assert 'netem' not in shown and 'tbf' in shown
            assert 'not applied' in link.notes[0]
        link.set_rate(3.0)
        assert '3Mbit' in link.qdisc_show()
    listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    assert link.edge not in listed
