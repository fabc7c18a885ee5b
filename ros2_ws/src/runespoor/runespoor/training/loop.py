"""The generic step loop shared by every training task: seeding, LR schedule, progress, hooks."""

import random
import time

import numpy as np
import torch


def seed_everything(seed):
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def poly_lambda(total_steps, power=0.9, warmup=0):
    """Return a LambdaLR factor: linear warm-up for ``warmup`` steps, then poly decay."""
    total = max(1, int(total_steps))

    def factor(step):
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, 1.0 - step / total) ** power
    return factor


def batches(loader):
    """Iterate over ``loader`` forever (a new epoch, i.e. a new shuffle, after each pass)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError('training data loader yielded no batch')


def hflip_batch(*tensors, p=0.5, generator=None):
    """Flip the same random subset of samples left-right in every tensor (last axis = width)."""
    n = tensors[0].shape[0]
    flip = torch.rand(n, generator=generator) < p
    if not flip.any():
        return tensors
    out = []
    for t in tensors:
        t = t.clone()
        t[flip] = t[flip].flip(-1)
        out.append(t)
    return tuple(out)


def fit(step_fn, data, *, steps, start_step=0, optimizer=None, scheduler=None,
        on_checkpoint=None, checkpoint_every=0, on_validate=None, val_every=0,
        log_every=10, progress=True, desc='train', log=None):
    """
    Run ``step_fn(batch, step) -> dict of floats`` from ``start_step`` to ``steps``.

    ``step_fn`` does forward, backward and optimiser step.  After each step the scheduler (if
    any) steps; every ``val_every`` steps (and at the end) ``on_validate(step)`` runs and its
    dict is logged; every ``checkpoint_every`` steps (and at the end) ``on_checkpoint(step,
    metrics)`` runs.  ``log(record)`` receives every logged record (a dict).  Returns
    ``(last validation metrics, seconds spent)``.
    """
    from tqdm import tqdm
    it = batches(data)
    metrics = {}
    running = {}
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=start_step, desc=desc, disable=not progress,
               dynamic_ncols=True, mininterval=2.0)
    for step in range(start_step + 1, steps + 1):
        parts = step_fn(next(it), step)
        if scheduler is not None:
            scheduler.step()
        for k, v in parts.items():
            running[k] = 0.9 * running.get(k, v) + 0.1 * v
        bar.update(1)
        if step % max(1, log_every) == 0 or step == steps:
            bar.set_postfix({k: f'{v:.4g}' for k, v in running.items()})
            if log is not None:
                lr = optimizer.param_groups[0]['lr'] if optimizer is not None else None
                log(dict(step=step, lr=lr, time_s=time.perf_counter() - t0, **parts))
        last = step == steps
        if on_validate is not None and ((val_every and step % val_every == 0) or last):
            metrics = on_validate(step)
            bar.write(f'[{desc}] step {step}: ' +
                      ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()
                                if isinstance(v, float)))
            if log is not None:
                log({'step': step, 'val': metrics})
        if on_checkpoint is not None and ((checkpoint_every and step % checkpoint_every == 0)
                                          or last):
            on_checkpoint(step, metrics)
    bar.close()
    return metrics, time.perf_counter() - t0
