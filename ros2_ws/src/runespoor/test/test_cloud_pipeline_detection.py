# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""Cloud pipeline, detection task: the detector plug-in, its model errors, the tail signal."""

import numpy as np
import pytest

from runespoor import codec
from runespoor.cloud_pipeline import (CloudPipeline, EncodedInput, make_reconstructor, ModelError,
                                      PipelineConfig)
from runespoor.edge_control import MODE_STANDARD, MODE_TAIL
from runespoor.tasks.detection.analytics import Detections, DetectorAnalytics, draw_detections
from runespoor.tasks.detection.tail_signal import small_box_share

W, H = 128, 64


def frame(seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 90, np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, W - 12)), int(rng.integers(0, H - 8))
        img[y:y + 8, x:x + 12] = rng.integers(0, 256, 3)
    return img


def encoded(seq, image, scale=2, quality=90):
    enc = codec.encode_frame(image, scale, quality)
    return EncodedInput(seq, enc.data, scale, quality, image.shape[1], image.shape[0])


def det_checkpoint(path, confident=True):
    """Save a random-init detector; ``confident`` biases its classifier so it fires."""
    import torch
    from runespoor.archs import build_det
    from runespoor.checkpoint import save_checkpoint
    torch.manual_seed(0)
    model = build_det('retinanet_r18_lite', num_classes=10)
    if confident:
        with torch.no_grad():
            model.net.head.classification_head.cls_logits.bias.fill_(1.0)
    save_checkpoint(str(path), model, {'kind': 'det', 'method': 'det',
                                       'arch': 'retinanet_r18_lite',
                                       'arch_kwargs': {'num_classes': 10}})
    return str(path)


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


class StubDetector:
    """Analytics plug-in returning hand-made boxes (one list per call)."""

    task = 'detection'

    def __init__(self, frames):
        self.frames = list(frames)

    def __call__(self, image_bgr, tensor=None):
        boxes, scores = self.frames.pop(0)
        return Detections(np.asarray(boxes, np.float32).reshape(-1, 4),
                          np.asarray(scores, np.float32), np.ones(len(scores), np.int64))

    def tail_signal(self, dets, frame_size, config):
        h, w = frame_size
        return small_box_share(dets.boxes, dets.scores, w, h, 0.3, config.small_box_fraction)


def test_detector_on_a_frame_gives_well_formed_output(tmp_path):
    det = DetectorAnalytics('retinanet_r18_lite', det_checkpoint(tmp_path / 'det.pt'), 'cpu',
                            score_threshold=0.3)
    assert det.task == 'detection' and det.num_classes == 10
    assert det.info['format'] == 'checkpoint'
    pipe = CloudPipeline(make_reconstructor('bilinear'), det, PipelineConfig())
    res = pipe.process(pipe.admit(encoded(0, frame())))
    assert res.task == 'detection' and res.labels is None and res.small_region_ratio is None
    d = res.detections
    assert len(d) > 0, 'the biased classifier should fire'
    assert d.boxes.shape == (len(d), 4) and d.boxes.dtype == np.float32
    assert d.scores.dtype == np.float32 and (d.scores >= 0.3).all() and (d.scores <= 1).all()
    assert d.labels.dtype == np.int64 and set(d.labels.tolist()) <= set(range(1, 11))
    assert (d.boxes[:, 0] >= 0).all() and (d.boxes[:, 2] <= W).all()
    assert (d.boxes[:, 1] >= 0).all() and (d.boxes[:, 3] <= H).all()
    assert (d.boxes[:, 2] >= d.boxes[:, 0]).all() and (d.boxes[:, 3] >= d.boxes[:, 1]).all()
    assert 0.0 <= res.small_box_share <= 1.0 and res.signal_value == res.small_box_share
    assert res.small_box_share == pytest.approx(
        small_box_share(d.boxes, d.scores, W, H, 0.3, 0.0005))
    assert res.reconstructed.shape == (H, W, 3)
    det.score_threshold = 1.01  # nothing passes: empty but well-formed
    res = pipe.process(pipe.admit(encoded(1, frame(1))))
    assert len(res.detections) == 0 and res.detections.boxes.shape == (0, 4)
    assert res.small_box_share == 0.0
    annotated = draw_detections(frame(), d)
    assert annotated.shape == (H, W, 3) and (annotated != frame()).any()


