"""
Procedural street scenes seen by a forward car camera, rendered in perspective.

A :class:`Scene` is a straight street (road, sidewalks, terrain, building rows, cross streets)
populated with world objects in metres -- trees, walls, fences, poles with signs and traffic
lights, parked and moving cars, trucks, buses, trams, pedestrians, cyclists and
motorcyclists -- and a camera that drives along it.  :meth:`Scene.render` draws frame ``t`` at
any size: geometry is projected with a pinhole camera whose focal length is proportional to the
image width (Cityscapes: 2262 px at 2048 px), so a 512x256 frame shows the same scene as a
2048x1024 one.  It returns a BGR uint8 image and a Cityscapes *label-id* map (uint8).

World axes: ``x`` to the right, ``y`` up, ``z`` forward along the road; the ground is ``y = 0``.
Drawing is a painter's algorithm (sky, far skyline, ground, building rows, then standing
objects far to near) with ``cv2.fillPoly`` at 1/16 px precision.  Everything random comes from
the generator passed to :func:`make_scene`, so a scene is a pure function of its seed.
"""

import math

import cv2
import numpy as np

from ..labels import NAME_TO_LABEL

FPS = 17.0
#: Focal length as a fraction of image width (Cityscapes: 2262.52 px / 2048 px).
FOCAL_PER_WIDTH = 2262.52 / 2048.0
#: Row of the horizon as a fraction of image height when the camera is level.
HORIZON = 0.42
Z_NEAR = 0.3
Z_FAR = 320.0

ID = {name: NAME_TO_LABEL[name].id for name in (
    'unlabeled', 'ego vehicle', 'static', 'dynamic', 'ground', 'road', 'sidewalk', 'parking',
    'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation',
    'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle',
    'bicycle')}
IMAGE_ONLY = -1   # a part that changes the image but not the label (windows, markings)

# Texture amplitude per label id (fraction of the colour), for the mid-frequency noise.
_TEX = np.full(256, 0.10, dtype=np.float32)
for _name, _amp in (('sky', 0.03), ('road', 0.16), ('sidewalk', 0.20), ('building', 0.16),
                    ('vegetation', 0.45), ('terrain', 0.35), ('wall', 0.20), ('fence', 0.25),
                    ('ego vehicle', 0.05), ('car', 0.08), ('parking', 0.18)):
    _TEX[ID[_name]] = 0.45 * _amp


def _box(x0, x1, y0, y1, z0, z1):
    """Return the 8 corners of an axis-aligned box."""
    return (x0, x1, y0, y1, z0, z1)


def _box_faces(box, cam_x, cam_h):
    """Visible faces of an axis-aligned box as world polygons (camera is nearer in ``z``)."""
    x0, x1, y0, y1, z0, z1 = box
    faces = [np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0]])]
    if cam_x < x0:
        faces.append(np.array([[x0, y0, z0], [x0, y0, z1], [x0, y1, z1], [x0, y1, z0]]))
    elif cam_x > x1:
        faces.append(np.array([[x1, y0, z0], [x1, y0, z1], [x1, y1, z1], [x1, y1, z0]]))
    if cam_h > y1:
        faces.append(np.array([[x0, y1, z0], [x1, y1, z0], [x1, y1, z1], [x0, y1, z1]]))
    return faces


def _ellipse(cx, cy, z, rx, ry, n=12, jitter=None):
    """Polygon approximating an ellipse in the plane ``z = const``."""
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = 1.0 if jitter is None else jitter
    return np.stack([cx + rx * r * np.cos(a), cy + ry * r * np.sin(a), np.full(n, z)], axis=1)


def _ellipse_side(x, cy, cz, ry, rz, n=12):
    """Polygon approximating an ellipse in the plane ``x = const`` (side view)."""
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([np.full(n, x), cy + ry * np.sin(a), cz + rz * np.cos(a)], axis=1)


