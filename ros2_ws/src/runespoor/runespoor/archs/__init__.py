"""
Network architectures, with an explicit name -> builder registry.

>>> sr = build_sr('carn_m', scale=4)
>>> seg = build_seg('swiftnet_r18', num_classes=19)
>>> det = build_det('retinanet_r18_lite', num_classes=10)

Every builder is configured only by keyword arguments, so a checkpoint that records
``(arch, kwargs)`` can rebuild its model (see :mod:`runespoor.checkpoint`).  Foreign SR
weights (other code bases' key names) load through a key map (:mod:`.key_maps`).
"""

import functools

from .carn import CARN, CARNM
from .det import Detector
from .seg import SwiftNet, TorchvisionSeg
from ..torch_files import WeightsError

#: Super-resolution architectures: name -> class taking ``scale=`` and optional kwargs.
SR_ARCHS = {
    'carn': CARN,
    'carn_m': CARNM,
}

#: Segmentation architectures: name -> callable taking ``num_classes=`` and optional kwargs.
SEG_ARCHS = {
    'swiftnet_r18': SwiftNet,
    'swiftnet_r18_lite': functools.partial(SwiftNet, widths=(32, 64, 128, 256),
                                           decoder_channels=96),
    'lraspp_mobilenet_v3_large': functools.partial(TorchvisionSeg,
                                                   arch='lraspp_mobilenet_v3_large'),
    'deeplabv3_mobilenet_v3_large': functools.partial(TorchvisionSeg,
                                                      arch='deeplabv3_mobilenet_v3_large'),
    'deeplabv3_resnet50': functools.partial(TorchvisionSeg, arch='deeplabv3_resnet50'),
}

#: Detection architectures: name -> callable taking ``num_classes=`` and optional kwargs.
DET_ARCHS = {
    'retinanet_r18_lite': functools.partial(Detector, backbone='r18_lite'),
    'retinanet_resnet50_fpn': functools.partial(Detector, backbone='resnet50_fpn',
                                                head_convs=4, box_loss='l1'),
}


def build_sr(name, scale, **kwargs):
    """Return the SR network ``name`` (a key of :data:`SR_ARCHS`) for upsampling ``scale``."""
    try:
        cls = SR_ARCHS[name]
    except KeyError:
        raise ValueError(f'unknown SR arch {name!r}; choose one of {", ".join(SR_ARCHS)}')
    return cls(scale=int(scale), **kwargs)


def build_seg(name, num_classes=19, weights=None, **kwargs):
    """
    Return the segmentation network ``name`` (a key of :data:`SEG_ARCHS`).

    ``weights``: optional path of a weights file to load (see :func:`load_weights`).
    """
    return _build(SEG_ARCHS, 'segmentation', name, num_classes, weights, kwargs)


def build_det(name, num_classes=10, weights=None, **kwargs):
    """
    Return the detector ``name`` (a key of :data:`DET_ARCHS`).

    ``weights``: optional path of a weights file to load (see :func:`load_weights`; a plain
    torchvision RetinaNet state dict is accepted for the torchvision backbone).
    """
    return _build(DET_ARCHS, 'detection', name, num_classes, weights, kwargs)


def _build(archs, task, name, num_classes, weights, kwargs):
    """Build ``archs[name]`` with ``num_classes`` and ``kwargs``, load ``weights`` if given."""
    try:
        factory = archs[name]
    except KeyError:
        raise ValueError(f'unknown {task} arch {name!r}; choose one of {", ".join(archs)}')
    model = factory(num_classes=int(num_classes), **kwargs)
    if weights:
        load_weights(model, weights)
    return model


def load_weights(model, path):
    """
    Load a weights file into ``model`` strictly; raise :class:`WeightsError` naming ``path``.

    Accepted: a Runespoor checkpoint (its ``'model'`` entry), a ``{'state_dict': ...}`` or
    ``{'model_state': ...}`` dict, or a plain state dict; a ``module.`` prefix (DataParallel)
    is removed, and for torchvision wrappers keys without the ``net.`` prefix are accepted.
    """
    import torch
    from ..torch_files import read_state_dict
    # weights_only=True, regular files of bounded size, wrappers and 'module.' handled
    state = read_state_dict(path, 'weights file')
    own = model.state_dict()
    if isinstance(model, (TorchvisionSeg, Detector)) and \
            not any(k.startswith('net.') for k in state):
        state = {'net.' + k: v for k, v in state.items()}
    state = {k: (v.to(own[k].dtype) if k in own and torch.is_tensor(v) else v)
             for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f'weights file {path} does not fit {type(model).__name__}: '
                           f'{str(exc)[:500]}') from exc
    return model


def count_parameters(model):
    """Count the parameters of ``model`` (trainable and frozen; shared weights once)."""
    return sum(p.numel() for p in model.parameters())


__all__ = ['CARN', 'CARNM', 'Detector', 'SwiftNet', 'TorchvisionSeg', 'SR_ARCHS', 'SEG_ARCHS',
           'DET_ARCHS', 'build_sr', 'build_seg', 'build_det', 'load_weights',
           'count_parameters', 'WeightsError']
