# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The user's own analytics model by configuration only (``runespoor.user_models``).

Every model here is made in the test: a TorchScript file, an import-path builder written to
``tmp_path``, torchvision architectures with random weights saved as plain state dicts, and
tiny Runespoor checkpoints.  Frames are tiny (64 x 32) so each test takes about a second.
"""

import hashlib
import re
import textwrap

import pytest
from runespoor.archs import build_det, build_seg
from runespoor.checkpoint import save_checkpoint
from runespoor.user_models import load_analytics_model, ModelSpec, ModelSpecError, \
    spec_from_file, spec_from_text
from systest import REPO
import torch
from torch import nn
import torch.nn.functional as F
import yaml

H, W = 32, 64
TINY_SEG = {'widths': (8, 8, 16, 16), 'decoder_channels': 8}
TINY_DET = {'widths': (8, 8, 16, 16), 'fpn_channels': 8}


def _frame(n=1, seed=0):
    return torch.rand(n, 3, H, W, generator=torch.Generator().manual_seed(seed))


def _load(d, kind='seg', task_classes=19, **kwargs):
    spec = ModelSpec.from_dict(d, kind, 'segmentation.model' if kind == 'seg' else
                               'detection.model', task_classes=task_classes)
    return load_analytics_model(spec, task_classes=task_classes, **kwargs)


def _sha(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


class TwentyClasses(nn.Module):
    """A 1x1 conv with 20 outputs whose 20th ("background") always wins."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 20, 1)
        with torch.no_grad():
            self.conv.bias[19] = 100.0

    def forward(self, x):
        return self.conv(x)


@pytest.fixture
def twenty_ts(tmp_path):
    torch.manual_seed(0)
    model = TwentyClasses().eval()
    path = str(tmp_path / 'seg20.ts')
    torch.jit.save(torch.jit.script(model), path)
    return path, model


def test_torchscript_with_class_map_drops_the_20th_class(twenty_ts):
    path, ref = twenty_ts
    model, info = _load({'torchscript': path, 'class_map': {19: 'ignore', 'others': 'same'}})
    x = _frame(2)
    logits = model(x)
    assert logits.shape == (2, 19, H, W)
    with torch.no_grad():
        raw = ref(x)
    assert raw.argmax(1).eq(19).all()                  # unmapped, the model's pick everywhere
    pred = logits.argmax(1)
    assert pred.max() < 19
    assert torch.equal(pred, raw[:, :19].argmax(1))    # the most likely *task* class
    assert torch.allclose(logits, raw[:, :19])
    assert info['source'] == 'torchscript' and info['path'] == path
    assert info['sha256'] == _sha(path)
    assert any('model classes 19 ignored' in n for n in info['notes'])


def test_twenty_outputs_without_a_class_map_are_refused(twenty_ts):
    path, _ = twenty_ts
    model, _ = _load({'torchscript': path})
    with pytest.raises(ModelSpecError, match=r'outputs 20 classes but the task has 19.*'
                                             r'class_map'):
        model(_frame())
    with pytest.raises(ModelSpecError, match=r'has 20 classes, expected 19.*class_map'):
        _load({'torchscript': path, 'num_classes': 20})


def _write_module(tmp_path, monkeypatch, name, source):
    (tmp_path / f'{name}.py').write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))


BUILDERS = '''
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, classes=19, dict_out=False):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(), nn.Conv2d(8, classes, 1))
            self.dict_out = dict_out
            self.shapes = []

        def forward(self, x):
            self.shapes.append(tuple(x.shape))
            y = self.body(x)
            return {'logits': y, 'aux': y * 0} if self.dict_out else y


    def build(**kwargs):
        return Net(**kwargs)


    def half_res(**kwargs):
        net = Net(**kwargs)
        return nn.Sequential(nn.AvgPool2d(2), net)


    class ChannelMeans(nn.Module):
        def forward(self, x):
            return x.mean((2, 3), keepdim=True).expand_as(x).clone()


    def means():
        return ChannelMeans()


    class Fixed(nn.Module):
        """A detector that always finds the same four boxes."""

        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, images):
            self.seen.append(tuple(images.shape))
            boxes = torch.tensor([[0., 0., 8., 8.], [2., 2., 4., 6.], [1., 1., 3., 3.],
                                  [4., 0., 16., 8.]])
            return [{'boxes': boxes, 'scores': torch.tensor([.9, .8, .7, .6]),
                     'labels': torch.tensor([1, 2, 3, 5])} for _ in range(images.shape[0])]


    def fixed():
        return Fixed()


    NOT_CALLABLE = 3


    def not_a_module():
        return 'a string'
'''


