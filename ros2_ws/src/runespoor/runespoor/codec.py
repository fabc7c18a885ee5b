"""
The edge's frame degradation: downsample with OpenCV ``INTER_AREA`` and JPEG-encode.

This is the single implementation of the knobs "resolution scale" and "JPEG quality" (paper §3.2).
The edge node, the SR/ASR training data and offline profiling all call :func:`encode_frame` /
:func:`degrade`, so what the models are trained on is byte-for-byte what the robot sends.

Images are ``uint8`` NumPy arrays in OpenCV channel order (BGR, ``H x W x 3``) or grayscale
(``H x W``).  Nothing here imports ROS.
"""

from dataclasses import dataclass

import cv2
import numpy as np

#: Downsampling factors per side that the system supports (paper: x1, x2, x4, x6, x8).
SCALES = (1, 2, 4, 6, 8)
#: Inclusive range of the JPEG quality knob.
JPEG_QUALITY_RANGE = (1, 100)


class CodecError(ValueError):
    """A frame or knob value that the codec cannot process; the message says what and why."""


@dataclass(frozen=True)
class EncodedImage:
    """JPEG bytes of a downsampled frame with its geometry."""

    data: bytes
    width: int          # width of the encoded (downsampled) frame [px]
    height: int         # height of the encoded (downsampled) frame [px]
    source_width: int   # width before downsampling [px]
    source_height: int  # height before downsampling [px]
    scale: int
    quality: int


def check_scale(scale):
    """Return ``scale`` as int if it is one of :data:`SCALES`, else raise :class:`CodecError`."""
    if isinstance(scale, bool) or int(scale) != scale or int(scale) not in SCALES:
        raise CodecError(f'unknown scale {scale!r}; allowed: {", ".join(map(str, SCALES))}')
    return int(scale)


def check_quality(quality):
    """Return ``quality`` as int if it lies in :data:`JPEG_QUALITY_RANGE`, else raise."""
    lo, hi = JPEG_QUALITY_RANGE
    if isinstance(quality, bool) or int(quality) != quality or not lo <= int(quality) <= hi:
        raise CodecError(f'JPEG quality {quality!r} outside [{lo}, {hi}]')
    return int(quality)


def check_image(image):
    """Raise :class:`CodecError` unless ``image`` is a non-empty uint8 HxW or HxWx{1,3} array."""
    if not isinstance(image, np.ndarray):
        raise CodecError(f'expected a NumPy array, got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise CodecError(f'expected uint8 pixels, got {image.dtype}')
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise CodecError(f'expected an HxW or HxWx3 image, got shape {image.shape}')
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise CodecError(f'empty image of shape {image.shape}')
    return image


def scaled_size(width, height, scale):
    """
    Size ``(width, height)`` of a ``width x height`` frame downsampled by ``scale``.

    Rounded to the nearest pixel and at least one pixel, so ``x6`` of 2048x1024 is 341x171.
    """
    scale = check_scale(scale)
    return max(1, int(round(width / scale))), max(1, int(round(height / scale)))


def downsample(image, scale):
    """Downsample ``image`` by ``scale`` with ``cv2.INTER_AREA`` (``scale == 1``: unchanged)."""
    check_image(image)
    scale = check_scale(scale)
    if scale == 1:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, scaled_size(w, h, scale), interpolation=cv2.INTER_AREA)


def encode_jpeg(image, quality):
    """JPEG-encode ``image`` at ``quality`` with ``cv2.imencode``; return the bytes."""
    check_image(image)
    quality = check_quality(quality)
    ok, buf = cv2.imencode('.jpg', image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:  # pragma: no cover - OpenCV only fails here on exotic inputs
        raise CodecError('cv2.imencode failed')
    return buf.tobytes()


def encode_frame(image, scale, quality):
    """
    Apply the knobs to a camera frame: downsample by ``scale`` then JPEG at ``quality``.

    This is the function the edge node calls for every frame it sends.
    """
    check_image(image)
    small = downsample(image, scale)
    h, w = small.shape[:2]
    return EncodedImage(encode_jpeg(small, quality), w, h,
                        image.shape[1], image.shape[0], int(scale), int(quality))


def decode_jpeg(data, grayscale=False):
    """
    Decode JPEG ``data`` (bytes-like) into a BGR (or grayscale) uint8 array.

    Raises :class:`CodecError` on empty or undecodable input instead of returning ``None``.
    """
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    if buf.size == 0:
        raise CodecError('empty JPEG payload')
    flag = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
    image = cv2.imdecode(buf, flag)
    if image is None or image.size == 0:
        raise CodecError(f'undecodable JPEG payload ({buf.size} bytes)')
    return image


def degrade(image, scale, quality):
    """
    Return the low-resolution frame exactly as the cloud would decode it.

    ``decode_jpeg(encode_frame(image, scale, quality).data)``: what SR training pairs with the
    high-resolution ``image`` and what profiling measures accuracy on.
    """
    return decode_jpeg(encode_frame(image, scale, quality).data,
                       grayscale=image.ndim == 2)
