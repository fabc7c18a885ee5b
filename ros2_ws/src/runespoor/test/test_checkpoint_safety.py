"""
Weights files are read only with ``weights_only=True`` and refused in the project's words.

A crafted pickle (its ``__reduce__`` would create a marker file) given as any weights input --
checkpoint reader, inspector, plain-weights loader, the cloud's segmentation, detection and SR
loaders, the CAC experiment's segmenter -- is refused, and the marker is never created.  Empty,
truncated, foreign and wrong-class files say what is wrong, never torch's advice to set
``weights_only=False``.
"""

import os
import pickle

import pytest

from runespoor.archs import build_det, build_seg, build_sr, load_weights
from runespoor.checkpoint import (CheckpointError, inspect_checkpoint, load_checkpoint,
                                  read_torch_file, save_checkpoint, UnsafeCheckpointError)
from runespoor.cloud_pipeline import make_reconstructor, ModelError
from runespoor.tasks.detection.analytics import DetectorAnalytics
from runespoor.tasks.segmentation.analytics import Segmenter
from runespoor.testing import call_bounded, Plant
import torch

SR_KW = {'channels': 8, 'blocks': 1}
SEG = 'swiftnet_r18_lite'
DET = 'retinanet_r18_lite'


def _sr_checkpoint(path, method='asr', scale=2):
    save_checkpoint(str(path), build_sr('carn', scale, **SR_KW),
                    {'kind': 'sr', 'method': method, 'arch': 'carn', 'arch_kwargs': SR_KW,
                     'scale': scale})
    return str(path)


def _seg_checkpoint(path, num_classes=19):
    save_checkpoint(str(path), build_seg(SEG, num_classes=num_classes),
                    {'kind': 'seg', 'method': 'seg', 'arch': SEG,
                     'arch_kwargs': {'num_classes': num_classes}})
    return str(path)


def _det_checkpoint(path, num_classes=10):
    save_checkpoint(str(path), build_det(DET, num_classes=num_classes),
                    {'kind': 'det', 'method': 'det', 'arch': DET,
                     'arch_kwargs': {'num_classes': num_classes}})
    return str(path)


def _load_segmenter(path):
    from runespoor.cac.experiment_plan import load_segmenter
    return load_segmenter(path)


#: Every input that reads a weights file -> how it is called on ``path`` (SR: a folder holding
#: ``path`` as asr_x2.pt).
LOADERS = {
    'read_torch_file': read_torch_file,
    'load_checkpoint': load_checkpoint,
    'inspect_checkpoint': inspect_checkpoint,
    'load_weights': lambda p: load_weights(build_sr('carn', 2, **SR_KW), p),
    'cloud_segmentation': lambda p: Segmenter(SEG, p),
    'cloud_detection': lambda p: DetectorAnalytics(DET, p),
    'cloud_sr': lambda p: make_reconstructor('asr', os.path.dirname(p), 'cpu', (2,)),
    'experiment_segmenter': _load_segmenter,
}


def weights_path(tmp_path):
    return str(tmp_path / 'asr_x2.pt')  # also the name the SR loader looks for


@pytest.fixture(params=['torch_zip', 'torch_legacy', 'plain_pickle', 'global_in_state_dict'])
def crafted(request, tmp_path):
    """Return (path of a crafted weights file, marker path its unpickling would create)."""
    marker = str(tmp_path / 'MARKER')
    path = weights_path(tmp_path)
    if request.param == 'torch_zip':
        torch.save({'format': 'runespoor-checkpoint', 'model': Plant(marker)}, path)
    elif request.param == 'torch_legacy':
        torch.save({'model': Plant(marker)}, path, _use_new_zipfile_serialization=False)
    elif request.param == 'plain_pickle':
        with open(path, 'wb') as f:
            pickle.dump({'state_dict': {'w': Plant(marker)}}, f)
    else:  # a real-looking state dict with one poisoned entry
        state = build_sr('carn', 2, **SR_KW).state_dict()
        state['extra'] = Plant(marker)
        torch.save(state, path)
    assert not os.path.exists(marker)
    return path, marker


def _refusal(loader, path):
    """Call ``loader(path)`` (bounded in time) and return the error message it raised."""
    _, error = call_bounded(lambda: LOADERS[loader](path), path if os.path.exists(path)
                            and not os.path.isfile(path) else None)
    # CheckpointError, ModelError, WeightsError are RuntimeErrors; anything else is a failure
    assert error is None or isinstance(error, RuntimeError), f'{loader} raised {error!r}'
    assert error is not None, f'{loader} accepted {path}'
    msg = str(error)
    assert os.path.basename(path) in msg
    assert 'weights_only=False' not in msg and 'Re-running' not in msg
    return msg


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_crafted_pickle_refused_and_never_run(crafted, loader):
    path, marker = crafted
    msg = _refusal(loader, path)
    assert 'not a Runespoor checkpoint' in msg and 'content refused' in msg, msg
    assert not os.path.exists(marker)