@pytest.fixture
def builders(tmp_path, monkeypatch):
    name = f'usermods_{tmp_path.name.replace("-", "_")}'
    _write_module(tmp_path, monkeypatch, name, BUILDERS)
    import importlib
    return importlib.import_module(name)


def test_builder_by_import_path_with_a_plain_state_dict(tmp_path, builders):
    torch.manual_seed(1)
    ref = builders.build().eval()
    path = str(tmp_path / 'net.pth')
    # a DataParallel-style checkpoint of another project: 'module.' keys under 'state_dict'
    torch.save({'state_dict': {'module.' + k: v for k, v in ref.state_dict().items()},
                'epoch': 3}, path)
    model, info = _load({'builder': f'{builders.__name__}:build', 'weights': path})
    x = _frame()
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x))
    assert info['source'] == 'builder' and info['builder'] == f'{builders.__name__}:build'
    assert info['sha256'] == _sha(path) and info['code_sha256']
    assert all(not p.requires_grad for p in model.parameters())
    model.train()                                   # stays frozen: BatchNorm in eval mode
    assert not model.training and not model.model.training
    x.requires_grad_(True)
    model(x).sum().backward()                       # gradients reach the input (ASR)
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_output_selection_of_a_dict_and_of_a_tuple(builders):
    model, _ = _load({'builder': f'{builders.__name__}:build', 'output': 'logits',
                      'builder_kwargs': {'dict_out': True}})
    assert model(_frame()).shape == (1, 19, H, W)
    model, _ = _load({'builder': f'{builders.__name__}:build',
                      'builder_kwargs': {'dict_out': True}})
    with pytest.raises(ModelSpecError, match=r'keys logits, aux: set segmentation.model.'
                                             r'output'):
        model(_frame())
    model, _ = _load({'builder': f'{builders.__name__}:build', 'output': 'scores',
                      'builder_kwargs': {'dict_out': True}})
    with pytest.raises(ModelSpecError, match=r"output 'scores'"):
        model(_frame())


def test_imagenet_and_custom_normalisation(builders):
    x = torch.full((1, 3, H, W), 0.5)
    name = f'{builders.__name__}:means'
    plain, _ = _load({'builder': name}, task_classes=3)
    assert torch.allclose(plain(x)[0, :, 0, 0], torch.full((3,), 0.5))
    imagenet, _ = _load({'builder': name, 'normalize': 'imagenet'}, task_classes=3)
    want = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(imagenet(x)[0, :, 0, 0], want, atol=1e-5)
    custom, _ = _load({'builder': name, 'normalize': {'mean': [0.5, 0.25, 0.0],
                                                      'std': [0.5, 0.5, 0.25]}},
                      task_classes=3)
    assert torch.allclose(custom(x)[0, :, 0, 0], torch.tensor([0.0, 0.5, 2.0]))


def test_input_size_resizes_in_and_the_logits_back(builders):
    model, info = _load({'builder': f'{builders.__name__}:build', 'input_size': [32, 16]})
    net = model.model
    out = model(_frame())
    assert net.shapes[-1] == (1, 3, 16, 32)         # the model ran at its native W x H
    assert out.shape == (1, 19, H, W)               # the logits came back at frame size
    assert 'input 32x16' in info['describe']
    # a model whose logits are smaller than its input: back to the frame size too
    half, _ = _load({'builder': f'{builders.__name__}:half_res', 'input_size': '48x24'})
    assert half(_frame()).shape == (1, 19, H, W)
    assert half.model[1].shapes[-1] == (1, 3, 12, 24)


def test_class_map_merges_model_classes_of_one_task_class(builders):
    # model classes 0 and 1 are both task class 0, 2 -> 1, 3 ignored
    model, _ = _load({'builder': f'{builders.__name__}:build', 'builder_kwargs': {
        'classes': 4}, 'class_map': [0, 0, 1, 'ignore']}, task_classes=2)
    x = _frame()
    with torch.no_grad():
        raw = model.model(x)
        out = model(x)
    assert out.shape == (1, 2, H, W)
    assert torch.allclose(out[:, 0], torch.logsumexp(raw[:, :2], 1), atol=1e-5)
    assert torch.allclose(out[:, 1], raw[:, 2])


