"""
The edge's frame degradation: downsample with OpenCV ``INTER_AREA`` and JPEG-encode.

This is the single implementation of the knobs "resolution scale" and "JPEG quality" (paper §3.2).
The edge node, the SR/ASR training data and offline profiling all call :func:`encode_frame` /
:func:`degrade`, so what the models are trained on is byte-for-byte what the robot sends.

Images are ``uint8`` NumPy arrays in OpenCV channel order (BGR, ``H x W x 3``) or grayscale
(``H x W``).  Nothing here imports ROS.
"""

from dataclasses import dataclass
import os
import sys
import tempfile
import threading

import cv2
import numpy as np

#: Downsampling factors per side that the system supports (paper: x1, x2, x4, x6, x8).
SCALES = (1, 2, 4, 6, 8)
#: Inclusive range of the JPEG quality knob.
JPEG_QUALITY_RANGE = (1, 100)
#: Default bound of a decoded frame [pixels] (4096 x 4096 = 48 MB as BGR): the header is read
#: first and a larger claim is refused before a pixel is decoded (a 600-byte JPEG can claim
#: 65000 x 65000).
MAX_DECODE_PIXELS = 4096 * 4096
#: Largest source frame (camera frame) the graph takes by default: the edge's
#: ``max_input_pixels`` and the cloud's ``max_source_pixels`` -- one value, so a frame the
#: edge sends is never refused by the cloud for its size.
MAX_SOURCE_PIXELS = 4096 * 2048


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


def probe_image(data):
    """
    Read ``(format, width, height)`` from the header of JPEG or PNG ``data``; decode nothing.

    ``format`` is ``'jpeg'`` or ``'png'``.  Raises :class:`CodecError` when the bytes are neither
    (by their magic numbers, whatever a message's ``format`` field says) or the header is cut
    short before the frame size.
    """
    buf = memoryview(bytes(data) if not isinstance(data, (bytes, bytearray)) else data)
    if len(buf) == 0:
        raise CodecError('empty image payload')
    if bytes(buf[:8]) == b'\x89PNG\r\n\x1a\n':
        if len(buf) < 24 or bytes(buf[12:16]) != b'IHDR':
            raise CodecError('PNG header cut short before its IHDR chunk')
        return 'png', int.from_bytes(buf[16:20], 'big'), int.from_bytes(buf[20:24], 'big')
    if bytes(buf[:2]) != b'\xff\xd8':
        raise CodecError(f'not a JPEG or PNG image (starts with {bytes(buf[:4]).hex()})')
    i, n = 2, len(buf)
    while i + 4 <= n:
        if buf[i] != 0xFF:
            raise CodecError(f'JPEG header corrupt at byte {i} (no marker)')
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        if marker in (0xD9, 0xDA):
            raise CodecError('JPEG has no frame header (SOF) before its image data')
        length = int.from_bytes(buf[i + 2:i + 4], 'big')
        if length < 2:
            raise CodecError(f'JPEG segment length {length} at byte {i} is invalid')
        if marker in _JPEG_SOF:
            if i + 9 > n:
                break
            height = int.from_bytes(buf[i + 5:i + 7], 'big')
            width = int.from_bytes(buf[i + 7:i + 9], 'big')
            return 'jpeg', width, height
        i += 2 + length
    raise CodecError(f'JPEG header cut short ({n} bytes) before the frame size')


#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic variants).
_JPEG_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                       0xCE, 0xCF))


def check_decode_size(width, height, max_pixels=MAX_DECODE_PIXELS, what='image'):
    """Raise :class:`CodecError` unless ``width x height`` is non-empty and <= ``max_pixels``."""
    if width <= 0 or height <= 0:
        raise CodecError(f'{what} header claims an empty frame {width}x{height}')
    if max_pixels and width * height > max_pixels:
        raise CodecError(f'{what} header claims {width}x{height} = {width * height} pixels, '
                         f'more than the limit {max_pixels}; refused before decoding')


