"""
Label and JPEG-size statistics of a Cityscapes-layout data set, next to real Cityscapes.

:func:`label_stats` measures what SPEC §3 "Reference statistics" reports for 23 real gtFine
frames: pixel share per class over valid pixels, connected components per frame (8-connected,
per class), median component area as % of the frame, and the share of frame pixels lying in
components smaller than a cutoff.  :func:`jpeg_sizes` measures the bytes per frame that the
edge's codec produces at each knob, to compare with SPEC §3 "Reference JPEG sizes".
"""

import cv2
import numpy as np

from ..labels import IGNORE_ID, NUM_CLASSES, TRAIN_ID_NAMES

#: SPEC §3: (pixel %, components per frame, median component % of frame) per train id.
REFERENCE_CITYSCAPES = {
    'road': (37.8, 6.0, 0.008), 'sidewalk': (4.96, 10.6, 0.008),
    'building': (23.1, 18.7, 0.020), 'wall': (0.42, 2.5, 0.029), 'fence': (0.57, 2.3, 0.065),
    'pole': (1.38, 26.7, 0.016), 'traffic light': (0.16, 3.5, 0.015),
    'traffic sign': (0.75, 8.6, 0.019), 'vegetation': (14.6, 10.7, 0.039),
    'terrain': (0.83, 3.2, 0.015), 'sky': (2.93, 3.0, 0.052), 'person': (0.77, 6.7, 0.030),
    'rider': (0.10, 1.0, 0.019), 'car': (10.5, 6.9, 0.126), 'truck': (0.05, 0.2, 0.336),
    'bus': (0.02, 0.04, 0.413), 'train': (0.12, 0.3, 0.275),
    'motorcycle': (0.34, 0.6, 0.033), 'bicycle': (0.56, 3.0, 0.018),
}
#: SPEC §3: share of void pixels in real frames (%).
REFERENCE_VOID_PERCENT = 10.9
#: SPEC §3: % of frame pixels in components below a cutoff (% of frame): median, min, max.
REFERENCE_SMALL_SHARE = {0.05: (0.92, 0.13, 1.73), 0.1: (1.64, 0.31, 3.12),
                         0.2: (3.11, 0.69, 5.23), 0.5: (6.12, 2.04, 8.61)}
#: Paper Table 2, "size (%)" column of the nine tail classes (pixel share at HR).
PAPER_TABLE2_SIZE = {'train': 0.11, 'fence': 0.82, 'motorcycle': 0.08, 'traffic light': 0.20,
                     'rider': 0.22, 'bus': 0.39, 'pole': 1.48, 'bicycle': 0.71,
                     'traffic sign': 0.67}
#: SPEC §3: mean KB per 2048x1024 frame, by (scale, JPEG quality).
REFERENCE_JPEG_KB = {
    (1, 40): 87, (1, 60): 113, (1, 70): 135, (1, 90): 270,
    (2, 40): 29.5, (2, 60): 38.2, (2, 70): 45.6, (2, 90): 87,
    (4, 40): 10.0, (4, 60): 12.9, (4, 70): 15.2, (4, 90): 28.4,
    (6, 40): 5.5, (6, 60): 7.0, (6, 70): 8.2, (6, 90): 14.8,
    (8, 40): 3.5, (8, 60): 4.4, (8, 70): 5.2, (8, 90): 9.2,
}
CUTOFFS = (0.05, 0.1, 0.2, 0.5)


def frame_components(train_ids):
    """Return ``[(train_id, area_px), ...]`` of the 8-connected components of every class."""
    out = []
    for c in np.unique(train_ids):
        if c == IGNORE_ID or c >= NUM_CLASSES:
            continue
        mask = (train_ids == c).astype(np.uint8)
        n, _, st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        out.extend((int(c), int(a)) for a in st[1:, cv2.CC_STAT_AREA])
    return out


def small_region_share(train_ids, cutoff_percent):
    """Share (%) of frame pixels in components smaller than ``cutoff_percent`` % of the frame."""
    total = train_ids.size
    lim = cutoff_percent / 100.0 * total
    return 100.0 * sum(a for _, a in frame_components(train_ids) if a < lim) / total