def test_detector_class_map_and_input_size(builders):
    spec = {'builder': f'{builders.__name__}:fixed', 'input_size': [W // 2, H // 2],
            'class_map': {1: 1, 2: 'ignore', 3: 4}}
    model, info = _load(spec, kind='det', task_classes=10)
    found = model(_frame(2))
    assert model.model.seen[-1] == (2, 3, H // 2, W // 2)
    assert len(found) == 2
    d = found[0]
    assert d['labels'].tolist() == [1, 4]           # 2 ignored, 5 not in the map: dropped
    assert d['labels'].dtype == torch.int64
    assert torch.allclose(d['scores'], torch.tensor([0.9, 0.7]))
    assert torch.allclose(d['boxes'], torch.tensor([[0., 0., 16., 16.], [2., 2., 6., 6.]]))
    assert info['source'] == 'builder' and info['sha256'] is None
    with pytest.raises(ModelSpecError, match=r'model class 3 maps to 11, outside the task'):
        _load(dict(spec, class_map={3: 11}), kind='det', task_classes=10)


def test_runespoor_checkpoints_load_as_before(tmp_path):
    torch.manual_seed(2)
    ref = build_seg('swiftnet_r18', **TINY_SEG).eval()
    path = str(tmp_path / 'seg.pt')
    save_checkpoint(path, ref, {'kind': 'seg', 'method': 'seg', 'arch': 'swiftnet_r18',
                                'arch_kwargs': TINY_SEG}, metrics={'miou': 0.5})
    model, info = _load(path)                       # a path alone: a Runespoor checkpoint
    x = _frame()
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x))
    assert info['source'] == 'checkpoint' and info['arch'] == 'swiftnet_r18'
    assert info['metrics'] == {'miou': 0.5} and info['sha256'] == _sha(path)
    assert info['model_classes'] == 19 and model.num_classes == 19
    # the same file named with its arch; another arch is refused naming the file
    _load({'arch': 'swiftnet_r18', 'weights': path})
    with pytest.raises(ModelSpecError, match=r"seg\.pt has arch='swiftnet_r18', expected "
                                             r"arch='swiftnet_r18_lite'"):
        _load({'arch': 'swiftnet_r18_lite', 'weights': path})
    # a plain state dict for a Runespoor arch
    plain = str(tmp_path / 'plain.pt')
    torch.save(ref.state_dict(), plain)
    model, info = _load({'arch': 'swiftnet_r18', 'weights': plain, 'arch_kwargs': TINY_SEG})
    assert info['source'] == 'state_dict'
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x))
    with pytest.raises(ModelSpecError, match=r'not a Runespoor checkpoint.*set '
                                             r'segmentation\.model\.arch'):
        _load(plain)


def test_a_checkpoint_with_other_classes_is_refused_unless_mapped(tmp_path):
    kw = dict(TINY_SEG, num_classes=5)
    path = str(tmp_path / 'seg5.pt')
    save_checkpoint(path, build_seg('swiftnet_r18', **kw),
                    {'kind': 'seg', 'method': 'seg', 'arch': 'swiftnet_r18', 'arch_kwargs': kw})
    with pytest.raises(ModelSpecError, match=r'seg5\.pt has 5 classes, expected 19'):
        _load(path)
    model, info = _load({'weights': path, 'class_map': [0, 1, 2, 13, 'ignore']})
    assert set(model(_frame()).argmax(1).unique().tolist()) <= {0, 1, 2, 13}
    assert any('never predicted' in n for n in info['notes'])
    with pytest.raises(ModelSpecError, match=r'model class 7 does not exist: the model has 5'):
        _load({'weights': path, 'class_map': {7: 1}})
    with pytest.raises(ModelSpecError, match=r"kind='seg', expected kind='det'"):
        _load(path, kind='det', task_classes=10)


def _tv_deeplab(classes, aux):
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large
    torch.manual_seed(3)
    return deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                        num_classes=classes, aux_loss=aux).eval()


def _doc_example():
    text = (REPO / 'docs' / 'user_models.md').read_text()
    block = re.search(r'```yaml\n(segmentation:\n.*?)```', text, re.S).group(1)
    return yaml.safe_load(block)['segmentation']['model']


