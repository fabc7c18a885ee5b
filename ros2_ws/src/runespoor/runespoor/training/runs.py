"""
Training tasks: base SR, segmentation model, ASR / CloudSeg fine-tuning.

Each task takes the model(s) and torch ``DataLoader``s (so it runs on tiny random tensors in
tests) and a ``config`` dict recorded in the checkpoints; it needs at least ``arch`` and
``arch_kwargs`` (and ``scale`` for SR).  Batches follow the project convention:

* base SR: ``(lr, hr)`` float RGB [0, 1] (``hr`` is ``lr`` upscaled by the model's scale, or
  any size: the SR output is resized to ``hr``'s size, as at inference);
* segmentation: ``(image, label)``, label int64 with 255 = ignore;
* fine-tuning: ``(lr, hr, label)``.

With ``out_dir`` set, a resumable ``last.pt`` (weights + optimiser + scheduler + step) is written
every ``checkpoint_every`` steps and at the end, plus the final model file (``final_name``,
weights and metadata only) and ``log.jsonl``.  ``resume`` continues from such a ``last.pt``
(the data order after a resume is re-seeded from ``seed + step``, so a resumed run is
deterministic but not bit-identical to an uninterrupted one).
"""

import json
import os
import time

import torch
import torch.nn.functional as F

from .loop import fit, hflip_batch, poly_lambda, seed_everything
from .validate import evaluate_det, evaluate_seg, evaluate_sr
from ..checkpoint import load_checkpoint, save_checkpoint
from ..losses import freeze, SEG_ALPHA, SEG_BETA, sr_loss
from ..reconstruct import sr_to_size
from ..regions import DEFAULT_MAX_AREA_FRACTION, IGNORE_ID

#: Fine-tuning methods (the losses are the analytics task's: runespoor.tasks).
FINETUNE_METHODS = ('asr', 'cloudseg')


class _Run:
    """Bookkeeping of one training run: output folder, log, checkpoints, resume."""

    def __init__(self, model, optimizer, scheduler, config, *, out_dir, seed, data, command,
                 final_name, ship_half):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.config, self.out_dir, self.seed = dict(config), out_dir, seed
        self.data, self.command = data or {}, command
        self.final_name, self.ship_half = final_name, ship_half
        self.start_step = 0
        self.prior_time = 0.0
        self.t0 = time.perf_counter()
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)

    def resume(self, resume):
        """
        Continue from ``resume``: a ``last.pt`` path, or a :func:`warm_resume` spec.

        A path needs the optimiser state (an exact resume).  A warm-resume spec takes a
        weights-only checkpoint that records its ``step`` (e.g. committed fp16 weights of an
        unfinished run): the weights and the step are restored, the optimiser starts fresh and
        the LR schedule continues at that step, re-warmed linearly over ``rewarm`` steps.
        """
        spec = resume if isinstance(resume, dict) else {'path': resume, 'warm': False}
        path = spec['path']
        ckpt = load_checkpoint(path, kind=self.config['kind'], method=self.config.get('method'),
                               arch=self.config['arch'], scale=self.config.get('scale'))
        self.model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                    for k, v in ckpt['model'].items()})
        if ckpt.get('step') is None:
            raise ValueError(f'checkpoint {path} records no training step; it cannot be '
                             'resumed (use it as initial weights instead)')
        self.start_step = int(ckpt['step'])
        self.prior_time = float(ckpt.get('train_time_s') or 0.0)
        if spec['warm']:
            if self.scheduler is not None:
                _continue_schedule(self.scheduler, self.start_step, int(spec.get('rewarm', 0)))
            return self.start_step
        if 'optimizer' not in ckpt:
            raise ValueError(f'checkpoint {path} has no optimiser state; it cannot be resumed '
                             'exactly (resume it warm: --resume-weights, or use it as initial '
                             'weights)')
        self.optimizer.load_state_dict(ckpt['optimizer'])
        if self.scheduler is not None and 'scheduler' in ckpt:
            self.scheduler.load_state_dict(ckpt['scheduler'])
        return self.start_step

    def elapsed(self):
        return self.prior_time + time.perf_counter() - self.t0

    def log(self, record):
        if self.out_dir:
            with open(os.path.join(self.out_dir, 'log.jsonl'), 'a') as f:
                f.write(json.dumps(record) + '\n')

    def save(self, step, metrics, final=False):
        if not self.out_dir:
            return None
        common = {'step': step, 'seed': self.seed, 'data': self.data, 'metrics': metrics,
                  'train_time_s': self.elapsed(), 'command': self.command}
        save_checkpoint(os.path.join(self.out_dir, 'last.pt'), self.model, self.config,
                        optimizer=self.optimizer, scheduler=self.scheduler, **common)
        if final:
            path = os.path.join(self.out_dir, self.final_name)
            save_checkpoint(path, self.model, self.config, half=self.ship_half, **common)
            with open(os.path.join(self.out_dir, 'metrics.json'), 'w') as f:
                json.dump({'config': self.config, 'metrics': metrics, 'step': step,
                           'train_time_s': self.elapsed(), 'seed': self.seed,
                           'data': self.data, 'command': self.command}, f, indent=2)
            return path
        return None


