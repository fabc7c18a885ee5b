"""`make demo` end to end with tiny settings: calibration, replay, video, accuracy summary."""

import json
import subprocess
import sys

import cv2
from systest import REPO, ros_env


def test_demo_palette_writes_video_and_accuracy(tmp_path):
    out, cache = tmp_path / 'out', tmp_path / 'cache'
    cmd = [sys.executable, str(REPO / 'scripts' / 'demo.py'), '--data', 'palette', '--method',
           'bilinear', '--frames', '8', '--out', str(out), '--cache', str(cache),
           '--timeout', '300']
    # the demo ends by itself when the clip is over; the limit only stops a wedged run
    run = subprocess.run(cmd, cwd=REPO, env=ros_env(), capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert 'calibration' in run.stdout and 'replaying at' in run.stdout
    s = json.loads((out / 'summary.json').read_text())
    assert s['status'] == 'ok' and s['data'] == 'palette' and s['frames_published'] == 8
    assert 1 <= s['frames_analyzed'] <= 8
    replay = s['replay']
    assert 0 < replay['rate_fps'] <= 17.0 and replay['recorded_fps'] == 17.0
    assert set(replay['calibration']['frame_ms']) == {'standard', 'tail_specific'}
    assert replay['hold_s'] >= 1.0
    assert s['startup_s']['first_result_s'] >= s['startup_s']['cloud_ready_s'] > 0
    acc = s['accuracy']['bilinear']
    # every analysed map the monitor could match to its clip frame (best effort: under load the
    # monitor may miss a frame the cloud analysed)
    assert acc['frames'] == s['frames_matched_to_clip'] >= 1 and 0.0 <= acc['miou'] <= 1.0
    assert len(s['frames']) == s['frames_analyzed']
    # the video: one frame per clip frame, three panels wide
    assert s['video'] and s['video_codec'] in ('mp4v', 'MJPG')
    cap = cv2.VideoCapture(str(out / s['video']))
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 3 * s['resolution'][0]
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 8
    # the clip is kept for the next run
    assert any(p.name.startswith('palette-8-') for p in cache.iterdir())
