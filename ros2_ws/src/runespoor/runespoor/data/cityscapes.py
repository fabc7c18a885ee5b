"""
Read (and name) the Cityscapes layout: frames, gtFine labels and sequences.

Layout, as published (``<root>`` holds the folders below)::

    leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png      (+ labelTrainIds, color)
    leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png   (30-frame snippets)
    leftImg8bit/demoVideo/<city>_NN/<city>_NN_<seq>_<frame>_leftImg8bit.png  (long clips)

``<seq>`` and ``<frame>`` are 6-digit numbers; a snippet's 20th frame (``_000019`` in real
data) is the one with a gtFine label.  The synthetic generator (:mod:`runespoor.data.synth`)
writes the same layout and adds per-frame labels for its long clips under
``gtFine/demoVideo/``.  Images are returned as BGR uint8 (OpenCV order), labels as train ids
(uint8, 255 = ignore).  Missing files, label maps of the wrong size and folders that do not
follow the layout raise errors that name the offending path.
"""

from dataclasses import dataclass, field
import os

import cv2
import numpy as np

from ..labels import label_ids_to_train_ids

IMAGE_SUFFIX = '_leftImg8bit.png'
LABEL_KINDS = ('labelIds', 'labelTrainIds', 'color')
FPS = 17.0


class LayoutError(ValueError):
    """A folder or file name that does not follow the Cityscapes layout (names the path)."""


@dataclass(frozen=True)
class Frame:
    """One frame of a Cityscapes-layout data set: image path, label path (or None), ids."""

    image_path: str
    label_path: object   # str or None
    city: str
    seq: int
    frame: int
    split: str


@dataclass
class Sequence:
    """An ordered clip of frames of one ``(city, seq)``; labels where they exist."""

    city: str
    seq: int
    split: str
    frames: list = field(default_factory=list)   # list of Frame, in frame order

    @property
    def image_paths(self):
        """Frame image paths in order."""
        return [f.image_path for f in self.frames]

    @property
    def labelled(self):
        """Return the indices (into :attr:`frames`) of frames with a label file."""
        return [i for i, f in enumerate(self.frames) if f.label_path]

    def __len__(self):
        """Return the number of frames."""
        return len(self.frames)