def warm_resume(path, rewarm=50):
    """Return the ``resume`` spec of a warm resume from a weights-only checkpoint at its step."""
    return {'path': path, 'warm': True, 'rewarm': int(rewarm)}


def _continue_schedule(scheduler, start_step, rewarm):
    """Move a LambdaLR to ``start_step``; a fresh optimiser re-warms over ``rewarm`` steps."""
    base = list(scheduler.lr_lambdas)

    def rewarmed(factor):
        def f(step):
            ramp = min(1.0, (step - start_step + 1) / rewarm) if rewarm > 0 else 1.0
            return factor(step) * max(ramp, 0.0)
        return f

    scheduler.lr_lambdas = [rewarmed(factor) for factor in base]
    scheduler.last_epoch = start_step
    for group, base_lr, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs,
                                      scheduler.lr_lambdas):
        group['lr'] = base_lr * factor(start_step)
    scheduler._last_lr = [group['lr'] for group in scheduler.optimizer.param_groups]


def _run_task(model, optimizer, scheduler, step_fn, validate, train_loader, *, steps, config,
              out_dir, seed, data, command, final_name, ship_half, resume, val_every,
              checkpoint_every, progress, desc):
    run = _Run(model, optimizer, scheduler, config, out_dir=out_dir, seed=seed, data=data,
               command=command, final_name=final_name, ship_half=ship_half)
    if resume:
        run.resume(resume)
    seed_everything(seed + run.start_step)
    result = {'checkpoint': None}

    def on_checkpoint(step, metrics):
        path = run.save(step, metrics, final=step == steps)
        if path:
            result['checkpoint'] = path

    if run.start_step >= steps:
        metrics = validate(steps) if validate else {}
        on_checkpoint(steps, metrics)
    else:
        metrics, _ = fit(step_fn, train_loader, steps=steps, start_step=run.start_step,
                         optimizer=optimizer, scheduler=scheduler, on_checkpoint=on_checkpoint,
                         checkpoint_every=checkpoint_every, on_validate=validate,
                         val_every=val_every, progress=progress, desc=desc, log=run.log)
    result.update(metrics=metrics, step=steps, train_time_s=run.elapsed())
    return result


