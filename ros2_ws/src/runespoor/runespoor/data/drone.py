# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Procedural drone-view detection data in the VisDrone2019-DET layout.

A :class:`DroneScene` is a patch of city in metres (``x`` east, ``y`` north, ``z`` up): a grid
of roads with lanes, bike lanes, lane markings, stop lines and zebra crossings, sidewalks with
street trees, and blocks of buildings, parking lots, plazas, parks and markets, populated with
the ten VisDrone classes (pedestrian, people, bicycle, car, van, truck, tricycle,
awning-tricycle, bus, motor) and with "others" (carts, small machinery).  Every object is a
stack of extruded convex parts (body, glass, roof, rider, canopy...) so it reads as a top-down
or oblique sprite (:mod:`.drone_objects`: what each class looks like); vehicles drive along
their lanes (one road direction queued at red lights), pedestrians walk, and the camera
drifts, pans and zooms slowly, so consecutive frames form a
smooth video at :data:`FPS`.

The camera is a pinhole whose focal length is proportional to the image width (the reference
frame is 1920 px wide), so ``render(t, (640, 360))`` and ``render(t, (1920, 1080))`` show the
same scene; annotation decisions (truncation, occlusion, ignored objects) are taken in
reference coordinates and the boxes are then scaled to the rendered size.  Everything random
comes from the seed, so a scene is a pure function of it.

