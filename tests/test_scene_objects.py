"""The synthetic generator draws buses, trucks, riders and motorcycles as themselves."""

import numpy as np

from runespoor.data import scene, stats
from runespoor.data.scene import ID, IMAGE_ONLY
from runespoor.data.synth import LABELLED_FRAME, render_snippet_frame
from runespoor.labels import label_ids_to_train_ids, TRAIN_ID_NAMES


def _labelled(parts, lid):
    """World points of the labelled parts of ``lid`` (boxes as their 8 corners)."""
    pts = []
    for p in parts:
        if p[0] == 'box':
            if p[1] == lid:
                x0, x1, y0, y1, z0, z1 = p[3]
                pts += [[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]
        elif p[0] == lid:
            pts += list(p[2])
    return np.array(pts, dtype=float)


def _boxes(parts, lid):
    return [p[3] for p in parts if p[0] == 'box' and p[1] == lid]


def test_bus_is_long_low_on_wheels_with_a_window_band():
    parts, extra, (x0, x1, length) = scene._big_vehicle(np.random.default_rng(0), 3.0, 20.0,
                                                        'bus', facing=1, cam_x=0.5)
    pts = _labelled(parts + extra, ID['bus'])
    assert 10.0 <= length <= 13.0 and pts[:, 1].max() <= 3.3
    assert pts[:, 1].min() == 0.0   # it stands on its wheels
    # wheels are discs on the side facing the camera (x0, since the camera is at x = 0.5)
    wheels = [p for p in extra if p[0] == ID['bus'] and len(p[2]) > 8
              and np.allclose(p[2][:, 0], x0)]
    assert len(wheels) == 2 and all(w[2][:, 1].min() < 0.05 for w in wheels)
    # a window band (image only) along the side, above the wheels
    band = [p for p in extra if p[0] == IMAGE_ONLY and np.allclose(p[2][:, 0], x0)
            and np.ptp(p[2][:, 2]) > 0.6 * length]
    assert band and min(b[2][:, 1].min() for b in band) < 1.2


def test_truck_has_a_cab_in_front_of_a_cargo_box():
    for facing in (1, -1):
        parts, extra, (_, _, length) = scene._big_vehicle(np.random.default_rng(3), 3.0, 20.0,
                                                          'truck', facing=facing, cam_x=0.5)
        boxes = _boxes(parts, ID['truck'])
        assert len(boxes) >= 3   # chassis, cab, cargo (+ load)
        front = max if facing > 0 else min
        cab = min(boxes, key=lambda b: abs(front(b[4], b[5]) - front(20.0, 20.0 + length)))
        chassis = min(boxes, key=lambda b: b[2])
        cargo = [b for b in boxes if b is not cab and b is not chassis]
        assert cab is not chassis and cargo and cab[5] - cab[4] < 3.0
        assert all(b[2] > 0.9 for b in cargo)   # the cargo floor is above the wheels
        assert max(b[5] - b[4] for b in cargo) > 1.5 * (cab[5] - cab[4])
        assert _labelled(parts + extra, ID['truck'])[:, 1].min() == 0.0


def test_rider_sits_on_a_two_wheeler_and_does_not_touch_the_ground():
    for kind in ('bicycle', 'motorcycle', 'scooter'):
        for facing in (1, -1):
            parts = scene._rider(np.random.default_rng(5), 2.0, 15.0, kind, facing)
            rider = _labelled(parts, ID['rider'])
            wheeler = _labelled(parts, ID['bicycle' if kind == 'bicycle' else 'motorcycle'])
            assert rider[:, 1].min() > 0.1, kind     # feet on pedals / pegs
            assert wheeler[:, 1].min() == 0.0        # tyres on the road
            assert 1.4 < rider[:, 1].max() < 2.1
            # the rider is above the vehicle, within its length
            assert wheeler[:, 2].min() - 0.3 <= rider[:, 2].min() <= rider[:, 2].max() \
                <= wheeler[:, 2].max() + 0.3


def test_builders_are_deterministic():
    a = scene._rider(np.random.default_rng(9), 1.0, 10.0, 'motorcycle', -1)
    b = scene._rider(np.random.default_rng(9), 1.0, 10.0, 'motorcycle', -1)
    assert len(a) == len(b) and all(np.array_equal(p[2], q[2]) and p[1] == q[1]
                                    for p, q in zip(a, b))


def test_rendered_riders_ride_and_vehicles_rest_on_the_ground():
    pairs = [render_snippet_frame(0, 'train', i, LABELLED_FRAME, (512, 256)) for i in range(24)]
    pairs = [(img, label_ids_to_train_ids(lab)) for img, lab in pairs]
    st = stats.appearance_stats(pairs, min_component_percent=0.01)
    rider = st['classes']['rider']
    assert rider['components'] > 5 and rider['on_two_wheeler'] > 0.6
    assert st['classes']['motorcycle']['frames_present'] > 0.2


def test_appearance_stats_on_hand_made_frames():
    road, bus, building = (TRAIN_ID_NAMES.index(n) for n in ('road', 'bus', 'building'))
    tid = np.full((64, 128), road, np.uint8)
    tid[:20] = building
    tid[30:50, 10:60] = bus             # a bus standing on the road
    img = np.zeros((64, 128, 3), np.uint8)
    img[tid == building] = (150, 150, 150)
    img[tid == bus] = (20, 185, 245)
    st = stats.appearance_stats([(img, tid)], pairs=(('bus', 'building'),))
    assert st['classes']['bus']['ground_contact'] == 1.0
    assert st['classes']['bus']['neighbours'] == {'road': 1.0}
    assert st['pairs']['bus|building']['colour_bayes_error'] == 0.0
    img[tid == bus] = (150, 150, 150)   # drawn like the facade: indistinguishable by colour
    st = stats.appearance_stats([(img, tid)], pairs=(('bus', 'building'),))
    assert abs(st['pairs']['bus|building']['colour_bayes_error'] - 0.5) < 1e-9
