# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""COCO-style mAP (pycocotools) on hand-made detections with known answers."""

import math

import numpy as np
import pytest

from runespoor.metrics.detection import coco_map, gt_from_visdrone

GT = [{'boxes': [[0, 0, 10, 10]], 'classes': [1]}]


def test_perfect_detection_is_one():
    dets = [{'boxes': [[0, 0, 10, 10]], 'scores': [0.9], 'classes': [1]}]
    result = coco_map(GT, dets)
    assert result['mAP'] == pytest.approx(1.0)
    assert result['per_class'] == {1: pytest.approx(1.0)}
    assert result['num_gt'] == {1: 1}


def test_iou_062_matches_three_of_ten_thresholds():
    dets = [{'boxes': [[0, 0, 10, 6.2]], 'scores': [0.9], 'classes': [1]}]  # IoU 0.62
    result = coco_map(GT, dets)
    assert result['mAP'] == pytest.approx(0.3)  # thresholds 0.50, 0.55, 0.60
    assert result['AP50'] == pytest.approx(1.0)
    assert result['AP75'] == pytest.approx(0.0)


def test_higher_scored_false_positive_halves_ap_unless_in_ignore_region():
    dets = [{'boxes': [[0, 0, 10, 10], [50, 50, 10, 10]], 'scores': [0.5, 0.9],
             'classes': [1, 1]}]
    assert coco_map(GT, dets)['mAP'] == pytest.approx(0.5)
    ignored = [dict(GT[0], ignore_regions=[[45, 45, 20, 20]])]
    assert coco_map(ignored, dets)['mAP'] == pytest.approx(1.0)
    crowd = [{'boxes': [[0, 0, 10, 10], [50, 50, 10, 10]], 'classes': [1, 1],
              'ignore': [False, True]}]
    assert coco_map(crowd, dets)['mAP'] == pytest.approx(1.0)


def test_two_classes_per_class_ap_and_missing_class():
    gts = [{'boxes': [[0, 0, 10, 10], [20, 20, 10, 10]], 'classes': [1, 2]},
           {'boxes': [], 'classes': []}]
    dets = [{'boxes': [[0, 0, 10, 10]], 'scores': [0.8], 'classes': [1]},
            {'boxes': [[0, 0, 5, 5]], 'scores': [0.7], 'classes': [3]}]
    result = coco_map(gts, dets, class_ids=[1, 2, 3])
    assert result['per_class'][1] == pytest.approx(1.0)
    assert result['per_class'][2] == pytest.approx(0.0)  # never detected
    assert math.isnan(result['per_class'][3])             # no ground truth: undefined
    assert result['mAP'] == pytest.approx(0.5)


def test_no_detections_and_mismatch():
    result = coco_map(GT, [{'boxes': [], 'scores': [], 'classes': []}])
    assert result['mAP'] == 0.0 and result['per_class'][1] == 0.0
    with pytest.raises(ValueError):
        coco_map(GT, [])


def test_visdrone_annotation_with_ignored_region(tmp_path):
    from runespoor.data.visdrone import read_annotation
    path = tmp_path / 'a.txt'
    # a car (4), and an "ignored region" (category 0) where the detector finds another car
    path.write_text('0,0,10,10,1,4,0,0\n40,40,30,30,0,0,0,0\n')
    gt = gt_from_visdrone(read_annotation(str(path)))
    dets = [{'boxes': [[0, 0, 10, 10], [45, 45, 10, 10]], 'scores': [0.5, 0.9],
             'classes': [4, 4]}]
    result = coco_map([gt], dets, class_ids=range(1, 11))
    assert result['per_class'][4] == pytest.approx(1.0)  # the hit in the region is ignored
    assert math.isnan(result['per_class'][1])            # no pedestrians: undefined
    assert result['mAP'] == pytest.approx(1.0)
    no_region = dict(gt, ignore_regions=np.zeros((0, 4)))
    assert coco_map([no_region], dets)['mAP'] == pytest.approx(0.5)


def test_visdrone_ignore_rule_drops_boxes_half_inside_the_region_union():
    from runespoor.metrics.detection import coco_map, drop_in_regions
    regions = np.array([[0, 0, 10, 10], [10, 0, 10, 10]], float)   # union: 20 x 10
    boxes = np.array([[5, 0, 10, 4],      # inside the union (spans both regions) -> dropped
                      [15, 5, 10, 10],    # 5 x 5 of 100 px inside -> kept
                      [8, 8, 4, 4]],      # 4 x 2 of 16 px inside: exactly half -> kept
                     float)
    assert drop_in_regions(boxes, regions).tolist() == [False, True, True]
    # region by region (not their union), the first box is only half inside each: kept
    assert drop_in_regions(boxes, regions, union=False).tolist() == [True, True, True]
    # A detection on an ignored object is not a false positive; a missed one is not a miss.
    gts = [{'boxes': np.array([[30, 30, 10, 10], [2, 2, 6, 6]], float),
            'classes': np.array([1, 1]), 'ignore_regions': regions}]
    dets = [{'boxes': np.array([[30, 30, 10, 10], [1, 1, 7, 7]], float),
             'scores': np.array([0.5, 0.9]), 'classes': np.array([1, 1])}]
    assert coco_map(gts, dets, [1], ignore_mode='visdrone')['mAP'] == pytest.approx(1.0)
    crowdless = [{'boxes': gts[0]['boxes'], 'classes': gts[0]['classes']}]
    no_ignore = coco_map(crowdless, [{'boxes': dets[0]['boxes'][:1], 'scores': [0.5],
                                      'classes': [1]}], [1])['mAP']
    assert no_ignore == pytest.approx(0.5, abs=0.01)   # one of two objects found
    with pytest.raises(ValueError, match='ignore_mode'):
        coco_map(gts, dets, [1], ignore_mode='nope')


def test_visdrone_ignore_rule_with_an_image_without_detections():
    from runespoor.metrics.detection import coco_map
    gts = [{'boxes': np.array([[30, 30, 10, 10]], float), 'classes': np.array([1]),
            'ignore_regions': np.array([[0, 0, 10, 10]], float)}]
    dets = [{'boxes': np.zeros((0, 4)), 'scores': np.zeros(0), 'classes': np.zeros(0, int)}]
    assert coco_map(gts, dets, [1], ignore_mode='visdrone')['mAP'] == 0.0