def test_torchvision_deeplab_with_aux_head_background_class_and_native_size(tmp_path):
    """The worked example of docs/user_models.md, on a small frame and random weights."""
    ref = _tv_deeplab(20, aux=True)
    path = str(tmp_path / 'deeplab.pth')
    torch.save(ref.state_dict(), path)              # saved WITH the auxiliary head
    example = _doc_example()
    assert example['arch'].startswith('torchvision:deeplabv3')
    assert example['num_classes'] == 20 and example['normalize'] == 'imagenet'
    spec = dict(example, arch='torchvision:deeplabv3_mobilenet_v3_large', weights=path,
                input_size=[48, 24])               # the doc's arch is a ResNet-50: too slow
    x = _frame()
    small = F.interpolate(x, size=(24, 48), mode='bilinear', align_corners=False,
                          antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        want = ref((small - mean) / std)['out'][:, :19]
    want = F.interpolate(want, size=(H, W), mode='bilinear', align_corners=False)
    for aux, note in (('auto', 'auxiliary head built'), (False, 'dropped 8 aux_classifier')):
        model, info = _load(dict(spec, aux=aux))
        with torch.no_grad():
            out = model(x)
        assert out.shape == (1, 19, H, W)
        assert torch.allclose(out, want, atol=1e-4)
        assert info['source'] == 'torchvision' and info['model_classes'] == 20
        assert any(note in n for n in info['notes']), info['notes']
    # the case: a Runespoor torchvision arch (no aux head) takes the same file
    ref19 = _tv_deeplab(19, aux=True)
    path19 = str(tmp_path / 'deeplab19.pth')
    torch.save(ref19.state_dict(), path19)
    model, info = _load({'arch': 'deeplabv3_mobilenet_v3_large', 'weights': path19})
    assert any('dropped 8 aux_classifier' in n for n in info['notes'])
    with pytest.raises(ModelSpecError, match=r'classifier.*\[20, 256, 1, 1\] in the file but '
                                             r'\[19, 256, 1, 1\].*num_classes'):
        _load({'arch': 'torchvision:deeplabv3_mobilenet_v3_large', 'weights': path})


def test_torchvision_detector_gets_a_list_and_task_labels(tmp_path):
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    torch.manual_seed(4)
    ref = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=4)
    path = str(tmp_path / 'ssd.pth')
    torch.save(ref.state_dict(), path)              # 3 classes + torchvision's background
    model, info = _load({'arch': 'torchvision:ssdlite320_mobilenet_v3_large', 'weights': path,
                         'num_classes': 3}, kind='det', task_classes=3)
    found = model(_frame())[0]
    assert model.list_input and info['model_classes'] == 3
    assert set(found) == {'boxes', 'scores', 'labels'}
    assert ((found['labels'] >= 1) & (found['labels'] <= 3)).all()


def test_runespoor_detector_checkpoint_and_its_loss_through_the_adapter(tmp_path):
    torch.manual_seed(5)
    det = build_det('retinanet_r18_lite', **TINY_DET)
    path = str(tmp_path / 'det.pt')
    save_checkpoint(path, det, {'kind': 'det', 'method': 'det', 'arch': 'retinanet_r18_lite',
                                'arch_kwargs': TINY_DET})
    model, info = _load(path, kind='det', task_classes=10)
    assert info['source'] == 'checkpoint' and info['model_classes'] == 10
    found = model(_frame())
    assert len(found) == 1 and found[0]['boxes'].shape[1] == 4
    x = _frame().requires_grad_(True)
    targets = [{'boxes': torch.tensor([[4., 4., 12., 12.]]), 'labels': torch.tensor([3])}]
    parts = model.detection_loss(x, targets)
    (parts['classification'] + parts['bbox_regression']).backward()
    assert x.grad is not None
    with pytest.raises(ModelSpecError, match='has 10 classes, expected 5'):
        _load(path, kind='det', task_classes=5)


