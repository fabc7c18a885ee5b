# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The objects of the drone-view scenes (:mod:`runespoor.data.drone`): what each one looks like.

Every object is a stack of extruded convex parts (:func:`part`: a footprint polygon in metres
from height ``z0`` to ``z1``, a top and a side colour, BGR) in its local frame (``x`` forward,
``y`` left), so it reads as a top-down or oblique sprite.  :func:`sprite` gives the parts of one
object of a VisDrone class (pedestrian, people, bicycle, car, van, truck, tricycle,
awning-tricycle, bus, motor; :data:`OTHERS` for carts and small machinery), :func:`tree` and
:func:`building` the scenery; :func:`rect`, :func:`oval`, :func:`shade`, :func:`pick` and
:func:`jitter` are the shapes and colour draws the scene paints its ground with as well.
Everything random comes from the ``rng`` passed in.
"""

import math

import numpy as np

#: The VisDrone "others" class id (carts, small machinery): annotated, not scored.
OTHERS = 11

# Palettes (BGR).
CAR_COLORS = [(232, 232, 232), (196, 198, 200), (38, 38, 40), (118, 120, 122),
              (40, 45, 170), (150, 85, 30), (95, 60, 35), (70, 120, 70), (30, 160, 225),
              (150, 150, 150), (210, 215, 220), (60, 70, 90)]
CAR_WEIGHTS = [0.22, 0.14, 0.15, 0.1, 0.07, 0.06, 0.06, 0.03, 0.03, 0.06, 0.05, 0.03]
SHIRTS = [(235, 235, 235), (40, 40, 40), (170, 60, 40), (40, 40, 180), (60, 140, 60),
          (40, 160, 210), (150, 150, 150), (120, 60, 140), (90, 90, 200), (200, 160, 90)]
PANTS = [(40, 40, 45), (110, 70, 40), (90, 90, 95), (60, 50, 40), (160, 160, 165)]
VIVID = [(200, 90, 20), (40, 40, 200), (30, 170, 230), (50, 150, 50), (30, 110, 240),
         (180, 60, 150), (220, 170, 40)]
GLASS = (55, 48, 42)
GLASS2 = (85, 75, 70)
ROOFS = [(150, 150, 150), (120, 125, 130), (95, 110, 150), (70, 80, 140), (160, 140, 120),
         (110, 130, 110), (180, 180, 175), (140, 120, 100), (200, 200, 195)]
WALLS = [(170, 175, 180), (150, 160, 175), (130, 140, 160), (190, 195, 200), (120, 130, 140)]
TREE_COLORS = [(40, 95, 50), (35, 80, 45), (50, 110, 70), (45, 100, 85), (30, 70, 40)]


def rect(length, width, cx=0.0, cy=0.0, chamfer=0.0):
    """Rectangle (``length`` along local x, ``width`` along y), optionally chamfered."""
    a, b = length / 2, width / 2
    if chamfer <= 0:
        p = [(a, b), (-a, b), (-a, -b), (a, -b)]
    else:
        c = min(chamfer, 0.45 * length, 0.45 * width)
        p = [(a, b - c), (a - c, b), (-a + c, b), (-a, b - c), (-a, -b + c), (-a + c, -b),
             (a - c, -b), (a, -b + c)]
    return np.array(p, np.float64) + (cx, cy)


def oval(rx, ry, cx=0.0, cy=0.0, n=8):
    """Polygon approximating an ellipse."""
    a = np.arange(n) * (2 * math.pi / n)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)


def shade(color, k):
    return tuple(int(min(255, max(0, v * k))) for v in color)


def part(poly, z0, z1, top, side=None):
    """One extruded convex part: footprint ``poly`` from height ``z0`` to ``z1``."""
    return (np.asarray(poly, np.float64), float(z0), float(z1), tuple(int(v) for v in top),
            shade(top, 0.72) if side is None else tuple(int(v) for v in side))


def pick(rng, items, weights=None):
    if weights is None:
        return items[int(rng.integers(len(items)))]
    w = np.asarray(weights, np.float64)
    return items[int(rng.choice(len(items), p=w / w.sum()))]


def jitter(rng, color, amount=14):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def _skin(rng):
    return jitter(rng, (120, 150, 190), 20)


def _hair(rng):
    return jitter(rng, (30, 30, 35), 10)


def _person(rng, cx=0.0, cy=0.0, z=0.0, sitting=False, scale=None):
    """Standing or sitting person: legs, torso, head."""
    s = rng.uniform(1.05, 1.25) if scale is None else scale
    shirt, pants = jitter(rng, pick(rng, SHIRTS)), jitter(rng, pick(rng, PANTS))
    head = oval(0.1 * s, 0.1 * s, cx, cy, 6)
    if not sitting:
        return [part(oval(0.12 * s, 0.16 * s, cx, cy, 6), z, z + 0.8 * s, pants),
                part(oval(0.14 * s, 0.23 * s, cx, cy, 8), z + 0.8 * s, z + 1.45 * s, shirt),
                part(head, z + 1.47 * s, z + 1.7 * s, _hair(rng), _skin(rng))]
    return [part(rect(0.5 * s, 0.3 * s, cx + 0.22 * s, cy), z, z + 0.45 * s, pants),
            part(oval(0.14 * s, 0.22 * s, cx - 0.05 * s, cy, 8), z + 0.4 * s, z + 0.95 * s,
                 shirt),
            part(oval(0.1 * s, 0.1 * s, cx - 0.03 * s, cy, 6), z + 0.98 * s, z + 1.2 * s,
                 _hair(rng), _skin(rng))]


def _rider(rng, cx, z, helmet=False):
    shirt = jitter(rng, pick(rng, SHIRTS))
    top = pick(rng, VIVID + [(235, 235, 235), (30, 30, 30)]) if helmet else _hair(rng)
    return [part(oval(0.16, 0.21, cx, 0.0, 8), z, z + 0.6, shirt),
            part(oval(0.11, 0.11, cx + 0.03, 0.0, 6), z + 0.62, z + 0.86, top,
                 shade(top, 0.8) if helmet else _skin(rng))]


def sprite(cid, rng, rider=None):
    """
    Parts of one object of VisDrone class ``cid`` (1..10, or 11 for "others").

    Local frame: ``x`` forward (the heading), ``y`` left, metres.  Returns a list of
    ``(polygon, z0, z1, top_bgr, side_bgr)``.
    """
    if cid == 1:
        return _person(rng)
    if cid == 2:
        return _person(rng, sitting=True)
    if cid in (3, 10):
        motor = cid == 10
        if rider is None:
            rider = rng.random() < 0.7
        if motor:
            col = jitter(rng, pick(rng, VIVID + [(30, 30, 30), (200, 200, 200)]))
            parts = [part(rect(1.9, 0.34, chamfer=0.12), 0.25, 0.8, col),
                     part(rect(0.6, 0.28, -0.25), 0.8, 0.88, (30, 30, 30)),
                     part(rect(0.08, 0.7, 0.62), 0.95, 1.02, (40, 40, 40))]
            if rider:
                parts += _rider(rng, -0.2, 0.9, helmet=True)
        else:
            col = jitter(rng, pick(rng, [(40, 40, 40), (60, 60, 170), (160, 100, 40),
                                         (170, 170, 170), (50, 130, 50)]))
            parts = [part(rect(1.7, 0.09), 0.05, 0.72, col),
                     part(rect(0.05, 0.56, 0.58), 0.9, 0.95, (40, 40, 40))]
            if rider:
                parts += _rider(rng, -0.15, 0.85)
        return parts
    if cid == 4:
        length, width = rng.uniform(4.0, 4.9), rng.uniform(1.7, 1.9)
        col = jitter(rng, pick(rng, CAR_COLORS, CAR_WEIGHTS), 10)
        tall = rng.random() < 0.25   # SUV
        h = 0.95 if tall else 0.8
        return [part(rect(length, width, chamfer=0.4), 0.2, h, col),
                part(rect(length * 0.56, width * 0.9, -0.1, chamfer=0.25), h, h + 0.45,
                     GLASS, GLASS2),
                part(rect(length * (0.44 if tall else 0.38), width * 0.82, -0.25,
                          chamfer=0.15), h + 0.45, h + 0.55, shade(col, 1.06))]
    if cid == 5:
        length, width = rng.uniform(4.8, 5.6), rng.uniform(1.9, 2.05)
        col = jitter(rng, pick(rng, CAR_COLORS, [0.5] + [0.05] * 11), 10)
        return [part(rect(length, width, chamfer=0.3), 0.25, 1.2, col),
                part(rect(length * 0.95, width * 0.98, -length * 0.02, chamfer=0.25), 1.2,
                     1.7, GLASS, GLASS2),
                part(rect(length * 0.84, width * 0.94, -length * 0.07, chamfer=0.15), 1.7,
                     2.05, shade(col, 1.04))]
    if cid == 6:
        length, width = rng.uniform(6.5, 11.0), rng.uniform(2.3, 2.5)
        cab = jitter(rng, pick(rng, [(200, 200, 200), (40, 40, 170), (150, 90, 30),
                                     (30, 150, 220), (60, 110, 60)]))
        parts = [part(rect(2.0, width, length / 2 - 1.0, chamfer=0.25), 0.5, 2.5, cab),
                 part(rect(0.5, width * 0.9, length / 2 - 0.3), 1.6, 2.5, GLASS, GLASS2),
                 part(rect(1.6, width * 0.95, length / 2 - 1.15, chamfer=0.2), 2.5, 2.9,
                      shade(cab, 1.05))]
        cargo_len, cargo_cx = length - 2.3, -1.15
        if rng.random() < 0.55:
            box = jitter(rng, pick(rng, [(200, 200, 200), (150, 100, 40), (60, 110, 60),
                                         (40, 90, 170), (160, 160, 160)]))
            parts.append(part(rect(cargo_len, width + 0.05, cargo_cx), 0.9, 3.6, box))
        else:
            bed = jitter(rng, pick(rng, [(60, 60, 150), (140, 140, 140), (40, 100, 40)]))
            load = jitter(rng, pick(rng, [(110, 150, 180), (90, 90, 90), (60, 120, 160),
                                          (140, 140, 140)]))
            parts += [part(rect(cargo_len, width, cargo_cx), 0.9, 1.9, bed),
                      part(rect(cargo_len - 0.4, width - 0.35, cargo_cx), 1.9, 2.2, load)]
        return parts
    if cid in (7, 8):
        length, width = rng.uniform(2.6, 3.1), rng.uniform(1.1, 1.3)
        col = jitter(rng, pick(rng, [(160, 80, 30), (50, 130, 50), (40, 40, 160),
                                     (150, 150, 150), (30, 140, 200)]))
        front = length / 2
        parts = [part(rect(0.5, 0.14, front - 0.25), 0.05, 0.7, (40, 40, 40)),
                 part(rect(0.8, 0.9, front - 0.9), 0.3, 0.85, col)]
        parts += _rider(rng, front - 0.95, 0.85)
        bed_len = length - 1.35
        parts.append(part(rect(bed_len, width, -front + bed_len / 2), 0.45, 1.0, col))
        if cid == 7:
            parts.append(part(rect(bed_len - 0.2, width - 0.2, -front + bed_len / 2), 1.0,
                              1.05, jitter(rng, (90, 110, 130), 30)))
        else:
            canopy = jitter(rng, pick(rng, VIVID), 10)
            parts += [part(rect(bed_len + 0.5, width + 0.12, -front + bed_len / 2 + 0.25),
                           1.65, 1.82, canopy, shade(canopy, 0.8))]
        return parts
    if cid == 9:
        length, width = rng.uniform(9.5, 12.5), rng.uniform(2.45, 2.55)
        col = jitter(rng, pick(rng, [(60, 140, 60), (40, 40, 180), (200, 200, 200),
                                     (160, 100, 40), (40, 160, 220), (200, 150, 60)]))
        roof = pick(rng, [(225, 225, 225), shade(col, 1.08)])
        return [part(rect(length, width, chamfer=0.35), 0.3, 1.35, col),
                part(rect(length - 0.1, width + 0.02, chamfer=0.35), 1.35, 2.45, GLASS,
                     GLASS2),
                part(rect(length - 0.25, width - 0.05, chamfer=0.3), 2.45, 3.0, roof,
                     shade(col, 0.85)),
                part(rect(2.2, 1.4, rng.uniform(-length / 4, length / 4)), 3.0, 3.3,
                     (170, 170, 170))]
    if cid == OTHERS:
        if rng.random() < 0.6:   # hand cart
            wood = jitter(rng, (60, 100, 140), 20)
            return [part(rect(1.5, 0.9), 0.35, 0.75, wood),
                    part(rect(0.7, 0.06, 1.1), 0.7, 0.76, (50, 50, 50))]
        paint = jitter(rng, pick(rng, [(20, 140, 230), (30, 200, 230), (40, 90, 200)]))
        return [part(rect(3.0, 1.7, chamfer=0.2), 0.3, 1.4, paint),
                part(rect(1.0, 1.2, -0.6), 1.4, 2.4, GLASS2, paint),
                part(rect(1.2, 1.3, 1.0), 1.4, 1.6, (40, 40, 40))]
    raise ValueError(f'unknown VisDrone class {cid}')


def tree(rng, r=None):
    r = rng.uniform(1.8, 4.0) if r is None else r
    h = rng.uniform(1.6, 2.6) * r + 1.5
    col = jitter(rng, pick(rng, TREE_COLORS), 12)
    dx = rng.uniform(-0.2, 0.2) * r
    return [part(rect(0.35, 0.35), 0.0, h - 1.4 * r, (40, 60, 80)),
            part(oval(r, r * rng.uniform(0.85, 1.15), n=10), h - 1.5 * r, h, col,
                 shade(col, 0.7)),
            part(oval(0.55 * r, 0.5 * r, dx, dx, n=8), h, h + 0.05, shade(col, 1.25))]


def building(rng, length, width, height):
    roof = jitter(rng, pick(rng, ROOFS), 10)
    wall = jitter(rng, pick(rng, WALLS), 10)
    parts = [part(rect(length, width), 0.0, height, roof, shade(wall, 0.8))]
    if rng.random() < 0.6:   # parapet-free inner roof panel
        parts.append(part(rect(length - 1.0, width - 1.0), height, height + 0.05,
                          shade(roof, 0.92)))
    for _ in range(int(rng.integers(0, 4))):
        a, b = rng.uniform(1.5, 5.0), rng.uniform(1.5, 4.0)
        if a < length - 2 and b < width - 2:
            cx = rng.uniform(-(length - a) / 2 + 1, (length - a) / 2 - 1)
            cy = rng.uniform(-(width - b) / 2 + 1, (width - b) / 2 - 1)
            parts.append(part(rect(a, b, cx, cy), height, height + rng.uniform(1.0, 3.0),
                              jitter(rng, (175, 175, 170), 15)))
    return parts
