# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
What every Runespoor node shares on the ROS side: QoS profiles, stamps, parameter descriptors.

The edge, the cloud (one robot or a fleet) and the source node import these, so the two ends
of a topic cannot drift apart (docs/nodes.md, "QoS").  Lives in ``runespoor_edge``, the
package a robot installs anyway; the cloud package depends on it.
"""

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)


def _qos(depth, reliable=True, latched=False):
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=(ReliabilityPolicy.RELIABLE if reliable
                                   else ReliabilityPolicy.BEST_EFFORT),
                      durability=(DurabilityPolicy.TRANSIENT_LOCAL if latched
                                  else DurabilityPolicy.VOLATILE))


#: The uplink of encoded frames, by the edge's ``uplink_reliability``; the cloud subscribes
#: best effort, which accepts both.
UPLINK_QOS = {'best_effort': _qos(5, reliable=False), 'reliable': _qos(5)}
#: The camera images into the edge (and out of the source node), by ``input_reliability`` /
#: ``reliability``: sensor data (best effort, like most camera drivers) or reliable, 2 deep.
CAMERA_QOS = {'best_effort': qos_profile_sensor_data, 'reliable': _qos(2)}
#: RatePolicy: reliable and latched, so a (re)started edge gets the mode in force.
POLICY_QOS = _qos(1, latched=True)
#: LinkFeedback: one per received frame, reliable so the bandwidth estimate sees every one.
FEEDBACK_QOS = _qos(20)
#: Results (maps, detections, tail flags): reliable, a few deep, so consumers get every one.
RESULT_QOS = _qos(10)
#: /diagnostics.
DIAG_QOS = _qos(10)


def stamp_to_s(stamp):
    """``builtin_interfaces/Time`` -> seconds (float)."""
    return stamp.sec + stamp.nanosec * 1e-9


def int_range(lo, hi, step=1):
    """Return the ``integer_range`` of a parameter descriptor."""
    return [IntegerRange(from_value=int(lo), to_value=int(hi), step=int(step))]


def float_range(lo, hi):
    """Return the ``floating_point_range`` of a parameter descriptor (no step)."""
    return [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]


def describe(text, read_only=False, lo=None, hi=None, kind=float, **kw):
    """
    Return a ``ParameterDescriptor``: ``text``, read-only or not, and a range.

    ``lo``/``hi`` give a float range (``kind=float``) or an integer range (``kind=int``).
    """
    if lo is not None:
        key = 'floating_point_range' if kind is float else 'integer_range'
        kw[key] = float_range(lo, hi) if kind is float else int_range(lo, hi)
    return ParameterDescriptor(description=text, read_only=read_only, **kw)
