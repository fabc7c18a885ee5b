# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Bad-input warnings of the nodes: the first of each kind at once, then at most once a second."""

from runespoor_edge import node_main
from runespoor_edge.node_main import ThrottledWarnings


class Logger:
    def __init__(self):
        self.lines = []

    def warning(self, text):
        self.lines.append(text)


def test_one_warning_per_kind_per_second(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(node_main.time, 'monotonic', lambda: now[0])
    log = Logger()
    warn = ThrottledWarnings(log, period_s=1.0)
    for i in range(50):  # a flood of damaged JPEGs within 0.5 s
        now[0] = 100.0 + i * 0.01
        warn.warn('decoder', f'damaged {i}')
    warn.warn('bad_size', 'too big')  # another kind is not held back by the flood
    assert log.lines == ['damaged 0', 'too big']
    now[0] = 100.99
    warn.warn('decoder', 'still within the second')
    now[0] = 101.0
    warn.warn('decoder', 'a second later')
    assert log.lines == ['damaged 0', 'too big', 'a second later']