:func:`generate` writes ``VisDrone2019-DET-{train,val}/{images,annotations}`` (JPEG + VisDrone
text annotations); :func:`drone_stats` measures per-class box statistics of any VisDrone-layout
split.
"""

from dataclasses import dataclass
import json
import math
import os
import time

import cv2
import numpy as np

from . import sizes
from .drone_objects import (building, jitter, OTHERS, oval, part, pick, rect, shade, sprite,
                            tree, VIVID)
from .visdrone import CATEGORIES
from ..metrics.detection import drop_in_regions

FPS = 15.0
REF_WIDTH = 1920
REF_HEIGHT = 1080
#: Focal length as a fraction of the image width (horizontal field of view about 67 deg).
FOCAL_PER_WIDTH = 0.75
#: Ground-map resolution in metres per map pixel (the map is the same at every render size).
MAP_RES = 0.12
#: Named sizes (width, height).
PRESETS = {'full': (1920, 1080), 'half': (960, 540), 'third': (640, 360)}
CLASS_ID = {name: cid for cid, name in CATEGORIES.items()}
LANE = 3.2
#: Objects smaller than this (reference px) are drawn as one blob of their main colour.
TINY_REF = 5.0
_JPEG = [int(cv2.IMWRITE_JPEG_QUALITY), 95]


def parse_size(text):
    """Parse ``'640x360'`` or a preset name (:data:`PRESETS`) into ``(width, height)``."""
    return sizes.parse_size(text, PRESETS, (16, 9))


# ------------------------------------------------------------------------------- the scene

@dataclass
class _Road:
    """A straight road: ``axis`` 0 runs along y at ``x = c``, axis 1 runs along x at ``y = c``."""

    axis: int
    c: float
    lanes: int
    bike: float
    median: float
    side: float

    @property
    def hw(self):
        """Half width of the carriageway (lanes, bike lanes, half the median)."""
        return self.lanes * LANE + self.bike + self.median / 2

    def world(self, s, o):
        """World ``(x, y)`` of road coordinates ``s`` (along) and ``o`` (to the right of +s)."""
        s, o = np.asarray(s, np.float64), np.asarray(o, np.float64)
        if self.axis == 0:
            return np.stack([self.c + o, s], -1)
        return np.stack([s, self.c - o], -1)

    def rect(self, s0, s1, o0, o1):
        """World polygon of the road-coordinate rectangle."""
        return self.world([s0, s1, s1, s0], [o0, o0, o1, o1])

    @property
    def heading(self):
        """Heading (radians) of travel towards +s."""
        return math.pi / 2 if self.axis == 0 else 0.0


@dataclass
class DroneAnnotation:
    """
    Annotation of one rendered frame, in pixels of the rendered size.

    ``boxes`` (N x 4 int: x, y, w, h), ``categories`` (N: 1..10, or 11 = others),
    ``truncation`` (N: 0 none, 1 partial), ``occlusion`` (N: 0 none, 1 partial, 2 heavy),
    ``ignore`` (M x 4 int: ignored regions, category 0).
    """

    boxes: np.ndarray
    categories: np.ndarray
    truncation: np.ndarray
    occlusion: np.ndarray
    ignore: np.ndarray


def format_annotation(ann):
    """
    Return the VisDrone annotation text of ``ann``.

    One ``x,y,w,h,score,category,truncation,occlusion`` line per box.
    Objects get score 1 (classes 1..10 and others 11), ignored regions score 0, category 0.
    """
    lines = [f'{x},{y},{w},{h},1,{c},{tr},{oc}' for (x, y, w, h), c, tr, oc in zip(
        ann.boxes.tolist(), ann.categories.tolist(), ann.truncation.tolist(),
        ann.occlusion.tolist())]
    lines += [f'{x},{y},{w},{h},0,0,0,0' for x, y, w, h in ann.ignore.tolist()]
    return ''.join(line + '\n' for line in lines)


class DroneScene:
    """
    A drone clip: city layout, objects and camera path; :meth:`render` draws frame ``t``.

    ``seed`` is an int, a sequence of ints or a ``numpy.random.Generator``; ``n_frames`` sizes
    the ground map (frames beyond it still render, with the camera path extrapolated);
    ``hard`` is the probability that the clip is a hard one (dense crowd, haze, motion blur
    or dusk).
    """

    def __init__(self, seed=0, n_frames=100, hard=0.25):
        """Build the scene of ``seed``."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.frame_seed = int(rng.integers(2 ** 31))
        self.n_frames = int(n_frames)
        self._objs = []
        self._hard(rng, hard)
        self._roads_and_camera(rng)
        self._light(rng)
        self._extent()
        self._build(rng)
        self._finalize()

    # ---------------------------------------------------------------------------- building

    def _hard(self, rng, hard):
        kinds = ('crowd', 'haze', 'blur', 'dusk')
        self.hard_kind = kinds[int(rng.integers(4))] if rng.random() < hard else None
        self.busy = rng.uniform(0.4, 1.1)

    def _roads_and_camera(self, rng):
        roads = []
        for axis in (0, 1):
            sparse = axis == 1 and rng.random() < 0.25
            first = rng.uniform(60, 200) * rng.choice([-1, 1]) if sparse else rng.uniform(-45, 45)
            cs = [first]
            while cs[-1] < 600:
                cs.append(cs[-1] + rng.uniform(75, 160) * (2.5 if sparse else 1.0))
            while cs[0] > -600:
                cs.insert(0, cs[0] - rng.uniform(75, 160) * (2.5 if sparse else 1.0))
            for c in cs:
                lanes = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
                median = float(rng.choice([0.0, 0.3, rng.uniform(1.5, 4.0)], p=[0.35, 0.4, 0.25]))
                if lanes == 1:
                    median = 0.0
                bike = rng.uniform(1.8, 2.6) if rng.random() < 0.55 else 0.0
                roads.append(_Road(axis, float(c), lanes, bike, median, rng.uniform(2.5, 5.5)))
        self.roads = roads
        self.green_axis = int(rng.integers(2))
        # Camera: focus point, yaw, pitch (90 = nadir), slant distance of the centre ray.
        firsts = []
        for axis in (0, 1):
            cs = np.array([r.c for r in roads if r.axis == axis])
            firsts.append(cs[np.argmin(np.abs(cs))])
        self.f0 = np.array(firsts) + rng.uniform(-30, 30, 2)
        self.yaw0 = rng.uniform(0, 2 * math.pi)
        if rng.random() < 0.3:
            self.pitch0 = math.pi / 2
            self.dist0 = rng.uniform(60, 125)
        else:
            self.pitch0 = math.radians(rng.uniform(40, 75))
            self.dist0 = rng.uniform(70, 150)
        speed = rng.uniform(0.0, 2.5)
        ang = rng.uniform(0, 2 * math.pi)
        self.fvel = speed * np.array([math.cos(ang), math.sin(ang)])
        self.yaw_rate = math.radians(rng.uniform(-2.0, 2.0))
        self.pitch_rate = math.radians(rng.uniform(-0.4, 0.4))
        self.zoom_rate = rng.uniform(-0.01, 0.01)
        self.wobble = rng.uniform(0.05, 0.3) * (4.0 if self.hard_kind == 'blur' else 1.0)
        self.wob_phase = rng.uniform(0, 2 * math.pi, 3)
        # Keep the far edge within about 300 m of the camera's nadir.
        fp = self._footprint(0.0, aspect=0.6)
        far = np.max(np.hypot(*(fp - self._camera(0.0)[0][:2]).T))
        if far > 300:
            self.dist0 *= 300 / far

    def _light(self, rng):
        hk = self.hard_kind
        self.gain = rng.uniform(0.85, 1.12) * (rng.uniform(0.45, 0.62) if hk == 'dusk' else 1.0)
        tint = rng.uniform(-0.06, 0.06, 3)
        if hk == 'dusk':
            tint += (0.12, 0.0, -0.1)
        self.tint = 1.0 + tint
        self.cloud = (rng.uniform(0.0, 0.12), rng.uniform(0.05, 0.3), rng.uniform(0, 6.3))
        self.sunny = rng.random() < 0.65 and hk != 'dusk'
        el, az = math.radians(rng.uniform(30, 65)), rng.uniform(0, 2 * math.pi)
        self.sun = np.array([math.cos(az), math.sin(az)]) / math.tan(el)
        self.shadow_k = rng.uniform(0.5, 0.68) if self.sunny else rng.uniform(0.8, 0.9)
        self.haze = (rng.uniform(0.55, 0.85), rng.uniform(120, 220)) if hk == 'haze' else (
            rng.uniform(0.05, 0.3), rng.uniform(250, 600))
        self.haze_color = np.array(jitter(rng, (200, 196, 190), 12), np.float32)
        self.blur_len = rng.uniform(8, 22) if hk == 'blur' else 0.0

    def _camera(self, tt, ref_h=REF_HEIGHT):
        """Camera centre, rotation (rows: right, down, forward) and focal length at time ``tt``."""
        wob = self.wobble * np.sin(np.array([1.7, 2.3, 1.1]) * tt + self.wob_phase)
        f = self.f0 + self.fvel * tt + wob[:2]
        yaw = self.yaw0 + self.yaw_rate * tt + 0.004 * wob[2]
        pitch = min(math.pi / 2, max(math.radians(38), self.pitch0 + self.pitch_rate * tt))
        dist = self.dist0 * (1 + self.zoom_rate * tt)
        alt, back = dist * math.sin(pitch), dist * math.cos(pitch)
        cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
        c = np.array([f[0] - back * cy, f[1] - back * sy, alt])
        fwd = np.array([cp * cy, cp * sy, -sp])
        right = np.array([sy, -cy, 0.0])
        down = np.cross(fwd, right)
        return c, np.stack([right, down, fwd]), FOCAL_PER_WIDTH * REF_WIDTH

    def _footprint(self, tt, aspect=REF_HEIGHT / REF_WIDTH):
        """Ground points seen at the image corners and edge midpoints (reference frame)."""
        c, rot, f = self._camera(tt)
        w, h = REF_WIDTH, REF_WIDTH * aspect
        uv = np.array([(0, 0), (w / 2, 0), (w, 0), (w, h / 2), (w, h), (w / 2, h), (0, h),
                       (0, h / 2)])
        d = np.stack([(uv[:, 0] - w / 2) / f, (uv[:, 1] - h / 2) / f, np.ones(len(uv))], 1)
        d = d @ rot
        t = c[2] / np.maximum(-d[:, 2], 1e-3)
        t = np.minimum(t, 700.0)
        return c[:2] + t[:, None] * d[:, :2]

    def _extent(self):
        t_end = max(self.n_frames - 1, 0) / FPS
        pts = np.concatenate([self._footprint(tt, 0.6) for tt in np.linspace(0, t_end, 5)])
        pts = np.concatenate([pts, [self._camera(tt)[0][:2] for tt in (0, t_end)]])
        m = 35.0
        self.ext = (pts[:, 0].min() - m, pts[:, 1].min() - m, pts[:, 0].max() + m,
                    pts[:, 1].max() + m)

    def _inside(self, xy, m=0.0):
        x0, y0, x1, y1 = self.ext
        xy = np.asarray(xy)
        return (xy[..., 0] > x0 - m) & (xy[..., 0] < x1 + m) & (xy[..., 1] > y0 - m) & (
            xy[..., 1] < y1 + m)

    def _add(self, cid, xy, heading, speed=0.0, parts=None, rng=None, nearest=False,
             rider=None):
        if parts is None:
            parts = sprite(cid, rng, rider=rider)
        self._objs.append((cid, float(xy[0]), float(xy[1]), float(heading), float(speed),
                           parts, nearest))

    def _build(self, rng):
        x0, y0, x1, y1 = self.ext
        res = max(MAP_RES, math.sqrt((x1 - x0) * (y1 - y0) / 9.0e6))
        self.res = res
        nx, ny = int(math.ceil((x1 - x0) / res)), int(math.ceil((y1 - y0) / res))
        self.map = np.empty((ny, nx, 3), np.uint8)
        self.map[:] = jitter(rng, (80, 120, 110), 12)
        self.amp = np.full((ny, nx), 90, np.uint8)
        self._pending = []   # (polys, color, amp) drawn in order
        t_end = max(self.n_frames - 1, 0) / FPS
        near = [r for r in self.roads if self._road_near(r)]
        self._blocks(rng, near)
        self._road_surfaces(rng, near)
        self._traffic(rng, near, t_end)
        self._zones(rng)
        self._paint_map(rng)

    def _road_near(self, r):
        x0, y0, x1, y1 = self.ext
        lo, hi = (x0, x1) if r.axis == 0 else (y0, y1)
        return lo - r.hw - r.side < r.c < hi + r.hw + r.side

    def _poly(self, polys, color, amp=90):
        self._pending.append(([np.asarray(p, np.float64) for p in polys], color, amp))

    def _blocks(self, rng, near):
        x0, y0, x1, y1 = self.ext
        cells = []
        for axis, lo, hi in ((0, x0, x1), (1, y0, y1)):
            rs = sorted((r for r in near if r.axis == axis), key=lambda r: r.c)
            edges = [(lo - 200, lo - 200)] + [(r.c - r.hw - r.side, r.c + r.hw + r.side)
                                              for r in rs] + [(hi + 200, hi + 200)]
            iv = [(max(a[1], lo - 5), min(b[0], hi + 5)) for a, b in zip(edges, edges[1:])]
            cells.append([(a, b) for a, b in iv if b - a > 4])
        self.block_list = []
        types = ('buildings', 'parking', 'plaza', 'park', 'market')
        weights = np.array([0.38, 0.17, 0.17, 0.16, 0.12])
        crowd_done = self.hard_kind != 'crowd'
        fx, fy = self.f0
        order = sorted(((a, b, c, d) for a, b in cells[0] for c, d in cells[1]),
                       key=lambda q: math.hypot((q[0] + q[1]) / 2 - fx, (q[2] + q[3]) / 2 - fy))
        for bx0, bx1, by0, by1 in order:
            kind = types[int(rng.choice(5, p=weights / weights.sum()))]
            if not crowd_done and (bx1 - bx0) > 20 and (by1 - by0) > 20:
                kind, crowd_done = 'crowd', True
            self.block_list.append((kind, (bx0, by0, bx1, by1)))
            getattr(self, '_block_' + ('plaza' if kind == 'crowd' else kind))(
                rng, bx0, by0, bx1, by1, crowd=kind == 'crowd')

    def _ground(self, rng, bx0, by0, bx1, by1, color, amp):
        self._poly([[(bx0, by0), (bx1, by0), (bx1, by1), (bx0, by1)]], jitter(rng, color, 10),
                   amp)

    def _scatter(self, rng, n, bx0, by0, bx1, by1, margin=1.0):
        mx, my = min(margin, 0.45 * (bx1 - bx0)), min(margin, 0.45 * (by1 - by0))
        xy = np.stack([rng.uniform(bx0 + mx, bx1 - mx, n), rng.uniform(by0 + my, by1 - my, n)],
                      1)
        return xy[self._inside(xy, 10)]

    def _walkers(self, rng, xy, sitting_share=0.0, stand_share=0.2):
        for p in xy:
            if rng.random() < sitting_share:
                self._add(2, p, rng.uniform(0, 2 * math.pi), 0.0, rng=rng)
            else:
                v = 0.0 if rng.random() < stand_share else rng.uniform(0.7, 1.6)
                self._add(1, p, rng.uniform(0, 2 * math.pi), v, rng=rng)

    def _groups(self, rng, centres):
        for c in centres:
            k = int(rng.integers(2, 6))
            ang0 = rng.uniform(0, 2 * math.pi)
            for j in range(k):
                a = ang0 + 2 * math.pi * j / k
                p = c + 0.8 * np.array([math.cos(a), math.sin(a)])
                self._add(2 if rng.random() < 0.75 else 1, p, a + math.pi, 0.0, rng=rng)

    def _parked_row(self, rng, start, direction, n, cid_choice, spacing, heading, fill=0.8):
        for j in range(n):
            if rng.random() < fill:
                cid = cid_choice() if callable(cid_choice) else cid_choice
                p = np.asarray(start) + j * spacing * np.asarray(direction)
                if self._inside(p, 5):
                    self._add(cid, p + rng.normal(0, 0.05, 2), heading + rng.normal(0, 0.05),
                              0.0, rng=rng, rider=False)

    def _block_buildings(self, rng, bx0, by0, bx1, by1, crowd=False):
        self._ground(rng, bx0, by0, bx1, by1, pick(rng, [(150, 155, 160), (95, 130, 110),
                                                         (130, 140, 150)]), 70)
        w, h = bx1 - bx0, by1 - by0
        along_x = w >= h
        n = max(1, min(4, int((w if along_x else h) / rng.uniform(25, 50))))
        cuts = np.sort(rng.uniform(0, 1, n - 1))
        edges = np.concatenate([[0.0], cuts, [1.0]])
        tall = rng.uniform(6, 30)
        for a, b in zip(edges, edges[1:]):
            if along_x:
                ux0, ux1, uy0, uy1 = bx0 + a * w, bx0 + b * w, by0, by1
            else:
                ux0, ux1, uy0, uy1 = bx0, bx1, by0 + a * h, by0 + b * h
            sb = rng.uniform(2, 7, 4)
            lx, ly = (ux1 - ux0) - sb[0] - sb[1], (uy1 - uy0) - sb[2] - sb[3]
            if lx < 6 or ly < 6:
                continue
            cx, cy = ux0 + sb[0] + lx / 2, uy0 + sb[2] + ly / 2
            if not self._inside((cx, cy), lx / 2 + ly / 2):
                continue
            height = float(np.clip(tall * rng.uniform(0.6, 1.3), 4, 45))
            self._add(0, (cx, cy), 0.0, parts=building(rng, lx, ly, height), nearest=True)
        # a few trees, parked cars and walkers around the buildings
        for p in self._scatter(rng, int(rng.integers(0, 5)), bx0, by0, bx1, by1, 2):
            self._add(0, p, 0.0, parts=tree(rng), nearest=True)
        for p in self._scatter(rng, int(rng.integers(0, 4)), bx0, by0, bx1, by1, 3):
            self._add(4 if rng.random() < 0.8 else 5, p, rng.choice([0, math.pi / 2]), 0.0,
                      rng=rng)
        self._walkers(rng, self._scatter(rng, int(rng.poisson(w * h / 900 * self.busy)), bx0,
                                         by0, bx1, by1))

    def _block_parking(self, rng, bx0, by0, bx1, by1, crowd=False):
        # the lot proper (at most about 70 x 40 m) in a paved block with a few trees
        self._ground(rng, bx0, by0, bx1, by1, (165, 170, 175), 45)
        lw, lh = min(bx1 - bx0, rng.uniform(30, 70)), min(by1 - by0, rng.uniform(20, 40))
        lx0, ly0 = rng.uniform(bx0, bx1 - lw), rng.uniform(by0, by1 - lh)
        for p in self._scatter(rng, int((bx1 - bx0) * (by1 - by0) / 600), bx0, by0, bx1, by1):
            if not (lx0 - 3 < p[0] < lx0 + lw + 3 and ly0 - 3 < p[1] < ly0 + lh + 3):
                self._add(0, p, 0.0, parts=tree(rng), nearest=True)
        bx0, by0, bx1, by1 = lx0, ly0, lx0 + lw, ly0 + lh
        self._ground(rng, bx0, by0, bx1, by1, (105, 108, 110), 60)
        fill = rng.uniform(0.4, 0.9)
        lines = []
        y = by0 + 2.0
        while y + 5.0 < by1 - 1:
            # one row of stalls facing an aisle: stalls 2.6 m wide, 5 m deep
            n = int((bx1 - bx0 - 4) / 2.6)
            for j in range(n + 1):
                x = bx0 + 2 + j * 2.6
                lines.append([(x - 0.06, y), (x + 0.06, y), (x + 0.06, y + 5), (x - 0.06, y + 5)])
            heading = math.pi / 2 if rng.random() < 0.5 else -math.pi / 2

            def kind():
                return 4 if rng.random() < 0.85 else 5
            self._parked_row(rng, (bx0 + 3.3, y + 2.5), (1, 0), n, kind, 2.6, heading, fill)
            y += 5.0 + (6.5 if (len(lines) // max(n + 1, 1)) % 2 else 0.3)
        self._poly(lines, (215, 215, 215), 20)
        self._walkers(rng, self._scatter(rng, int(rng.integers(0, 4)), bx0, by0, bx1, by1))

    def _block_plaza(self, rng, bx0, by0, bx1, by1, crowd=False):
        base = pick(rng, [(175, 180, 185), (160, 175, 195), (150, 150, 150), (185, 185, 180)])
        self._ground(rng, bx0, by0, bx1, by1, base, 45)
        tile = rng.uniform(3, 6)
        lines = [[(x, by0), (x + 0.1, by0), (x + 0.1, by1), (x, by1)]
                 for x in np.arange(bx0 + tile, bx1, tile)]
        lines += [[(bx0, y), (bx1, y), (bx1, y + 0.1), (bx0, y + 0.1)]
                  for y in np.arange(by0 + tile, by1, tile)]
        self._poly(lines, shade(base, 0.85), 20)
        area = (bx1 - bx0) * (by1 - by0)
        for p in self._scatter(rng, int(rng.integers(0, 4)), bx0, by0, bx1, by1, 4):
            r = rng.uniform(1.5, 4)
            self._add(0, p, 0.0, parts=[part(oval(r, r, n=12), 0.0, 0.6, (60, 120, 60),
                                             (120, 130, 140))], nearest=True)
        if crowd:
            n = int(min(300, area / rng.uniform(10, 20)))
            self._walkers(rng, self._scatter(rng, n, bx0, by0, bx1, by1), 0.2, 0.5)
        else:
            self._walkers(rng, self._scatter(rng, int(rng.poisson(area / 400 * self.busy)), bx0,
                                             by0, bx1, by1), 0.1)
        self._groups(rng, self._scatter(rng, int(rng.poisson(area / 2500 + 0.5)), bx0, by0,
                                        bx1, by1, 3))
        for _ in range(int(rng.integers(0, 3))):   # rows of parked bicycles / motors
            p = self._scatter(rng, 1, bx0, by0, bx1, by1, 6)
            if len(p):
                cid = 3 if rng.random() < 0.6 else 10
                self._parked_row(rng, p[0], (1, 0), int(rng.integers(4, 14)), cid, 0.75,
                                 math.pi / 2 + rng.choice([0, math.pi]), 0.85)
        for p in self._scatter(rng, int(rng.integers(0, 3)), bx0, by0, bx1, by1, 3):
            self._add(OTHERS, p, rng.uniform(0, 6.3), 0.0, rng=rng)

    def _block_park(self, rng, bx0, by0, bx1, by1, crowd=False):
        self._ground(rng, bx0, by0, bx1, by1, (70, 135, 95), 110)
        ym = rng.uniform(by0, by1)
        self._poly([[(bx0, ym - 1.5), (bx1, ym - 1.5), (bx1, ym + 1.5), (bx0, ym + 1.5)]],
                   (150, 170, 180), 40)
        area = (bx1 - bx0) * (by1 - by0)
        for p in self._scatter(rng, int(area / rng.uniform(60, 200)), bx0, by0, bx1, by1, 1):
            self._add(0, p, 0.0, parts=tree(rng), nearest=True)
        xs = rng.uniform(bx0, bx1, int(rng.poisson((bx1 - bx0) / 15 * self.busy)))
        for x in xs:
            if self._inside((x, ym), 5):
                self._add(1, (x, ym + rng.uniform(-1.2, 1.2)), rng.choice([0, math.pi]),
                          rng.uniform(0.8, 1.5), rng=rng)
        self._groups(rng, self._scatter(rng, int(rng.poisson(area / 3000 + 0.3)), bx0, by0,
                                        bx1, by1, 3))

    def _block_market(self, rng, bx0, by0, bx1, by1, crowd=False):
        self._ground(rng, bx0, by0, bx1, by1, (140, 150, 160), 60)
        area = (bx1 - bx0) * (by1 - by0)
        for p in self._scatter(rng, int(area / rng.uniform(80, 200)), bx0, by0, bx1, by1, 2):
            col = jitter(rng, pick(rng, VIVID + [(220, 220, 220)]), 10)
            a, b = rng.uniform(2.5, 4), rng.uniform(2.0, 3.0)
            self._add(0, p, rng.choice([0, math.pi / 2]), nearest=True,
                      parts=[part(rect(a, b), 2.0, 2.3, col, shade(col, 0.8))])
        for p in self._scatter(rng, int(rng.poisson(area / 250 + 1)), bx0, by0, bx1, by1, 2):
            cid = int(rng.choice([7, 8, 10, 3, OTHERS], p=[0.3, 0.3, 0.25, 0.1, 0.05]))
            v = 0.0 if rng.random() < 0.7 else rng.uniform(1, 3)
            self._add(cid, p, rng.uniform(0, 2 * math.pi), v, rng=rng, rider=v > 0)
        self._walkers(rng, self._scatter(rng, int(rng.poisson(area / 250 * self.busy)), bx0,
                                         by0, bx1, by1), 0.1)

    def _crossings(self, r, near):
        """Intervals of ``s`` where road ``r`` crosses the roads of the other axis."""
        return sorted((q.c - q.hw - q.side, q.c + q.hw + q.side, q) for q in near
                      if q.axis != r.axis)

    def _road_surfaces(self, rng, near):
        x0, y0, x1, y1 = self.ext
        asphalt = jitter(rng, (92, 92, 95), 10)
        walk = jitter(rng, pick(rng, [(175, 178, 180), (160, 170, 185), (150, 155, 160)]), 8)
        for r in near:
            lo, hi = ((y0, y1) if r.axis == 0 else (x0, x1))
            lo, hi = lo - 50, hi + 50
            hw = r.hw
            self._poly([r.rect(lo, hi, hw, hw + r.side), r.rect(lo, hi, -hw - r.side, -hw)],
                       walk, 45)
            self._poly([r.rect(lo, hi, hw - 0.15, hw + 0.25),
                        r.rect(lo, hi, -hw - 0.25, -hw + 0.15)], shade(walk, 1.15), 10)
        for r in near:
            lo, hi = ((y0, y1) if r.axis == 0 else (x0, x1))
            self._poly([r.rect(lo - 50, hi + 50, -r.hw, r.hw)], asphalt, 35)
        white, yellow = (225, 225, 225), (40, 190, 220)
        for r in near:
            lo, hi = ((y0, y1) if r.axis == 0 else (x0, x1))
            lo, hi = lo - 50, hi + 50
            segs, s = [], lo
            for a, b, q in self._crossings(r, near):
                if b > lo and a < hi:
                    segs.append((s, a))
                    s = b
                    # zebra across r on the crossing sidewalk bands
                    for za, zb in ((a + 0.4, q.c - q.hw - 0.4), (q.c + q.hw + 0.4, b - 0.4)):
                        stripes = [r.rect(za, zb, o, o + 0.5)
                                   for o in np.arange(-r.hw + 0.3, r.hw - 0.5, 1.0)]
                        self._poly(stripes, white, 10)
            segs.append((s, hi))
            wide = r.median > 1.0
            for sa, sb in segs:
                if sb - sa < 4:
                    continue
                marks = []
                m2 = r.median / 2
                if wide:
                    self._poly([r.rect(sa, sb, -m2, m2)], (80, 130, 90), 90)
                    k = int(rng.integers(0, 2))
                    for s_t in np.arange(sa + 4, sb - 4, rng.uniform(8, 14)):
                        if k:
                            self._add(0, r.world(s_t, 0.0), 0.0, nearest=True,
                                      parts=tree(rng, min(m2 + 0.8, 2.5)))
                elif r.median > 0:
                    marks += [r.rect(sa, sb, -0.25, -0.1), r.rect(sa, sb, 0.1, 0.25)]
                else:
                    marks += self._dashes(r, sa, sb, 0.0, 3.0, 6.0)
                for sign in (-1, 1):
                    for k in range(1, r.lanes):
                        marks += self._dashes(r, sa, sb, sign * (m2 + k * LANE), 3.0, 6.0)
                    if r.bike > 0:
                        o = sign * (m2 + r.lanes * LANE)
                        marks.append(r.rect(sa, sb, o - 0.08, o + 0.08))
                # stop lines before the crossings (right-hand traffic)
                marks.append(r.rect(sb - 1.4, sb - 1.0, m2, r.hw))
                marks.append(r.rect(sa + 1.0, sa + 1.4, -r.hw, -m2))
                self._poly(marks, white, 15)
                if 0 < r.median <= 1.0:
                    self._poly([r.rect(sa, sb, -0.25, -0.1), r.rect(sa, sb, 0.1, 0.25)], yellow,
                               15)
            # street trees on the sidewalks
            if rng.random() < 0.6:
                step = rng.uniform(7, 13)
                rad = rng.uniform(2.0, 3.5)
                for sign in (-1, 1):
                    o = sign * (r.hw + r.side * 0.6)
                    for s_t in np.arange(lo + rng.uniform(0, step), hi, step):
                        p = r.world(s_t, o)
                        if self._inside(p, 5) and not any(a < s_t < b for a, b, _ in
                                                          self._crossings(r, near)):
                            self._add(0, p, 0.0, parts=tree(rng, rad * rng.uniform(0.8, 1.2)),
                                      nearest=True)

    def _dashes(self, r, sa, sb, o, dash, gap):
        return [r.rect(s, min(s + dash, sb), o - 0.08, o + 0.08)
                for s in np.arange(sa + 1.0, sb - 1.0, dash + gap)]

    def _traffic(self, rng, near, t_end):
        x0, y0, x1, y1 = self.ext
        busy = self.busy
        for r in near:
            lo, hi = ((y0, y1) if r.axis == 0 else (x0, x1))
            crossings = self._crossings(r, near)
            moving = r.axis == self.green_axis
            m2 = r.median / 2
            for sign in (1, -1):
                heading = r.heading if sign > 0 else r.heading + math.pi
                for k in range(r.lanes):
                    o = sign * (m2 + (k + 0.5) * LANE)
                    if moving:
                        v = rng.uniform(5, 13) if rng.random() < 0.85 else rng.uniform(0.5, 3)
                        gap_mean = rng.uniform(8, 35) / busy
                        ahead = v * t_end + 20
                        s_lo, s_hi = (lo - ahead, hi + 20) if sign > 0 else (lo - 20, hi + ahead)
                        self._lane(rng, r, o, heading, v, s_lo, s_hi, gap_mean,
                                   k == r.lanes - 1 and r.bike == 0)
                    else:
                        for a, b, q in crossings:
                            stop = a - 1.5 if sign > 0 else b + 1.5
                            n = int(rng.poisson(3.0 * busy))
                            self._queue(rng, r, o, sign, heading, stop, n)
                if r.bike > 0:
                    o = sign * (m2 + r.lanes * LANE + r.bike / 2)
                    n = int(rng.poisson((hi - lo) / 25 * busy))
                    for s in rng.uniform(lo - 40, hi + 40, n):
                        cid = int(rng.choice([10, 3, 7, 8], p=[0.5, 0.3, 0.12, 0.08]))
                        v = rng.uniform(2.5, 7) if rng.random() < 0.8 else 0.0
                        p = r.world(s, o + rng.uniform(-0.4, 0.4))
                        if self._inside(p, 40):
                            self._add(cid, p, heading, v, rng=rng, rider=v > 0 or None)
                # pedestrians on the sidewalk of this side
                ow = sign * (r.hw + 0.4)
                n = int(rng.poisson((hi - lo) / 28 * busy))
                for s in rng.uniform(lo, hi, n):
                    p = r.world(s, ow + sign * rng.uniform(0, r.side - 0.8))
                    if not self._inside(p, 5):
                        continue
                    u = rng.random()
                    if u < 0.06:
                        self._add(OTHERS, p, heading, 0.0, rng=rng)
                    elif u < 0.14:
                        self._add(int(rng.choice([10, 3])), p, heading + math.pi / 2, 0.0,
                                  rng=rng, rider=False)
                    else:
                        v = 0.0 if rng.random() < 0.2 else rng.uniform(0.8, 1.6)
                        self._add(1, p, heading + (0 if rng.random() < 0.5 else math.pi), v,
                                  rng=rng)
            if not moving:   # pedestrians crossing this (stopped) road on its zebras
                for a, b, q in crossings:
                    for za, zb in ((a, q.c - q.hw), (q.c + q.hw, b)):
                        for _ in range(int(rng.poisson(1.5 * busy))):
                            o = rng.uniform(-r.hw, r.hw)
                            p = r.world(rng.uniform(za, zb), o)
                            if self._inside(p, 5):
                                hd = r.heading + (math.pi / 2 if rng.random() < 0.5
                                                  else -math.pi / 2)
                                self._add(1, p, hd, rng.uniform(0.9, 1.5), rng=rng)

    def _vehicle_class(self, rng, outer):
        p = [0.6, 0.14, 0.08, 0.06, 0.07, 0.03, 0.02] if outer else [
            0.66, 0.15, 0.09, 0.07, 0.03, 0.0, 0.0]
        return int(rng.choice([4, 5, 6, 9, 10, 7, 8], p=p))

    def _lane(self, rng, r, o, heading, v, s_lo, s_hi, gap_mean, outer):
        """Vehicles of one lane, bumper to bumper gaps, between ``s_lo`` and ``s_hi``."""
        s = s_lo + rng.uniform(0, gap_mean)
        while s < s_hi:
            cid = self._vehicle_class(rng, outer)
            parts = sprite(cid, rng, rider=True)
            length = self._length(parts)
            p = r.world(s + length / 2, o + rng.normal(0, 0.15))
            self._add(cid, p, heading + rng.normal(0, 0.01), v * rng.uniform(0.97, 1.0),
                      parts=parts)
            s += length + 2.0 + rng.exponential(gap_mean)

    def _queue(self, rng, r, o, sign, heading, stop, n):
        s = stop
        for _ in range(n):
            cid = self._vehicle_class(rng, False)
            parts = sprite(cid, rng, rider=True)
            length = self._length(parts)
            centre = s - sign * length / 2
            p = r.world(centre, o + rng.normal(0, 0.12))
            if self._inside(p, 20):
                self._add(cid, p, heading + rng.normal(0, 0.015), 0.0, parts=parts)
            s -= sign * (length + rng.uniform(1.2, 3.0))

    @staticmethod
    def _length(parts):
        xs = np.concatenate([p[0][:, 0] for p in parts])
        return float(xs.max() - xs.min())

    def _zones(self, rng):
        """Ignored zones (world rectangles): a far dense crowd or a blurred patch."""
        self.zones = []
        fp = self._footprint(0.0)
        n = int(rng.choice([0, 1, 2], p=[0.55, 0.35, 0.1]))
        for _ in range(n):
            blur = rng.random() < 0.35
            if self.pitch0 < math.radians(80) and not blur:
                # towards the far edge of the view (objects tiny there)
                a = fp[int(rng.integers(0, 3))]
                b = fp[5]
                w = rng.uniform(0.05, 0.3)
                centre = a * (1 - w) + b * w
            else:
                centre = fp[5] + (fp[1] - fp[5]) * rng.uniform(0.2, 0.8) + rng.normal(0, 15, 2)
            half = rng.uniform(6, 16, 2)
            zone = (centre[0] - half[0], centre[1] - half[1], centre[0] + half[0],
                    centre[1] + half[1])
            self.zones.append((zone, blur))
            if not blur:
                n_people = int(half[0] * half[1] * 4 / rng.uniform(5, 12))
                xy = self._scatter(rng, n_people, *zone)
                self._walkers(rng, xy, 0.2, 0.5)
                for p in self._scatter(rng, int(rng.integers(0, 10)), *zone):
                    self._add(int(rng.choice([3, 10])), p, rng.uniform(0, 6.3), 0.0, rng=rng)

    def _paint_map(self, rng):
        x0, y0, x1, y1 = self.ext
        res = self.res
        for polys, color, amp in self._pending:
            pts = [np.round(np.stack([(p[:, 0] - x0) / res, (y1 - p[:, 1]) / res], 1) * 8)
                   .astype(np.int32) for p in polys]
            if not pts:
                continue
            for q in pts:   # one at a time: fillPoly XORs overlapping polygons
                cv2.fillPoly(self.map, [q], color, cv2.LINE_8, 3)
                cv2.fillPoly(self.amp, [q], int(amp), cv2.LINE_8, 3)
        del self._pending
        ny, nx = self.amp.shape
        coarse = cv2.resize(rng.standard_normal((ny // 24 + 2, nx // 24 + 2), np.float32),
                            (nx, ny), interpolation=cv2.INTER_LINEAR)
        fine = rng.standard_normal((ny, nx), np.float32)
        tex = (coarse * 0.9 + fine * 0.5) * (self.amp.astype(np.float32) * (30.0 / 255))
        tint = cv2.resize(rng.standard_normal((ny // 64 + 2, nx // 64 + 2, 3), np.float32),
                          (nx, ny), interpolation=cv2.INTER_LINEAR) * 5.0
        m = self.map.astype(np.float32)
        m += tex[..., None]
        m += tint
        self.map = np.clip(m, 0, 255).astype(np.uint8)
        del self.amp
        self._mips = [self.map]

    def _finalize(self):
        """Pack all objects into flat arrays for vectorised per-frame work."""
        objs = self._objs
        n = len(objs)
        self.o_cat = np.array([o[0] for o in objs], np.int64)
        self.o_pos0 = np.array([(o[1], o[2]) for o in objs], np.float64).reshape(n, 2)
        hd = np.array([o[3] for o in objs], np.float64)
        self.o_dir = np.stack([np.cos(hd), np.sin(hd)], 1)
        self.o_speed = np.array([o[4] for o in objs], np.float64)
        self.o_nearest = np.array([o[6] for o in objs], bool)
        pts, p_obj, p_part = [], [], []
        part_start, part_obj, part_z, top_col, side_col, o_part_start = [], [], [], [], [], []
        o_pt_start, o_color = [], []
        npt = npart = 0
        for i, (_, _, _, h, _, parts, _) in enumerate(objs):
            c, s = math.cos(h), math.sin(h)
            rot = np.array([[c, s], [-s, c]])
            o_pt_start.append(npt)
            o_part_start.append(npart)
            big = max(parts, key=lambda q: np.ptp(q[0][:, 0]) * np.ptp(q[0][:, 1]))
            o_color.append(big[3])
            for poly, z0, z1, top, side in parts:
                pts.append(poly @ rot)
                p_obj.append(np.full(len(poly), i))
                p_part.append(np.full(len(poly), npart))
                part_start.append(npt)
                part_obj.append(i)
                part_z.append((z0, z1))
                top_col.append(top)
                side_col.append(side)
                npt += len(poly)
                npart += 1
        self.p_off = np.concatenate(pts) if pts else np.zeros((0, 2))
        self.p_obj = np.concatenate(p_obj).astype(np.int64) if pts else np.zeros(0, np.int64)
        p_part = np.concatenate(p_part).astype(np.int64) if pts else np.zeros(0, np.int64)
        self.part_start = np.array(part_start + [npt], np.int64)
        self.part_obj = np.array(part_obj, np.int64)
        part_z = np.array(part_z, np.float64).reshape(-1, 2)
        self.part_z = part_z
        self.p_z0, self.p_z1 = part_z[p_part, 0], part_z[p_part, 1]
        self.top_col, self.side_col = top_col, side_col
        self.o_pt_start = np.array(o_pt_start, np.int64)
        self.o_part_start = np.array(o_part_start + [npart], np.int64)
        self.o_color = o_color
        del self._objs

    # ----------------------------------------------------------------------------- rendering

    def camera(self, t, size=(REF_WIDTH, REF_HEIGHT)):
        """Camera centre (m), rotation (rows: right, down, forward) and focal length (px)."""
        w, h = parse_size(size)
        c, rot, f = self._camera(t / FPS)
        return c, rot, f * w / REF_WIDTH

    def _map_level(self, level):
        while len(self._mips) <= level:
            self._mips.append(cv2.pyrDown(self._mips[-1]))
        return self._mips[level]

    def object_positions(self, t):
        """World ``(x, y)`` of every object at frame ``t``."""
        return self.o_pos0 + (self.o_speed * (t / FPS))[:, None] * self.o_dir

    def render(self, t, size=(640, 360)):
        """
        Render frame ``t`` at ``size`` (``(W, H)`` or a string for :func:`parse_size`).

        Returns ``(image, annotation)``: BGR uint8 ``H x W x 3`` and a
        :class:`DroneAnnotation` in pixels of that size.
        """
        w_img, h_img = parse_size(size)
        s = w_img / REF_WIDTH
        ref_h = h_img / s
        tt = t / FPS
        c, rot, f = self._camera(tt)
        cx, cy = REF_WIDTH / 2, ref_h / 2
        k_ref = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
        # ground: homography map pixel -> world plane -> reference image -> rendered image
        x0, y0, x1, y1 = self.ext
        img_px_per_m = f * s / self.dist0
        level = 0
        while level < 3 and img_px_per_m * self.res * (2 ** (level + 1)) < 0.75:
            level += 1
        res = self.res * 2 ** level
        gmap = self._map_level(level)
        a = np.array([[res, 0, x0], [0, -res, y1], [0, 0, 1]])   # map pixel -> world
        plane = np.array([[1, 0, -c[0]], [0, 1, -c[1]], [0, 0, -c[2]]])
        scale = np.diag([s, s, 1.0])
        hm = scale @ k_ref @ rot @ plane @ a
        img = cv2.warpPerspective(gmap, hm, (w_img, h_img), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)

        # objects: world points, projections, visibility
        pos = self.object_positions(t)
        pw = pos[self.p_obj] + self.p_off
        if len(pw) == 0:
            return self._finish(img, t, s, ref_h, c, rot, f, [], None, {})

        def project(x, y, z):
            q = (np.stack([x - c[0], y - c[1], z - c[2]], 1)) @ rot.T
            zc = q[:, 2]
            zs = np.maximum(zc, 1e-3)
            return np.stack([cx + f * q[:, 0] / zs, cy + f * q[:, 1] / zs], 1), zc

        uv_b, zb = project(pw[:, 0], pw[:, 1], self.p_z0)
        uv_t, zt = project(pw[:, 0], pw[:, 1], self.p_z1)
        st = self.o_pt_start
        umin = np.minimum.reduceat(np.minimum(uv_b[:, 0], uv_t[:, 0]), st)
        umax = np.maximum.reduceat(np.maximum(uv_b[:, 0], uv_t[:, 0]), st)
        vmin = np.minimum.reduceat(np.minimum(uv_b[:, 1], uv_t[:, 1]), st)
        vmax = np.maximum.reduceat(np.maximum(uv_b[:, 1], uv_t[:, 1]), st)
        zmin = np.minimum.reduceat(np.minimum(zb, zt), st)
        vis = (zmin > 1.0) & (umax > -1) & (umin < REF_WIDTH + 1) & (vmax > -1) & (
            vmin < ref_h + 1)
        # painter's order: far to near by ground distance from the camera's nadir
        dg = np.hypot(pw[:, 0] - c[0], pw[:, 1] - c[1])
        key = np.where(self.o_nearest, np.minimum.reduceat(dg, st),
                       np.hypot(pos[:, 0] - c[0], pos[:, 1] - c[1]))
        idx = np.flatnonzero(vis)
        order = idx[np.argsort(-key[idx], kind='stable')]

        # shadows (on the ground only)
        sun = self.sun
        sb = np.stack([pw[:, 0] + self.p_z0 * sun[0], pw[:, 1] + self.p_z0 * sun[1]], 1)
        stp = np.stack([pw[:, 0] + self.p_z1 * sun[0], pw[:, 1] + self.p_z1 * sun[1]], 1)
        zeros = np.zeros(len(pw))
        sh_b, szb = project(sb[:, 0], sb[:, 1], zeros)
        sh_t, szt = project(stp[:, 0], stp[:, 1], zeros)
        sumin = np.minimum.reduceat(np.minimum(sh_b[:, 0], sh_t[:, 0]), st)
        sumax = np.maximum.reduceat(np.maximum(sh_b[:, 0], sh_t[:, 0]), st)
        svmin = np.minimum.reduceat(np.minimum(sh_b[:, 1], sh_t[:, 1]), st)
        svmax = np.maximum.reduceat(np.maximum(sh_b[:, 1], sh_t[:, 1]), st)
        szmin = np.minimum.reduceat(np.minimum(szb, szt), st)
        svis = np.flatnonzero((szmin > 1.0) & (sumax > -1) & (sumin < REF_WIDTH + 1)
                              & (svmax > -1) & (svmin < ref_h + 1))
        mask = np.zeros((h_img, w_img), np.uint8)
        fix = 16.0 * s
        if len(svis):
            ps, pe = self.o_pt_start[svis], np.append(self.o_pt_start, len(pw))[svis + 1]
            for a0, a1 in zip(ps.tolist(), pe.tolist()):
                hull = cv2.convexHull(np.concatenate([sh_b[a0:a1], sh_t[a0:a1]]).astype(
                    np.float32))
                cv2.fillPoly(mask, [np.round(hull * fix).astype(np.int32)], 255, cv2.LINE_8, 4)
            dark = cv2.convertScaleAbs(img, alpha=self.shadow_k)
            np.copyto(img, dark, where=mask[..., None] > 0)

        # objects, far to near; objects under TINY_REF reference px are one blob
        hulls = {}
        aa = cv2.LINE_AA
        for o in order:
            p0, p1 = self.o_part_start[o], self.o_part_start[o + 1]
            if max(umax[o] - umin[o], vmax[o] - vmin[o]) < TINY_REF:
                a0, a1 = self.part_start[p0], self.part_start[p1]
                hull = cv2.convexHull(np.concatenate([uv_b[a0:a1], uv_t[a0:a1]]).astype(
                    np.float32))
                cv2.fillPoly(img, [np.round(hull * fix).astype(np.int32)], self.o_color[o],
                             aa, 4)
                hulls[o] = [hull.reshape(-1, 2)]
                continue
            hs = []
            for p in range(p0, p1):
                a0, a1 = self.part_start[p], self.part_start[p + 1]
                top = uv_t[a0:a1]
                hull = cv2.convexHull(np.concatenate([uv_b[a0:a1], top]).astype(np.float32))
                cv2.fillPoly(img, [np.round(hull * fix).astype(np.int32)], self.side_col[p],
                             aa, 4)
                cv2.fillPoly(img, [np.round(top * fix).astype(np.int32)], self.top_col[p], aa,
                             4)
                hs.append(hull.reshape(-1, 2))
            hulls[o] = hs
        boxes = np.stack([umin, vmin, umax, vmax], 1)
        return self._finish(img, t, s, ref_h, c, rot, f, order, boxes, hulls)

    def _occluded_share(self, o, box, later, hulls):
        """Share of object ``o``'s silhouette covered by the objects ``later`` (reference px)."""
        x0, y0, x1, y1 = box
        k = float(np.clip(40.0 / max(x1 - x0, y1 - y0, 1e-3), 0.25, 8.0))
        wp, hp = int(math.ceil((x1 - x0) * k)) + 2, int(math.ceil((y1 - y0) * k)) + 2
        own = np.zeros((hp, wp), np.uint8)
        occ = np.zeros((hp, wp), np.uint8)
        off = np.array([x0, y0])

        def pts(hs):
            return [np.round((h - off) * k * 16).astype(np.int32) for h in hs]
        for poly in pts(hulls[o]):   # one call per polygon: fillPoly XORs overlapping ones
            cv2.fillPoly(own, [poly], 1, cv2.LINE_8, 4)
        for q in later:
            for poly in pts(hulls[q]):
                cv2.fillPoly(occ, [poly], 1, cv2.LINE_8, 4)
        area = int(own.sum())
        if area == 0:
            return 0.0
        return float((own & occ).sum()) / area

    def _finish(self, img, t, s, ref_h, c, rot, f, order, boxes, hulls):
        h_img, w_img = img.shape[:2]
        # ignored zones -> image boxes (reference px)
        ign = []
        for (zx0, zy0, zx1, zy1), blur in self.zones:
            corners = np.array([(zx0, zy0, 0), (zx1, zy0, 0), (zx1, zy1, 0), (zx0, zy1, 0)])
            q = (corners - c) @ rot.T
            if np.any(q[:, 2] < 1):
                continue
            u = REF_WIDTH / 2 + f * q[:, 0] / q[:, 2]
            v = ref_h / 2 + f * q[:, 1] / q[:, 2]
            b = (max(u.min(), 0), max(v.min(), 0), min(u.max(), REF_WIDTH), min(v.max(), ref_h))
            if b[2] - b[0] < 4 or b[3] - b[1] < 4:
                continue
            ign.append(b)
            if blur:
                bx = [int(round(b[0] * s)), int(round(b[1] * s)), int(round(b[2] * s)),
                      int(round(b[3] * s))]
                roi = img[bx[1]:bx[3], bx[0]:bx[2]]
                if roi.size:
                    sig = max(1.0, 7.0 * s)
                    img[bx[1]:bx[3], bx[0]:bx[2]] = cv2.GaussianBlur(roi, (0, 0), sig)
        # annotations, decided in reference pixels
        cand, extra_ign = [], []
        for o in sorted(o for o in order if self.o_cat[o] > 0):
            x0, y0, x1, y1 = boxes[o]
            area = (x1 - x0) * (y1 - y0)
            bx = (max(x0, 0.0), max(y0, 0.0), min(x1, REF_WIDTH), min(y1, ref_h))
            if bx[2] - bx[0] < 2 or bx[3] - bx[1] < 2 or area <= 0:
                continue
            inside = (bx[2] - bx[0]) * (bx[3] - bx[1]) / area
            if inside >= 0.5:
                cand.append((o, bx, inside))
            elif min(bx[2] - bx[0], bx[3] - bx[1]) >= 12:
                extra_ign.append(bx)   # mostly outside the frame: ignore a sizeable rest
        ign += extra_ign
        keep = drop_in_regions(_xywh([bx for _, bx, _ in cand]), _xywh(ign), union=False)
        objs = []
        pos_in_order = {o: k for k, o in enumerate(order)}
        for (o, bx, inside), kept in zip(cand, keep):
            if not kept:
                continue
            x0, y0, x1, y1 = boxes[o]
            later = [q for q in order[pos_in_order[o] + 1:] if boxes[q][0] < x1
                     and boxes[q][2] > x0 and boxes[q][1] < y1 and boxes[q][3] > y0]
            share = self._occluded_share(o, boxes[o], later, hulls) if later else 0.0
            if share >= 0.95:
                continue
            occ = 0 if share < 0.03 else (1 if share <= 0.5 else 2)
            objs.append((bx, int(self.o_cat[o]), int(inside < 0.97), occ))
        img = self._effects(img, t, s, ref_h, c, rot, f)

        def to_px(b):
            x0, y0 = int(round(b[0] * s)), int(round(b[1] * s))
            x1, y1 = int(round(b[2] * s)), int(round(b[3] * s))
            x0, y0 = min(x0, w_img - 1), min(y0, h_img - 1)
            return (x0, y0, max(1, min(x1, w_img) - x0), max(1, min(y1, h_img) - y0))
        ann = DroneAnnotation(
            np.array([to_px(b) for b, _, _, _ in objs], np.int64).reshape(-1, 4),
            np.array([cat for _, cat, _, _ in objs], np.int64),
            np.array([tr for _, _, tr, _ in objs], np.int64),
            np.array([oc for _, _, _, oc in objs], np.int64),
            np.array([to_px(b) for b in ign], np.int64).reshape(-1, 4))
        return img, ann

    def _effects(self, img, t, s, ref_h, c, rot, f):
        h_img, w_img = img.shape[:2]
        tt = t / FPS
        # haze and lighting: out = img * A(row) + B(row)
        v = (np.arange(h_img) + 0.5) / s
        d = np.stack([np.zeros(h_img), (v - ref_h / 2) / f, np.ones(h_img)], 1) @ rot
        dist = np.where(d[:, 2] < -1e-3, c[2] / np.maximum(-d[:, 2], 1e-3), 1e4)
        dist = dist * np.linalg.norm(d, axis=1)
        h0, dh = self.haze
        wgt = h0 * (1 - np.exp(-dist / dh))
        amp, period, ph = self.cloud
        gain = self.gain * (1 + amp * math.sin(2 * math.pi * tt * period + ph))
        a = ((1 - wgt)[:, None] * (gain * self.tint)[None, :]).astype(np.float32)
        b = (wgt[:, None] * (self.haze_color * gain * self.tint)[None, :]).astype(np.float32)
        out = img.astype(np.float32)
        out *= a[:, None, :]
        out += b[:, None, :]
        img = np.clip(out, 0, 255).astype(np.uint8)
        if self.blur_len > 0:
            length = self.blur_len * s * (0.5 + 0.5 * abs(math.sin(0.9 * tt + 1.3)))
            if length >= 1.5:
                n = int(math.ceil(length)) | 1
                ker = np.zeros((n, n), np.float32)
                ang = self.yaw0 + 0.7 * math.sin(0.5 * tt)
                for q in np.linspace(-length / 2, length / 2, 2 * n):
                    ker[int(round(n // 2 + q * math.sin(ang))),
                        int(round(n // 2 + q * math.cos(ang)))] += 1
                img = cv2.filter2D(img, -1, ker / ker.sum())
        # sensor noise, deterministic per frame
        rng = np.random.default_rng([self.frame_seed, int(t)])
        noise = rng.integers(-3, 4, (h_img // 4 + 1, w_img // 4 + 1, 1), dtype=np.int16)
        noise = cv2.resize(noise.astype(np.float32), (w_img, h_img),
                           interpolation=cv2.INTER_NEAREST).astype(np.int16)
        return np.clip(img.astype(np.int16) + noise[..., None], 0, 255).astype(np.uint8)


def _xywh(b):
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


# -------------------------------------------------------------------------------- writing

def scene_seed(seed, split, clip):
    """Seed sequence of clip ``clip`` of ``split`` (independent per clip)."""
    return [int(seed), {'train': 1, 'val': 2}[split], int(clip)]


def make_scene(seed, split, clip, n_frames, hard=0.25):
    """Return the :class:`DroneScene` of clip ``clip`` of ``split``."""
    return DroneScene(np.random.default_rng(scene_seed(seed, split, clip)), n_frames, hard)


def clip_name(split, clip, frame):
    """File stem of ``frame`` of ``clip``: ``uav<id>_<frame+1>``; sorted order = stream order."""
    base = 1 if split == 'val' else 1001
    return f'uav{base + clip:04d}_{frame + 1:07d}'


def generate(out, size='640x360', seed=0, n_train=300, n_val=100, clip_frames=50,
             train_clip_frames=15, train_stride=3, hard=0.25, quality=95, progress=None):
    """
    Write a synthetic VisDrone2019-DET data set under ``out``; return a summary dict.

    ``out/VisDrone2019-DET-{train,val}/{images,annotations}``: JPEG (``quality``) images and
    VisDrone annotation files.  The val split is ``n_val`` frames of consecutive clip frames
    (clips of ``clip_frames`` frames, named ``uav0001_0000001`` ... so that sorted order is
    stream order); the train split takes every ``train_stride``-th frame of independent clips
    (``train_clip_frames`` frames per clip, names from ``uav1001_...``).  ``hard`` is the share
    of hard clips.  ``progress`` (optional) is called with ``(done, total)``.  The summary holds
    the counts, the objects per frame and the rendering speed (frames/s).
    """
    size = parse_size(size)
    out = os.fspath(out)
    jpeg = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
    plan = []
    for split, n, per_clip, stride in (('train', n_train, train_clip_frames, train_stride),
                                       ('val', n_val, clip_frames, 1)):
        per_clip = max(1, int(per_clip))
        for k in range(int(math.ceil(n / per_clip)) if n > 0 else 0):
            m = min(per_clip, n - k * per_clip)
            plan.append((split, k, [j * stride for j in range(m)]))
    total = sum(len(fr) for _, _, fr in plan)
    done, n_boxes, n_ignore = 0, 0, 0
    per_class = dict.fromkeys(list(CATEGORIES) + [OTHERS], 0)
    t_scene = t_render = t_write = 0.0
    t0 = time.perf_counter()
    for split, k, frames in plan:
        root = os.path.join(out, f'VisDrone2019-DET-{split}')
        idir, adir = os.path.join(root, 'images'), os.path.join(root, 'annotations')
        os.makedirs(idir, exist_ok=True)
        os.makedirs(adir, exist_ok=True)
        a = time.perf_counter()
        scene = make_scene(seed, split, k, frames[-1] + 1, hard)
        t_scene += time.perf_counter() - a
        for fr in frames:
            a = time.perf_counter()
            img, ann = scene.render(fr, size)
            b = time.perf_counter()
            name = clip_name(split, k, fr)
            path = os.path.join(idir, name + '.jpg')
            if not cv2.imwrite(path, img, jpeg):
                raise OSError(f'{path}: could not write JPEG')
            with open(os.path.join(adir, name + '.txt'), 'w') as fh:
                fh.write(format_annotation(ann))
            t_render += b - a
            t_write += time.perf_counter() - b
            n_boxes += int(np.sum(ann.categories != OTHERS))
            n_ignore += len(ann.ignore)
            for cat in ann.categories.tolist():
                per_class[cat] += 1
            done += 1
            if progress is not None:
                progress(done, total)
    wall = time.perf_counter() - t0
    summary = {
        'generator': 'runespoor.data.drone', 'size': list(size), 'seed': int(seed),
        'n_train': int(n_train), 'n_val': int(n_val), 'clip_frames': int(clip_frames),
        'train_clip_frames': int(train_clip_frames), 'train_stride': int(train_stride),
        'hard': float(hard), 'fps': FPS, 'quality': int(quality), 'frames': total,
        'clips': len(plan), 'boxes_per_frame': n_boxes / total if total else 0.0,
        'ignore_regions_per_frame': n_ignore / total if total else 0.0,
        'boxes_per_class': {CATEGORIES.get(c, 'others'): v for c, v in per_class.items()},
        'scene_build_s': t_scene,
        'render_fps': total / t_render if t_render else None,
        'render_and_write_fps': total / (t_render + t_write) if t_render else None,
        'overall_fps': total / wall if wall else None, 'wall_s': wall,
        'train_root': os.path.join(out, 'VisDrone2019-DET-train'),
        'val_root': os.path.join(out, 'VisDrone2019-DET-val'),
    }
    with open(os.path.join(out, 'drone_meta.json'), 'w') as fh:
        json.dump(summary, fh, indent=2)
    return summary


# ------------------------------------------------------------------------------ statistics

#: What is reported for the real VisDrone2019-DET (only statements we are confident about).
VISDRONE_REPORTED = {
    'objects_per_image': 'about 54 on average (train: ~343k boxes in 6,471 images)',
    'small': 'most objects are small (below 32x32 px)',
}


def drone_stats(root, max_frames=None):
    """
    Per-class box statistics of a VisDrone-DET split folder (synthetic or real).

    Reads ``root/images`` and ``root/annotations`` through :mod:`runespoor.data.visdrone`.
    Returns ``{'frames', 'ignore_per_frame', 'classes': {name: {...}}}`` where each class holds
    ``boxes``, ``per_frame``, ``median_w``, ``median_h`` (px), ``median_area_share`` (box area /
    frame area), ``small_share`` (share of boxes below 32x32 px once the frame is scaled to
    1920x1080), ``truncated_share`` and ``occluded_share``; the class ``all`` pools 1..10.
    """
    from .visdrone import list_images, read_annotation
    items = list_images(root)
    if max_frames:
        idx = np.linspace(0, len(items) - 1, min(max_frames, len(items))).round().astype(int)
        items = [items[i] for i in sorted(set(idx.tolist()))]
    rows = []
    n_ign = 0
    for img_path, ann_path in items:
        img = cv2.imread(img_path, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise OSError(f'{img_path}: could not read image')
        hw = img.shape[:2]
        ann = read_annotation(ann_path)
        n_ign += len(ann.ignore)
        area = float(hw[0] * hw[1])
        for (x, y, w, h), c, tr, oc in zip(ann.boxes.tolist(), ann.labels.tolist(),
                                           ann.truncation.tolist(), ann.occlusion.tolist()):
            rows.append((c, w, h, w * h / area, tr, oc))
    n = len(items)
    out = {'root': os.fspath(root), 'frames': n, 'ignore_per_frame': n_ign / n if n else 0.0,
           'classes': {}}
    arr = np.array(rows, np.float64).reshape(-1, 6)
    for cid, name in list(CATEGORIES.items()) + [(None, 'all')]:
        sel = arr if cid is None else arr[arr[:, 0] == cid]
        k = len(sel)
        out['classes'][name] = {
            'boxes': int(k), 'per_frame': k / n if n else 0.0,
            'median_w': float(np.median(sel[:, 1])) if k else None,
            'median_h': float(np.median(sel[:, 2])) if k else None,
            'median_area_share': float(np.median(sel[:, 3])) if k else None,
            'small_share': float(np.mean(sel[:, 3] * REF_WIDTH * REF_HEIGHT < 32 * 32))
            if k else None,
            'truncated_share': float(np.mean(sel[:, 4] > 0)) if k else None,
            'occluded_share': float(np.mean(sel[:, 5] > 0)) if k else None,
        }
    return out


def format_drone_stats(st):
    """Markdown table of :func:`drone_stats`, with what is reported for the real VisDrone."""
    lines = [f'{st["frames"]} frames of {st["root"]}; ignored regions per frame: '
             f'{st["ignore_per_frame"]:.2f}', '',
             '| class | boxes/frame | median w x h (px) | median area (% of frame) '
             '| < 32x32 @1080p | truncated | occluded |',
             '|---|---:|---:|---:|---:|---:|---:|']
    for name, c in st['classes'].items():
        if c['boxes'] == 0:
            lines.append(f'| {name} | 0 | - | - | - | - | - |')
            continue
        lines.append(f'| {name} | {c["per_frame"]:.1f} | {c["median_w"]:.0f} x '
                     f'{c["median_h"]:.0f} | {100 * c["median_area_share"]:.3f} | '
                     f'{100 * c["small_share"]:.0f}% | {100 * c["truncated_share"]:.0f}% | '
                     f'{100 * c["occluded_share"]:.0f}% |')
    lines += ['', f'Reported for VisDrone2019-DET: objects per image '
                  f'{VISDRONE_REPORTED["objects_per_image"]}; {VISDRONE_REPORTED["small"]}.']
    return '\n'.join(lines)
