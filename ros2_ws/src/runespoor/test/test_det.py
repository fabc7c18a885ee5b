# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""The detector, its small-box-restricted loss, ASR/CloudSeg for detection, drone datasets."""

import pytest
from runespoor.archs import build_det, build_sr, DET_ARCHS
from runespoor.archs.det import small_box_keep
from runespoor.checkpoint import CheckpointError, load_model, save_checkpoint
from runespoor.losses import DET_ALPHA, DET_BETA, DetASRLoss, DetCloudSegLoss
from runespoor.tasks.detection.datasets import (crop_target, det_collate, DetCropDataset,
                                                hflip_target, RandomDetData)
import torch


@pytest.fixture(scope='module')
def detector():
    torch.manual_seed(0)
    return build_det('retinanet_r18_lite').eval()


def _image(h=96, w=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g)


SMALL = [10.0, 12.0, 18.0, 20.0]      # 8 x 8 px = 64 px^2
LARGE = [40.0, 30.0, 100.0, 80.0]     # 60 x 50 px = 3000 px^2


def _target(large_label=4, large_box=LARGE):
    return {'boxes': torch.tensor([SMALL, large_box]), 'labels': torch.tensor([1, large_label])}


def test_registry_and_output_format(detector):
    assert set(DET_ARCHS) >= {'retinanet_r18_lite', 'retinanet_resnet50_fpn'}
    with torch.no_grad():
        out = detector(_image())
    assert len(out) == 1 and set(out[0]) == {'boxes', 'scores', 'labels'}
    boxes = out[0]['boxes']
    assert boxes.shape[1] == 4 and (boxes[:, 2] >= boxes[:, 0]).all()
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 128).all() and (boxes[:, 3] <= 96).all()
    labels = out[0]['labels']
    assert ((labels >= 1) & (labels <= 10)).all()
    with pytest.raises(ValueError, match='unknown detection arch'):
        build_det('yolo_v9000')


def test_small_box_keep_threshold():
    boxes = torch.tensor([SMALL, LARGE])
    area = 96 * 128
    assert small_box_keep(boxes, 0.01, area).tolist() == [True, False]   # 64 < 122.9 < 3000
    assert small_box_keep(boxes, 0.5, area).tolist() == [True, True]
    assert small_box_keep(boxes, 64 / area, area).tolist() == [False, False]  # strict


def test_box_format_round_trip():
    from runespoor.metrics.detection import dets_from_xyxy, xywh_to_xyxy, xyxy_to_xywh
    xywh = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert xywh_to_xyxy(xywh).tolist() == [[1.0, 2.0, 4.0, 6.0]]
    assert xyxy_to_xywh(xywh_to_xyxy(xywh)).tolist() == xywh.tolist()
    found = [{'boxes': torch.tensor([[1.0, 2.0, 4.0, 6.0]], requires_grad=True),
              'scores': torch.tensor([0.5]), 'labels': torch.tensor([3])}]
    det = dets_from_xyxy(found)[0]
    assert det['boxes'].tolist() == xywh.tolist()
    assert det['scores'].tolist() == [0.5] and det['classes'].tolist() == [3]


def test_restricted_loss_ignores_large_boxes(detector):
    x = _image()
    keep = [torch.tensor([True, False])]
    moved = [36.0, 34.0, 110.0, 70.0]
    with torch.no_grad():
        a = detector.detection_loss(x, [_target(4)], keep)
        b = detector.detection_loss(x, [_target(7)], keep)
        c = detector.detection_loss(x, [_target(7, moved)], keep)
        full_a = detector.detection_loss(x, [_target(4)])
        full_b = detector.detection_loss(x, [_target(7)])
    # the large box's class does not matter once it is left out ...
    assert torch.equal(a['classification'], b['classification'])
    assert torch.equal(a['bbox_regression'], b['bbox_regression'])
    # ... nor its position for the box term (it only moves the set of ignored anchors)
    assert torch.equal(a['bbox_regression'], c['bbox_regression'])
    # the left-out box's pixels are not background either: the restricted loss equals the loss
    # of the small box alone with the large box as an ignored region
    only_small = {'boxes': torch.tensor([SMALL]), 'labels': torch.tensor([1])}
    with torch.no_grad():
        as_ignored = detector.detection_loss(x, [dict(only_small, ignore=torch.tensor([LARGE]))])
        as_background = detector.detection_loss(x, [only_small])
    assert torch.allclose(a['classification'], as_ignored['classification'])
    assert torch.allclose(a['bbox_regression'], as_ignored['bbox_regression'])
    assert float(a['classification']) < float(as_background['classification'])
    # ... but its class does in the unrestricted loss
    assert not torch.equal(full_a['classification'], full_b['classification'])


