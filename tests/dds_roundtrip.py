#!/usr/bin/env python3
"""
Publish or receive every runespoor_msgs message over DDS, for the round-trip test.

    dds_roundtrip.py pub  [--timeout S]   # publish one filled instance of each type, repeatedly
    dds_roundtrip.py sub  [--timeout S]   # print the first instance received of each type

Each message is filled deterministically with a distinct, non-default value in every field
(recursing into nested messages and sequences), so a field that the middleware drops or
mangles shows up as a difference.  Both modes print one JSON line per type:
``{"type": "EncodedFrame", "msg": {...}}`` — the publisher what it sent, the subscriber what
it got.  The test compares the two in a third process.
"""

import argparse
import importlib
import json
import sys
import time

import rclpy
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

TYPES = ['KnobConfig', 'EncodedFrame', 'SemanticMap', 'TailFrameFlag', 'RatePolicy',
         'LinkFeedback', 'Detection2D', 'Detection2DArray']

_INT_RANGES = {
    'byte': (0, 255), 'octet': (0, 255), 'char': (0, 127), 'uint8': (0, 255), 'int8': (-128, 127),
    'uint16': (0, 65535), 'int16': (-32768, 32767), 'uint32': (0, 2**32 - 1),
    'int32': (-2**31, 2**31 - 1), 'uint64': (0, 2**64 - 1), 'int64': (-2**63, 2**63 - 1),
}


def _message_class(type_name):
    pkg, name = type_name.split('/')[0], type_name.split('/')[-1]
    return getattr(importlib.import_module(pkg + '.msg'), name)


class Filler:
    """Assign a distinct non-default value to every field, deterministically."""

    def __init__(self):
        self.counter = 0

    def _next(self):
        self.counter += 1
        return self.counter

    def value(self, type_str):
        """Return a value for a field of ROS IDL type ``type_str``."""
        if type_str.startswith('sequence<'):
            inner = type_str[len('sequence<'):-1].split(',')[0].strip()
            return [self.value(inner) for _ in range(3)]
        if type_str.endswith(']'):
            inner, size = type_str[:-1].split('[')
            return [self.value(inner) for _ in range(int(size))]
        base = type_str.split('<=')[0]
        n = self._next()
        if base in _INT_RANGES:
            lo, hi = _INT_RANGES[base]
            # Large values for wide types exercise the upper bytes too.
            v = hi - n if hi > 65535 else lo + 1 + (n * 37) % (hi - lo)
            return v
        if base in ('float', 'double'):
            return float(n) + 0.25  # exactly representable in float32
        if base == 'boolean':
            return True
        if base in ('string', 'wstring'):
            return f'field-{n}'
        return self.message(_message_class(base))

    def message(self, cls):
        """Return an instance of ``cls`` with every field set."""
        msg = cls()
        for field, type_str in cls.get_fields_and_field_types().items():
            val = self.value(type_str)
            if type_str in ('sequence<uint8>', 'sequence<octet>', 'sequence<byte>'):
                val = bytes(v % 256 for v in val) if type_str != 'sequence<byte>' else \
                    [bytes([v % 256]) for v in val]
            setattr(msg, field, val)
        return msg


def canonical(value):
    """Convert a message (or field value) into plain JSON-able data."""
    if hasattr(value, 'get_fields_and_field_types'):
        return {f: canonical(getattr(value, f)) for f in value.get_fields_and_field_types()}
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, (list, tuple)) or type(value).__name__ == 'array':
        return [canonical(v) for v in value]
    return value


def filled_messages():
    """Return ``{type name: filled message}`` for every runespoor_msgs type."""
    filler = Filler()
    return {name: filler.message(_message_class('runespoor_msgs/' + name)) for name in TYPES}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('mode', choices=['pub', 'sub'])
    parser.add_argument('--timeout', type=float, default=30.0)
    args = parser.parse_args(argv)

    qos = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.VOLATILE)
    rclpy.init()
    node = rclpy.create_node('dds_roundtrip_' + args.mode)
    deadline = time.monotonic() + args.timeout
    try:
        if args.mode == 'pub':
            messages = filled_messages()
            pubs = {n: node.create_publisher(type(m), 'roundtrip/' + n, qos)
                    for n, m in messages.items()}
            for name, msg in messages.items():
                print(json.dumps({'type': name, 'msg': canonical(msg)}), flush=True)
            while time.monotonic() < deadline:
                for name, msg in messages.items():
                    pubs[name].publish(msg)
                rclpy.spin_once(node, timeout_sec=0.1)
            return 0
        received = {}

        def make_callback(name):
            def callback(msg):
                if name not in received:
                    received[name] = canonical(msg)
                    print(json.dumps({'type': name, 'msg': received[name]}), flush=True)
            return callback

        subs = [node.create_subscription(_message_class('runespoor_msgs/' + n), 'roundtrip/' + n,
                                         make_callback(n), qos) for n in TYPES]
        while len(received) < len(TYPES) and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        del subs
        missing = sorted(set(TYPES) - set(received))
        if missing:
            print('missing: ' + ', '.join(missing), file=sys.stderr)
            return 1
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
