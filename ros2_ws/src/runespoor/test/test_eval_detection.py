# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""`runespoor eval` with task detection: small-box share, class-wise tail, report, end to end."""

import json
import math
import os

import numpy as np
import pytest
from runespoor.cli import main
from runespoor.evaluation.config import ConfigError, EvalConfig
from runespoor.evaluation.report_common import to_json
from runespoor.tasks.detection import report as det_report
from runespoor.tasks.detection.tail_signal import small_box_share
import yaml

# --- small-box share ---------------------------------------------------------------------------

FRAME = (1000, 1000)  # small = area below 0.0005 * 1e6 = 500 px


def test_small_box_share_counts_small_confident_boxes():
    boxes = [[0, 0, 10, 10],      # 100 px: small
             [0, 0, 30, 30],      # 900 px: not small
             [50, 50, 70, 70],    # 400 px: small
             [0, 0, 5, 5]]        # small, but scored below the threshold
    scores = [0.9, 0.8, 0.3, 0.29]
    assert small_box_share(boxes, scores, *FRAME) == pytest.approx(2 / 3)  # 0.3 is counted
    assert small_box_share(boxes, scores, *FRAME, score_threshold=0.5) == pytest.approx(0.5)
    assert small_box_share(boxes, scores, *FRAME, score_threshold=0.0) == pytest.approx(0.75)
    # a larger cut-off: 0.001 of the frame = 1000 px makes the 900 px box small too
    assert small_box_share(boxes, scores, *FRAME, max_area_fraction=0.001) == 1.0


def test_small_box_share_without_boxes_is_zero():
    assert small_box_share(np.zeros((0, 4)), [], *FRAME) == 0.0
    assert small_box_share([[0, 0, 10, 10]], [0.1], *FRAME) == 0.0  # none confident
    with pytest.raises(ValueError):
        small_box_share([[0, 0, 10, 10]], [0.5, 0.6], *FRAME)


def test_small_box_share_scales_with_the_frame():
    box, score = [[0, 0, 20, 20]], [0.9]  # 400 px
    assert small_box_share(box, score, 1000, 1000) == 1.0   # limit 500 px
    assert small_box_share(box, score, 640, 360) == 0.0     # limit 115 px


# --- class-wise tail ---------------------------------------------------------------------------

AP = {1: 0.5, 2: 0.1, 3: 0.9, 4: float('nan'), 5: 0.2, 6: 0.3, 7: 0.05, 8: 0.7, 9: 0.6,
      10: 0.4}


def test_tail_class_set_is_the_worst_half_of_the_ranked_classes():
    assert det_report.tail_class_set(AP, 0.5) == [7, 2, 5, 6, 10]  # 5 of 10, worst first
    assert det_report.classwise_tail(AP, [7, 2, 5, 6, 10]) == pytest.approx(0.21)
    # class 7 has no ground truth: not ranked, so the next-worst class (1) joins the set
    num_gt = dict.fromkeys(AP, 3)
    num_gt.update({4: 0, 7: 0})
    assert det_report.tail_class_set(AP, 0.5, num_gt) == [2, 5, 6, 10, 1]
    assert det_report.classwise_tail(AP, [2, 5, 6, 10, 1]) == pytest.approx(0.3)


def test_classwise_tail_uses_the_fixed_set_and_skips_undefined():
    other = {**AP, 7: 0.45, 2: 0.55}
    assert det_report.classwise_tail(other, [7, 2]) == pytest.approx(0.5)
    assert det_report.classwise_tail(AP, [4, 7]) == pytest.approx(0.05)  # NaN skipped
    assert math.isnan(det_report.classwise_tail(AP, []))


# --- the report on hand-made detections --------------------------------------------------------

def _xyxy(boxes):
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)


def _run(boxes_xywh, labels, n_bytes=1000):
    dets = [{'boxes': _xyxy(b), 'scores': np.full(len(lab), 0.9, np.float32),
             'labels': np.asarray(lab, np.int64)} for b, lab in zip(boxes_xywh, labels)]
    n = len(dets)
    return {'detections': dets, 'sizes': np.array([FRAME] * n), 'psnr': np.full(n, 30.0),
            'ssim': np.full(n, 0.9), 'bytes': np.full(n, n_bytes)}