def test_restricted_loss_without_small_boxes_is_background_only(detector):
    x = _image()
    with torch.no_grad():
        none_kept = detector.detection_loss(x, [_target()], [torch.tensor([False, False])])
        empty = detector.detection_loss(x, [{'boxes': torch.zeros((0, 4)),
                                             'labels': torch.zeros(0, dtype=torch.int64)}])
    assert float(none_kept['bbox_regression']) == 0.0
    # the anchors of the left-out boxes are ignored, not counted as background
    assert 0 < float(none_kept['classification']) < float(empty['classification'])


def test_ignore_regions_remove_anchors_from_the_loss(detector):
    x = _image()
    empty = {'boxes': torch.zeros((0, 4)), 'labels': torch.zeros(0, dtype=torch.int64)}
    with torch.no_grad():
        base = detector.detection_loss(x, [empty])
        region = torch.tensor([[0.0, 0.0, 64.0, 48.0]])
        ignored = detector.detection_loss(x, [dict(empty, ignore=region)])
    assert float(ignored['classification']) < float(base['classification'])


def _sr_and_batch(scale=2):
    torch.manual_seed(1)
    sr = build_sr('carn_m', scale=scale)
    hr = _image(64, 96, seed=3)
    lr = torch.nn.functional.avg_pool2d(hr, scale)
    targets = [{'boxes': torch.tensor([[10.0, 12.0, 18.0, 20.0], [30.0, 10.0, 80.0, 60.0]]),
                'labels': torch.tensor([3, 9])}]
    return sr, lr, hr, targets


def test_det_asr_step_lowers_loss_and_keeps_detector_identical(detector):
    sr, lr, hr, targets = _sr_and_batch()
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    crit = DetASRLoss(detector, max_area_fraction=0.05)
    assert (crit.alpha, crit.beta) == (DET_ALPHA, DET_BETA) == (0.9, 0.1)
    assert crit.small_boxes(targets, hr.shape[-2:])[0].tolist() == [True, False]
    opt = torch.optim.Adam(sr.parameters(), lr=1e-4)
    loss0, parts = crit(sr(lr), hr, targets)
    assert parts['small_boxes'] == 1 and parts['det'] > 0
    opt.zero_grad()
    loss0.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in sr.parameters())
    assert all(p.grad is None for p in detector.parameters())
    opt.step()
    with torch.no_grad():
        loss1, _ = crit(sr(lr), hr, targets)
    assert float(loss1) < float(loss0.detach())
    after = detector.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not detector.training


def test_det_cloudseg_uses_hr_detections_not_labels():
    torch.manual_seed(0)
    detector = build_det('retinanet_r18_lite', score_thresh=0.0, detections_per_img=20)
    sr, lr, hr, _ = _sr_and_batch()
    crit = DetCloudSegLoss(detector, pseudo_score=0.0)
    out = sr(lr)
    loss, parts = crit(out, hr)
    with torch.no_grad():
        found = detector(hr)
    assert parts['pseudo_boxes'] == len(found[0]['boxes']) > 0
    loss.backward()
    assert all(p.grad is None for p in detector.parameters())


def test_finetune_sr_for_detection_leaves_detector_unchanged(detector, tmp_path):
    from runespoor.tasks.detection.datasets import RandomDetData
    from runespoor.training.data import DegradedFrames
    from runespoor.training.runs import finetune_sr
    from torch.utils.data import DataLoader
    torch.manual_seed(0)
    sr = build_sr('carn_m', scale=2)
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    data = DegradedFrames(RandomDetData(4, (64, 96)), 2, 90)
    loader = DataLoader(data, batch_size=2, collate_fn=det_collate)
    res = finetune_sr(sr, detector, loader, method='asr', steps=2, analytics='detection',
                      config={'arch': 'carn_m', 'arch_kwargs': {}, 'scale': 2},
                      val_loader=DataLoader(data, batch_size=1, collate_fn=det_collate),
                      out_dir=str(tmp_path), progress=False)
    assert {'psnr', 'map', 'bilinear_map'} <= set(res['metrics'])
    assert all(torch.equal(before[k], v) for k, v in detector.state_dict().items())
    model, ckpt = load_model(res['checkpoint'], kind='sr', method='asr', scale=2)
    assert ckpt['config']['analytics'] == 'detection'
    assert ckpt['config']['beta'] == DET_BETA


def test_detector_checkpoint_round_trip_and_refusal(detector, tmp_path):
    path = str(tmp_path / 'det.pt')
    save_checkpoint(path, detector, {'kind': 'det', 'method': 'det',
                                     'arch': 'retinanet_r18_lite',
                                     'arch_kwargs': {'num_classes': 10}}, half=True)
    model, _ = load_model(path, kind='det')
    x = _image()
    with torch.no_grad():
        assert model(x)[0]['boxes'].shape[1] == 4
    with pytest.raises(CheckpointError, match='det.pt.*kind'):
        load_model(path, kind='seg')