class _DecoderMessages:
    """
    Redirect the process's stderr (fd 2) into a file around one decode; return what was written.

    libjpeg prints warnings such as "Corrupt JPEG data: premature end of data segment" straight
    to fd 2, once per damaged frame, which a hostile sender turns into a log flood.  Decodes are
    serialised by a lock; lines that another thread wrote meanwhile (they start with ``[``: ROS
    and OpenCV console lines) are written back to stderr unchanged.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._file = None

    def decode(self, buf, flag):
        """Decode ``buf`` with OpenCV; return the image (or None) and the decoder's lines."""
        with self._lock:
            try:
                if self._file is None:
                    self._file = tempfile.TemporaryFile()
                self._file.seek(0)
                self._file.truncate()
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError):  # no usable fd 2 (embedded interpreter)
                return _imdecode(buf, flag), []
            try:
                os.dup2(self._file.fileno(), 2)
                try:
                    image = _imdecode(buf, flag)
                finally:
                    os.dup2(saved, 2)
            finally:
                os.close(saved)
            self._file.seek(0)
            text = self._file.read(65536).decode('utf-8', 'replace')
        messages, others = [], []
        for line in text.splitlines():
            if line.strip():
                (others if line.startswith('[') else messages).append(line.strip())
        if others:
            sys.stderr.write('\n'.join(others) + '\n')
        return image, messages


def _imdecode(buf, flag):
    try:
        return cv2.imdecode(buf, flag)
    except cv2.error as exc:
        raise CodecError(f'decoder refused the image: {str(exc).strip().splitlines()[-1]}') \
            from exc


_DECODER = _DecoderMessages()


def decode_image(data, grayscale=False, max_pixels=MAX_DECODE_PIXELS, expect=None,
                 capture=False):
    """
    Decode JPEG (or PNG) ``data`` after checking its header; return ``(image, messages)``.

    The size in the header is checked against ``max_pixels`` (and ``expect = (width, height)``
    when given) before anything is decoded.  With ``capture`` (the nodes, which decode what
    others send) ``messages`` are the decoder's warnings about damaged data, taken off the
    process's stderr (:class:`_DecoderMessages`); without it (training, evaluation, profiling:
    our own encodes, on the hot path) the decode is a plain ``cv2.imdecode`` and ``messages``
    is empty.  Raises :class:`CodecError` (never
    ``cv2.error``) for empty, unknown, oversized, mismatched or undecodable data.
    """
    fmt, width, height = probe_image(data)
    check_decode_size(width, height, max_pixels, fmt.upper())
    if expect is not None and (width, height) != tuple(expect):
        raise CodecError(f'{fmt.upper()} header says {width}x{height}, expected '
                         f'{expect[0]}x{expect[1]}')
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    flag = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
    image, messages = _DECODER.decode(buf, flag) if capture else (_imdecode(buf, flag), [])
    if image is None or image.size == 0:
        raise CodecError(f'undecodable {fmt.upper()} payload ({buf.size} bytes)'
                         + (f': {messages[0]}' if messages else ''))
    return image, messages


def decode_jpeg(data, grayscale=False, max_pixels=MAX_DECODE_PIXELS):
    """
    Decode JPEG ``data`` (bytes-like) into a BGR (or grayscale) uint8 array.

    Raises :class:`CodecError` on empty, non-JPEG, oversized (header above ``max_pixels``) or
    undecodable input instead of returning ``None``; no stderr capture (``decode_image(...,
    capture=True)`` for data from others).
    """
    buf = bytes(data)
    if not buf:
        raise CodecError('empty JPEG payload')
    if buf[:2] != b'\xff\xd8':
        raise CodecError(f'not a JPEG payload (starts with {buf[:4].hex()})')
    return decode_image(buf, grayscale, max_pixels)[0]


def degrade(image, scale, quality):
    """
    Return the low-resolution frame exactly as the cloud would decode it.

    ``decode_jpeg(encode_frame(image, scale, quality).data)``: what SR training pairs with the
    high-resolution ``image`` and what profiling measures accuracy on.
    """
    return decode_jpeg(encode_frame(image, scale, quality).data,
                       grayscale=image.ndim == 2)
