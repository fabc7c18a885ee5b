# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
sensor_msgs/Image encoding rules: step padding, endianness, channel orders, bad messages.

And hostile input (fixed seeds, so a failure reproduces): whatever arrives, the converters
return an image or raise :class:`ImageConversionError` - never another exception, and never a
decode of a frame whose header the size limit already refuses.
"""

import random
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from runespoor import codec
from runespoor.testing import mutate_jpeg, set_jpeg_size
from runespoor_edge import image_conv
from runespoor_edge.image_conv import ImageConversionError


def make_msg(array, encoding, step=None, bigendian=False):
    """Build a duck-typed Image by hand, independently of the module under test."""
    array = np.asarray(array)
    height, width = array.shape[:2]
    row = array[0].nbytes
    step = row if step is None else step
    dtype = array.dtype.newbyteorder('>' if bigendian else '<')
    rows = np.ascontiguousarray(array.astype(dtype)).view(np.uint8).reshape(height, row)
    padded = np.zeros((height, step), np.uint8)
    padded[:, :row] = rows
    padded[:, row:] = 0xAB  # garbage in the padding must be ignored
    return SimpleNamespace(height=height, width=width, encoding=encoding,
                           is_bigendian=int(bigendian), step=step, data=padded.tobytes())


def rgb_pattern(h=5, w=7):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize('pad', [0, 1, 3, 16])
def test_bgr8_with_row_padding(pad):
    bgr = rgb_pattern()
    msg = make_msg(bgr, 'bgr8', step=bgr.shape[1] * 3 + pad)
    np.testing.assert_array_equal(image_conv.imgmsg_to_numpy(msg), bgr)
    np.testing.assert_array_equal(image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False), bgr)


def test_rgb8_is_reordered_to_bgr():
    rgb = rgb_pattern()
    msg = make_msg(rgb, 'rgb8', step=rgb.shape[1] * 3 + 2)
    np.testing.assert_array_equal(image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False),
                                  rgb[..., ::-1])


def test_rgba8_and_bgra8_drop_alpha():
    rgb = rgb_pattern()
    alpha = np.full(rgb.shape[:2] + (1,), 7, np.uint8)
    bgr = image_conv.imgmsg_to_bgr8(make_msg(np.concatenate([rgb, alpha], 2), 'rgba8'),
                                    use_cv_bridge=False)
    np.testing.assert_array_equal(bgr, rgb[..., ::-1])
    bgr2 = image_conv.imgmsg_to_bgr8(make_msg(np.concatenate([rgb, alpha], 2), 'bgra8'),
                                     use_cv_bridge=False)
    np.testing.assert_array_equal(bgr2, rgb)


def test_mono8_padded_and_replicated():
    gray = rgb_pattern()[..., 0]
    msg = make_msg(gray, 'mono8', step=gray.shape[1] + 5)
    np.testing.assert_array_equal(image_conv.imgmsg_to_numpy(msg), gray)
    bgr = image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False)
    assert bgr.shape == gray.shape + (3,)
    np.testing.assert_array_equal(bgr[..., 1], gray)


@pytest.mark.parametrize('bigendian', [False, True])
def test_mono16_respects_is_bigendian(bigendian):
    depth = np.array([[0, 1, 256], [4095, 65535, 513]], np.uint16)
    msg = make_msg(depth, 'mono16', step=depth.shape[1] * 2 + 2, bigendian=bigendian)
    out = image_conv.imgmsg_to_numpy(msg)
    assert out.dtype == np.uint16 and out.dtype.isnative
    np.testing.assert_array_equal(out, depth)
    bgr = image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False)
    np.testing.assert_array_equal(bgr[..., 0], (depth >> 8).astype(np.uint8))


@pytest.mark.parametrize('encoding,array', [
    ('bgr8', rgb_pattern()),
    ('rgb8', rgb_pattern()),
    ('mono8', rgb_pattern()[..., 0]),
    ('mono16', np.arange(35, dtype=np.uint16).reshape(5, 7) * 1000),
])
def test_fill_then_read_round_trip(encoding, array):
    msg = image_conv.fill_imgmsg(SimpleNamespace(), array, encoding)
    assert msg.step == array[0].nbytes
    assert msg.encoding == encoding and (msg.height, msg.width) == array.shape[:2]
    np.testing.assert_array_equal(image_conv.imgmsg_to_numpy(msg), array)


def test_data_as_array_array_like_rclpy():
    import array as pyarray
    bgr = rgb_pattern()
    msg = make_msg(bgr, 'bgr8')
    msg.data = pyarray.array('B', msg.data)  # what rclpy gives for uint8[]
    np.testing.assert_array_equal(image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False), bgr)


@pytest.mark.parametrize('change,match', [
    ({'encoding': 'yuv422'}, 'unsupported encoding'),
    ({'encoding': '32FC1'}, 'unsupported encoding'),
    ({'width': 0}, 'empty'),
    ({'height': 0}, 'empty'),
    ({'step': 5}, 'step'),
    ({'data': b'\x00' * 10}, 'expected step'),
    ({'width': 10 ** 6}, 'larger than'),
])
def test_malformed_messages_raise(change, match):
    msg = make_msg(rgb_pattern(), 'bgr8')
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageConversionError, match=match):
        image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False)


def test_not_a_message():
    with pytest.raises(ImageConversionError):
        image_conv.imgmsg_to_numpy(object())


def test_fill_rejects_wrong_dtype_or_channels():
    with pytest.raises(ImageConversionError, match='dtype'):
        image_conv.fill_imgmsg(SimpleNamespace(), np.zeros((2, 2), np.float32), 'mono8')
    with pytest.raises(ImageConversionError, match='channel'):
        image_conv.fill_imgmsg(SimpleNamespace(), np.zeros((2, 2), np.uint8), 'bgr8')
    with pytest.raises(ImageConversionError, match='unsupported'):
        image_conv.fill_imgmsg(SimpleNamespace(), np.zeros((2, 2), np.uint8), 'foo')


def test_compressed_round_trip_and_garbage():
    bgr = np.zeros((16, 16, 3), np.uint8)
    bgr[:8] = (255, 0, 0)
    ok, buf = cv2.imencode('.png', bgr)
    out = image_conv.compressed_to_bgr8(SimpleNamespace(format='png', data=buf.tobytes()))
    np.testing.assert_array_equal(out, bgr)
    with pytest.raises(ImageConversionError, match='undecodable'):
        image_conv.compressed_to_bgr8(SimpleNamespace(format='jpeg', data=b'not a jpeg'))
    with pytest.raises(ImageConversionError, match='empty'):
        image_conv.compressed_to_bgr8(SimpleNamespace(format='jpeg', data=b''))


def test_real_sensor_msgs_image_if_available():
    sensor_msgs = pytest.importorskip('sensor_msgs.msg')
    bgr = rgb_pattern()
    msg = image_conv.numpy_to_imgmsg(bgr, 'bgr8')
    assert isinstance(msg, sensor_msgs.Image)
    np.testing.assert_array_equal(image_conv.imgmsg_to_bgr8(msg), bgr)


def test_backend_name():
    assert image_conv.backend() in ('cv_bridge', 'numpy')


def test_huge_compressed_header_is_refused_before_decoding():
    """A 600-byte JPEG that claims 65000 x 65000 (4.2 G pixels) is refused from its header."""
    huge = set_jpeg_size(codec.encode_frame(rgb_pattern(8, 8), 1, 50).data, 65000, 65000)
    assert len(huge) < 1000
    with pytest.raises(ImageConversionError, match='refused before decoding'):
        image_conv.compressed_to_bgr8(SimpleNamespace(format='jpeg', data=huge))
    with pytest.raises(ImageConversionError, match='refused before decoding'):
        image_conv.compressed_to_bgr8(SimpleNamespace(
            format='jpeg', data=set_jpeg_size(huge, 5000, 5000)), max_pixels=1000 * 1000)


@pytest.mark.parametrize('seed', [99, 100])
def test_fuzz_image_converters_raise_only_their_error(seed):
    rng = random.Random(seed)
    w, h = 64, 32
    good = codec.encode_frame(rgb_pattern(h, w), 1, 80).data
    encodings = list(image_conv.ENCODINGS) + ['yuv422', '', 'bgr8\x00', '32FC1']
    for _ in range(300):
        msg = SimpleNamespace(
            height=rng.choice([0, 1, 2, h, 2 ** 31 - 1, -1]),
            width=rng.choice([0, 1, 3, w, 2 ** 31 - 1, -5]),
            step=rng.choice([0, 1, w * 3, w * 6, 2 ** 32 - 1]),
            encoding=rng.choice(encodings), is_bigendian=rng.choice([0, 1, 7]),
            data=bytes(rng.randrange(256) for _ in range(rng.choice([0, 5, w * h * 3]))))
        try:
            out = image_conv.imgmsg_to_bgr8(msg, use_cv_bridge=False)
            assert out.dtype == np.uint8 and out.ndim == 3
        except ImageConversionError:
            pass
        comp = SimpleNamespace(format=rng.choice(['jpeg', 'png', '']),
                               data=mutate_jpeg(rng, good))
        try:
            image_conv.compressed_to_bgr8(comp)
        except ImageConversionError:
            pass