def _quad_z(x0, x1, y0, y1, z):
    """Rectangle in the plane ``z = const`` (facing the camera)."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)


def _quad_ground(x0, x1, z0, z1, y=0.0):
    """Rectangle on the ground (or at height ``y``)."""
    return np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], dtype=float)


def _clip_near(poly):
    """Sutherland-Hodgman clip of a camera-space polygon (N x 3) against ``z >= Z_NEAR``."""
    out = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ina, inb = a[2] >= Z_NEAR, b[2] >= Z_NEAR
        if ina:
            out.append(a)
        if ina != inb:
            t = (Z_NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if len(out) >= 3 else None


def _col(rng, base, spread):
    """Return a BGR colour near ``base`` (per-channel uniform jitter of +-``spread``)."""
    c = np.asarray(base, dtype=float) + rng.uniform(-spread, spread, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


class Item:
    """A world object: coloured polygons (``parts``) that move with velocity ``vel`` (m/s)."""

    __slots__ = ('parts', 'x', 'z', 'vel', 'layer', 'zmin', 'zmax')

    def __init__(self, parts, x, z, vel=(0.0, 0.0), layer=2):
        """Create an item anchored at ``(x, z)``; ``parts`` are ``(label_id, bgr, pts)``."""
        self.parts = parts
        self.x = x
        self.z = z
        self.vel = vel
        self.layer = layer
        zs = [p[3][4:6] if p[0] == 'box' else p[2][:, 2] for p in parts]
        zs = np.concatenate([np.asarray(z, dtype=float) for z in zs])
        self.zmin, self.zmax = float(zs.min()), float(zs.max())


# ----------------------------------------------------------------------------- object builders

def _person(rng, x, z, height=None, colour=None, label='person', facing_side=False):
    """Parts of a standing person (billboard) with feet at ``(x, 0, z)``."""
    h = height or rng.uniform(1.55, 1.95)
    w = h * rng.uniform(0.24, 0.30)
    skin = _col(rng, (120, 150, 190), 40)
    shirt = colour or _col(rng, rng.uniform(30, 200, 3), 30)
    trousers = _col(rng, rng.uniform(20, 120, 3), 20)
    lid = ID[label]
    leg_gap = w * rng.uniform(0.05, 0.25)
    parts = [
        (lid, trousers, _quad_z(x - w * 0.35, x - leg_gap / 2, 0.0, h * 0.48, z)),
        (lid, trousers, _quad_z(x + leg_gap / 2, x + w * 0.35, 0.0, h * 0.48, z)),
        (lid, shirt, _quad_z(x - w / 2, x + w / 2, h * 0.45, h * 0.82, z)),
        (lid, shirt, _quad_z(x - w * 0.62, x - w * 0.45, h * 0.5, h * 0.8, z)),
        (lid, shirt, _quad_z(x + w * 0.45, x + w * 0.62, h * 0.5, h * 0.8, z)),
        (lid, skin, _ellipse(x, h * 0.9, z, w * 0.24, h * 0.09, 10)),
    ]
    if rng.random() < 0.3:   # a bag or a backpack
        parts.append((lid, _col(rng, (60, 60, 60), 40),
                      _quad_z(x + w * 0.4, x + w * 0.75, h * 0.42, h * 0.6, z)))
    return parts


def _side_disc(x, y, z, r, n=14):
    """Return a wheel: disc of radius ``r`` in the plane ``x = const``, centre ``(y, z)``."""
    return _ellipse_side(x, y, z, r, r, n)


def _side_poly(x, zc, facing, uy):
    """Polygon in the plane ``x = const`` from ``(u, y)`` points, ``u`` forward of ``zc``."""
    return np.array([[x, y, zc + facing * u] for u, y in uy], dtype=float)


def _limb(x, zc, facing, a, b, thick):
    """Return a limb (quad of width ``thick``) between side-view points ``a`` and ``b``."""
    (ua, ya), (ub, yb) = a, b
    d = math.hypot(ub - ua, yb - ya) or 1.0
    nu, ny = -(yb - ya) / d * thick / 2, (ub - ua) / d * thick / 2
    return _side_poly(x, zc, facing, ((ua + nu, ya + ny), (ub + nu, yb + ny),
                                      (ub - nu, yb - ny), (ua - nu, ya - ny)))


def _slanted(x0, y0, x1, y1, z, w0, w1):
    """Return a quad in ``z = const`` from ``(x0, y0)`` (width ``w0``) to ``(x1, y1)``."""
    return np.array([[x0 - w0 / 2, y0, z], [x0 + w0 / 2, y0, z],
                     [x1 + w1 / 2, y1, z], [x1 - w1 / 2, y1, z]], dtype=float)


#: Two-wheeler geometry (metres; ``u`` forward of the centre): wheel radius, half wheelbase,
#: seat / saddle, handlebar and foot (pedal or peg) points, handlebar width, tyre width.
_TWO_WHEELERS = {
    'bicycle': {'r': 0.34, 'half': 0.52, 'seat': (-0.22, 0.95), 'bar': (0.42, 1.02),
                'foot': (-0.02, 0.30), 'bar_w': 0.58, 'tyre': 0.045},
    'motorcycle': {'r': 0.31, 'half': 0.70, 'seat': (-0.22, 0.80), 'bar': (0.42, 1.06),
                   'foot': (-0.08, 0.36), 'bar_w': 0.78, 'tyre': 0.17},
    'scooter': {'r': 0.21, 'half': 0.62, 'seat': (-0.22, 0.78), 'bar': (0.50, 1.05),
                'foot': (0.05, 0.30), 'bar_w': 0.68, 'tyre': 0.12},
}


def _two_wheeler(rng, x, z, kind, facing=1, colour=None):
    """
    Build a bicycle, motorcycle or scooter travelling along ``z`` (front at ``+facing``).

    Returns ``(side, far, near, geometry)``: the side silhouette (plane ``x``: wheels, frame,
    engine, tank, seat), the end-on parts beyond the centre and those before it as seen from
    a camera at lower ``z`` (tyre, handlebar, mirrors, tail or head light), each a list of
    ``(label, colour, pts)`` parts; ``geometry`` is the :data:`_TWO_WHEELERS` entry.
    """
    g = _TWO_WHEELERS[kind]
    lid = ID['bicycle'] if kind == 'bicycle' else ID['motorcycle']
    r, half = g['r'], g['half']
    tyre = _col(rng, (28, 28, 28), 6)
    rim = _col(rng, (120, 120, 120), 25)
    frame = colour or _col(rng, rng.uniform(20, 220, 3), 30)
    dark = _col(rng, (45, 45, 50), 10)

    def side(uy):
        return _side_poly(x, z, facing, uy)

    parts = []
    for u in (-half, half):
        parts.append((lid, tyre, _side_disc(x, r, z + facing * u, r)))
        parts.append((IMAGE_ONLY, rim, _side_disc(x, r, z + facing * u,
                                                  r * (0.8 if kind == 'bicycle' else 0.55))))
    if kind == 'bicycle':
        su, sy = g['seat']
        bu, by = g['bar']
        fu, fy = g['foot']
        for a, b in (((-half, r), (su + 0.05, sy - 0.08)), ((su + 0.05, sy - 0.08), (fu, fy)),
                     ((fu, fy), (bu - 0.06, by - 0.1)),
                     ((su + 0.05, sy - 0.1), (bu - 0.06, by - 0.1)),
                     ((-half, r), (fu, fy)), ((half, r), (bu - 0.04, by - 0.02))):
            parts.append((lid, frame, _limb(x, z, facing, a, b, 0.05)))
        parts.append((lid, dark, side(((su - 0.12, sy), (su + 0.1, sy), (su + 0.1, sy + 0.05),
                                       (su - 0.12, sy + 0.05)))))
    elif kind == 'motorcycle':
        parts += [
            (lid, dark, side(((-0.3, 0.22), (0.3, 0.22), (0.35, 0.62), (-0.3, 0.62)))),   # engine
            (lid, _col(rng, (170, 170, 175), 20),
             side(((-0.85, 0.24), (-0.1, 0.24), (-0.1, 0.34), (-0.85, 0.36)))),          # exhaust
            (lid, frame, side(((-0.05, 0.6), (0.48, 0.72), (0.45, 0.95), (-0.05, 0.9)))),  # tank
            (lid, frame, side(((-0.95, 0.62), (-0.45, 0.6), (-0.45, 0.82), (-0.9, 0.86)))),  # tail
            (lid, _col(rng, (25, 25, 25), 5),
             side(((-0.62, 0.8), (-0.02, 0.84), (-0.02, 0.92), (-0.6, 0.9)))),            # seat
            (lid, _col(rng, (150, 150, 150), 20),
             _limb(x, z, facing, (half, r), (0.42, 1.0), 0.07)),                       # fork
        ]
    else:   # scooter: step-through body, floorboard, front shield
        parts += [
            (lid, frame, side(((-0.32, 0.18), (0.38, 0.18), (0.38, 0.3), (-0.32, 0.32)))),
            (lid, frame, side(((-0.78, 0.3), (-0.2, 0.22), (-0.15, 0.78), (-0.72, 0.76)))),
            (lid, frame, side(((0.38, 0.2), (0.58, 0.25), (0.56, 1.0), (0.44, 1.0)))),
            (lid, _col(rng, (25, 25, 25), 5),
             side(((-0.7, 0.76), (-0.12, 0.78), (-0.12, 0.86), (-0.68, 0.84)))),
        ]
    bu, by = g['bar']
    bw, tw = g['bar_w'], g['tyre']
    zf, zb, zbar = z + facing * half, z - facing * half, z + facing * bu
    front = [(lid, tyre, _quad_z(x - tw / 2, x + tw / 2, 0.0, 2 * r, zf))]
    back = [(lid, tyre, _quad_z(x - tw / 2, x + tw / 2, 0.0, 2 * r, zb))]
    bar = [(lid, dark, _quad_z(x - bw / 2, x + bw / 2, by - 0.03, by + 0.03, zbar))]
    if kind == 'bicycle':
        back.append((IMAGE_ONLY, (40, 40, 190), _quad_z(x - 0.03, x + 0.03, 0.75, 0.8, zb - 0.01)))
    else:
        for sx in (-1, 1):   # mirrors
            xm = x + sx * (bw / 2 - 0.06)
            bar.append((lid, dark, _quad_z(xm - 0.012, xm + 0.012, by, by + 0.14, zbar)))
            bar.append((lid, dark, _quad_z(xm - 0.045, xm + 0.045, by + 0.13, by + 0.19, zbar)))
        back += [(lid, frame, _quad_z(x - 0.14, x + 0.14, 0.5, 0.85, zb + 0.15)),
                 (IMAGE_ONLY, (40, 40, 210), _quad_z(x - 0.07, x + 0.07, 0.72, 0.8, zb + 0.14)),
                 (IMAGE_ONLY, (215, 215, 215), _quad_z(x - 0.09, x + 0.09, 0.52, 0.62, zb + 0.14))]
        front += [(lid, frame, _quad_z(x - 0.16, x + 0.16, 0.55, 0.95, zf - 0.1)),
                  (IMAGE_ONLY, (220, 235, 240), _ellipse(x, 0.85, zf - 0.11, 0.08, 0.07, 10))]
    if facing > 0:
        far, near = front + bar, back
    else:
        far, near = back, bar + front
    return parts, far, near, g


def _rider(rng, x, z, kind='bicycle', facing=1):
    """
    Build a cyclist or motorcyclist: the two-wheeler under a seated rider, drawn in 3D.

    The rider (label ``rider``) sits on the saddle or seat, leans towards the handlebar, holds
    the grips and has the feet on the pedals or pegs: a side silhouette in the vehicle's plane
    (torso, thigh, shin, arm, head) and a billboard of the back (or front) at the seat --
    torso, both legs down beside the frame, arms out to the grips, head or helmet.
    """
    side, far, near, g = _two_wheeler(rng, x, z, kind, facing)
    rid = ID['rider']
    s = rng.uniform(0.92, 1.08)
    motor = kind != 'bicycle'
    jacket = _col(rng, rng.uniform(20, 220, 3), 30)
    trousers = _col(rng, rng.uniform(20, 110, 3), 20)
    skin = _col(rng, (120, 150, 190), 40)
    helmet = _col(rng, rng.uniform(20, 230, 3), 20) if (motor or rng.random() < 0.5) else None
    head_col = helmet or _col(rng, rng.choice([(30, 40, 60), (60, 90, 130), (20, 20, 25)]), 15)
    su, sy = g['seat']
    bu, by = g['bar']
    fu, fy = g['foot']
    hip = (su + 0.02, sy + 0.08)
    lean = 0.32 if not motor else 0.12
    sh = (hip[0] + lean * s, hip[1] + (0.46 if not motor else 0.56) * s)
    if not motor:   # pedal phase: the near foot anywhere on the crank circle
        ph = rng.uniform(0, 2 * math.pi)
        fu, fy = fu + 0.16 * math.cos(ph), fy + 0.16 * math.sin(ph)
    knee = (hip[0] + 0.38 * s, (hip[1] + fy) / 2 + 0.14)
    grip = (bu - 0.04, by + 0.02)
    head = (sh[0] + 0.07, sh[1] + 0.19 * s)
    rs = [(rid, trousers, _limb(x, z, facing, hip, knee, 0.16 * s)),
          (rid, trousers, _limb(x, z, facing, knee, (fu, fy + 0.04), 0.12 * s)),
          (rid, jacket, _limb(x, z, facing, hip, sh, 0.28 * s)),
          (rid, jacket, _limb(x, z, facing, (sh[0], sh[1] - 0.06), grip, 0.09 * s)),
          (rid, skin if helmet is None else head_col,
           _ellipse_side(x, head[1], z + facing * head[0], 0.13 * s, 0.12 * s, 12))]
    # billboard of the back (or the front) at the seat
    zs = z + facing * (hip[0] + sh[0]) / 2
    w = rng.uniform(0.38, 0.46) * s
    gx = g['bar_w'] / 2 - 0.05
    leg_out = 0.13 if not motor else 0.22
    bill = [(rid, trousers, _quad_z(x - 0.18 * s, x + 0.18 * s, hip[1] - 0.1, hip[1] + 0.12, zs))]
    for sx in (-1, 1):
        bill.append((rid, trousers, _slanted(x + sx * 0.1 * s, hip[1], x + sx * leg_out,
                                             fy + 0.04, zs, 0.15 * s, 0.11 * s)))
    bill.append((rid, jacket, np.array([[x - w * 0.42, hip[1] + 0.05, zs],
                                        [x + w * 0.42, hip[1] + 0.05, zs],
                                        [x + w / 2, sh[1], zs], [x - w / 2, sh[1], zs]])))
    for sx in (-1, 1):
        bill.append((rid, jacket, _slanted(x + sx * (w / 2 - 0.04), sh[1] - 0.04, x + sx * gx,
                                           by + 0.02, zs, 0.1 * s, 0.08 * s)))
    bill.append((rid, head_col if facing > 0 or helmet is not None else skin,
                 _ellipse(x, head[1], zs, 0.11 * s, 0.13 * s, 12)))
    if facing < 0 and helmet is not None:   # visor
        visor = _ellipse(x, head[1], zs - 0.01, 0.08 * s, 0.05 * s, 10)
        bill.append((IMAGE_ONLY, (40, 35, 30), visor))
    return far + side + rs + bill + near


def _parked_two_wheeler(rng, x, z, kind, facing=1):
    """Build a bicycle, motorcycle or scooter standing along the kerb (no rider)."""
    side, far, near, _ = _two_wheeler(rng, x, z, kind, facing)
    return far + side + near


def _bicycle_side(rng, x, z, lid, motor=False, colour=None):
    """Parts of a parked bicycle or motorcycle seen from the side (plane ``x = const``)."""
    kind = 'motorcycle' if motor else 'bicycle'
    return _parked_two_wheeler(rng, x, z, kind, facing=1 if rng.random() < 0.5 else -1)


def _visible_side(x0, x1, cam_x):
    """Return the side plane (``x0`` or ``x1``) of a box seen by a camera at ``cam_x``, or None."""
    if cam_x is None:
        return None
    if cam_x < x0 - 0.05:
        return x0
    if cam_x > x1 + 0.05:
        return x1
    return None


def _wheels(lid, side, z_axles, r, rng):
    """Dark wheels with lighter rims on the side plane ``side`` at the axle positions."""
    if side is None:
        return []
    tyre = _col(rng, (28, 28, 28), 6)
    rim = _col(rng, (130, 130, 135), 25)
    out = []
    for za in z_axles:
        out.append((lid, tyre, _side_disc(side, r, za, r, 16)))
        out.append((IMAGE_ONLY, rim, _side_disc(side, r, za, r * 0.55, 12)))
    return out


def _car(rng, x, z, length=None, colour=None, facing=1, cam_x=None):
    """Build a car as two boxes (body, cabin) with windows, wheels and lights."""
    L = length or rng.uniform(3.8, 4.9)
    W = rng.uniform(1.65, 1.9)
    body = colour or _col(rng, rng.choice([(40, 40, 40), (200, 200, 200), (120, 40, 30),
                                           (30, 30, 150), (150, 150, 150), (230, 230, 230),
                                           (40, 90, 40), (20, 20, 20)]), 25)
    glass = _col(rng, (60, 50, 40), 15)
    cid = ID['car']
    x0, x1 = x - W / 2, x + W / 2
    parts = [('box', cid, body, _box(x0, x1, 0.28, 0.95, z, z + L)),
             ('box', cid, glass, _box(x0 + 0.12, x1 - 0.12, 0.95, 1.45,
                                      z + 0.25 * L, z + 0.8 * L))]
    extra = [(cid, (20, 20, 20), _quad_z(x0 + 0.05, x1 - 0.05, 0.12, 0.3, z + 0.5)),
             (IMAGE_ONLY, (30, 30, 200) if facing > 0 else (200, 220, 230),
              _quad_z(x0 + 0.08, x0 + 0.3, 0.7, 0.82, z - 0.01)),
             (IMAGE_ONLY, (30, 30, 200) if facing > 0 else (200, 220, 230),
              _quad_z(x1 - 0.3, x1 - 0.08, 0.7, 0.82, z - 0.01)),
             (IMAGE_ONLY, (200, 200, 200), _quad_z(x - 0.25, x + 0.25, 0.45, 0.56, z - 0.01))]
    extra += _wheels(cid, _visible_side(x0, x1, cam_x), (z + 0.8, z + L - 0.8), 0.31, rng)
    return parts, extra, (x0, x1, L)


#: Bus liveries (BGR body colour): city-bus yellow, red, cream, blue, green, orange.
_BUS_LIVERIES = ((20, 185, 245), (40, 40, 200), (215, 228, 235), (150, 85, 25), (60, 150, 45),
                 (25, 120, 240))
#: Truck cab colours and cargo-box colours.
_CAB_COLOURS = ((230, 230, 230), (40, 40, 190), (150, 80, 30), (50, 120, 50), (30, 140, 230),
                (30, 200, 230), (60, 60, 60))
_CARGO_COLOURS = ((235, 235, 235), (200, 200, 200), (175, 180, 185), (60, 60, 170),
                  (140, 90, 40), (40, 130, 60))


def _bus(rng, x, z, facing, cam_x):
    """Build a city bus: long low box on wheels, livery, window band, pillars, doors, lights."""
    L, W, H = rng.uniform(10.5, 12.5), 2.55, rng.uniform(2.95, 3.2)
    lid = ID['bus']
    body = _col(rng, _BUS_LIVERIES[int(rng.integers(len(_BUS_LIVERIES)))], 15)
    skirt = _col(rng, _BUS_LIVERIES[int(rng.integers(len(_BUS_LIVERIES)))], 15)
    glass = _col(rng, (55, 45, 38), 8)
    x0, x1 = x - W / 2, x + W / 2
    y0 = 0.32
    parts = [('box', lid, body, _box(x0, x1, y0, H, z, z + L))]
    zfront, zrear = (z + L, z) if facing > 0 else (z, z + L)

    def at(u):   # z of a point u metres behind the front
        return zfront - facing * u

    extra = [(lid, (25, 25, 25), _quad_z(x0 + 0.1, x1 - 0.1, 0.0, y0, z + 0.8))]
    side = _visible_side(x0, x1, cam_x)
    if side is not None:
        def band(u0, u1, ya, yb, col, lab=IMAGE_ONLY):
            extra.append((lab, col, np.array([[side, ya, at(u0)], [side, ya, at(u1)],
                                              [side, yb, at(u1)], [side, yb, at(u0)]])))
        if rng.random() < 0.7:
            band(0.0, L, y0, 0.85, skirt)                     # livery skirt
        band(0.3, L - 0.25, 1.12, H - 0.42, glass)            # window band
        u = 0.3 + rng.uniform(1.3, 1.7)
        while u < L - 0.6:                                    # window pillars
            band(u, u + 0.12, 1.12, H - 0.42, body)
            u += rng.uniform(1.3, 1.7)
        band(0.0, 0.25, 0.9, H - 0.05, glass)                 # wrap-around windscreen
        for ud in (0.35, L * 0.5 - 0.6) + ((L - 2.4,) if L > 11.5 else ()):   # doors
            band(ud, ud + 1.2, y0 + 0.05, H - 0.42, _col(rng, (30, 30, 30), 5))
            band(ud + 0.06, ud + 0.57, y0 + 0.2, H - 0.5, glass)
            band(ud + 0.63, ud + 1.14, y0 + 0.2, H - 0.5, glass)
        band(0.35, 1.55, H - 0.38, H - 0.12, (30, 30, 30))    # side destination display
        band(0.5, 1.4, H - 0.32, H - 0.18, (40, 190, 240))
        extra += _wheels(lid, side, (at(2.7), at(L - 3.2)), 0.5, rng)
    zn = z - 0.01   # the face seen by the camera
    if facing > 0:   # rear: small window, engine grille, tail lights, plate
        extra += [(IMAGE_ONLY, glass, _quad_z(x0 + 0.3, x1 - 0.3, H - 1.25, H - 0.35, zn)),
                  (IMAGE_ONLY, _col(rng, (45, 45, 45), 8),
                   _quad_z(x0 + 0.35, x1 - 0.35, 0.55, 1.15, zn))]
        for k in range(5):
            yy = 0.62 + k * 0.11
            extra.append((IMAGE_ONLY, (25, 25, 25), _quad_z(x0 + 0.4, x1 - 0.4, yy, yy + 0.04,
                                                            zn - 0.005)))
        for xs in (x0 + 0.05, x1 - 0.2):
            extra.append((IMAGE_ONLY, (35, 35, 215), _quad_z(xs, xs + 0.15, 0.5, 1.35, zn)))
        extra.append((IMAGE_ONLY, (225, 225, 225), _quad_z(x - 0.26, x + 0.26, 0.36, 0.48, zn)))
    else:            # front: big windscreen, destination display, headlights, bumper
        extra += [(IMAGE_ONLY, glass, _quad_z(x0 + 0.1, x1 - 0.1, 0.95, H - 0.45, zn)),
                  (IMAGE_ONLY, (25, 25, 25), _quad_z(x0 + 0.15, x1 - 0.15, H - 0.42, H - 0.1,
                                                     zn)),
                  (IMAGE_ONLY, (40, 190, 240), _quad_z(x0 + 0.5, x1 - 0.5, H - 0.35, H - 0.18,
                                                       zn - 0.005)),
                  (IMAGE_ONLY, _col(rng, (40, 40, 40), 8), _quad_z(x0, x1, y0, 0.55, zn))]
        for xs in (x0 + 0.1, x1 - 0.4):
            extra.append((IMAGE_ONLY, (225, 240, 245), _quad_z(xs, xs + 0.3, 0.6, 0.75, zn)))
    return parts, extra, (x0, x1, L)


def _truck(rng, x, z, facing, cam_x):
    """Build a lorry: cab with windscreen in front, chassis on wheels, cargo box or open bed."""
    L, W = rng.uniform(6.5, 10.0), rng.uniform(2.35, 2.5)
    lid = ID['truck']
    cab_l, cab_h = rng.uniform(2.0, 2.5), rng.uniform(2.8, 3.2)
    cab = _col(rng, _CAB_COLOURS[int(rng.integers(len(_CAB_COLOURS)))], 20)
    cargo = _col(rng, _CARGO_COLOURS[int(rng.integers(len(_CARGO_COLOURS)))], 15)
    boxed = rng.random() < 0.7
    H = rng.uniform(3.3, 3.9) if boxed else rng.uniform(1.9, 2.6)
    glass = _col(rng, (60, 50, 42), 8)
    dark = _col(rng, (38, 38, 40), 6)
    x0, x1 = x - W / 2, x + W / 2
    floor = rng.uniform(1.0, 1.2)
    zfront = z + L if facing > 0 else z

    def at(u):
        return zfront - facing * u

    za_cab, zb_cab = sorted((at(0.0), at(cab_l)))
    za_box, zb_box = sorted((at(cab_l + 0.25), at(L)))
    cab_box = ('box', lid, cab, _box(x0 + 0.02, x1 - 0.02, 0.55, cab_h, za_cab, zb_cab))
    if boxed:
        cargo_box = ('box', lid, cargo, _box(x0, x1, floor, H, za_box, zb_box))
    else:   # open bed with low sides; a load in it
        cargo_box = ('box', lid, cargo, _box(x0, x1, floor, floor + 0.5, za_box, zb_box))
    chassis = ('box', lid, dark, _box(x0 + 0.35, x1 - 0.35, 0.45, floor, z + 0.2, z + L - 0.2))
    cargo_parts = [cargo_box]
    if not boxed:
        load = _col(rng, rng.choice([(60, 110, 150), (120, 120, 120), (40, 80, 120)]), 25)
        cargo_parts.append(('box', lid, load, _box(x0 + 0.15, x1 - 0.15, floor + 0.5, H,
                                                   za_box + 0.4, zb_box - 0.4)))
    # painter's order: the far end first
    parts = [chassis] + ([cab_box] + cargo_parts if facing > 0 else cargo_parts + [cab_box])
    extra = []
    side = _visible_side(x0, x1, cam_x)
    if side is not None:
        def band(u0, u1, ya, yb, col, lab=IMAGE_ONLY):
            extra.append((lab, col, np.array([[side, ya, at(u0)], [side, ya, at(u1)],
                                              [side, yb, at(u1)], [side, yb, at(u0)]])))
        band(0.35, cab_l - 0.3, cab_h * 0.6, cab_h - 0.25, glass)        # cab door window
        band(0.3, cab_l - 0.25, 0.55, cab_h * 0.57, _col(rng, cab, 25))  # door panel
        if boxed and rng.random() < 0.5:                                  # logo panel
            band(cab_l + 1.0, L - 1.0, floor + 0.6, H - 0.6,
                 _col(rng, rng.uniform(20, 230, 3), 20))
        band(cab_l + 0.25, L, floor - 0.02, floor + 0.1, dark)           # rub rail
        axles = [at(1.2)] + ([at(L - 1.8), at(L - 3.1)] if L > 8.5 else [at(L - 1.6)])
        extra += _wheels(lid, side, axles, 0.5, rng)
    zn = z - 0.01
    if facing > 0:   # rear of the cargo: doors with a seam and lock bars, bumper, lights
        if boxed:
            extra += [(IMAGE_ONLY, dark, _quad_z(x - 0.02, x + 0.02, floor + 0.05, H - 0.05, zn))]
            for xs in (x0 + 0.45, x - 0.35, x + 0.3, x1 - 0.5):
                extra.append((IMAGE_ONLY, _col(rng, (140, 140, 140), 15),
                              _quad_z(xs, xs + 0.05, floor + 0.1, H - 0.1, zn - 0.005)))
        extra += [(lid, dark, _quad_z(x0 + 0.1, x1 - 0.1, 0.45, 0.62, z + 0.3)),
                  (lid, (25, 25, 25), _quad_z(x0 + 0.05, x0 + 0.6, 0.0, 1.0, z + 1.2)),
                  (lid, (25, 25, 25), _quad_z(x1 - 0.6, x1 - 0.05, 0.0, 1.0, z + 1.2))]
        for xs in (x0 + 0.12, x1 - 0.42):
            extra.append((IMAGE_ONLY, (35, 35, 215), _quad_z(xs, xs + 0.3, 0.48, 0.6, z + 0.29)))
        plate = _quad_z(x - 0.25, x + 0.25, 0.47, 0.6, z + 0.29)
        extra.append((IMAGE_ONLY, (40, 200, 230), plate))
    else:            # front of the cab: windscreen, grille, headlights, bumper
        extra += [(IMAGE_ONLY, glass, _quad_z(x0 + 0.15, x1 - 0.15, cab_h * 0.55, cab_h - 0.2,
                                              zn)),
                  (IMAGE_ONLY, dark, _quad_z(x - 0.6, x + 0.6, 0.75, cab_h * 0.5, zn)),
                  (IMAGE_ONLY, _col(rng, (50, 50, 50), 8), _quad_z(x0, x1, 0.4, 0.7, zn))]
        for xs in (x0 + 0.1, x1 - 0.45):
            extra.append((IMAGE_ONLY, (225, 240, 245), _quad_z(xs, xs + 0.35, 0.75, 0.9, zn)))
        extra += [(lid, (25, 25, 25), _quad_z(x0 + 0.05, x0 + 0.5, 0.0, 0.9, z + 1.2)),
                  (lid, (25, 25, 25), _quad_z(x1 - 0.5, x1 - 0.05, 0.0, 0.9, z + 1.2))]
    return parts, extra, (x0, x1, L)


def _big_vehicle(rng, x, z, kind, facing=1, cam_x=None):
    """Build a truck, bus or tram (``kind`` truck / bus / train)."""
    if kind == 'truck':
        return _truck(rng, x, z, facing, cam_x)
    if kind == 'bus':
        return _bus(rng, x, z, facing, cam_x)
    L, W, H = rng.uniform(25, 32), 2.5, 3.4
    colour = _col(rng, rng.choice([(60, 60, 200), (220, 220, 220), (40, 170, 220)]), 20)
    lid = ID[kind]
    x0, x1 = x - W / 2, x + W / 2
    parts = [('box', lid, colour, _box(x0, x1, 0.3, H, z, z + L))]
    glass = _col(rng, (70, 60, 50), 10)
    extra = [(IMAGE_ONLY, glass, _quad_z(x0 + 0.15, x1 - 0.15, H * 0.55, H * 0.9, z - 0.01)),
             (lid, (25, 25, 25), _quad_z(x0 + 0.1, x1 - 0.1, 0.0, 0.3, z + 0.8))]
    side = x0 if x > 0 else x1
    for k in range(int(L / 2.2)):
        zz = z + 0.6 + k * 2.2
        pane = np.array([[side, H * 0.5, zz], [side, H * 0.5, zz + 1.7],
                         [side, H * 0.88, zz + 1.7], [side, H * 0.88, zz]])
        extra.append((IMAGE_ONLY, glass, pane))
    return parts, extra, (x0, x1, L)


# ----------------------------------------------------------------------------------- the scene

class Scene:
    """A street with its objects and a camera trajectory; render any frame at any size."""

    def __init__(self, rng, n_frames, fps=FPS, hard=0.15, crowd_zones=None):
        """Build a random street for ``n_frames`` frames (see :func:`make_scene`)."""
        self.n_frames = int(n_frames)
        self.fps = float(fps)
        self.seed = int(rng.integers(2 ** 31))
        r = rng
        self.R = r.uniform(3.2, 7.5)                       # road half width [m]
        self.cam_h = r.uniform(1.2, 1.45)
        # parking lanes (2.2 m) on the sides where the road is wide enough
        self.parking = {s: self.R >= 4.6 and r.random() < 0.75 for s in (-1, 1)}
        lane_right = self.R - (2.2 if self.parking[1] else 0.0)
        self.cam_x = lane_right * r.uniform(0.4, 0.6)       # right-hand traffic
        self.pitch = r.uniform(-0.02, 0.03)
        speed = r.choice([r.uniform(0.0, 2.0), r.uniform(4, 9), r.uniform(8, 14)],
                         p=[0.15, 0.5, 0.35])
        t = np.arange(self.n_frames) / self.fps
        ph = r.uniform(0, 2 * math.pi)
        v = np.clip(speed * (1 + 0.25 * np.sin(2 * math.pi * t / r.uniform(6, 14) + ph)), 0, None)
        self.cam_z = np.concatenate([[0.0], np.cumsum(v[:-1] / self.fps)]) + r.uniform(0, 50)
        self.yaw = 0.025 * np.sin(2 * math.pi * t / r.uniform(5, 12) + r.uniform(0, 6))
        self.bob = 0.004 * np.sin(2 * math.pi * t * r.uniform(1.0, 2.5))
        period = r.uniform(8, 20)
        self.gain = r.uniform(0.65, 1.25) * (
            1 + 0.12 * np.sin(2 * math.pi * t / period + r.uniform(0, 6)))
        self.tint = r.uniform(0.9, 1.1, 3)
        self.sky_top = _col(r, (200, 150, 110), 40)
        self.sky_bottom = _col(r, (235, 220, 205), 20)
        # Hard stretches: (first frame, last frame, kind) with kind in blur/contrast.
        self.effects = []
        z_end = float(self.cam_z[-1]) + Z_FAR
        n_eff = r.poisson(hard * self.n_frames / 30.0)
        for _ in range(n_eff):
            dur = int(r.integers(12, 50))
            f0 = int(r.integers(-dur // 2, self.n_frames))
            self.effects.append((f0, f0 + dur, r.choice(['blur', 'contrast', 'both']),
                                 r.uniform(0.5, 1.0)))
        if crowd_zones is None:
            crowd_zones = []
            for _ in range(r.poisson(hard * max(1.0, self.n_frames / 30.0))):
                zc = r.uniform(self.cam_z[0] + 20, z_end - 60)
                crowd_zones.append((zc, zc + r.uniform(20, 60)))
        self.crowd_zones = crowd_zones
        self.items = []
        self.ground = []        # (label, colour, pts), drawn first, in order
        self.ground_marks = []  # image-only ground detail
        self._build(r, float(self.cam_z[0]) - 40.0, z_end + 20.0)
        self.items.sort(key=lambda it: it.zmin)
        self._zmins = np.array([it.zmin for it in self.items])
        self._zmax_run = np.maximum.accumulate(np.array([it.zmax for it in self.items])) \
            if self.items else np.zeros(0)
        tr = np.random.default_rng(self.seed)
        self.ground_tex = tr.normal(0, 1, (256, 256)).astype(np.float32)
        self.ground_tex = cv2.GaussianBlur(self.ground_tex, (0, 0), 0.7)
        self.ground_tex /= self.ground_tex.std()
        self._tex_cache = {}

    # ---- construction
    def _in_crowd(self, z):
        return any(a <= z <= b for a, b in self.crowd_zones)

    def _build(self, r, z0, z1):
        R = self.R
        road_col = _col(r, (95, 95, 95), 15)
        self.ground.append((ID['road'], road_col, _quad_ground(-R - 0.01, R + 0.01, z0, z1)))
        # lane markings (image only): centre dashes and edge lines
        z = z0
        mark = _col(r, (215, 215, 215), 15)
        while z < z1:
            self.ground_marks.append((IMAGE_ONLY, mark, _quad_ground(-0.07, 0.07, z, z + 3.0)))
            z += 9.0
        for s in (-1, 1):
            xe = s * (R - 0.35)
            self.ground_marks.append((IMAGE_ONLY, mark,
                                      _quad_ground(xe - 0.06, xe + 0.06, z0, z1)))
        # Cross streets
        crossings = []
        z = z0 + r.uniform(10, 120)
        while z < z1:
            w = r.uniform(10, 18)
            crossings.append((z, z + w))
            z += w + r.uniform(70, 200)
        self.crossings = crossings
        for a, b in crossings:
            self.ground.append((ID['road'], road_col, _quad_ground(-120, 120, a, b)))
            for k in range(int((2 * R) / 1.0)):   # zebra crossing
                xx = -R + 0.5 + k * 1.0
                self.ground_marks.append((IMAGE_ONLY, mark,
                                          _quad_ground(xx, xx + 0.5, a - 4, a - 1)))
        for s in (-1, 1):
            self._build_side(r, s, z0, z1, crossings)
        self._build_traffic(r, z0, z1)

    def _gap(self, z, crossings, margin=0.0):
        return any(a - margin <= z <= b + margin for a, b in crossings)

    def _build_side(self, r, s, z0, z1, crossings):
        R = self.R
        lawn = r.uniform(1.0, 2.5) if r.random() < 0.3 else 0.0
        sw = r.uniform(1.8, 4.5)
        garden = r.uniform(0.5, 6.0) if r.random() < 0.5 else 0.0
        xb = R + lawn + sw + garden                      # building line, |x|
        sw_col = _col(r, r.choice([(150, 150, 150), (120, 130, 160), (170, 165, 160)]), 15)
        ter_col = _col(r, (70, 140, 120), 20)
        edges = [z0] + [v for ab in crossings for v in ab] + [z1]
        spans = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)
                 if edges[i + 1] > edges[i] + 1.0]

        def sx(a, b):
            return (s * a, s * b) if s > 0 else (s * b, s * a)

        for a, b in spans:
            xa, xb_ = sx(R, R + lawn)
            if lawn:
                self.ground.append((ID['terrain'], ter_col, _quad_ground(xa, xb_, a, b)))
            xa, xb_ = sx(R + lawn, R + lawn + sw)
            self.ground.append((ID['sidewalk'], sw_col, _quad_ground(xa, xb_, a, b, 0.12)))
            self.ground.append((ID['sidewalk'], _col(r, sw_col, 10),
                                np.array([[s * (R + lawn), 0, a], [s * (R + lawn), 0.12, a],
                                          [s * (R + lawn), 0.12, b], [s * (R + lawn), 0, b]])))
            if garden:
                xa, xb_ = sx(R + lawn + sw, xb + 40)
                self.ground.append((ID['terrain'] if r.random() < 0.7 else ID['sidewalk'],
                                    ter_col, _quad_ground(xa, xb_, a, b, 0.12)))
            else:
                xa, xb_ = sx(R + lawn + sw, xb + 40)
                self.ground.append((ID['sidewalk'], sw_col, _quad_ground(xa, xb_, a, b, 0.12)))
            # building row
            z = a + r.uniform(-3, 3)
            while z < b:
                L = r.uniform(8, 30)
                zz1 = min(z + L, b + r.uniform(0, 1))
                setback = r.uniform(0, 1.5) if r.random() < 0.4 else 0.0
                if r.random() < 0.12:   # a gap with trees or a hedge behind
                    self._tree(r, s * (xb + r.uniform(1, 5)), (z + zz1) / 2, big=True, layer=1)
                    if r.random() < 0.5:
                        self._tree(r, s * (xb + r.uniform(3, 9)), (z + zz1) / 2 + r.uniform(-4, 4),
                                   big=True, layer=1)
                else:
                    self._building(r, s, xb + setback, z, zz1)
                z = zz1 + (r.uniform(0.5, 5) if r.random() < 0.15 else 0.0)
            # things along the kerb and the sidewalk
            self._build_sidewalk(r, s, a, b, R, lawn, sw, xb, garden)
        # far buildings along the cross streets
        for a, b in crossings:
            for k in range(3):
                zc = a - 2 + (b - a + 4) * k / 2
                h = r.uniform(10, 25)
                x_lo = xb + 15 + k * 4
                box = _box(*sx(x_lo, x_lo + 20), 0, h, zc, zc + 0.5)
                self.items.append(Item([('box', ID['building'], _col(r, (150, 150, 150), 50),
                                         box)], s * x_lo, zc, layer=1))
            self._corner(r, s, a, R, sw, lawn, b)

    def _building(self, r, s, xb, z0, z1):
        h = r.uniform(9, 26)
        col = _col(r, r.choice([(150, 170, 190), (120, 130, 140), (200, 205, 210), (60, 70, 140),
                                (100, 160, 200), (170, 170, 170), (80, 90, 100)]), 25)
        depth = r.uniform(10, 20)
        x0, x1 = (xb, xb + depth) if s > 0 else (-xb - depth, -xb)
        parts = [('box', ID['building'], col, _box(x0, x1, 0.0, h, z0, z1))]
        # windows on the facade and a roof edge
        face_x = x0 if s > 0 else x1
        wc = _col(r, (90, 70, 60), 25)
        frame_c = _col(r, col, 30)
        floors = int(h / 3.1)
        nwin = max(1, int((z1 - z0) / r.uniform(2.2, 3.5)))
        ww = r.uniform(0.8, 1.4)
        for f in range(floors):
            y = 1.0 + f * 3.1 + (0.6 if f == 0 else 0.8)
            if y + 1.6 > h:
                break
            for k in range(nwin):
                zc = z0 + (k + 0.5) * (z1 - z0) / nwin
                parts.append((IMAGE_ONLY, frame_c, np.array(
                    [[face_x, y - 0.1, zc - ww / 2 - 0.1], [face_x, y - 0.1, zc + ww / 2 + 0.1],
                     [face_x, y + 1.6, zc + ww / 2 + 0.1], [face_x, y + 1.6, zc - ww / 2 - 0.1]])))
                parts.append((IMAGE_ONLY, _col(r, wc, 20), np.array(
                    [[face_x, y, zc - ww / 2], [face_x, y, zc + ww / 2],
                     [face_x, y + 1.5, zc + ww / 2], [face_x, y + 1.5, zc - ww / 2]])))
        parts.append((IMAGE_ONLY, _col(r, col, 40), np.array(
            [[face_x, h - 0.6, z0], [face_x, h - 0.6, z1], [face_x, h, z1], [face_x, h, z0]])))
        if r.random() < 0.5:   # shop front
            parts.append((IMAGE_ONLY, _col(r, (60, 50, 40), 30), np.array(
                [[face_x, 0.3, z0 + 1], [face_x, 0.3, z1 - 1], [face_x, 2.6, z1 - 1],
                 [face_x, 2.6, z0 + 1]])))
        self.items.append(Item(parts, s * xb, z0, layer=1))

    def _tree(self, r, x, z, big=False, layer=2):
        h_trunk = r.uniform(1.8, 3.5) if not big else r.uniform(2, 5)
        rad = r.uniform(1.2, 2.8) * (1.5 if big else 1.0)
        veg = ID['vegetation']
        trunk = _col(r, (50, 65, 80), 12)
        leaf = _col(r, (40, 95, 60), 25)
        jit = lambda n: r.uniform(0.75, 1.15, n)  # noqa: E731
        parts = [(veg, trunk, _quad_z(x - 0.12, x + 0.12, 0, h_trunk + rad * 0.5, z))]
        for k in range(3):
            dx, dy = r.uniform(-0.5, 0.5) * rad, r.uniform(-0.3, 0.4) * rad
            c = _col(r, leaf, 18)
            parts.append((veg, c, _ellipse(x + dx, h_trunk + rad + dy, z - 0.05 * k,
                                           rad * r.uniform(0.7, 1.0), rad * r.uniform(0.6, 1.0),
                                           16, jit(16))))
        self.items.append(Item(parts, x, z, layer=layer))

    def _pole(self, r, x, z, with_sign=0.4, light=False, lamp=True, s=1):
        h = r.uniform(3.0, 4.2) if (light or not lamp) else r.uniform(6.0, 9.0)
        w = r.uniform(0.1, 0.22)
        pid = ID['pole']
        pc = _col(r, (110, 110, 110), 30)
        parts = [(pid, pc, _quad_z(x - w / 2, x + w / 2, 0, h, z))]
        if lamp and not light:
            arm = -s * r.uniform(0.8, 2.0)
            xa, xb = sorted((x, x + arm))
            parts.append((pid, pc, _quad_z(xa, xb, h - 0.12, h, z)))
            parts.append((pid, _col(r, (170, 170, 170), 20),
                          _quad_z(x + arm - 0.25, x + arm + 0.25, h - 0.25, h - 0.05, z - 0.01)))
        if light:
            for k in range(1 if r.random() < 0.6 else 2):
                y0 = h - 1.0 - k * 1.3 + r.uniform(-0.3, 0.3)
                lid = ID['traffic light']
                house = _col(r, (30, 30, 30), 10)
                parts.append((lid, house, _quad_z(x - 0.17, x + 0.17, y0, y0 + 0.85, z - 0.1)))
                lamp_on = int(r.integers(3))
                for j, lc in enumerate(((40, 40, 230), (30, 180, 240), (60, 220, 60))):
                    c = lc if j == lamp_on else tuple(v // 4 for v in lc)
                    parts.append((IMAGE_ONLY, c, _ellipse(x, y0 + 0.7 - j * 0.27, z - 0.11,
                                                          0.09, 0.09, 8)))
        elif r.random() < with_sign:
            tid = ID['traffic sign']
            y0 = h - r.uniform(0.8, 1.6) if not lamp else r.uniform(2.0, 2.6)
            sz = r.uniform(0.5, 0.85)
            kind = r.integers(3)
            face = _col(r, r.choice([(40, 40, 200), (200, 120, 30), (230, 230, 230),
                                     (30, 200, 240)]), 20)
            if kind == 0:
                poly = _ellipse(x, y0 + sz / 2, z - 0.05, sz / 2, sz / 2, 14)
            elif kind == 1:
                poly = np.array([[x - sz / 2, y0, z - 0.05], [x + sz / 2, y0, z - 0.05],
                                 [x, y0 + sz * 0.9, z - 0.05]])
            else:
                poly = _quad_z(x - sz / 2, x + sz / 2, y0, y0 + sz * 0.75, z - 0.05)
            parts.append((tid, face, poly))
            centre = poly.mean(axis=0)
            inner = centre + (poly - centre) * 0.65 - np.array([0, 0, 0.01])
            parts.append((IMAGE_ONLY, _col(r, (230, 230, 230), 20) if kind != 2 else
                          _col(r, (40, 40, 40), 20), inner))
            if r.random() < 0.35:
                y1 = y0 - sz * 0.7
                parts.append((tid, _col(r, (230, 230, 230), 15),
                              _quad_z(x - sz / 2, x + sz / 2, y1, y1 + sz * 0.55, z - 0.05)))
        self.items.append(Item(parts, x, z))

    def _corner(self, r, s, a, R, sw, lawn, b):
        """Traffic lights and signs at both corners of a crossing."""
        for zc in (a - 1.0, b + 1.0):
            x = s * (R + lawn + 0.4)
            self._pole(r, x, zc, light=True, s=s)
            if r.random() < 0.6:
                self._pole(r, x + s * r.uniform(0.3, 1.5), zc + r.uniform(-2, 2),
                           with_sign=1.0, lamp=False, s=s)
            for _ in range(r.poisson(2.0 if not self._in_crowd(zc) else 8.0)):
                self._add_person(r, s * (R + lawn + r.uniform(0.3, sw)), zc + r.uniform(-3, 3),
                                 moving=r.random() < 0.5)
        for _ in range(r.poisson(1.5 if not self._in_crowd(a) else 8.0)):  # crossing the road
            x = r.uniform(-R, R)
            vx = r.choice([-1, 1]) * r.uniform(0.8, 1.6)
            self.items.append(Item(_person(r, x, a - r.uniform(1.5, 3.5)), x, a, vel=(vx, 0.0)))

    def _add_person(self, r, x, z, moving=True):
        vz = r.choice([-1, 1]) * r.uniform(0.9, 1.7) if moving else 0.0
        self.items.append(Item(_person(r, x, z), x, z, vel=(0.0, vz)))

    def _build_sidewalk(self, r, s, a, b, R, lawn, sw, xb, garden):
        # street lamps and sign poles at the kerb
        z = a + r.uniform(2, 20)
        while z < b - 2:
            self._pole(r, s * (R + lawn + 0.35), z, with_sign=0.25, s=s)
            z += r.uniform(18, 40)
        for _ in range(r.poisson((b - a) / 60)):
            self._pole(r, s * (R + lawn + 0.3 + r.uniform(0, 0.4)), r.uniform(a, b),
                       with_sign=1.0, lamp=False, s=s)
        for _ in range(r.poisson((b - a) / 60)):   # bollards / small poles
            zz = r.uniform(a, b)
            x = s * (R + lawn + 0.3)
            self.items.append(Item([(ID['pole'], _col(r, (80, 80, 80), 30),
                                     _quad_z(x - 0.06, x + 0.06, 0, 1.0, zz))], x, zz))
        # street trees
        if r.random() < 0.6:
            z = a + r.uniform(2, 10)
            step = r.uniform(7, 15)
            while z < b - 2:
                self._tree(r, s * (R + lawn * 0.5 + 0.8 + r.uniform(0, 0.4)), z)
                z += step * r.uniform(0.8, 1.2)
        # front gardens: wall or fence or hedge
        if garden:
            kind = r.choice(['wall', 'fence', 'hedge', 'none'], p=[0.45, 0.25, 0.2, 0.1])
            x = s * (R + lawn + sw + 0.1)
            col = _col(r, (150, 160, 170) if kind == 'wall' else (120, 130, 140), 30)
            hgt = r.uniform(0.8, 2.2)
            z = a
            while z < b and kind != 'none':
                zz = min(b, z + 2.5)
                pts = np.array([[x, 0.1, z], [x, 0.1, zz], [x, hgt, zz], [x, hgt, z]])
                lid = {'wall': ID['wall'], 'fence': ID['fence'], 'hedge': ID['vegetation']}[kind]
                c = col if kind != 'hedge' else _col(r, (40, 100, 55), 15)
                parts = [(lid, c, pts)]
                if kind == 'fence':
                    for k in range(5):
                        zp = z + k * (zz - z) / 5
                        parts.append((IMAGE_ONLY, _col(r, (60, 60, 60), 10),
                                      np.array([[x, 0.1, zp], [x, 0.1, zp + 0.08],
                                                [x, hgt, zp + 0.08], [x, hgt, zp]])))
                self.items.append(Item(parts, x, z))
                z = zz
            if r.random() < 0.5:
                for _ in range(r.poisson((b - a) / 25)):
                    self._tree(r, s * (R + lawn + sw + r.uniform(1, max(1.1, garden))),
                               r.uniform(a, b), big=True)
        # people and parked bikes
        dens = 1 / 40.0 * (r.uniform(0.3, 1.5))
        for zc in np.arange(a, b, 5.0):
            lam = dens * 5 * (6 if self._in_crowd(zc) else 1)
            for _ in range(r.poisson(lam)):
                self._add_person(r, s * (R + lawn + r.uniform(0.4, sw - 0.2)),
                                 zc + r.uniform(0, 5), moving=r.random() < 0.7)
            if r.random() < 0.15 * (3 if self._in_crowd(zc) else 1):
                for k in range(int(r.integers(1, 5))):
                    x = s * (R + lawn + sw - 0.4 - r.uniform(0, 0.3))
                    zz = zc + k * 0.6
                    self.items.append(Item(_bicycle_side(r, x, zz, ID['bicycle']), x, zz))
            if r.random() < 0.02:   # static clutter: bin, bench, ad pillar (void 'static')
                x = s * (R + lawn + r.uniform(0.3, sw))
                self.items.append(Item([(ID['static'], _col(r, (60, 80, 80), 40),
                                         _quad_z(x - 0.3, x + 0.3, 0, r.uniform(0.8, 2.5), zc))],
                                       x, zc))

    def _build_traffic(self, r, z0, z1):
        R = self.R
        # parked cars in a parking lane on each side
        for s in (-1, 1):
            if self.parking[s]:
                z = z0 + r.uniform(0, 10)
                while z < z1:
                    if self._gap(z, self.crossings, 6):
                        pass
                    elif r.random() < 0.7:
                        x = s * (R - 1.1)
                        if r.random() < 0.02:
                            self._vehicle(r, x, z, r.choice(['truck', 'bus']))
                        else:
                            self._vehicle(r, x, z, 'car')
                    elif r.random() < 0.25:   # motorcycles / scooters in a free slot
                        for k in range(int(r.integers(1, 4))):
                            x = s * (R - 1.0 - r.uniform(0, 0.5))
                            zz = z + 0.8 + k * r.uniform(1.9, 2.4)
                            kind = 'scooter' if r.random() < 0.4 else 'motorcycle'
                            self.items.append(Item(_parked_two_wheeler(r, x, zz, kind, s), x, zz))
                    z += r.uniform(5.2, 7.0)
        # moving traffic: same direction (x > 0) and oncoming (x < 0)
        n = r.poisson((z1 - z0) / 25)
        for _ in range(n):
            z = r.uniform(z0 + 8, z1)
            same = r.random() < 0.5
            if same:
                x = self.cam_x if r.random() < 0.7 else R * 0.75
            else:
                x = -R * r.uniform(0.3, 0.6)
            kind = r.choice(['car', 'truck', 'bus'], p=[0.95, 0.03, 0.02])
            v = r.uniform(6, 13) * (1 if same else -1)
            if same and abs(x - self.cam_x) < 1.5 and z < self.cam_z[0] + 8:
                continue
            self._vehicle(r, x, z, kind, vz=v if not same else v * 0.4)
        if r.random() < 0.12:   # a tram
            self._vehicle(r, -R * 0.4, r.uniform(z0 + 50, z1), 'train', vz=-r.uniform(4, 10))
        # cyclists and motorcyclists in traffic
        for _ in range(r.poisson((z1 - z0) / 100)):
            z = r.uniform(z0 + 10, z1)
            lam = 1 + 4 * self._in_crowd(z)
            for k in range(int(lam)):
                motor = r.random() < 0.3
                kind = ('scooter' if r.random() < 0.35 else 'motorcycle') if motor else 'bicycle'
                same = r.random() < 0.7
                x = (R - 0.9 - r.uniform(0, 0.6)) * (1 if same else -1)
                if motor:
                    x = r.uniform(-R * 0.8, R * 0.8)
                v = r.uniform(3, 7) if not motor else r.uniform(5, 12)
                v = (v - (self.cam_z[-1] - self.cam_z[0]) / max(1, self.n_frames) * self.fps * 0.0)
                zz = z + k * r.uniform(2, 6)
                self.items.append(Item(_rider(r, x, zz, kind, 1 if same else -1), x, zz,
                                       vel=(0.0, v if same else -v)))

    def _vehicle(self, r, x, z, kind, vz=0.0):
        # moving: the front points where it drives; parked: along that side's traffic
        facing = 1 if vz > 0 or (vz == 0 and x >= 0) else -1
        if kind == 'car':
            boxes, extra, _ = _car(r, x, z, facing=facing, cam_x=self.cam_x)
        else:
            boxes, extra, _ = _big_vehicle(r, x, z, kind, facing=facing, cam_x=self.cam_x)
        parts = boxes + extra
        # A shadow under the vehicle is image only and drawn with the vehicle.
        w = 0.85 if kind == 'car' else 1.2
        shadow = _quad_ground(x - w, x + w, z + 0.1, z + 3.0, 0.01)
        self.items.append(Item([(IMAGE_ONLY, (35, 35, 35), shadow)] + parts,
                               x, z, vel=(0.0, vz)))

    # ---- rendering
    def _texture(self, w, h):
        key = (w, h)
        if key not in self._tex_cache:
            tr = np.random.default_rng(self.seed + 1)
            # mid-frequency noise defined on a 512x256 grid, upsampled: same look at all sizes
            base = tr.normal(0, 1, (256, 512)).astype(np.float32)
            lo = tr.normal(0, 1, (16, 32)).astype(np.float32)
            tex = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR) \
                + 0.6 * cv2.resize(lo, (w, h), interpolation=cv2.INTER_CUBIC)
            self._tex_cache = {key: tex}
        return self._tex_cache[key]

    def effect_strength(self, t):
        """Return ``(blur, low_contrast)`` strengths in [0, 1] of the hard stretches at ``t``."""
        blur = contrast = 0.0
        for f0, f1, kind, amp in self.effects:
            if f0 <= t <= f1:
                ramp = min(1.0, (t - f0 + 1) / 5.0, (f1 - t + 1) / 5.0) * amp
                if kind in ('blur', 'both'):
                    blur = max(blur, ramp)
                if kind in ('contrast', 'both'):
                    contrast = max(contrast, ramp)
        return blur, contrast

    def camera(self, t):
        """Camera ``(x, height, z, yaw, pitch)`` at frame ``t``."""
        return (self.cam_x, self.cam_h, float(self.cam_z[t]), float(self.yaw[t]),
                self.pitch + float(self.bob[t]))

    def render(self, t, size):
        """Render frame ``t`` at ``size = (width, height)``; return ``(bgr, label_ids)``."""
        if not 0 <= t < self.n_frames:
            raise IndexError(f'frame {t} outside [0, {self.n_frames})')
        W, H = int(size[0]), int(size[1])
        cx, ch, cz, yaw, pitch = self.camera(t)
        f = FOCAL_PER_WIDTH * W
        cu, v0 = W / 2.0, HORIZON * H + f * pitch
        cy, sy = math.cos(yaw), math.sin(yaw)
        sec = t / self.fps
        img = np.empty((H, W, 3), np.uint8)
        lab = np.full((H, W), ID['unlabeled'], np.uint8)
        # sky gradient
        rows = np.linspace(0, 1, H, dtype=np.float32)[:, None]
        top, bot = np.array(self.sky_top, np.float32), np.array(self.sky_bottom, np.float32)
        img[:] = (top + (bot - top) * np.clip(rows / max(0.1, v0 / H), 0, 1))[:, None, :] \
            .astype(np.uint8)
        lab[:] = ID['sky']

        polys = []   # (label id or IMAGE_ONLY, colour, world points), in drawing order
        # far skyline at the end of the street
        rs = np.random.default_rng(self.seed + 7)
        zf = cz + Z_FAR
        x = -250.0
        while x < 250:
            wdt = rs.uniform(8, 30)
            hgt = rs.uniform(8, 45)
            lid = ID['building'] if rs.random() < 0.75 else ID['vegetation']
            col = _col(rs, (150, 150, 150) if lid == ID['building'] else (60, 100, 70), 30)
            polys.append((lid, col, _quad_z(x, x + wdt, 0, hgt, zf)))
            x += wdt
        for lid, col, pts in self.ground:
            pts = pts.copy()
            pts[:, 2] = np.clip(pts[:, 2], cz - 5, zf)
            if pts[:, 2].max() > pts[:, 2].min():
                polys.append((lid, col, pts))
        for lid, col, pts in self.ground_marks:
            if pts[:, 2].max() > cz - 5 and pts[:, 2].min() < cz + 120:
                pts = pts.copy()
                pts[:, 2] = np.clip(pts[:, 2], cz - 5, zf)
                polys.append((lid, col, pts))
        # visible items, painter's order (layer, then distance from the camera, far first)
        lo = np.searchsorted(self._zmax_run, cz - 5.0)
        hi = np.searchsorted(self._zmins, zf)
        vis = []
        for it in self.items[lo:hi]:
            ox, oz = it.vel[0] * sec, it.vel[1] * sec
            if it.zmax + oz < cz - 2 or it.zmin + oz > zf:
                continue
            d = math.hypot(it.x + ox - cx, max(0.0, it.zmin + oz - cz))
            vis.append((it.layer, -d, id(it), it, ox, oz))
        vis.sort(key=lambda e: (e[0], e[1], e[2]))
        shade = (1.0, 0.8, 1.15)
        for _, _, _, it, ox, oz in vis:
            off = np.array([ox, 0.0, oz])
            for part in it.parts:
                if part[0] == 'box':
                    _, lid, col, (x0, x1, y0, y1, z0, z1) = part
                    box = (x0 + ox, x1 + ox, y0, y1, z0 + oz, z1 + oz)
                    for k, face in enumerate(_box_faces(box, cx, ch)):
                        c = tuple(int(min(255, v * shade[min(k, 2)])) for v in col)
                        polys.append((lid, c, face))
                elif ox or oz:
                    polys.append((part[0], part[1], part[2] + off))
                else:
                    polys.append(part)
        # one batched projection of all vertices
        counts = np.array([len(p[2]) for p in polys])
        pts = np.concatenate([p[2] for p in polys]).astype(np.float64)
        dx = pts[:, 0] - cx
        dz = pts[:, 2] - cz
        cam = np.stack([cy * dx - sy * dz, pts[:, 1] - ch, sy * dx + cy * dz], axis=1)
        zc = np.maximum(cam[:, 2], Z_NEAR)
        uv = np.stack([cu + f * cam[:, 0] / zc, v0 - f * cam[:, 1] / zc], axis=1)
        uvi = np.round(np.clip(uv, -4e4, 4e4) * 16).astype(np.int32)
        behind = cam[:, 2] < Z_NEAR
        ends = np.cumsum(counts)
        starts = ends - counts
        any_behind = np.add.reduceat(behind.astype(np.int32), starts) > 0
        for k, (lid, col, _) in enumerate(polys):
            if any_behind[k]:
                c = _clip_near(cam[starts[k]:ends[k]])
                if c is None:
                    continue
                q = np.stack([cu + f * c[:, 0] / c[:, 2], v0 - f * c[:, 1] / c[:, 2]], 1)
                q = np.round(np.clip(q, -4e4, 4e4) * 16).astype(np.int32)
            else:
                q = uvi[starts[k]:ends[k]]
            cv2.fillPoly(img, [q], col, lineType=cv2.LINE_AA, shift=4)
            if lid != IMAGE_ONLY:
                cv2.fillPoly(lab, [q], lid, shift=4)
        # ego vehicle hood
        u = np.linspace(0, W, 33)
        vh = H * (0.885 + 0.1 * ((u - cu) / cu) ** 2)
        hood = np.concatenate([np.stack([u, vh], 1), [[W, H], [0, H]]])
        q = np.round(hood * 16).astype(np.int32)
        cv2.fillPoly(img, [q], (35, 35, 40), lineType=cv2.LINE_AA, shift=4)
        cv2.fillPoly(lab, [q], ID['ego vehicle'], shift=4)
        img = self._finish(img, lab, t, W, H, v0, f)
        return img, lab

    def _finish(self, img, lab, t, W, H, v0, f):
        """Texture, ground grain, lighting, hard-stretch effects and sensor noise."""
        tex = self._texture(W, H)
        amp = _TEX[lab]
        out = img.astype(np.float32)
        mod = 1.0 + amp * tex
        # world-fixed grain on the ground (moves with the road)
        rr = np.arange(H)
        below = rr > v0 + 1
        if below.any():
            vv = rr[below].astype(np.float32)
            z = f * self.cam_h / (vv - v0)                        # depth of each ground row
            xw = (np.arange(W, dtype=np.float32) - W / 2)[None, :] * (z[:, None] / f)
            zi = ((z + float(self.cam_z[t])) * 5).astype(np.int64) % 256
            xi = ((xw + self.cam_x) * 5).astype(np.int64) % 256
            g = self.ground_tex[zi[:, None], xi]
            flat = np.isin(lab[below], (ID['road'], ID['sidewalk'], ID['terrain'], ID['parking']))
            mod[below] += np.where(flat, 0.10 * g, 0.0)
        out *= mod[:, :, None]
        gain = float(self.gain[t])
        out *= (gain * self.tint)[None, None, :].astype(np.float32)
        blur, contrast = self.effect_strength(t)
        if contrast > 0:
            m = out.mean(axis=(0, 1), keepdims=True)
            c = 1.0 - 0.6 * contrast
            out = (out - m) * c + m * (1 - 0.25 * contrast) + 40 * contrast
        rs = np.random.default_rng(self.seed * 1000 + t)
        noise = rs.standard_normal((H, W), dtype=np.float32)
        # sensor noise of a 2048-wide camera; a smaller render is its area-average
        out += (2.0 * min(1.0, W / 2048.0) * noise)[:, :, None]
        out = np.clip(out, 0, 255).astype(np.uint8)
        # optics: a slight blur (at full resolution), and at small sizes the softness that an
        # area-average of a full-resolution frame has (matches its JPEG size)
        out = cv2.GaussianBlur(out, (0, 0), max(0.5, 0.35 * W / 1024))
        if blur > 0:
            k = int(round(blur * 0.012 * W)) | 1
            if k > 1:
                kern = np.zeros((k, k), np.float32)
                kern[k // 2, :] = 1.0 / k
                out = cv2.filter2D(out, -1, kern)
        return out


def make_scene(rng, n_frames, fps=FPS, hard=0.15, crowd_zones=None):
    """
    Return a random :class:`Scene` for ``n_frames`` frames.

    ``rng`` is a ``numpy.random.Generator`` (the only source of randomness); ``hard`` is the
    expected number of hard stretches (blur / low contrast) and crowd zones per 30 frames.
    """
    return Scene(rng, n_frames, fps=fps, hard=hard, crowd_zones=crowd_zones)