def test_unsafe_refusal_names_the_object(tmp_path):
    marker = str(tmp_path / 'MARKER')
    path = str(tmp_path / 'evil.pt')
    torch.save({'model': Plant(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        read_torch_file(path, 'segmentation weights file')
    assert str(info.value) == (
        f'segmentation weights file {path} is not a Runespoor checkpoint: unsafe content '
        "refused (it asks for the Python object 'io.open'; only tensors and plain containers "
        'are loaded, and nothing in the file was run)')
    assert info.value.__cause__ is None  # torch's advice is not chained in either
    assert not os.path.exists(marker)


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_empty_file_says_so(tmp_path, loader):
    path = weights_path(tmp_path)
    open(path, 'wb').close()
    assert f'{path} is empty (0 bytes)' in _refusal(loader, path)


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_truncated_file_says_so(tmp_path, loader):
    path = _sr_checkpoint(weights_path(tmp_path))
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 3])
    assert f'{path} is corrupt or truncated' in _refusal(loader, path)


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_junk_file_says_so(tmp_path, loader):
    path = weights_path(tmp_path)
    with open(path, 'wb') as f:
        f.write(b'<html>404 not found</html>')
    assert f'{path} is corrupt or not a checkpoint at all (no torch.save archive; it starts ' \
           "with b'<htm')" in _refusal(loader, path)


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_fifo_refused_at_once(tmp_path, loader):
    if not hasattr(os, 'mkfifo'):
        pytest.skip('no FIFOs on this platform')
    path = weights_path(tmp_path)
    os.mkfifo(path)
    msg = _refusal(loader, path)
    assert f'{path} is not a regular file (a FIFO (named pipe)); refusing to read it' in msg


def test_segmentation_checkpoint_with_other_class_count_refused(tmp_path):
    path = _seg_checkpoint(tmp_path / 'seg5.pt', num_classes=5)
    with pytest.raises(ModelError) as info:
        Segmenter(SEG, path)
    assert str(info.value).startswith(
        f'segmentation weights file {path} has 5 classes, expected 19 (the Cityscapes train '
        'ids)')
    assert Segmenter(SEG, _seg_checkpoint(tmp_path / 'seg19.pt')).model.num_classes == 19


def test_segmentation_state_dict_with_other_class_count_refused(tmp_path):
    path = str(tmp_path / 'user_seg5.pth')
    torch.save(build_seg(SEG, num_classes=5).state_dict(), path)
    with pytest.raises(ModelError, match=r'(?s)user_seg5\.pth does not fit .*expected arch '
                                         r"'swiftnet_r18_lite', 19 classes"):
        Segmenter(SEG, path)


def test_detection_checkpoint_with_other_class_count_refused(tmp_path):
    path = _det_checkpoint(tmp_path / 'det5.pt', num_classes=5)
    with pytest.raises(ModelError, match=r'detection weights file \S+det5\.pt has 5 classes, '
                                         r'expected 10 \(the VisDrone categories\)'):
        DetectorAnalytics(DET, path)


def test_inspector_reads_kind_and_arch(tmp_path):
    info = inspect_checkpoint(_seg_checkpoint(tmp_path / 'seg.pt', num_classes=5))
    assert (info['format'], info['kind'], info['arch'], info['num_classes']) == \
        ('checkpoint', 'seg', SEG, 5)
    sr = inspect_checkpoint(_sr_checkpoint(tmp_path / 'sr.pt', 'sr', 4), kind='sr')
    assert (sr['kind'], sr['method'], sr['arch'], sr['scale']) == ('sr', 'sr', 'carn', 4)
    plain = str(tmp_path / 'plain.pth')
    torch.save(build_sr('carn', 2, **SR_KW).state_dict(), plain)
    assert inspect_checkpoint(plain)['format'] == 'state_dict'
    with pytest.raises(CheckpointError, match='is a plain state dict, not a Runespoor '
                                              "checkpoint of kind 'seg'"):
        inspect_checkpoint(plain, kind='seg')
    with pytest.raises(CheckpointError, match="has kind='sr', expected kind='seg'"):
        inspect_checkpoint(str(tmp_path / 'sr.pt'), kind='seg')
    other = str(tmp_path / 'other.pt')
    torch.save({'epoch': 3, 'notes': ['a']}, other)
    with pytest.raises(CheckpointError, match='is not a Runespoor checkpoint'):
        inspect_checkpoint(other)


def test_shipped_models_still_load():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
    seg = os.path.join(repo, 'models', 'seg', 'swiftnet_r18_lite.pt')
    assert os.path.isfile(seg), f'the shipped segmentation model {seg} is part of the repository'
    assert inspect_checkpoint(seg, kind='seg')['arch'] == SEG
    assert Segmenter(SEG, seg).model.num_classes == 19