def test_report_on_hand_made_detections_has_known_answers():
    # frame 0: a small pedestrian (1) and a car (4); frame 1: a bicycle (3) and a bus (9)
    gt_boxes = [[[0, 0, 10, 10], [100, 100, 200, 100]], [[500, 500, 50, 50], [0, 500, 300, 200]]]
    gt_labels = [[1, 4], [3, 9]]
    gts = [{'boxes': np.asarray(b, np.float64), 'classes': np.asarray(c),
            'ignore_regions': np.zeros((0, 4))} for b, c in zip(gt_boxes, gt_labels)]
    runs = {
        ('hr', 1, None): _run(gt_boxes, gt_labels, 5000),              # perfect
        ('bilinear', 2, 90): _run([gt_boxes[0][1:], gt_boxes[1][1:]], [[4], [9]]),
        ('sr', 2, 90): _run([gt_boxes[0][1:], gt_boxes[1]], [[4], [3, 9]]),
    }
    config = EvalConfig({'task': 'detection', 'dataset': {'root': 'nowhere'},
                         'detection': {'checkpoint': 'det.pt', 'tail_fit_method': 'sr'},
                         'methods': ['bilinear', 'sr'], 'scales': [2], 'tail_fraction': 0.2,
                         'checkpoints': {'sr': 'sr_x{scale}.pt'}, 'fps': 10})
    models = {'detection': {'path': 'det.pt', 'sha256': '0'}, 'sr': {}}
    result = {'frames': ['a', 'b'], 'ground_truth': gts, 'runs': runs, 'models': models,
              'skipped': [], 'device': 'cpu', 'computed': 0, 'time_s': 0.0,
              'resolution': '1000x1000'}
    report = det_report.summarise(config, result)
    hr = report['hr']
    assert hr['map'] == pytest.approx(1.0)
    # tail = worst 2 of 10 classes of bilinear with ground truth: pedestrian, bicycle (AP 0)
    assert report['tail_classes'] == {'2': ['pedestrian', 'bicycle']}
    bilinear = det_report.find_row(report, 'bilinear', 2)
    sr = det_report.find_row(report, 'sr', 2)
    assert bilinear['map'] == pytest.approx(0.5) and bilinear['tail_ap'] == 0.0
    assert sr['map'] == pytest.approx(0.75) and sr['tail_ap'] == pytest.approx(0.5)
    assert sr['tail_normalised'] == pytest.approx(0.5)
    assert sr['per_class_ap']['bicycle'] == pytest.approx(1.0)
    assert math.isnan(sr['per_class_ap']['van'])
    assert hr['small_box_share'] == pytest.approx(0.25)  # frame 0: 1 of 2; frame 1: none
    assert bilinear['mbps'] == pytest.approx(1000 * 8 * 10 / 1e6)
    assert report['dataset']['gt_boxes']['bus'] == 1
    fit = report['tail_threshold']
    assert fit['samples'][2]['ap50'] == [pytest.approx(0.5), pytest.approx(1.0)]
    assert fit['pooled']['direction'] in ('below', 'above')
    md = det_report.markdown(report)
    assert '[0.389]' in md and '[0.324]' in md  # paper Table 6 beside ours
    assert '**pedestrian**' in md
    json.dumps(to_json(report), allow_nan=False)


def test_detection_config_defaults_and_errors():
    config = EvalConfig({'task': 'detection', 'dataset': {'root': 'd'},
                         'detection': {'checkpoint': 'det.pt'},
                         'checkpoints': {m: f'{m}_x{{scale}}.pt' for m in
                                         ('sr', 'cloudseg', 'asr')}})
    assert config.scales == [2, 4] and config.qualities == [90]
    assert config.methods == ['bilinear', 'sr', 'cloudseg', 'asr']
    assert config.score_threshold == 0.3 and config.tail_fit_method == 'asr'
    with pytest.raises(ConfigError, match='detection.checkpoint'):
        EvalConfig({'task': 'detection', 'dataset': {'root': 'd'}})
    with pytest.raises(ConfigError, match='episode_length'):
        EvalConfig({'task': 'detection', 'dataset': {'root': 'd'}, 'episode_length': 3,
                    'detection': {'checkpoint': 'det.pt'}, 'methods': ['bilinear']})
    with pytest.raises(ConfigError, match='unknown task'):
        EvalConfig({'task': 'tracking', 'dataset': {'root': 'd'}})


# --- end to end on a tiny VisDrone-layout set --------------------------------------------------

