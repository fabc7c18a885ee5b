"""
Semantic segmentation models: the analytics model that ASR is made aware of.

:class:`SwiftNet` follows Oršić, Krešo, Bevandić and Šegvić, "In Defense of Pre-trained ImageNet
Architectures for Real-time Semantic Segmentation of Road-driving Images", CVPR 2019 -- the model
the Runespoor paper uses (§4).  A ResNet-18 encoder (stride 32), spatial pyramid pooling on its
last stage, and a light upsampling decoder: three modules that each upsample by 2, add a 1x1
lateral projection of the matching encoder stage and blend with a 3x3 conv (BN-ReLU-conv order as
in SwiftNet).  Logits are produced at stride 4 and bilinearly upsampled to the input size.
The encoder's parameter names match torchvision's ``resnet18``, so an ImageNet state dict can be
loaded into ``model.encoder`` when one is available (none can be downloaded here).
``widths`` scales the encoder (``(32, 64, 128, 256)`` is the CPU-friendly "lite" variant).

:class:`TorchvisionSeg` wraps torchvision's segmentation architectures (built with
``weights=None``), so a user can plug in e.g. LR-ASPP MobileNetV3 with their own weights file.

Every model here takes ``B x 3 x H x W`` RGB float in [0, 1] (the tensor an SR model outputs),
normalises it internally with the ImageNet mean/std, and returns logits ``B x C x H x W``.
"""

import torch
from torch import nn
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel with fixed ImageNet statistics (not saved in weights)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    """ResNet basic block (torchvision parameter names)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Module):
    """ResNet-18-style trunk returning the outputs of its four stages (strides 4, 8, 16, 32)."""

    def __init__(self, widths=(64, 128, 256, 512), depths=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_c = widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            blocks = [BasicBlock(in_c, w, 1 if i == 0 else 2)]
            blocks += [BasicBlock(w, w) for _ in range(d - 1)]
            setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
            in_c = w
        self.widths = tuple(widths)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f4 = self.layer1(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        f32 = self.layer4(f16)
        return f4, f8, f16, f32


def _bn_relu_conv(in_channels, out_channels, k):
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, k, 1, k // 2, bias=False))


class SpatialPyramidPooling(nn.Module):
    """SwiftNet's SPP: bottleneck, average pools on grids of 1, 2, 4, 8 rows, concat, fuse."""

    def __init__(self, in_channels, channels, grids=(1, 2, 4, 8)):
        super().__init__()
        level_c = channels // len(grids)
        self.grids = tuple(grids)
        self.bottleneck = _bn_relu_conv(in_channels, channels, 1)
        self.levels = nn.ModuleList([_bn_relu_conv(channels, level_c, 1) for _ in grids])
        self.fuse = _bn_relu_conv(channels + level_c * len(grids), channels, 1)

    def forward(self, x):
        x = self.bottleneck(x)
        h, w = x.shape[-2:]
        feats = [x]
        for grid, level in zip(self.grids, self.levels):
            gw = max(1, round(grid * w / max(h, 1)))
            pooled = F.adaptive_avg_pool2d(x, (min(grid, h), min(gw, w)))
            feats.append(F.interpolate(level(pooled), size=(h, w), mode='bilinear',
                                       align_corners=False))
        return self.fuse(torch.cat(feats, dim=1))


class UpsampleModule(nn.Module):
    """Decoder step: upsample to the skip's size, add its 1x1 projection, blend with 3x3."""

    def __init__(self, skip_channels, channels):
        super().__init__()
        self.lateral = _bn_relu_conv(skip_channels, channels, 1)
        self.blend = _bn_relu_conv(channels, channels, 3)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=False)
        return self.blend(x + self.lateral(skip))


class SwiftNet(nn.Module):
    """
    Single-scale SwiftNet (ResNet-18 encoder, SPP, ladder-style upsampling decoder).

    Constructor arguments:
        num_classes: output channels (19 Cityscapes train ids).
        widths: encoder stage widths; ``(64, 128, 256, 512)`` is ResNet-18.
        decoder_channels: width of the SPP and the upsampling path (128 in SwiftNet).

    Input ``B x 3 x H x W`` RGB in [0, 1]; output logits ``B x num_classes x H x W``.
    """

    def __init__(self, num_classes=19, widths=(64, 128, 256, 512), decoder_channels=128):
        super().__init__()
        self.num_classes = int(num_classes)
        self.normalize = Normalize()
        self.encoder = ResNetEncoder(widths)
        c = decoder_channels
        self.spp = SpatialPyramidPooling(widths[3], c)
        self.up16 = UpsampleModule(widths[2], c)
        self.up8 = UpsampleModule(widths[1], c)
        self.up4 = UpsampleModule(widths[0], c)
        self.classifier = _bn_relu_conv(c, self.num_classes, 1)
        self.classifier[-1].bias = nn.Parameter(torch.zeros(self.num_classes))
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.encoder.modules():  # zero-init the last BN of each residual branch
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        size = x.shape[-2:]
        f4, f8, f16, f32 = self.encoder(self.normalize(x))
        y = self.spp(f32)
        y = self.up16(y, f16)
        y = self.up8(y, f8)
        y = self.up4(y, f4)
        y = self.classifier(y)
        return F.interpolate(y, size=size, mode='bilinear', align_corners=False)


#: torchvision segmentation builders that :class:`TorchvisionSeg` accepts.
TORCHVISION_ARCHS = ('lraspp_mobilenet_v3_large', 'deeplabv3_mobilenet_v3_large',
                     'deeplabv3_resnet50', 'fcn_resnet50')


class TorchvisionSeg(nn.Module):
    """
    A torchvision segmentation architecture (random init, ``weights=None``) with our I/O.

    ``arch`` is one of :data:`TORCHVISION_ARCHS`.  Input ``B x 3 x H x W`` RGB in [0, 1]
    (normalised here); output the ``'out'`` logits ``B x num_classes x H x W``.  Weights trained
    elsewhere load into ``model.net`` (see :func:`runespoor.archs.load_weights`).
    """

    def __init__(self, arch='lraspp_mobilenet_v3_large', num_classes=19):
        super().__init__()
        from torchvision.models import segmentation
        if arch not in TORCHVISION_ARCHS:
            raise ValueError(f'unknown torchvision segmentation arch {arch!r}; '
                             f'choose one of {", ".join(TORCHVISION_ARCHS)}')
        kwargs = {'weights': None, 'weights_backbone': None, 'num_classes': int(num_classes)}
        if arch != 'lraspp_mobilenet_v3_large':
            kwargs['aux_loss'] = False
        self.num_classes = int(num_classes)
        self.normalize = Normalize()
        self.net = getattr(segmentation, arch)(**kwargs)

    def forward(self, x):
        return self.net(self.normalize(x))['out']
