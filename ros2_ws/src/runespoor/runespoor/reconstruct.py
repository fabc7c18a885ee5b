"""
Cloud-side reconstruction of a received low-resolution frame to the source resolution.

Methods (paper §5.1):

* ``bilinear`` -- AWStream's upsampling: exactly PyTorch's default bilinear resize,
  ``F.interpolate(mode='bilinear', align_corners=False)`` to the source size;
* ``sr`` -- the base CARN model trained with L1 only (the NAS baseline);
* ``asr`` -- CARN fine-tuned with the analytics-aware loss (paper Eq. 3), Runespoor;
* ``cloudseg`` -- CARN fine-tuned with CloudSeg's loss (paper Eq. 2).

SR models upsample by an integer factor; when ``lr * scale`` differs from the source size
(x6 of 512x256 is 85x43 -> 510x258), the SR output is bilinearly resized to the exact source
size.  Scale 1 returns the input (resized only if its size differs).

Images are tensors ``B x 3 x h x w`` float RGB in [0, 1]; helpers convert from/to OpenCV BGR
uint8 arrays.  Outputs are float32, clamped to [0, 1], on the reconstructor's device.
"""

import os

import torch
import torch.nn.functional as F

from .checkpoint import CheckpointError, load_model
from .tensors import bgr_to_tensor

#: Reconstruction methods; all but ``bilinear`` need one checkpoint per scale.
METHODS = ('bilinear', 'sr', 'asr', 'cloudseg')
#: Methods that use a learned SR model.
SR_METHODS = ('sr', 'asr', 'cloudseg')


def checkpoint_name(method, scale):
    """File name of the checkpoint of ``method`` at ``scale`` in a checkpoint folder."""
    return f'{method}_x{int(scale)}.pt'


def bilinear(lr, size):
    """Resize ``lr`` (``B x C x h x w``) to ``size = (H, W)`` like PyTorch's default bilinear."""
    return F.interpolate(lr, size=tuple(int(s) for s in size), mode='bilinear',
                         align_corners=False)


def sr_to_size(model, lr, size):
    """Run ``model`` on ``lr`` and resize its output to exactly ``size`` if needed."""
    out = model(lr)
    if tuple(out.shape[-2:]) != tuple(size):
        out = bilinear(out, size)
    return out


class Reconstructor:
    """
    Reconstruct received frames with one method, loading the right model per scale.

    Constructor arguments:
        method: one of :data:`METHODS`.
        checkpoints: ``{scale: path}`` for SR methods, or None to use ``checkpoint_dir``.
        checkpoint_dir: folder holding ``<method>_x<scale>.pt`` files.
        device: ``'cpu'`` or ``'cuda'`` (or a ``torch.device``).
        fp16: run SR models (and bilinear) in half precision; output stays float32.
        scales: scales to load at construction (so a missing or mismatched file is refused at
            start-up); other scales are loaded on first use.

    Call it as ``recon(lr, scale, size)`` with ``lr`` a ``B x 3 x h x w`` tensor in [0, 1] and
    ``size = (H, W)`` the source size (default ``(h * scale, w * scale)``).
    """

    def __init__(self, method='bilinear', checkpoints=None, checkpoint_dir=None, device='cpu',
                 fp16=False, scales=()):
        if method not in METHODS:
            raise ValueError(f'unknown reconstruction method {method!r}; '
                             f'choose one of {", ".join(METHODS)}')
        self.method = method
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.checkpoints = {int(k): v for k, v in (checkpoints or {}).items()}
        self.checkpoint_dir = checkpoint_dir
        self._models = {}
        self.info = {}
        for scale in scales:
            if int(scale) > 1:
                self.model_for(scale)

    def checkpoint_path(self, scale):
        """Path of the checkpoint for ``scale`` (``CheckpointError`` if none is configured)."""
        scale = int(scale)
        if scale in self.checkpoints:
            return self.checkpoints[scale]
        if self.checkpoint_dir:
            return os.path.join(self.checkpoint_dir, checkpoint_name(self.method, scale))
        raise CheckpointError(f'no {self.method} checkpoint configured for scale x{scale}')

    def model_for(self, scale):
        """Return the SR model for ``scale`` (loaded, checked and cached on first use)."""
        scale = int(scale)
        if scale not in self._models:
            path = self.checkpoint_path(scale)
            model, ckpt = load_model(path, kind='sr', method=self.method, scale=scale,
                                     device=self.device, what='SR checkpoint')
            model = model.to(dtype=self.dtype)
            if self.device.type == 'cuda':
                model = model.to(memory_format=torch.channels_last)
            self._models[scale] = model
            self.info[scale] = {'path': path, 'arch': ckpt['config'].get('arch'),
                                'metrics': ckpt.get('metrics', {}),
                                'code_version': ckpt.get('code_version')}
        return self._models[scale]

    @torch.no_grad()
    def __call__(self, lr, scale, size=None):
        scale = int(scale)
        if size is None:
            size = (lr.shape[-2] * scale, lr.shape[-1] * scale)
        size = (int(size[0]), int(size[1]))
        x = lr.to(self.device, self.dtype, non_blocking=True)
        if scale == 1 or self.method == 'bilinear':
            out = x if tuple(x.shape[-2:]) == size else bilinear(x, size)
        else:
            model = self.model_for(scale)
            if self.device.type == 'cuda':
                x = x.contiguous(memory_format=torch.channels_last)
            out = sr_to_size(model, x, size)
        return out.float().clamp_(0.0, 1.0)

    def reconstruct_bgr(self, image, scale, size=None):
        """Reconstruct an OpenCV BGR uint8 frame; return a ``1 x 3 x H x W`` RGB tensor."""
        return self(bgr_to_tensor(image, self.device), scale, size)