@pytest.mark.parametrize('d, message', [
    ({'torchscript': 'a.ts', 'colour': 1}, r'unknown key\(s\) colour; the keys are arch'),
    ({'torchscript': 'a.ts', 'builder': 'a.b:c'},
     r'exactly one of arch, builder, torchscript \(got builder and torchscript\)'),
    ({}, r'names no model'),
    ({'builder': 'a.b.c'}, r'builder .a\.b\.c.: expected an import path'),
    ({'builder': 'a-b:c'}, r'expected an import path'),
    ({'builder': 'os:system; rm'}, r'expected an import path'),
    ({'arch': 'swiftnet_r19', 'weights': 'w.pt'}, r'unknown segmentation arch .swiftnet_r19.'),
    ({'arch': 'swiftnet_r18'}, r'needs segmentation\.model\.weights'),
    ({'torchscript': 'a.ts', 'weights': 'w.pt'}, r'carries its own weights'),
    ({'torchscript': 'a.ts', 'num_classes': 0}, r'num_classes: expected an integer >= 1'),
    ({'torchscript': 'a.ts', 'normalize': {'mean': [123.7, 116.3, 103.5],
                                           'std': [58.4, 57.1, 57.4]}}, r'divide 0-255'),
    ({'torchscript': 'a.ts', 'normalize': 'zscore'}, r'normalize: expected none, imagenet'),
    ({'torchscript': 'a.ts', 'input_size': [512]}, r'input_size: expected \[W, H\]'),
    ({'torchscript': 'a.ts', 'aux': 'maybe'}, r'aux: expected auto, true or false'),
    ({'torchscript': 'a.ts', 'class_map': {19: 19}},
     r'model class 19 maps to 19, outside the task.s classes 0\.\.18'),
    ({'torchscript': 'a.ts', 'class_map': {'x': 1}}, r'class_map key .x.: expected an integer'),
    ({'torchscript': 'a.ts', 'class_map': {19: 'ignore'}}, r'maps no model class.*others: same'),
    ({'torchscript': 'a.ts', 'class_map': {'others': 'maybe'}}, r'others: expected same or'),
    ({'arch': 'swiftnet_r18', 'weights': 'w.pt', 'arch_kwargs': {'weights': 'DEFAULT'}},
     r'pretrained weights are not downloaded'),
])
def test_bad_specs_are_refused_naming_the_key(d, message):
    with pytest.raises(ModelSpecError, match=message):
        ModelSpec.from_dict(d, 'seg', 'segmentation.model', task_classes=19)


def test_bad_builders_and_missing_files(tmp_path, builders):
    name = builders.__name__
    for builder, message in ((f'{name}_nothere:build', r'no module named .*PYTHONPATH'),
                             (f'{name}:nothere', r"has no attribute 'nothere'"),
                             (f'{name}:NOT_CALLABLE', r'is a int, not a callable'),
                             (f'{name}:not_a_module', r'returned a str, not a torch\.nn'
                                                      r'\.Module')):
        with pytest.raises(ModelSpecError, match=message):
            _load({'builder': builder})
    with pytest.raises(ModelSpecError, match=r'builder_kwargs.*TypeError'):
        _load({'builder': f'{name}:build', 'builder_kwargs': {'colour': 1}})
    missing = str(tmp_path / 'nothere.pt')
    with pytest.raises(ModelSpecError, match=r'nothere\.pt does not exist \(set '
                                             r'segmentation\.model\.weights\)'):
        _load({'builder': f'{name}:build', 'weights': missing})
    with pytest.raises(ModelSpecError, match=r'nothere\.ts does not exist \(set '
                                             r'segmentation\.model\.torchscript\)'):
        _load({'torchscript': str(tmp_path / 'nothere.ts')})
    junk = tmp_path / 'junk.ts'
    junk.write_bytes(b'not a torchscript archive')
    with pytest.raises(ModelSpecError, match=r'junk\.ts cannot be loaded'):
        _load({'torchscript': str(junk)})
    with pytest.raises(ModelSpecError, match=r'unknown key'):
        _load({'builder': f'{name}:build', 'wieghts': missing})


def test_unsafe_weights_are_refused_before_anything_runs(tmp_path, builders):
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': builders.build().state_dict(), 'net': builders.build()}, path)
    with pytest.raises(ModelSpecError, match=r'unsafe content refused'):
        _load({'builder': f'{builders.__name__}:build', 'weights': path})


def test_parameter_text_and_spec_files(tmp_path, twenty_ts):
    path, _ = twenty_ts
    text = ('{"torchscript": "%s", "class_map": {"19": "ignore", "others": "same"}, '
            '"input_size": "32x16", "normalize": "imagenet"}' % path)   # JSON: string keys
    spec = spec_from_text(text, 'segmentation', task_classes=19)
    assert spec.kind == 'seg' and spec.class_map == {19: None}
    assert spec.class_map_others == 'same'
    assert spec.input_size == (32, 16) and spec.normalize == 'imagenet'
    assert spec_from_text('', 'seg') is None
    assert spec.to_dict() == {'kind': 'seg', 'torchscript': path,
                              'class_map': {'19': None, 'others': 'same'},
                              'input_size': [32, 16], 'normalize': 'imagenet'}
    model_file = tmp_path / 'model.yaml'
    model_file.write_text(f'model:\n  torchscript: {path}\n'
                          '  class_map: {19: ignore, others: same}\n')
    spec = spec_from_file(str(model_file), 'seg', task_classes=19)
    model, _ = load_analytics_model(spec, task_classes=19)
    assert model(_frame()).shape == (1, 19, H, W)
    with pytest.raises(ModelSpecError, match=r'analytics_model: not a YAML'):
        spec_from_text('{torchscript: [', 'seg')
