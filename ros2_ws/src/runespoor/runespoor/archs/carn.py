"""
CARN and CARN-M super-resolution networks.

Ahn, Kang and Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual
Network", ECCV 2018 (arXiv:1803.08664).  The layout follows the authors' reference code:

* mean shift: subtract the DIV2K RGB mean, add it back after the upsampler;
* entry 3x3 conv (3 -> 64 channels);
* three cascading blocks.  Each block applies three residual units; after every unit the
  outputs of everything seen so far in the block are concatenated and fused by a 1x1 conv
  (+ ReLU) -- *local cascading*.  The same concatenate-and-fuse pattern over the block outputs
  is the *global cascading*;
* CARN's residual unit is ``conv3x3-ReLU-conv3x3 + x, ReLU``.  CARN-M's *efficient* residual
  unit is ``gconv3x3-ReLU-gconv3x3-ReLU-conv1x1 + x, ReLU`` with group convolutions (4 groups),
  and CARN-M shares the unit's weights across the three positions in a block (recursion);
* pixel-shuffle upsampler: x2 and x4 and x8 are one, two and three (conv -> PixelShuffle(2) ->
  ReLU) stages; x3 one PixelShuffle(3) stage; x6 is a x2 stage then a x3 stage.  CARN-M uses
  group convs in the upsampler as well;
* exit 3x3 conv (64 -> 3 channels).

Optional (``global_residual=True``, not in the paper): the network predicts a residual over
the bilinear upsampling of its input (as VDSR does), with the exit conv zero-initialised, so
an untrained model starts exactly at the bilinear baseline.  It converges in far fewer steps,
which is what CPU training of the demo models needs; the architecture is otherwise unchanged.

Shapes: input ``B x 3 x h x w`` RGB float in [0, 1]; output ``B x 3 x (h*scale) x (w*scale)``,
unclamped (clamp when converting to an image).  One model per scale (the paper trains one ASR
model per resolution), configured only by constructor arguments.
"""

import torch
from torch import nn
import torch.nn.functional as F

#: Upsampling factors that :class:`CARN` accepts, with their pixel-shuffle stages.
UPSAMPLE_STAGES = {2: (2,), 3: (3,), 4: (2, 2), 6: (2, 3), 8: (2, 2, 2)}

#: RGB mean of DIV2K used by the reference implementation's mean shift.
RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Module):
    """Add ``sign * mean`` per channel (a fixed, non-trainable shift)."""

    def __init__(self, mean=RGB_MEAN, sign=-1.0):
        super().__init__()
        self.register_buffer('shift', sign * torch.tensor(mean).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x):
        return x + self.shift


class ResidualUnit(nn.Module):
    """CARN residual unit: ``relu(x + conv(relu(conv(x))))``."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(x + self.body(x))


class EfficientResidualUnit(nn.Module):
    """CARN-M efficient residual unit: group 3x3 convs then a pointwise conv, residual, ReLU."""

    def __init__(self, channels, groups):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, groups=groups), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, groups=groups), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, 1, 0))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(x + self.body(x))


def _fuse(in_channels, out_channels):
    """1x1 fusion conv + ReLU used by the cascading connections."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, 1, 0), nn.ReLU(inplace=True))


class CascadingBlock(nn.Module):
    """Three residual units with local cascading (concatenate everything, fuse by 1x1 conv)."""

    def __init__(self, channels, efficient=False, groups=1, shared=False, units=3):
        super().__init__()

        def make():
            if efficient:
                return EfficientResidualUnit(channels, groups)
            return ResidualUnit(channels)

        if shared:
            unit = make()
            self.units = nn.ModuleList([unit] * units)
        else:
            self.units = nn.ModuleList([make() for _ in range(units)])
        self.fuse = nn.ModuleList([_fuse(channels * (i + 2), channels) for i in range(units)])

    def forward(self, x):
        cat = out = x
        for unit, fuse in zip(self.units, self.fuse):
            cat = torch.cat([cat, unit(out)], dim=1)
            out = fuse(cat)
        return out


class Upsampler(nn.Module):
    """Pixel-shuffle upsampler: per stage ``conv(C -> r*r*C) -> PixelShuffle(r) -> ReLU``."""

    def __init__(self, channels, scale, groups=1):
        super().__init__()
        if scale not in UPSAMPLE_STAGES:
            raise ValueError(f'unsupported SR scale {scale!r}; '
                             f'choose one of {sorted(UPSAMPLE_STAGES)}')
        layers = []
        for r in UPSAMPLE_STAGES[scale]:
            layers += [nn.Conv2d(channels, channels * r * r, 3, 1, 1, groups=groups),
                       nn.PixelShuffle(r), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class CARN(nn.Module):
    """
    Cascading Residual Network for single-image super-resolution (one scale).

    Constructor arguments:
        scale: upsampling factor, one of 2, 3, 4, 6, 8.
        channels: feature width (64 in the paper).
        blocks: number of cascading blocks (3 in the paper).
        efficient: use CARN-M's efficient residual units.
        groups: groups of the 3x3 convs in efficient units and the upsampler (4 for CARN-M).
        shared: share the residual unit's weights within each block (CARN-M's recursion).
        global_residual: add the bilinear upsampling of the input to the output (see above).

    Input ``B x 3 x h x w`` in [0, 1]; output ``B x 3 x h*scale x w*scale``.
    """

    def __init__(self, scale=4, channels=64, blocks=3, efficient=False, groups=1, shared=False,
                 global_residual=False):
        super().__init__()
        self.scale = int(scale)
        self.global_residual = bool(global_residual)
        self.sub_mean = MeanShift(sign=-1.0)
        self.add_mean = MeanShift(sign=1.0)
        self.entry = nn.Conv2d(3, channels, 3, 1, 1)
        self.blocks = nn.ModuleList([
            CascadingBlock(channels, efficient=efficient, groups=groups, shared=shared)
            for _ in range(blocks)])
        self.fuse = nn.ModuleList([_fuse(channels * (i + 2), channels) for i in range(blocks)])
        self.upsample = Upsampler(channels, self.scale, groups=groups if efficient else 1)
        self.exit = nn.Conv2d(channels, 3, 3, 1, 1)
        if self.global_residual:
            nn.init.zeros_(self.exit.weight)
            nn.init.zeros_(self.exit.bias)

    def forward(self, x):
        feat = self.entry(self.sub_mean(x))
        cat = out = feat
        for block, fuse in zip(self.blocks, self.fuse):
            cat = torch.cat([cat, block(out)], dim=1)
            out = fuse(cat)
        out = self.exit(self.upsample(out))
        if self.global_residual:
            size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
            return out + F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        return self.add_mean(out)


class CARNM(CARN):
    """CARN-M, the mobile variant: efficient residual units, 4 groups, shared weights."""

    def __init__(self, scale=4, channels=64, blocks=3, groups=4, global_residual=False):
        super().__init__(scale=scale, channels=channels, blocks=blocks, efficient=True,
                         groups=groups, shared=True, global_residual=global_residual)
