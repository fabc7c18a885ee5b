# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The cloud node's task-specific publishers, picked by :attr:`runespoor.tasks.Task.ros_output`.

An output is a class built with the node (``Output(node)``: create the publishers) whose
``publish(frame, result)`` sends one analysed frame's result message and, through the node's
helpers, the tail flag and the rate policy.  :class:`SemanticMapOutput` (segmentation:
``runespoor/semantic_map`` + ``/color``) and :class:`DetectionsOutput` (detection:
``runespoor/detections`` + ``/image``) are the built-in ones; :class:`FlagOnlyOutput` serves a
plug-in task without its own message (tail flag, policy, reconstruction and diagnostics only).
A plug-in task names its own class here as ``package.module:Class``.
"""

import array
import time

from rclpy.qos import qos_profile_sensor_data
from runespoor.map_output import encode_map
from runespoor.tasks.detection.analytics import category_name, draw_detections
from runespoor_edge import image_conv
from runespoor_edge.ros_common import RESULT_QOS
from runespoor_msgs.msg import Detection2D, Detection2DArray, SemanticMap
from sensor_msgs.msg import Image


class FlagOnlyOutput:
    """No result message of its own: the tail flag and the policy (and the common outputs)."""

    def __init__(self, node):
        self.node = node

    def publish(self, frame, res):
        """Publish the tail flag (and a policy the frame brought)."""
        node = self.node
        flag = node.flag_and_policy(res, frame.ros_header)
        node.send_result(None, None, flag, frame, res)


class SemanticMapOutput:
    """Segmentation: ``SemanticMap`` (as ``map_output`` says) and the colour image for RViz."""

    def __init__(self, node):
        self.node = node
        self.map_pub = node.create_publisher(SemanticMap, 'runespoor/semantic_map',
                                             RESULT_QOS)
        self.color_pub = node.create_publisher(Image, 'runespoor/semantic_map/color',
                                               qos_profile_sensor_data)

    def publish(self, frame, res):
        """Publish the map of ``res`` (and its colour image when someone listens)."""
        node = self.node
        header = frame.ros_header
        t0 = time.perf_counter()
        m = SemanticMap()
        node.fill_result(m, res, header)
        packed = encode_map(res.output, node.get_parameter('map_output').value,
                            node.get_parameter('map_downsample').value)
        if packed.labels is not None:
            image_conv.fill_imgmsg(m.labels, packed.labels, 'mono8')
        else:
            m.labels.encoding = 'mono8'  # 0 x 0: the map is in labels_compressed or absent
        m.labels.header = header
        if packed.png is not None:
            m.labels_compressed.header = header
            m.labels_compressed.format = 'png'
            m.labels_compressed.data = array.array('B', packed.png)
        m.source_width, m.source_height = int(frame.source_width), int(frame.source_height)
        m.class_shares = array.array('f', packed.class_shares)
        m.small_region_ratio = float(res.signal)
        m.uplink_ms = node.uplink_ms(frame)
        flag = node.flag_and_policy(res, header)
        m.postprocess_ms = float(res.latencies_ms['postprocess_ms'] +
                                 (time.perf_counter() - t0) * 1e3)
        node.send_result(self.map_pub, m, flag, frame, res)
        if node.get_parameter('publish_color').value and \
                self.color_pub.get_subscription_count() > 0:
            from runespoor.labels import colorize
            self.color_pub.publish(image_conv.numpy_to_imgmsg(
                colorize(res.output, bgr=False), 'rgb8', header))


class DetectionsOutput:
    """Detection: ``Detection2DArray`` and the boxes drawn on the reconstruction for RViz."""

    def __init__(self, node):
        self.node = node
        self.det_pub = node.create_publisher(Detection2DArray, 'runespoor/detections',
                                             RESULT_QOS)
        self.image_pub = node.create_publisher(Image, 'runespoor/detections/image',
                                               qos_profile_sensor_data)

    def publish(self, frame, res):
        """Publish the boxes of ``res`` (and the drawn image when someone listens)."""
        node = self.node
        header = frame.ros_header
        msg = Detection2DArray()
        node.fill_result(msg, res, header)
        msg.source_width, msg.source_height = int(frame.source_width), int(frame.source_height)
        dets = res.output
        rows = zip(dets.boxes.tolist(), dets.scores.tolist(), dets.labels.tolist())
        msg.detections = [Detection2D(class_id=int(cls), label=category_name(cls),
                                      score=float(score), x=float(x1), y=float(y1),
                                      width=float(x2 - x1), height=float(y2 - y1))
                          for (x1, y1, x2, y2), score, cls in rows]
        msg.small_box_share = float(res.signal)
        flag = node.flag_and_policy(res, header)
        node.send_result(self.det_pub, msg, flag, frame, res)
        if self.image_pub.get_subscription_count() > 0:
            self.image_pub.publish(image_conv.numpy_to_imgmsg(
                draw_detections(res.reconstructed, dets), 'bgr8', header))


def make_output(task, node):
    """Return the output of ``task`` (:attr:`runespoor.tasks.Task.ros_output`) for ``node``."""
    from runespoor.tasks import import_object
    cls = import_object(task.ros_output, f'ros_output of task {task.name}') \
        if task.ros_output else FlagOnlyOutput
    return cls(node)