def test_training_lowers_the_detector_loss():
    from runespoor.training.runs import train_det
    from torch.utils.data import DataLoader
    torch.manual_seed(0)
    model = build_det('retinanet_r18_lite')
    data = DetCropDataset(RandomDetData(8, (64, 96), boxes=3), None)
    loader = DataLoader(data, batch_size=4, shuffle=True, collate_fn=det_collate)
    batch = det_collate([data.frames[i] for i in range(4)])
    model.eval()
    with torch.no_grad():
        first = model.detection_loss(batch[0], batch[1])
    train_det(model, loader, steps=40, lr=2e-3, warmup=5,
              config={'arch': 'retinanet_r18_lite', 'arch_kwargs': {}}, progress=False)
    model.eval()
    with torch.no_grad():
        last = model.detection_loss(batch[0], batch[1])
    assert sum(last.values()) < 0.7 * sum(first.values())


def test_crop_and_flip_targets():
    target = {'boxes': torch.tensor([[10.0, 10.0, 30.0, 20.0], [90.0, 0.0, 99.0, 5.0]]),
              'labels': torch.tensor([4, 1]), 'ignore': torch.tensor([[0.0, 0.0, 5.0, 5.0]])}
    c = crop_target(target, 20, 5, 50, 40)
    assert c['boxes'].tolist() == [[0.0, 5.0, 10.0, 15.0]]   # second box is outside
    assert c['labels'].tolist() == [4]
    assert c['ignore'].shape == (0, 4)
    f = hflip_target(target, 100)
    assert f['boxes'][0].tolist() == [70.0, 10.0, 90.0, 20.0]
    assert f['ignore'][0].tolist() == [95.0, 0.0, 100.0, 5.0]
    images, targets = det_collate([(torch.zeros(3, 4, 4), target), (torch.ones(3, 4, 4), c)])
    assert images.shape == (2, 3, 4, 4) and targets[1] is c


def test_crop_dataset_keeps_boxes_inside_the_crop():
    torch.manual_seed(0)
    data = DetCropDataset(RandomDetData(6, (64, 96), boxes=6), crop=(48, 32))
    for i in range(len(data)):
        image, target = data[i]
        assert image.shape == (3, 32, 48)
        b = target['boxes']
        assert ((b[:, 0] >= 0) & (b[:, 2] <= 48) & (b[:, 1] >= 0) & (b[:, 3] <= 32)).all()
        assert len(target['labels']) == len(b)


def test_input_size_is_recorded_and_applied(tmp_path):
    from runespoor.cli import main
    out = tmp_path / 'det'
    assert main(['train', 'det', '--data', 'random', '--steps', '1', '--batch', '2',
                 '--input-size', '32', '48', '--out', str(out), '--no-progress']) == 0
    model, ckpt = load_model(str(out / 'det.pt'), kind='det')
    assert ckpt['config']['arch_kwargs'] == {'num_classes': 10, 'min_size': 32, 'max_size': 48}
    batch, _ = model.net.transform([torch.rand(3, 64, 96)])
    assert tuple(batch.image_sizes[0]) == (32, 48)      # resized: short side 32, long 48
    with torch.no_grad():
        found = model(torch.rand(1, 3, 64, 96))[0]['boxes']
    assert found.numel() == 0 or float(found[:, 2].max()) <= 96   # boxes back in input pixels
    assert main(['train', 'det', '--data', 'random', '--steps', '1', '--input-size', '48', '32',
                 '--out', str(tmp_path / 'bad'), '--no-progress']) != 0


def test_gpu_train_det_script_tiny_runs_on_cpu(tmp_path):
    """The GPU training script of the detection task, end to end at toy settings on the CPU."""
    import os
    import subprocess
    import tarfile
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
    env = dict(os.environ, TINY='1', WORK=str(tmp_path / 'work'))
    proc = subprocess.run(['bash', os.path.join(repo, 'scripts', 'gpu_train_det.sh'),
                           str(tmp_path / 'out')], env=env, capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with tarfile.open(tmp_path / 'out' / 'det_models_finetune.tgz') as tar:
        names = set(tar.getnames())
    assert {'asr_x4/asr_x4.pt', 'cloudseg_x2/cloudseg_x2.pt'} <= names
    assert not any(n.endswith('last.pt') for n in names)
    model, ckpt = load_model(str(tmp_path / 'work' / 'runs' / 'asr_x2' / 'asr_x2.pt'),
                             kind='sr', method='asr', scale=2)
    assert ckpt['config']['analytics'] == 'detection'
