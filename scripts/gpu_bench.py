#!/usr/bin/env python3
"""
GPU timing of the cloud's models at full resolution: one prepared script for a GPU box.

Times CARN / CARN-M reconstruction of x2/x4/x6/x8 LR frames to 2048x1024 and the segmentation
model at 2048x1024, fp32 and fp16, eager and replayed as a CUDA graph (``channels_last``,
cuDNN autotuning), against PyTorch's bilinear ``F.interpolate`` in the same run; optionally a
short training smoke (base SR step on 64x64 LR patches, ASR fine-tuning step on a whole frame).
Writes ``<out>/gpu_bench.json``.  Needs only torch + this repository (no ROS)::

    PYTHONPATH=ros2_ws/src/runespoor python3 scripts/gpu_bench.py --out "$OUT" --train-steps 5

``--tiny`` (small sizes, few iterations) runs on CPU, for tests.  Random weights: the timing of
a network does not depend on its values.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback


from runespoor.archs import build_seg, build_sr, count_parameters
from runespoor.device import resolve_device
from runespoor.losses import ASRLoss
import torch
import torch.nn.functional as F


def _percentile(values, q):
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class Timer:
    """Time a zero-argument callable: CUDA events on GPU, perf_counter on CPU."""

    def __init__(self, device, warmup, iters):
        self.device, self.warmup, self.iters = device, warmup, iters

    def __call__(self, fn):
        cuda = self.device.type == 'cuda'
        for _ in range(self.warmup):
            fn()
        if cuda:
            torch.cuda.synchronize()
        times = []
        for _ in range(self.iters):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                    enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t) * 1e3)
        return {'median_ms': statistics.median(times), 'p90_ms': _percentile(times, 0.9),
                'min_ms': min(times), 'iters': len(times)}


def _graphed(fn, example, device):
    """Return a callable replaying ``fn(example)`` as a CUDA graph (static input/output)."""
    if device.type != 'cuda':
        return lambda: fn(example)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up on a side stream (cuDNN autotuning) before capture
            fn(example)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(example)
    return graph.replay


def _prepare(model, dtype, device):
    model = model.to(device=device, dtype=dtype).eval()
    if device.type == 'cuda':
        model = model.to(memory_format=torch.channels_last)
    return model


def _input(shape, dtype, device):
    x = torch.rand(*shape, device=device, dtype=dtype)
    if device.type == 'cuda':
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def bench_models(args, device, timer, size):
    """Time bilinear, the SR models and the segmentation models; return result rows."""
    H, W = size
    rows = []
    dtypes = [(d, {'fp32': torch.float32, 'fp16': torch.float16}[d]) for d in args.dtypes]
    modes = ['eager'] + (['cudagraph'] if device.type == 'cuda' else [])
    if args.compile:
        modes.append('compile')

    def record(name, fn, x, mode, extra):
        try:
            with torch.inference_mode():
                if mode == 'cudagraph':
                    call = _graphed(fn, x, device)
                elif mode == 'compile':
                    cfn = torch.compile(fn, mode=args.compile_mode)
                    call = lambda: cfn(x)  # noqa: E731
                else:
                    call = lambda: fn(x)  # noqa: E731
                res = timer(call)
        except Exception as exc:  # noqa: B902 - record and go on with the next config
            res = {'error': f'{type(exc).__name__}: {str(exc)[:300]}'}
            if device.type == 'cuda':
                torch.cuda.empty_cache()
        row = dict(name=f'{name}_{extra["dtype"]}' + ('' if mode == 'eager' else f'_{mode}'),
                   mode=mode, **extra, **res)
        rows.append(row)
        print(json.dumps(row), flush=True)

    for dname, dtype in dtypes:
        for scale in args.scales:
            h, w = max(1, round(H / scale)), max(1, round(W / scale))
            x = _input((1, 3, h, w), dtype, device)
            base = {'dtype': dname, 'scale': scale, 'lr_size': [h, w], 'out_size': [H, W]}

            def interp(t):
                return F.interpolate(t, size=(H, W), mode='bilinear', align_corners=False)

            for mode in modes:
                record(f'bilinear_x{scale}', interp, x, mode, dict(base, arch='bilinear'))
            for arch in args.sr_archs:
                model = _prepare(build_sr(arch, scale), dtype, device)

                def sr(t, model=model):
                    out = model(t)
                    if out.shape[-2:] != (H, W):
                        out = F.interpolate(out, size=(H, W), mode='bilinear',
                                            align_corners=False)
                    return out

                for mode in modes:
                    record(f'{arch}_x{scale}', sr, x, mode,
                           dict(base, arch=arch, params=count_parameters(model)))
                del model
        x = _input((1, 3, H, W), dtype, device)
        for arch in args.seg_archs:
            model = _prepare(build_seg(arch), dtype, device)
            for mode in modes:
                record(f'seg_{arch}', model, x, mode,
                       {'dtype': dname, 'arch': arch, 'in_size': [H, W],
                        'params': count_parameters(model)})
            del model
    # ratio to bilinear of the same scale, dtype and mode
    ref = {(r['scale'], r['dtype'], r['mode']): r.get('median_ms') for r in rows
           if r.get('arch') == 'bilinear'}
    for r in rows:
        b = ref.get((r.get('scale'), r['dtype'], r['mode']))
        if b and r.get('median_ms') and r.get('arch') != 'bilinear':
            r['ratio_to_bilinear'] = r['median_ms'] / b
    return rows


def bench_training(args, device, size):
    """Time a few base SR steps (64x64 LR patches) and ASR steps on whole frames."""
    H, W = size
    scale = 4
    patch, batch = (8, 2) if args.tiny else (64, 16)
    out = {'steps': args.train_steps, 'scale': scale, 'sr_arch': args.train_arch}
    torch.manual_seed(0)
    sr_model = build_sr(args.train_arch, scale).to(device)
    opt = torch.optim.Adam(sr_model.parameters(), lr=1e-4)
    use_amp = device.type == 'cuda'

    def timed_steps(step):
        times = []
        for _ in range(args.train_steps):
            if device.type == 'cuda':
                torch.cuda.synchronize()
            t = time.perf_counter()
            loss = step()
            if device.type == 'cuda':
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t) * 1e3)
        return {'median_ms': statistics.median(times), 'max_ms': max(times),
                'last_loss': float(loss)}

    hr = torch.rand(batch, 3, patch * scale, patch * scale, device=device)
    lr = F.avg_pool2d(hr, scale)

    def sr_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = F.l1_loss(sr_model(lr).float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    out['sr_patch_step'] = dict(batch=batch, lr_patch=patch, amp=use_amp, **timed_steps(sr_step))
    seg = build_seg(args.seg_archs[0]).to(device)
    loss_fn = ASRLoss(seg)
    frame = torch.rand(1, 3, H, W, device=device)
    lr_frame = F.interpolate(frame, scale_factor=1 / scale, mode='area')
    label = torch.randint(0, 19, (1, H, W), device=device)
    mask = torch.rand(1, H, W, device=device) < 0.02  # precomputed in real training (CPU work)

    def asr_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss, _ = loss_fn(sr_model(lr_frame).float(), frame, label, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    out['asr_frame_step'] = dict(batch=1, size=[H, W], amp=use_amp, **timed_steps(asr_step))
    if device.type == 'cuda':
        out['max_memory_mib'] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def main(argv=None):
    """Run the benchmark; return the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    p.add_argument('--out', default=os.environ.get('OUT', 'out/gpu_bench'),
                   help='output folder (gpu_bench.json)')
    p.add_argument('--device', default='auto', help="'cuda', 'cpu' or 'auto'")
    p.add_argument('--tiny', action='store_true', help='small sizes and few iterations (CPU)')
    p.add_argument('--size', type=int, nargs=2, default=[1024, 2048], metavar=('H', 'W'))
    p.add_argument('--scales', type=int, nargs='+', default=[2, 4, 6, 8])
    p.add_argument('--sr-archs', nargs='+', default=['carn', 'carn_m'])
    p.add_argument('--seg-archs', nargs='+', default=['swiftnet_r18', 'swiftnet_r18_lite'])
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--iters', type=int, default=50)
    p.add_argument('--dtypes', nargs='+', default=['fp32', 'fp16'], choices=['fp32', 'fp16'])
    p.add_argument('--compile', action='store_true', help='also time torch.compile')
    p.add_argument('--compile-mode', default='max-autotune-no-cudagraphs',
                   help='torch.compile mode for --compile')
    p.add_argument('--train-steps', type=int, default=0, help='training smoke steps (0: none)')
    p.add_argument('--train-arch', default='carn_m')
    args = p.parse_args(argv)
    device = torch.device(resolve_device(args.device))
    size = tuple(args.size)
    if args.tiny:
        size = (16, 32)
        args.warmup, args.iters = 1, 3
        args.scales = [4]
        args.seg_archs = ['swiftnet_r18_lite']
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(min(2, torch.get_num_threads()))
    result = {
        'device': device.type, 'tiny': args.tiny, 'size': list(size), 'torch': torch.__version__,
        'python': platform.python_version(), 'cuda': torch.version.cuda,
        'gpu': torch.cuda.get_device_name(device) if device.type == 'cuda' else None,
        'warmup': args.warmup, 'iters': args.iters, 'random_weights': True,
        'note': 'median/p90 per call in ms; ratio_to_bilinear against bilinear F.interpolate of '
                'the same scale, dtype and mode in this run',
    }
    status = 0
    t0 = time.perf_counter()
    try:
        result['results'] = bench_models(args, device, Timer(device, args.warmup, args.iters),
                                         size)
        if args.train_steps:
            result['train'] = bench_training(args, device, size)
    except Exception:  # noqa: B902 - still write what was measured
        result['error'] = traceback.format_exc()[-3000:]
        status = 1
    result['wall_s'] = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'gpu_bench.json')
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {path}')
    return status


if __name__ == '__main__':
    sys.exit(main())