def _adamw(model, lr, weight_decay):
    """Return AdamW with weight decay on weights only (not on biases and norm parameters)."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return torch.optim.AdamW([{'params': decay, 'weight_decay': weight_decay},
                              {'params': no_decay, 'weight_decay': 0.0}], lr=lr)


def _analytics_run(kind, model, optimizer, scheduler, step_fn, validate, train_loader, *,
                   val_loader, config, **kw):
    """Run the training of an analytics model (``kind`` seg or det): ``<kind>.pt`` at the end."""
    return _run_task(model, optimizer, scheduler, step_fn,
                     validate if val_loader is not None else None, train_loader,
                     config=dict(config, kind=kind, method=kind), final_name=f'{kind}.pt',
                     desc=kind, **kw)


def _poly(optimizer, steps, warmup=0):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, poly_lambda(steps, 0.9, warmup))


def train_sr(model, train_loader, *, steps, config, lr=5e-4, device='cpu', val_loader=None,
             out_dir=None, seed=0, resume=None, val_every=0, checkpoint_every=0, flip=True,
             progress=True, data=None, command=None, val_batches=None, judge=None,
             analytics='segmentation'):
    """
    Train a base SR model (the NAS baseline): L1 on ``(lr, hr)`` patches, Adam, poly LR decay.

    Returns ``{'checkpoint', 'metrics', 'step', 'train_time_s'}``; validation metrics are the
    PSNR of SR and bilinear on ``val_loader``.  With ``judge`` (a frozen analytics model of
    the task ``analytics``; it never affects training), validation also reports what the
    fine-tuning runs report through it -- segmentation: mIoU on SR and on bilinear, per class,
    and the accuracy on small regions -- so base SR and ASR / CloudSeg curves share one scale.
    """
    device = torch.device(device)
    model.to(device)
    task = None
    if judge is not None:
        from ..tasks import get_task
        task = get_task(analytics)
        freeze(judge.to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    scheduler = _poly(optimizer, steps)

    def step_fn(batch, step):
        model.train()
        lr_img, hr = batch[0].to(device), batch[1].to(device)
        if flip:
            lr_img, hr = hflip_batch(lr_img, hr)
        loss = sr_loss(sr_to_size(model, lr_img, hr.shape[-2:]), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {'l1': float(loss.detach())}

    def validate(step):
        if task is not None:
            return task.finetune_validate(
                model, val_loader, device, judge, max_batches=val_batches,
                max_area_fraction=task.loss_defaults.get('max_area_fraction',
                                                         DEFAULT_MAX_AREA_FRACTION))
        return evaluate_sr(model, val_loader, device, max_batches=val_batches)

    config = dict(config, kind='sr', method='sr')
    return _run_task(model, optimizer, scheduler, step_fn,
                     validate if val_loader is not None else None, train_loader, steps=steps,
                     config=config, out_dir=out_dir, seed=seed, data=data, command=command,
                     final_name=f'sr_x{config["scale"]}.pt', ship_half=False, resume=resume,
                     val_every=val_every, checkpoint_every=checkpoint_every, progress=progress,
                     desc=f'sr x{config["scale"]}')


def train_seg(model, train_loader, *, steps, config, lr=1e-3, weight_decay=1e-4, device='cpu',
              val_loader=None, out_dir=None, seed=0, resume=None, val_every=0,
              checkpoint_every=0, flip=True, warmup=0, class_weights=None, progress=True,
              data=None, command=None, ship_half=True, val_batches=None):
    """
    Segmentation training: cross entropy (ignore 255) on crops, flips, AdamW + poly LR.

    Returns ``{'checkpoint', 'metrics', 'step', 'train_time_s'}`` with the validation mIoU.
    The final ``seg.pt`` is stored in fp16 when ``ship_half`` (half the size).
    """
    device = torch.device(device)
    model.to(device)
    optimizer = _adamw(model, lr, weight_decay)
    scheduler = _poly(optimizer, steps, warmup)
    weight = None if class_weights is None else torch.as_tensor(class_weights,
                                                                dtype=torch.float32,
                                                                device=device)

    def step_fn(batch, step):
        model.train()
        image, label = batch[0].to(device), batch[1].to(device)
        if flip:
            image, label = hflip_batch(image, label)
        loss = F.cross_entropy(model(image), label, weight=weight, ignore_index=IGNORE_ID)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {'ce': float(loss.detach())}

    num_classes = int((config.get('arch_kwargs') or {}).get('num_classes', 19))

    def validate(step):
        return evaluate_seg(model, val_loader, device, num_classes, max_batches=val_batches)

    return _analytics_run('seg', model, optimizer, scheduler, step_fn, validate, train_loader,
                          val_loader=val_loader, config=config, steps=steps, out_dir=out_dir,
                          seed=seed, data=data, command=command, ship_half=ship_half,
                          resume=resume, val_every=val_every,
                          checkpoint_every=checkpoint_every, progress=progress)


def train_det(model, train_loader, *, steps, config, lr=1e-3, weight_decay=1e-4, device='cpu',
              val_loader=None, out_dir=None, seed=0, resume=None, val_every=0,
              checkpoint_every=0, warmup=100, progress=True, data=None, command=None,
              ship_half=True, val_batches=None, clip_grad=10.0):
    """
    Detector training: RetinaNet's focal + box loss on ``(image, targets)`` batches, AdamW + poly.

    Flips and crops come from the dataset (:class:`runespoor.tasks.detection.datasets.
    DetCropDataset`).  Returns ``{'checkpoint', 'metrics', 'step', 'train_time_s'}`` with the
    validation mAP (pycocotools).  The final ``det.pt`` is stored in fp16 when ``ship_half``.
    """
    device = torch.device(device)
    model.to(device)
    optimizer = _adamw(model, lr, weight_decay)
    scheduler = _poly(optimizer, steps, warmup)

    def step_fn(batch, step):
        model.train()
        image, targets = batch[0].to(device), batch[1]
        parts = model.detection_loss(image, targets)
        loss = parts['classification'] + parts['bbox_regression']
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimizer.step()
        return {'loss': float(loss.detach()), 'cls': float(parts['classification'].detach()),
                'box': float(parts['bbox_regression'].detach())}

    num_classes = int(getattr(model, 'num_classes', 10))

    def validate(step):
        return evaluate_det(model, val_loader, device, num_classes, max_batches=val_batches)

    return _analytics_run('det', model, optimizer, scheduler, step_fn, validate, train_loader,
                          val_loader=val_loader, config=config, steps=steps, out_dir=out_dir,
                          seed=seed, data=data, command=command, ship_half=ship_half,
                          resume=resume, val_every=val_every,
                          checkpoint_every=checkpoint_every, progress=progress)


def finetune_sr(sr_model, analytics_model, train_loader, *, method, steps, config, lr=1e-4,
                alpha=None, beta=None, max_area_fraction=None,
                frame_area=None, device='cpu', val_loader=None, out_dir=None, seed=0,
                resume=None, val_every=0, checkpoint_every=0, flip=True, progress=True,
                data=None, command=None, val_batches=None, analytics='segmentation',
                loss_options=None):
    """
    Fine-tune a base SR model for the frozen analytics model: ``method`` 'asr' or 'cloudseg'.

    ``analytics`` names the task (:mod:`runespoor.tasks`), which owns the losses and the
    validation: segmentation (``analytics_model`` a segmentation net, batches ``(lr, hr,
    label)``): ``asr`` is paper Eq. 3 (:class:`runespoor.losses.ASRLoss`), ``cloudseg`` Eq. 2
    (:class:`runespoor.losses.CloudSegLoss`); validation reports PSNR, mIoU on SR vs bilinear
    and the accuracy on small regions.  Detection (``analytics_model`` a detector, batches
    ``(lr, hr, targets)``): :class:`runespoor.losses.DetASRLoss` /
    :class:`runespoor.losses.DetCloudSegLoss`, validation PSNR and mAP; flips are the
    dataset's job there.  The analytics model is frozen (no gradients, eval mode) and never
    updated; gradients flow through it into ``sr_model``.  ``alpha``, ``beta`` and
    ``max_area_fraction`` default to the task's :attr:`~runespoor.tasks.Task.loss_defaults`
    (segmentation 0.95 / 0.05 / 0.001, detection 0.9 / 0.1 / 0.0005).  ``loss_options``: a
    dict of the task's loss options beyond the weights (segmentation ASR: ``target`` 'label' |
    'hr', ``jitter`` pixels, ``grid_weight`` with the scale as ``grid_period``;
    :class:`runespoor.losses.ASRLoss`), recorded in the checkpoint's
    config; ``None`` values mean the default.
    """
    from ..tasks import get_task, TaskError
    try:
        task = get_task(analytics)
    except TaskError as exc:
        raise ValueError(str(exc)) from exc
    if method not in FINETUNE_METHODS:
        raise ValueError(f'unknown fine-tuning method {method!r}; choose asr or cloudseg')
    defaults = task.loss_defaults
    max_area_fraction = defaults.get('max_area_fraction', DEFAULT_MAX_AREA_FRACTION) \
        if max_area_fraction is None else max_area_fraction
    alpha = defaults.get('alpha', SEG_ALPHA) if alpha is None else alpha
    beta = defaults.get('beta', SEG_BETA) if beta is None else beta
    device = torch.device(device)
    sr_model.to(device)
    freeze(analytics_model.to(device))
    loss_options = {k: v for k, v in (loss_options or {}).items() if v is not None}
    if loss_options.get('grid_weight') and 'grid_period' not in loss_options:
        loss_options['grid_period'] = int(config['scale'])   # the SR grid
    try:
        criterion = task.finetune_loss(method, analytics_model, alpha, beta, max_area_fraction,
                                       frame_area=frame_area, **loss_options)
    except TaskError as exc:
        raise ValueError(str(exc)) from exc
    flip = flip and task.finetune_flip
    optimizer = torch.optim.Adam(sr_model.parameters(), lr=lr)
    scheduler = _poly(optimizer, steps)

    def step_fn(batch, step):
        sr_model.train()
        lr_img, hr, label = batch[0].to(device), batch[1].to(device), batch[2]
        if isinstance(label, torch.Tensor):
            label = label.to(device)
        if flip:
            lr_img, hr, label = hflip_batch(lr_img, hr, label)
        sr = sr_to_size(sr_model, lr_img, hr.shape[-2:])
        loss, parts = criterion(sr, hr, label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return dict(parts, loss=float(loss.detach()))

    def validate(step):
        return task.finetune_validate(sr_model, val_loader, device, analytics_model,
                                      max_batches=val_batches,
                                      max_area_fraction=max_area_fraction)

    config = dict(config, kind='sr', method=method, alpha=alpha, beta=beta,
                  analytics=task.name)
    if method == 'asr':
        config['max_area_fraction'] = max_area_fraction
    if loss_options:
        config['loss_options'] = dict(loss_options)
    return _run_task(sr_model, optimizer, scheduler, step_fn,
                     validate if val_loader is not None else None, train_loader,
                     steps=steps, config=config, out_dir=out_dir, seed=seed, data=data,
                     command=command, final_name=f'{method}_x{config["scale"]}.pt',
                     ship_half=False, resume=resume, val_every=val_every,
                     checkpoint_every=checkpoint_every, progress=progress,
                     desc=f'{method} x{config["scale"]}')