def parse_name(path):
    """
    Return ``(city, seq, frame)`` of a ``<city>_<seq>_<frame>_...`` file name.

    Raises :class:`LayoutError` naming ``path`` if the name does not follow the pattern.
    """
    name = os.path.basename(path)
    if name.endswith(IMAGE_SUFFIX):
        stem = name[:-len(IMAGE_SUFFIX)]
    elif '_gtFine_' in name:
        stem = name[:name.index('_gtFine_')]
    else:
        raise LayoutError(f'{path}: not a Cityscapes image or gtFine file name')
    parts = stem.rsplit('_', 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        raise LayoutError(f'{path}: expected <city>_<seq>_<frame>{IMAGE_SUFFIX}')
    return parts[0], int(parts[1]), int(parts[2])


def stem(city, seq, frame):
    """``<city>_<seq:06d>_<frame:06d>``, the common prefix of a frame's files."""
    return f'{city}_{int(seq):06d}_{int(frame):06d}'


def image_path(root, split, city, seq, frame, sequence=False):
    """Path of a frame image (``leftImg8bit_sequence`` if ``sequence``)."""
    top = 'leftImg8bit_sequence' if sequence else 'leftImg8bit'
    return os.path.join(root, top, split, city, stem(city, seq, frame) + IMAGE_SUFFIX)


def label_path(root, split, city, seq, frame, kind='labelIds'):
    """Path of a gtFine label file of ``kind`` (labelIds, labelTrainIds or color)."""
    if kind not in LABEL_KINDS:
        raise ValueError(f'unknown label kind {kind!r}; one of {LABEL_KINDS}')
    return os.path.join(root, 'gtFine', split, city,
                        f'{stem(city, seq, frame)}_gtFine_{kind}.png')


def read_image(path):
    """Read a frame as BGR uint8; raise ``FileNotFoundError``/``ValueError`` naming ``path``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: image file not found')
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'{path}: not a readable image')
    return img


def read_label(path, shape=None):
    """
    Read a gtFine label PNG as train ids (uint8, 255 = ignore).

    ``*_labelTrainIds.png`` is returned as stored; ``*_labelIds.png`` is mapped with the
    Cityscapes table.  ``shape`` (``(H, W)``) is checked if given.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: label file not found')
    lab = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if lab is None:
        raise ValueError(f'{path}: not a readable label PNG')
    if lab.ndim != 2 or lab.dtype != np.uint8:
        raise ValueError(f'{path}: expected a single-channel 8-bit label PNG, '
                         f'got shape {lab.shape} {lab.dtype}')
    if shape is not None and tuple(lab.shape) != tuple(shape[:2]):
        raise ValueError(f'{path}: label size {lab.shape[1]}x{lab.shape[0]} does not match the '
                         f'image size {shape[1]}x{shape[0]}')
    if path.endswith('_labelTrainIds.png'):
        return lab
    return label_ids_to_train_ids(lab)


def _find_label(root, split, city, seq, frame):
    for kind in ('labelIds', 'labelTrainIds'):
        p = label_path(root, split, city, seq, frame, kind)
        if os.path.isfile(p):
            return p
    return None


def _scan(folder, root, split, with_labels):
    """Frames under ``folder/<city>/``; raise :class:`LayoutError` on anything else."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'{folder}: folder not found (expected the Cityscapes layout '
                                f'<root>/leftImg8bit/<split>/<city>/)')
    frames = []
    for city in sorted(os.listdir(folder)):
        cdir = os.path.join(folder, city)
        if not os.path.isdir(cdir):
            if city.endswith('.png'):
                raise LayoutError(f'{cdir}: image outside a <city>/ folder')
            continue
        for name in sorted(os.listdir(cdir)):
            if not name.endswith('.png'):
                continue
            path = os.path.join(cdir, name)
            c, seq, fr = parse_name(path)
            if c != city:
                raise LayoutError(f'{path}: city {c!r} in the name but folder {city!r}')
            lab = _find_label(root, split, c, seq, fr) if with_labels else None
            frames.append(Frame(path, lab, c, seq, fr, split))
    frames.sort(key=lambda f: (f.city, f.seq, f.frame))
    return frames


def list_frames(root, split, require_labels=True):
    """
    Frames of ``leftImg8bit/<split>/`` with their gtFine labels, sorted by city, seq, frame.

    With ``require_labels`` a frame without a label file raises ``FileNotFoundError`` naming
    the expected label path; without it such frames get ``label_path=None``.
    """
    frames = _scan(os.path.join(root, 'leftImg8bit', split), root, split, True)
    if require_labels:
        for f in frames:
            if f.label_path is None:
                raise FileNotFoundError(
                    f'{label_path(root, split, f.city, f.seq, f.frame)}: label file not found '
                    f'for {f.image_path}')
    return frames


def list_sequences(root, split):
    """
    Return the ordered clips of ``split`` as a list of :class:`Sequence`.

    Frames come from ``leftImg8bit_sequence/<split>/`` if present, else from
    ``leftImg8bit/<split>/`` (e.g. ``demoVideo``).

    Frames carry the gtFine label path where one exists (a snippet's labelled frame, or every
    frame of a synthetic long clip).
    """
    folder = os.path.join(root, 'leftImg8bit_sequence', split)
    if not os.path.isdir(folder):
        folder = os.path.join(root, 'leftImg8bit', split)
    seqs = {}
    for f in _scan(folder, root, split, True):
        seqs.setdefault((f.city, f.seq), Sequence(f.city, f.seq, split)).frames.append(f)
    return [seqs[k] for k in sorted(seqs)]


class CityscapesFrames:
    """
    A list of frames that loads ``dict(image, label, path, city, seq, frame)`` by index.

    ``image`` is BGR uint8 HxWx3; ``label`` train ids uint8 HxW (255 ignore) or ``None`` for a
    frame without a label.  Build it from a root and split (:func:`list_frames`), from a
    :class:`Sequence`, or from any list of :class:`Frame` / image paths.
    """

    def __init__(self, frames):
        """Wrap ``frames`` (a list of :class:`Frame` or of image paths)."""
        self.frames = [f if isinstance(f, Frame) else _frame_from_path(f) for f in frames]

    @classmethod
    def from_root(cls, root, split, require_labels=True):
        """Load the frame list of ``leftImg8bit/<split>/`` (see :func:`list_frames`)."""
        return cls(list_frames(root, split, require_labels))

    @classmethod
    def from_sequence(cls, sequence):
        """Wrap the frames of one :class:`Sequence`, in order."""
        return cls(sequence.frames)

    def __len__(self):
        """Return the number of frames."""
        return len(self.frames)

    def __getitem__(self, i):
        """Load frame ``i``."""
        f = self.frames[i]
        img = read_image(f.image_path)
        lab = read_label(f.label_path, img.shape) if f.label_path else None
        return {'image': img, 'label': lab, 'path': f.image_path, 'city': f.city,
                'seq': f.seq, 'frame': f.frame}


def _frame_from_path(path):
    path = os.fspath(path)
    city, seq, fr = parse_name(path)
    return Frame(path, None, city, seq, fr, '')
