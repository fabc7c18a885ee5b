# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""The ROS-free pieces of ``make demo``: clip, replay rate, video and accuracy summary."""

import cv2
import numpy as np
import pytest
from runespoor_bringup import demo_media


def test_replay_rate_follows_the_slower_config():
    # 0.2 s standard, 0.5 s tail-specific: 0.85 / 0.5 = 1.7 fps, whichever the edge sends
    assert demo_media.replay_rate([0.2, 0.5], 17.0) == pytest.approx(1.7)
    assert demo_media.replay_rate([0.01, 0.02], 17.0) == 17.0      # never above the recording
    assert demo_media.replay_rate([60.0], 17.0) == 0.5              # nor below the floor
    assert demo_media.replay_rate([0.0], 17.0) == 17.0


def test_street_clip_has_its_hard_stretch_and_labels():
    a, b = demo_media.hard_range(10)
    assert (a, b) == (4, 6)
    scene = demo_media.street_scene(10)
    assert scene.effects == [(4, 6, 'both', 1.0)] and len(scene.crowd_zones) == 1
    blur, contrast = scene.effect_strength(5)   # ramps in over 5 frames
    assert blur > 0 and contrast > 0 and scene.effect_strength(0) == (0.0, 0.0)
    frames = list(demo_media.street_clip(3, (64, 32)))
    img, labels = frames[0]
    assert img.shape == (32, 64, 3) and img.dtype == np.uint8
    assert labels.shape == (32, 64) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= set(range(19)) | {255}


def test_cached_clip_renders_once(tmp_path):
    pytest.importorskip('rosbags')
    said = []
    bag, images, labels, _ = demo_media.cached_clip(str(tmp_path), 'palette', 4, (64, 32),
                                                    log=said.append)
    assert images.shape == (4, 32, 64, 3) and labels.shape == (4, 32, 64)
    assert 'rendered' in said[-1]
    bag2, images2, labels2, _ = demo_media.cached_clip(str(tmp_path), 'palette', 4, (64, 32),
                                                       log=said.append)
    assert bag2 == bag and 'cache' in said[-1]
    np.testing.assert_array_equal(images2, images)
    np.testing.assert_array_equal(labels2, labels)


def test_video_has_every_frame(tmp_path):
    panels = [np.full((32, 48, 3), v, np.uint8) for v in (0, 100, 200)]
    frames = [demo_media.video_frame(panels, ['a', 'b', 'c'], ['line 1', 'line 2'], state)
              for state in ('std', 'tail', 'skip')]
    assert frames[0].shape == (32 + 2 * 20 + 8, 3 * 48, 3)
    assert not np.array_equal(frames[0][-5:], frames[1][-5:])   # tail band is another colour
    h, w = frames[0].shape[:2]
    writer, path, codec = demo_media.open_video(str(tmp_path / 'demo'), 8.5, (w, h))
    assert writer is not None, codec
    assert codec in ('mp4v', 'MJPG') and path.endswith('.mp4' if codec == 'mp4v' else '.avi')
    for f in frames:
        writer.write(f)
    writer.release()
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(frames)


def test_accuracy_tally_per_method_and_config():
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 255]], np.uint8)
    perfect = np.array([[0, 0, 1, 1], [0, 0, 1, 0]], np.uint8)
    wrong = np.array([[0, 0, 0, 0], [0, 0, 0, 0]], np.uint8)   # class 1 missed
    tally = demo_media.AccuracyTally(num_classes=3)
    tally.add('asr', ('standard', 'ordinary'), labels, perfect)
    tally.add('asr', ('tail_specific', 'hard_stretch'), labels, perfect)
    tally.add('bilinear', ('standard', 'ordinary'), labels, wrong)
    tally.add('bilinear', ('tail_specific', 'hard_stretch'), labels, perfect)
    s = tally.summary()
    assert s['asr']['miou'] == 1.0 and s['asr']['frames'] == 2
    assert s['asr']['miou_standard'] == 1.0 and s['asr']['frames_tail_specific'] == 1
    # bilinear, standard frame: class 0 IoU 4/7, class 1 0 -> mIoU 2/7
    assert s['bilinear']['miou_standard'] == pytest.approx(2 / 7, abs=1e-4)
    assert s['bilinear']['miou_tail_specific'] == s['bilinear']['miou_hard_stretch'] == 1.0
    assert s['bilinear']['frames'] == 2 and s['bilinear']['frames_ordinary'] == 1
    # tail classes ranked on bilinear among the classes present in the labels (0 and 1; the
    # worst half of 3 classes is one class): class 1, the one bilinear misses on one frame
    assert s['tail_classes'] == ['sidewalk'] and s['tail_classes_from'] == 'bilinear'
    assert s['asr']['tail_miou'] == 1.0
    assert s['bilinear']['tail_miou'] == pytest.approx(s['bilinear']['iou']['sidewalk'])
