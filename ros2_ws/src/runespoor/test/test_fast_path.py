# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Fast-path settings: CPU-safe defaults, fp32 unchanged, reduced precision, the decoders."""

import numpy as np
import pytest
from runespoor import codec, fast_path
from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, make_reconstructor,
                                      PipelineConfig)
from runespoor.tasks.segmentation.analytics import Segmenter
from runespoor.tensors import bgr_to_tensor
import torch


def _models(tmp_path):
    from runespoor.archs import build_seg, build_sr
    from runespoor.checkpoint import save_checkpoint
    torch.manual_seed(0)
    kw = {'channels': 4, 'blocks': 1}
    save_checkpoint(str(tmp_path / 'asr_x2.pt'), build_sr('carn', 2, **kw),
                    {'kind': 'sr', 'method': 'asr', 'arch': 'carn', 'arch_kwargs': kw,
                     'scale': 2})
    save_checkpoint(str(tmp_path / 'seg.pt'), build_seg('swiftnet_r18_lite'),
                    {'kind': 'seg', 'arch': 'swiftnet_r18_lite', 'arch_kwargs': {}})
    return (make_reconstructor('asr', str(tmp_path), 'cpu', (2,)),
            Segmenter('swiftnet_r18_lite', str(tmp_path / 'seg.pt')))


def _frame(seq=0):
    rng = np.random.default_rng(seq)
    img = (rng.random((32, 64, 3)) * 255).astype(np.uint8)
    enc = codec.encode_frame(img, 2, 90)
    return EncodedInput(sequence=seq, data=enc.data, scale=2, jpeg_quality=90,
                        source_width=64, source_height=32)


def test_defaults_are_cpu_safe_and_on_for_cuda():
    cpu = fast_path.resolve('cpu')
    assert (cpu.precision, cpu.channels_last, cpu.graphs, cpu.gpu_decode, cpu.pin_memory) == \
        ('fp32', False, 'off', False, False) and not cpu.wraps
    cuda = fast_path.resolve('cuda')
    assert (cuda.precision, cuda.channels_last, cuda.graphs, cuda.pin_memory) == \
        ('fp16', True, 'cudagraph', True)
    assert fast_path.resolve('cuda', precision='bf16', graphs='off').precision == 'bf16'
    for bad in ({'precision': 'int8'}, {'graphs': 'tensorrt'}, {'channels_last': 'maybe'}):
        with pytest.raises(ValueError):
            fast_path.resolve('cpu', **bad)
    with pytest.raises(ValueError, match='cuda'):
        fast_path.resolve('cpu', graphs='cudagraph')


def test_fp32_wraps_nothing_and_outputs_are_identical(tmp_path):
    recon, seg = _models(tmp_path)
    before = CloudPipeline(recon, seg, PipelineConfig()).process(_frame())
    assert fast_path.apply(recon, seg, fast_path.resolve('cpu')) == 0
    assert fast_path.warm_up(recon, seg, fast_path.resolve('cpu'), (2,), (32, 64)) == 0
    after = CloudPipeline(recon, seg, PipelineConfig()).process(_frame())
    np.testing.assert_array_equal(before.labels, after.labels)
    np.testing.assert_array_equal(before.reconstructed, after.reconstructed)


def test_reduced_precision_and_channels_last_run_on_cpu(tmp_path):
    recon, seg = _models(tmp_path)
    ref = CloudPipeline(recon, seg, PipelineConfig()).process(_frame())
    fast = fast_path.resolve('cpu', precision='bf16', channels_last='on')
    assert fast.wraps and fast_path.apply(recon, seg, fast) == 2
    assert fast_path.apply(recon, seg, fast) == 0           # not wrapped twice
    assert fast_path.warm_up(recon, seg, fast, (2,), (32, 64)) == 2
    res = CloudPipeline(recon, seg, PipelineConfig()).process(_frame())
    assert res.labels.shape == ref.labels.shape and res.labels.dtype == np.uint8
    assert res.reconstructed.dtype == np.uint8
    # bf16 is approximate: most pixels keep their class and colour
    assert np.mean(res.labels == ref.labels) > 0.8
    assert np.abs(res.reconstructed.astype(int) - ref.reconstructed).mean() < 8


def test_cpu_decoder_matches_the_pipeline_decoder():
    frame = _frame(3)
    fast = fast_path.resolve('cpu', pin_memory='on')        # pinning needs CUDA: stays off
    assert not fast.pin_memory and not fast.gpu_decode
    t = fast_path.decode_jpeg_tensor(frame.data, fast)
    lr, _ = codec.decode_image(frame.data)
    assert torch.equal(t, bgr_to_tensor(lr))


@pytest.mark.parametrize('task, whole', [('segmentation', True), ('detection', False),
                                         ('no_such_plugin_task', False)])
def test_the_task_says_how_much_of_the_fast_path_its_network_gets(task, whole):
    # a network returning one tensor gets the whole fast path; any other only the precision
    class Analytics:
        def __init__(self):
            self.task = task
            self.model = torch.nn.Conv2d(3, 2, 1)

    analytics = Analytics()
    fast = fast_path.FastPath(device='cpu', precision='bf16', channels_last=True)
    assert fast_path.apply(object(), analytics, fast) == 1
    assert isinstance(analytics.model, fast_path.FastModule) == whole