def _write_visdrone(root, n=4, size=(160, 96)):
    """Write ``n`` frames of coloured boxes with VisDrone annotations (and an ignored region)."""
    import cv2
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, 'images'))
    os.makedirs(os.path.join(root, 'annotations'))
    w, h = size
    for i in range(n):
        image = np.full((h, w, 3), 90, np.uint8)
        image += rng.integers(0, 30, image.shape, dtype=np.uint8)
        lines = []
        for k in range(5):
            bw, bh = int(rng.integers(4, 30)), int(rng.integers(4, 24))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            cat = int(rng.integers(1, 11))
            image[y:y + bh, x:x + bw] = (40 * k, 255 - 40 * k, 25 * cat)
            lines.append(f'{x},{y},{bw},{bh},1,{cat},0,0')
        lines.append('0,0,12,12,0,0,0,0')  # an ignored region
        name = f'frame_{i:03d}'
        cv2.imwrite(os.path.join(root, 'images', name + '.jpg'), image)
        with open(os.path.join(root, 'annotations', name + '.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


def _write_models(models):
    import torch
    from runespoor.archs import build_det, build_sr
    from runespoor.checkpoint import save_checkpoint
    torch.manual_seed(0)
    det_kwargs = {'num_classes': 10, 'widths': [8, 16, 16, 16], 'fpn_channels': 16}
    det = build_det('retinanet_r18_lite', **det_kwargs)
    with torch.no_grad():  # untrained, but scoring around 0.5 so that boxes come out
        det.net.head.classification_head.cls_logits.bias.zero_()
    save_checkpoint(os.path.join(models, 'det.pt'), det,
                    {'kind': 'det', 'method': 'det', 'arch': 'retinanet_r18_lite',
                     'arch_kwargs': det_kwargs})
    for scale in (2, 4):
        save_checkpoint(os.path.join(models, f'sr_x{scale}.pt'), build_sr('carn_m', scale=scale),
                        {'kind': 'sr', 'method': 'sr', 'arch': 'carn_m', 'arch_kwargs': {},
                         'scale': scale})


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only fight over the 2 CI cores
    base = tmp_path_factory.mktemp('eval_det')
    _write_visdrone(str(base / 'VisDrone2019-DET-val'))
    os.makedirs(base / 'models')
    _write_models(str(base / 'models'))
    yield base
    torch.set_num_threads(threads)


def _config(base, **overrides):
    config = {
        'task': 'detection',
        'dataset': {'root': str(base / 'VisDrone2019-DET-val')},
        'detection': {'checkpoint': str(base / 'models' / 'det.pt'), 'tail_fit_method': 'sr',
                      'keep_top': 100, 'max_dets': 100,
                      'max_area_fraction': 0.01},  # small: < 154 px
        'checkpoints': {'sr': str(base / 'models' / 'sr_x{scale}.pt')},
        'methods': ['bilinear', 'sr'], 'scales': [2, 4], 'device': 'cpu',
    }
    config.update(overrides)
    path = base / f'config_{len(os.listdir(base))}.yaml'
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_eval_detection_end_to_end_and_rerun_uses_cache(workspace):
    out = workspace / 'out'
    config = _config(workspace)
    assert main(['eval', '--config', config, '--out', str(out), '--no-progress']) == 0
    report = json.loads((out / 'report.json').read_text())
    assert report['task'] == 'detection'
    rows = {(r['method'], r['scale'], r['quality']) for r in report['rows']}
    assert rows == {(m, s, 90) for m in ('bilinear', 'sr') for s in (2, 4)}
    assert report['dataset']['frames'] == 4 and report['dataset']['resolution'] == '160x96'
    assert report['frames_computed'] == 4 * (1 + 2 * 2)
    for r in report['rows'] + [report['hr']]:
        assert 0.0 <= r['map'] <= 1.0 and 0.0 <= r['ap50'] <= 1.0
        assert set(r['per_class_ap']) == set(report['classes']) and len(report['classes']) == 10
        assert r['bytes_per_frame'] > 0 and r['mbps'] > 0
        assert 0 < r['detections_per_frame'] <= 100  # keep_top
        assert 0.0 <= r['small_box_share'] <= 1.0
    for r in report['rows']:
        assert r['psnr'] > 0 and 0.0 < r['ssim'] <= 1.0
    assert report['hr']['psnr'] is None  # undefined for the originals
    assert set(report['tail_classes']) == {'2', '4'}
    assert all(len(t) <= 5 for t in report['tail_classes'].values())
    assert report['models']['detection']['sha256']
    assert set(report['models']['sr']) == {'sr_x2', 'sr_x4'}
    tt = report['tail_threshold']
    assert tt['method'] == 'sr' and set(tt['samples']) == {'2', '4'}
    assert len(tt['samples']['2']['share']) == 4
    assert tt['pooled']['threshold'] is not None
    assert tt['pooled']['direction'] in ('below', 'above')
    assert {'fig10_classwise_tail.png', 'fig8_tail_threshold.png'} == {
        f['file'] for f in report['figures']}
    for fig in report['figures']:
        assert (out / fig['file']).stat().st_size > 0
    md = (out / 'report.md').read_text()
    for text in ('Table 6', 'Fig. 10', 'Per-class AP at x4', 'small-box share', '[0.451]',
                 "paper's claim"):
        assert text in md

    # Same config again: everything comes from the cache and the numbers are identical.
    assert main(['eval', '--config', config, '--out', str(out), '--no-progress']) == 0
    again = json.loads((out / 'report.json').read_text())
    assert again['frames_computed'] == 0
    assert again['rows'] == report['rows'] and again['hr'] == report['hr']
    assert again['tail_threshold'] == report['tail_threshold']

    # A new JPEG quality computes only its own runs.
    config = _config(workspace, qualities=[60, 90])
    assert main(['eval', '--config', config, '--out', str(out), '--no-progress']) == 0
    more = json.loads((out / 'report.json').read_text())
    assert more['frames_computed'] == 4 * 2 * 2
    assert len(more['rows']) == 8


def test_eval_detection_missing_data_is_named(workspace, capsys):
    config = _config(workspace, dataset={'root': str(workspace / 'nowhere')})
    assert main(['eval', '--config', config, '--out', str(workspace / 'o'), '--no-progress']) == 2
    assert str(workspace / 'nowhere') in capsys.readouterr().err