def label_stats(label_maps):
    """Statistics of an iterable of train-id maps (HxW uint8) as a JSON-ready dict."""
    px = np.zeros(NUM_CLASSES, np.int64)
    n_comp = np.zeros(NUM_CLASSES, np.int64)
    areas = [[] for _ in range(NUM_CLASSES)]
    small = {c: [] for c in CUTOFFS}
    void = total = frames = 0
    for tid in label_maps:
        tid = np.asarray(tid)
        frames += 1
        total += tid.size
        void += int(np.count_nonzero(tid == IGNORE_ID))
        px += np.bincount(tid[tid < NUM_CLASSES].ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
        comps = frame_components(tid)
        for c, a in comps:
            n_comp[c] += 1
            areas[c].append(100.0 * a / tid.size)
        for cut in CUTOFFS:
            lim = cut / 100.0 * tid.size
            small[cut].append(100.0 * sum(a for _, a in comps if a < lim) / tid.size)
    if frames == 0:
        raise ValueError('no label maps given')
    valid = max(1, total - void)
    classes = {}
    for c, name in enumerate(TRAIN_ID_NAMES):
        classes[name] = {
            'pixel_percent': 100.0 * px[c] / valid,
            'components_per_frame': n_comp[c] / frames,
            'median_component_percent': float(np.median(areas[c])) if areas[c] else None,
        }
    return {
        'frames': frames,
        'void_percent': 100.0 * void / total,
        'classes': classes,
        'small_region_share': {str(c): {'median': float(np.median(v)), 'min': float(np.min(v)),
                                        'max': float(np.max(v))} for c, v in small.items()},
    }


def jpeg_sizes(images_bgr, scales=(1, 2, 4, 6, 8), qualities=(40, 60, 70, 90)):
    """
    Mean JPEG bytes per frame of the edge codec for each ``(scale, quality)``.

    Returns ``{(scale, quality): mean_bytes}`` over ``images_bgr`` (BGR uint8 frames).
    """
    from ..codec import encode_frame
    sums = {}
    n = 0
    for img in images_bgr:
        n += 1
        for s in scales:
            for q in qualities:
                sums[(s, q)] = sums.get((s, q), 0) + len(encode_frame(img, s, q).data)
    if n == 0:
        raise ValueError('no images given')
    return {k: v / n for k, v in sums.items()}


def jpeg_reference_for(width, scale, quality):
    """
    Return the real-frame reference KB at the same *output* size (``None``: not tabulated).

    A ``width``-wide frame at ``scale`` has the output width of a 2048-wide frame at
    ``scale * 2048 / width`` (so 512x256 at x1 compares with 2048x1024 at x4).
    """
    eff = scale * 2048.0 / width
    if abs(eff - round(eff)) > 1e-6:
        return None
    return REFERENCE_JPEG_KB.get((int(round(eff)), quality))


def _fmt(v, nd=2):
    return '-' if v is None else f'{v:.{nd}f}'


def format_label_table(stats):
    """Markdown table of :func:`label_stats` next to the Cityscapes references."""
    lines = ['| class | px % | ref px % | Table 2 size % | comps/frame | ref comps/frame '
             '| median comp % | ref median comp % |',
             '|---|---|---|---|---|---|---|---|']
    for name in TRAIN_ID_NAMES:
        c = stats['classes'][name]
        ref = REFERENCE_CITYSCAPES[name]
        t2 = PAPER_TABLE2_SIZE.get(name)
        lines.append(f"| {name} | {_fmt(c['pixel_percent'])} | {ref[0]} | {_fmt(t2)} | "
                     f"{_fmt(c['components_per_frame'], 1)} | {ref[1]} | "
                     f"{_fmt(c['median_component_percent'], 3)} | {ref[2]} |")
    lines.append('')
    lines.append(f"Void (ignore) pixels: {stats['void_percent']:.1f} % "
                 f"(real: {REFERENCE_VOID_PERCENT} %); frames: {stats['frames']}.")
    lines.append('')
    lines.append('| component cutoff (% of frame) | px % in smaller components, median '
                 '[min-max] | real Cityscapes |')
    lines.append('|---|---|---|')
    for cut in CUTOFFS:
        s = stats['small_region_share'][str(cut)]
        r = REFERENCE_SMALL_SHARE[cut]
        lines.append(f"| {cut} | {s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}] | "
                     f'{r[0]} [{r[1]}-{r[2]}] |')
    return '\n'.join(lines)


def format_jpeg_table(sizes, width):
    """Markdown table of :func:`jpeg_sizes` (KB) with the real reference and the ratio."""
    qs = sorted({q for _, q in sizes})
    lines = ['| scale | ' + ' | '.join(f'q{q} KB (real, ratio)' for q in qs) + ' |',
             '|---' * (len(qs) + 1) + '|']
    for s in sorted({s for s, _ in sizes}):
        cells = []
        for q in qs:
            kb = sizes[(s, q)] / 1000.0
            ref = jpeg_reference_for(width, s, q)
            cells.append(f'{kb:.1f}' + ('' if ref is None else f' ({ref}, {kb / ref:.2f})'))
        lines.append(f'| x{s} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


# ------------------------------------------------------------------ appearance of object classes

#: Classes whose look :func:`appearance_stats` measures (the vehicles, people and facades).
APPEARANCE_CLASSES = ('building', 'person', 'rider', 'car', 'truck', 'bus', 'train',
                      'motorcycle', 'bicycle')
#: Class pairs a segmentation model confused on the synthetic data (issue 12) and neighbours.
CONFUSABLE_PAIRS = (('bus', 'building'), ('truck', 'bus'), ('truck', 'building'),
                    ('bus', 'car'), ('truck', 'car'), ('bus', 'train'), ('rider', 'person'),
                    ('motorcycle', 'bicycle'), ('motorcycle', 'rider'), ('bicycle', 'rider'))
_GROUND = ('road', 'sidewalk', 'terrain')
_TWO_WHEELERS = ('motorcycle', 'bicycle')
_COLOUR_BINS = 8
_TEXTURE_EDGES = (2.0, 5.0, 10.0)   # grey-level local std bin edges (4 bins)


def _local_std(grey, width):
    """Local standard deviation of ``grey`` in a window of ~0.35 % of the frame width."""
    k = max(3, int(round(width * 0.0035)) | 1)
    g = grey.astype(np.float32)
    m = cv2.blur(g, (k, k))
    m2 = cv2.blur(g * g, (k, k))
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def appearance_stats(samples, classes=APPEARANCE_CLASSES, pairs=CONFUSABLE_PAIRS,
                     min_component_percent=0.002):
    """
    Look, shape and support of object classes in ``(bgr, train_ids)`` samples: a JSON dict.

    Per class (pixels eroded by 1 px so anti-aliased edges do not count): frames where it
    appears, pixel share, mean and std of CIE Lab colour, mean local grey-level std
    (texture, window 0.35 % of the width) and gradient magnitude; per component of at least
    ``min_component_percent`` % of the frame: ``neighbours`` (the four classes most often just
    outside its outline, share of the outline), median bounding-box aspect (width / height),
    median bottom row (fraction of the height), ``ground_contact`` (share of the component's
    bottom-outline columns resting on road, sidewalk or terrain) and, for riders,
    ``on_two_wheeler`` (share of rider components with bicycle/motorcycle pixels under or
    inside their box, at least 10 % of the rider's area) and the two-wheeler pixels per rider
    pixel.  Per pair: the Bayes error of telling the two classes apart from a pixel's colour
    alone (8x8x8 BGR histogram) and from colour plus local texture (x 4 texture bins), with
    equal priors -- 0 = separable, 0.5 = indistinguishable -- and the Lab distance of their
    means in pooled standard deviations.
    """
    ids = {n: TRAIN_ID_NAMES.index(n) for n in TRAIN_ID_NAMES}
    nbins = _COLOUR_BINS ** 3 * (len(_TEXTURE_EDGES) + 1)
    acc = {n: {'frames': 0, 'px': 0, 'sum': np.zeros(3), 'sq': np.zeros(3), 'tex': 0.0,
               'grad': 0.0, 'hist': np.zeros(nbins, np.int64), 'aspect': [], 'bottom': [],
               'contact': [], 'on_vehicle': [], 'vehicle_px': 0,
               'border': np.zeros(256, np.int64)} for n in classes}
    ground = np.array([ids[n] for n in _GROUND])
    wheels = np.array([ids[n] for n in _TWO_WHEELERS])
    frames = valid = 0
    kernel = np.ones((3, 3), np.uint8)
    for bgr, tid in samples:
        tid = np.asarray(tid)
        H, W = tid.shape
        frames += 1
        valid += int(np.count_nonzero(tid != IGNORE_ID))
        lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float64)
        lab[..., 0] *= 100.0 / 255.0
        lab[..., 1:] -= 128.0
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        tex = _local_std(grey, W)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        grad = np.sqrt(gx * gx + gy * gy) / 8.0
        q = (bgr // (256 // _COLOUR_BINS)).astype(np.int64)
        cbin = (q[..., 0] * _COLOUR_BINS + q[..., 1]) * _COLOUR_BINS + q[..., 2]
        tbin = np.digitize(tex, _TEXTURE_EDGES)
        jbin = cbin * (len(_TEXTURE_EDGES) + 1) + tbin
        min_area = min_component_percent / 100.0 * tid.size
        for name in classes:
            a = acc[name]
            mask = tid == ids[name]
            if not mask.any():
                continue
            a['frames'] += 1
            a['px'] += int(mask.sum())
            m8 = mask.astype(np.uint8)
            inner = cv2.erode(m8, kernel).astype(bool)
            ring = cv2.dilate(m8, kernel).astype(bool) & ~mask
            a['border'] += np.bincount(tid[ring], minlength=256)
            if inner.any():
                a['sum'] += lab[inner].sum(axis=0)
                a['sq'] += (lab[inner] ** 2).sum(axis=0)
                a['tex'] += float(tex[inner].sum())
                a['grad'] += float(grad[inner].sum())
                a['hist'] += np.bincount(jbin[inner], minlength=nbins)
            n, cc, st, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
            for k in range(1, n):
                x, y, w, h, area = st[k]
                if area < min_area:
                    continue
                a['aspect'].append(w / max(1, h))
                a['bottom'].append((y + h) / H)
                sub = cc[y:y + h, x:x + w] == k
                cols = np.flatnonzero(sub.any(axis=0))
                low = h - 1 - np.argmax(sub[::-1, cols], axis=0) + y
                below = np.clip(low + 1 + max(1, H // 256), 0, H - 1)
                a['contact'].append(float(np.isin(tid[below, cols + x], ground).mean()))
                if name == 'rider':
                    y1 = min(H, y + h + int(0.6 * h))
                    box = tid[y:y1, x:x + w]
                    nv = int(np.isin(box, wheels).sum())
                    a['on_vehicle'].append(1.0 if nv >= 0.1 * area else 0.0)
                    a['vehicle_px'] += nv
    if frames == 0:
        raise ValueError('no samples given')
    out = {'frames': frames, 'classes': {}, 'pairs': {}}
    for name in classes:
        a = acc[name]
        npx = max(1, int(a['hist'].sum()))
        mean = a['sum'] / npx
        std = np.sqrt(np.maximum(a['sq'] / npx - mean ** 2, 0.0))
        c = {'frames_present': a['frames'] / frames,
             'pixel_percent': 100.0 * a['px'] / max(1, valid),
             'components': len(a['aspect']),
             'lab_mean': [round(float(v), 2) for v in mean],
             'lab_std': [round(float(v), 2) for v in std],
             'texture_std': a['tex'] / npx, 'gradient': a['grad'] / npx,
             'median_aspect_wh': float(np.median(a['aspect'])) if a['aspect'] else None,
             'median_bottom_row': float(np.median(a['bottom'])) if a['bottom'] else None,
             'ground_contact': float(np.mean(a['contact'])) if a['contact'] else None}
        border = a['border'][:NUM_CLASSES].astype(float) / max(1, int(a['border'].sum()))
        c['neighbours'] = {TRAIN_ID_NAMES[k]: round(float(border[k]), 3)
                           for k in np.argsort(-border)[:4] if border[k] > 0}
        if name == 'rider':
            c['on_two_wheeler'] = float(np.mean(a['on_vehicle'])) if a['on_vehicle'] else None
            c['two_wheeler_px_per_rider_px'] = a['vehicle_px'] / max(1, a['px'])
        out['classes'][name] = c
    ntex = len(_TEXTURE_EDGES) + 1
    for p, qn in pairs:
        if p not in acc or qn not in acc:
            continue
        hp, hq = acc[p]['hist'].astype(float), acc[qn]['hist'].astype(float)
        if hp.sum() == 0 or hq.sum() == 0:
            out['pairs'][f'{p}|{qn}'] = None
            continue
        hp, hq = hp / hp.sum(), hq / hq.sum()
        cp, cq = hp.reshape(-1, ntex).sum(1), hq.reshape(-1, ntex).sum(1)
        sp, sq = out['classes'][p], out['classes'][qn]
        pooled = np.sqrt((np.square(sp['lab_std']) + np.square(sq['lab_std'])) / 2) + 1e-6
        d = np.linalg.norm((np.array(sp['lab_mean']) - np.array(sq['lab_mean'])) / pooled)
        out['pairs'][f'{p}|{qn}'] = {
            'colour_bayes_error': 0.5 * float(np.minimum(cp, cq).sum()),
            'colour_texture_bayes_error': 0.5 * float(np.minimum(hp, hq).sum()),
            'lab_mean_distance_sd': float(d)}
    return out
