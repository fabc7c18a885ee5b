# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` <-> NumPy, without requiring cv_bridge.

The conversion follows the ``sensor_msgs/Image`` rules: ``data`` holds ``height`` rows of
``step`` bytes each (``step >= width * channels * bytes_per_channel``; the rest of a row is
padding), multi-byte channels are stored big-endian when ``is_bigendian`` is set, and
``encoding`` names the channel layout (see ``sensor_msgs/image_encodings.hpp``).

Supported encodings: ``bgr8``, ``rgb8``, ``bgra8``, ``rgba8``, ``mono8``, ``8UC1``, ``8UC3``
and ``mono16`` / ``16UC1``.  Everything else raises :class:`ImageConversionError` naming the
encoding.

Messages are duck-typed: any object with the fields of ``sensor_msgs/Image`` works, so this
module imports neither rclpy nor sensor_msgs (only :func:`numpy_to_imgmsg` does, on first use);
it lives with the nodes (the edge's, the source's, the cloud's publishers), not in the
ROS-free ``runespoor`` package.  When the real ROS 2 ``cv_bridge`` is importable
(a robot with ROS installed), :func:`imgmsg_to_bgr8` uses it (``backend() == 'cv_bridge'``);
otherwise the NumPy code below (``backend() == 'numpy'``).
"""

import sys

import cv2
import numpy as np
from runespoor import codec

#: encoding -> (channels, NumPy dtype of one channel)
ENCODINGS = {
    'bgr8': (3, np.uint8),
    'rgb8': (3, np.uint8),
    'bgra8': (4, np.uint8),
    'rgba8': (4, np.uint8),
    'mono8': (1, np.uint8),
    '8UC1': (1, np.uint8),
    '8UC3': (3, np.uint8),
    'mono16': (1, np.uint16),
    '16UC1': (1, np.uint16),
}

#: Largest side accepted from a message, a guard against absurd headers [px].
MAX_SIDE = 16384


class ImageConversionError(ValueError):
    """A message that does not follow the ``sensor_msgs/Image`` rules; the text says why."""


_BRIDGE = {}  # cache of the cv_bridge probe


def _bridge():
    """
    Return a working ``cv_bridge.CvBridge``, or ``None`` when there is none.

    A bridge counts as working when a 2x2 ``bgr8`` round trip succeeds: the PyPI ``cv-bridge``
    1.13 (a ROS 1 port that breaks on NumPy 2) fails that probe and is not used.
    """
    if 'bridge' not in _BRIDGE:
        bridge = None
        try:  # pragma: no cover - depends on the machine
            from cv_bridge import CvBridge
            candidate = CvBridge()
            probe = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
            back = candidate.imgmsg_to_cv2(candidate.cv2_to_imgmsg(probe, 'bgr8'), 'bgr8')
            if np.array_equal(np.asarray(back), probe):
                bridge = candidate
        except Exception:  # noqa: B902 - any failure means "no usable cv_bridge"
            bridge = None
        _BRIDGE['bridge'] = bridge
    return _BRIDGE['bridge']


def backend():
    """Name of the converter :func:`imgmsg_to_bgr8` uses: ``'cv_bridge'`` or ``'numpy'``."""
    return 'cv_bridge' if _bridge() is not None else 'numpy'


def _geometry(msg):
    try:
        height, width, step = int(msg.height), int(msg.width), int(msg.step)
        encoding = str(msg.encoding)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageConversionError(f'not a sensor_msgs/Image: {exc}') from exc
    if encoding not in ENCODINGS:
        raise ImageConversionError(
            f'unsupported encoding {encoding!r}; supported: {", ".join(ENCODINGS)}')
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'empty image {width}x{height}')
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageConversionError(f'image {width}x{height} larger than {MAX_SIDE} px per side')
    channels, dtype = ENCODINGS[encoding]
    row = width * channels * np.dtype(dtype).itemsize
    if step < row:
        raise ImageConversionError(
            f'step {step} < width*channels*bytes = {row} for {width}x{height} {encoding}')
    return height, width, step, encoding, channels, np.dtype(dtype)


def imgmsg_to_numpy(msg):
    """
    Return the pixels of a ``sensor_msgs/Image`` as an array in the message's own encoding.

    Shape ``H x W`` for one channel, ``H x W x C`` otherwise; dtype uint8 or uint16 (native byte
    order).  Row padding is removed.  The result never aliases ``msg.data``.
    """
    height, width, step, encoding, channels, dtype = _geometry(msg)
    buf = np.frombuffer(memoryview(msg.data).cast('B'), dtype=np.uint8)
    if buf.size < step * height:
        raise ImageConversionError(
            f'data has {buf.size} bytes, expected step*height = {step}*{height} = {step * height}')
    rows = buf[:step * height].reshape(height, step)
    row = width * channels * dtype.itemsize
    pixels = rows[:, :row]
    if dtype.itemsize > 1:
        order = '>' if bool(getattr(msg, 'is_bigendian', False)) else '<'
        pixels = np.ascontiguousarray(pixels).view(dtype.newbyteorder(order))
        pixels = pixels.astype(dtype.newbyteorder('='))
    else:
        pixels = pixels.copy()
    if channels == 1:
        return pixels.reshape(height, width)
    return pixels.reshape(height, width, channels)


def _to_bgr8_numpy(msg):
    image = imgmsg_to_numpy(msg)
    encoding = str(msg.encoding)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if encoding in ('bgr8', '8UC3'):
        return image
    if encoding == 'rgb8':
        return np.ascontiguousarray(image[..., ::-1])
    if encoding == 'bgra8':
        return np.ascontiguousarray(image[..., :3])
    if encoding == 'rgba8':
        return np.ascontiguousarray(image[..., 2::-1])
    raise ImageConversionError(f'cannot convert {encoding!r} to bgr8')  # pragma: no cover


def imgmsg_to_bgr8(msg, use_cv_bridge=True):
    """
    Convert a ``sensor_msgs/Image`` to a ``H x W x 3`` uint8 BGR array (OpenCV order).

    Colour encodings are reordered, mono is replicated to three channels and 16-bit mono is
    reduced to its upper 8 bits.  Raises :class:`ImageConversionError` for malformed messages.
    """
    bridge = _bridge() if use_cv_bridge else None
    if bridge is not None:  # pragma: no cover - only on a machine with ROS 2 cv_bridge
        _geometry(msg)
        try:
            return bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
        except Exception as exc:  # noqa: B902 - cv_bridge raises several types
            raise ImageConversionError(f'cv_bridge: {exc}') from exc
    return _to_bgr8_numpy(msg)


def fill_imgmsg(msg, array, encoding):
    """
    Fill ``msg`` (a ``sensor_msgs/Image`` or look-alike) with ``array`` in ``encoding``.

    ``array`` is ``H x W`` or ``H x W x C`` matching the encoding's channel count and dtype.
    Writes ``height``, ``width``, ``encoding``, ``is_bigendian`` (the machine's order),
    ``step`` (no padding) and ``data``; the header is left alone.  Returns ``msg``.
    """
    if encoding not in ENCODINGS:
        raise ImageConversionError(
            f'unsupported encoding {encoding!r}; supported: {", ".join(ENCODINGS)}')
    channels, dtype = ENCODINGS[encoding]
    array = np.asarray(array)
    if array.dtype != dtype:
        raise ImageConversionError(f'{encoding} needs dtype {np.dtype(dtype)}, got {array.dtype}')
    shape_ok = (array.ndim == 2 and channels == 1) or (
        array.ndim == 3 and array.shape[2] == channels)
    if not shape_ok:
        raise ImageConversionError(f'{encoding} needs {channels} channel(s), got {array.shape}')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageConversionError(f'empty image of shape {array.shape}')
    array = np.ascontiguousarray(array)
    msg.height = int(array.shape[0])
    msg.width = int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(sys.byteorder == 'big' and np.dtype(dtype).itemsize > 1)
    msg.step = int(array.shape[1] * channels * np.dtype(dtype).itemsize)
    msg.data = array.tobytes()
    return msg


def numpy_to_imgmsg(array, encoding, header=None, msg_type=None):
    """
    Return a new ``sensor_msgs/Image`` holding ``array`` (see :func:`fill_imgmsg`).

    ``msg_type`` defaults to ``sensor_msgs.msg.Image`` (imported on first use); ``header`` is
    copied into the message when given.
    """
    if msg_type is None:
        from sensor_msgs.msg import Image as msg_type  # noqa: N813 - lazy ROS import
    msg = msg_type()
    if header is not None:
        msg.header = header
    return fill_imgmsg(msg, array, encoding)


def compressed_to_bgr8(msg, max_pixels=None, messages=None):
    """
    Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG in ``data``) to a BGR uint8 array.

    The frame size is read from the JPEG/PNG header first and a frame above ``max_pixels``
    (default :data:`runespoor.codec.MAX_DECODE_PIXELS`) is refused before decoding.  The
    decoder's warnings about damaged data are appended to the list ``messages`` when given.
    Raises :class:`ImageConversionError` on empty, oversized or undecodable data.
    """
    buf = memoryview(msg.data).cast('B') if not isinstance(msg.data, (bytes, bytearray)) \
        else msg.data
    if len(buf) == 0:
        raise ImageConversionError('empty CompressedImage payload')
    try:
        image, notes = codec.decode_image(
            bytes(buf), max_pixels=codec.MAX_DECODE_PIXELS if max_pixels is None else max_pixels,
            capture=True)
    except codec.CodecError as exc:
        fmt = getattr(msg, 'format', '?')
        raise ImageConversionError(f'undecodable CompressedImage ({len(buf)} bytes, format '
                                   f'{fmt!r}): {exc}') from exc
    if messages is not None:
        messages.extend(notes)
    return image