def test_plain_state_dict_loads(tmp_path):
    import torch
    from runespoor.archs import build_det
    path = tmp_path / 'user_det.pth'
    torch.save(build_det('retinanet_r18_lite').state_dict(), path)
    det = DetectorAnalytics('retinanet_r18_lite', str(path), 'cpu')
    assert det.info['format'] == 'state_dict'
    out = det(frame())
    assert out.boxes.shape[1] == 4


def test_missing_or_mismatched_detector_weights_named(tmp_path):
    missing = tmp_path / 'models' / 'det' / 'retinanet_r18_lite.pt'
    with pytest.raises(ModelError, match=f'{missing}.*does not exist.*kind "det"'):
        DetectorAnalytics('retinanet_r18_lite', str(missing))
    with pytest.raises(ModelError, match='needs a weights file'):
        DetectorAnalytics('retinanet_r18_lite', '')
    with pytest.raises(ModelError, match='unknown detection arch'):
        DetectorAnalytics('yolo9000', 'x.pt')
    # A segmentation checkpoint given as the detector.
    from runespoor.archs import build_seg
    from runespoor.checkpoint import save_checkpoint
    seg = str(tmp_path / 'seg.pt')
    save_checkpoint(seg, build_seg('swiftnet_r18_lite'),
                    {'kind': 'seg', 'arch': 'swiftnet_r18_lite', 'arch_kwargs': {}})
    with pytest.raises(ModelError, match=r'seg\.pt.*kind=.seg.*expected.*kind "det"'):
        DetectorAnalytics('retinanet_r18_lite', seg)
    # A detector checkpoint of another arch, and a file that is no weights at all.
    det = det_checkpoint(tmp_path / 'det.pt', confident=False)
    with pytest.raises(ModelError, match=r'det\.pt.*retinanet_resnet50_fpn'):
        DetectorAnalytics('retinanet_resnet50_fpn', det)
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'not a torch file')
    with pytest.raises(ModelError, match='garbage.pt'):
        DetectorAnalytics('retinanet_r18_lite', str(garbage))


def test_tail_flag_follows_small_box_share():
    big, small = [0, 0, 60, 40], [10, 10, 12, 12]  # 2400 px^2 vs 4 px^2 of 8192
    frames = [
        ([big, big, small], [0.9, 0.8, 0.7]),        # 1/3 small
        ([small, small, big], [0.9, 0.8, 0.7]),      # 2/3 small
        ([small, small, big], [0.1, 0.2, 0.9]),      # small ones below the score threshold: 0
        ([], []),                                    # no boxes: 0
        ([small], [0.5]),                            # 1
    ]
    clock = Clock()
    cfg = PipelineConfig(tail_threshold=0.5, tail_direction='above', small_box_fraction=0.01,
                         hold_s=0.5)
    pipe = CloudPipeline(make_reconstructor('bilinear'), StubDetector(frames), cfg, clock)
    shares, tails, modes = [], [], []
    for seq in range(len(frames)):
        clock.t = seq * 0.4
        res = pipe.process(pipe.admit(encoded(seq, frame(seq))))
        shares.append(res.small_box_share)
        tails.append(res.is_tail)
        if res.policy is not None:
            modes.append((seq, res.policy.mode))
    assert shares == pytest.approx([1 / 3, 2 / 3, 0.0, 0.0, 1.0])
    assert tails == [False, True, False, False, True]
    # tail at once on frame 1, standard after the 0.5 s hold (frame 3 at 1.2 s), tail again
    assert modes == [(1, MODE_TAIL), (3, MODE_STANDARD), (4, MODE_TAIL)]
    assert pipe.tail_frames == 2 and pipe.analysed == 5 and pipe.task == 'detection'
    # the paper's direction on the same signal
    pipe.config.tail_direction = 'below'
    pipe.analytics.frames = [([big], [0.9])]
    assert pipe.process(pipe.admit(encoded(10, frame()))).is_tail
