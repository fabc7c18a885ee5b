"""
Write and read rosbag2 bags of camera frames with the ``rosbags`` library (no rclpy).

:func:`write_bag` stores BGR frames as ``sensor_msgs/msg/Image`` (encoding ``bgr8``) on one
topic, stamped at a fixed rate, in MCAP (default) or SQLite3 storage with a ``metadata.yaml``
that ``ros2 bag info`` / ``ros2 bag play`` read.  :func:`read_bag` yields
``(stamp_ns, bgr_image)`` back; the frame-source node uses it to replay bags.
"""

import os

import numpy as np

DEFAULT_TOPIC = '/camera/image_raw'
DEFAULT_FRAME_ID = 'camera'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
#: rosbag2 metadata version written: 8 is read by Humble's successors and by ``rosbags``.
DEFAULT_VERSION = 8


def _typestore():
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_HUMBLE)


def _storage(storage):
    from rosbags.rosbag2 import StoragePlugin
    try:
        return {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}[storage]
    except KeyError:
        raise ValueError(f'unknown bag storage {storage!r}; use mcap or sqlite3') from None


def write_bag(path, frames, fps=17.0, topic=DEFAULT_TOPIC, frame_id=DEFAULT_FRAME_ID,
              start_ns=1_600_000_000_000_000_000, storage='mcap', version=DEFAULT_VERSION):
    """
    Write ``frames`` (an iterable of BGR uint8 HxWx3 arrays) as a rosbag2 bag at ``path``.

    Frame ``k`` is stamped ``start_ns + round(k * 1e9 / fps)`` (header stamp and bag time).
    ``path`` must not exist (rosbag2 convention).  Returns the number of frames written.
    """
    from rosbags.rosbag2 import Writer
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(f'{path}: bag already exists')
    ts = _typestore()
    Image = ts.types[IMAGE_TYPE]
    Header = ts.types['std_msgs/msg/Header']
    Time = ts.types['builtin_interfaces/msg/Time']
    n = 0
    with Writer(path, version=version, storage_plugin=_storage(storage)) as writer:
        conn = writer.add_connection(topic, IMAGE_TYPE, typestore=ts)
        for k, img in enumerate(frames):
            if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3
                    and img.shape[2] == 3):
                raise ValueError(f'frame {k}: expected BGR uint8 HxWx3, got '
                                 f'{getattr(img, "shape", type(img))}')
            stamp = int(start_ns + round(k * 1e9 / fps))
            h, w = img.shape[:2]
            msg = Image(header=Header(stamp=Time(sec=stamp // 1_000_000_000,
                                                 nanosec=stamp % 1_000_000_000),
                                      frame_id=frame_id),
                        height=h, width=w, encoding='bgr8', is_bigendian=0, step=w * 3,
                        data=np.ascontiguousarray(img).reshape(-1))
            writer.write(conn, stamp, ts.serialize_cdr(msg, IMAGE_TYPE))
            n += 1
    return n


def _to_bgr(msg):
    enc = msg.encoding.lower()
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if enc in ('bgr8', 'rgb8'):
        img = data.reshape(h, step)[:, :w * 3].reshape(h, w, 3)
        return img[:, :, ::-1].copy() if enc == 'rgb8' else img.copy()
    if enc == 'mono8':
        g = data.reshape(h, step)[:, :w]
        return np.repeat(g[:, :, None], 3, axis=2)
    raise ValueError(f'unsupported image encoding {msg.encoding!r} (bgr8, rgb8, mono8)')


def read_bag(path, topic=DEFAULT_TOPIC):
    """
    Yield ``(stamp_ns, bgr_image)`` of the ``sensor_msgs/Image`` messages on ``topic``.

    The stamp is the message header stamp.  Raises ``FileNotFoundError`` naming ``path`` for a
    missing bag and ``ValueError`` if the topic is absent.
    """
    from rosbags.rosbag2 import Reader
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path}: bag not found')
    ts = _typestore()
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            raise ValueError(f'{path}: no topic {topic!r} (has: '
                             f'{", ".join(sorted({c.topic for c in reader.connections}))})')
        for conn, _t, raw in reader.messages(connections=conns):
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            yield stamp, _to_bgr(msg)


def bag_info(path):
    """Summarise a bag: message count, duration, topics (like ``ros2 bag info``)."""
    from rosbags.rosbag2 import Reader
    with Reader(os.fspath(path)) as reader:
        return {'messages': reader.message_count, 'duration_ns': reader.duration,
                'start_ns': reader.start_time, 'end_ns': reader.end_time,
                'topics': {c.topic: c.msgtype for c in reader.connections}}
