# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The analytics-task interface: what the cloud, training and evaluation ask of a task.

A task is one kind of analytics the cloud runs on reconstructed frames (segmentation,
detection, or a user's own).  Everything that differs between kinds lives behind this one
class, so the rest of the project never branches on a task name:

========================  ==============================================================
cloud (ROS-free)          :meth:`Task.make_analytics` -> an :class:`Analytics` (model +
                          tail signal); :attr:`Task.signal_name` names the signal
cloud node (ROS)          :attr:`Task.ros_output`: import path of the node-side publisher
                          (``runespoor_cloud.outputs``); None publishes only the common
                          outputs (tail flag, policy, reconstruction, diagnostics)
training                  :meth:`Task.finetune_loss` (ASR / CloudSeg, paper Eq. 2-3) and
                          :attr:`Task.loss_defaults`
evaluation                :meth:`Task.configure_eval` (the task's config section),
                          :meth:`Task.eval_plugin` (frames, ground truth, per-frame record),
                          :meth:`Task.report` and :meth:`Task.figures`
========================  ==============================================================

Methods import their heavy modules (torch, the report code) when called, so the registry
(:mod:`runespoor.tasks`) is cheap to import everywhere.  A new task subclasses :class:`Task`,
fills what it supports and is registered with :func:`runespoor.tasks.register_task`;
``docs/architecture.md`` walks through it.
"""

import importlib
import re
from typing import Protocol


class TaskError(ValueError):
    """An unknown task, or something a task does not support; the message says which."""


_IMPORT_PATH = re.compile(r'^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$')


def import_object(path, what='object'):
    """
    Return the object named by ``'package.module:attribute'`` (attributes may be dotted).

    For plug-ins named in the user's own configuration (a task, a model builder): importing
    runs that module's code, so such paths are only ever read from configuration files and
    launch-time (read-only) parameters, never from messages.  Raises :class:`TaskError` with
    what was wrong (syntax, missing module, missing attribute).
    """
    if not isinstance(path, str) or not _IMPORT_PATH.match(path):
        raise TaskError(f'{what} {path!r}: expected an import path "package.module:name"')
    module_name, attr = path.split(':', 1)
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskError(f'{what} {path!r}: cannot import module {module_name!r} ({exc})') \
            from exc
    for part in attr.split('.'):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TaskError(f'{what} {path!r}: module {module_name!r} has no {attr!r}') \
                from None
    return obj


class Analytics(Protocol):
    """
    The analytics step of the cloud pipeline: a frozen model and the tail signal of its output.

    ``__call__(image_bgr, tensor)`` analyses one reconstructed frame (BGR uint8 ``H x W x 3``;
    ``tensor`` the same frame as ``1 x 3 x H x W`` RGB in [0, 1], or None) and returns the
    task's output (segmentation: an ``H x W`` uint8 label map; detection:
    :class:`runespoor.tasks.detection.analytics.Detections`).  ``tail_signal(output,
    frame_size, config)`` reduces it to the float in [0, 1] that the tail rule compares with
    ``config.tail_threshold`` (``frame_size = (H, W)``, ``config`` a
    :class:`runespoor.cloud_pipeline.PipelineConfig`).  ``task`` is the task's name, ``info``
    a dict describing the model (for logs).  An analytics object that also has
    ``analyse_with_features`` can drive the fitted tail detector.
    """

    task: str
    info: dict

    def __call__(self, image_bgr, tensor=None):
        """Analyse one reconstructed frame; return the task's output."""

    def tail_signal(self, output, frame_size, config):
        """Return the tail signal of ``output`` in [0, 1]."""


class Task:
    """
    One analytics task.  Subclass it; the class attributes describe the task.

    Only :meth:`make_analytics` is required (the cloud pipeline); a task without
    :meth:`eval_plugin` cannot be evaluated, one without :meth:`finetune_loss` cannot train
    ASR / CloudSeg models -- each says so with a :class:`TaskError`.
    """

    #: Registry key and the value of ``task`` in configs and node parameters.
    name = None
    #: One line for ``--help`` texts and logs.
    description = ''
    #: Checkpoint ``kind`` of the task's analytics model (``runespoor.checkpoint``).
    model_kind = None
    #: Classes of the task's output (labels are ``0 .. num_classes - 1``, 255 = ignore).
    num_classes = None
    #: What :meth:`Analytics.tail_signal` measures (logs, the tail flag's ``signal``).
    signal_name = 'tail_signal'
    #: Import path of the cloud node's publisher of this task's results, or None.
    ros_output = None
    #: True if the analytics supports the fitted tail detector (``analyse_with_features``).
    fitted_tail = False
    #: The per-frame accuracy the tail-frame detectors are judged by (``runespoor tail``).
    frame_metric = 'frame score'
    #: Measurement settings (``runespoor tail``) the fitted tail detector must keep, because
    #: its features depend on them (e.g. detection's score threshold).
    tail_settings = ()
    #: The ratio rule the task's cloud used before a profiled fit, ``(threshold, direction,
    #: description)``, scored beside the fitted detectors by ``runespoor tail``; None: none.
    reference_tail_rule = None
    #: Feature sets the fitted tail detector tries (``{name: feature names, or None for
    #: every feature}``, names of ``analyse_with_features``); None: the signal alone and all.
    tail_feature_sets = None
    #: Fine-tuning defaults: ``alpha`` (L1), ``beta`` (analytics term), ``max_area_fraction``.
    loss_defaults = {}
    #: Fine-tuning flips batches horizontally (False where the targets are not images).
    finetune_flip = True
    #: ``runespoor train`` option (without ``--``) naming the frozen model's weights file, e.g.
    #: ``'seg'``; None: the task's model comes from ``--analytics-model`` (:meth:`frozen_model`).
    model_option = None
    #: True if the analytics network returns one tensor (graph capture and channels-last are
    #: safe on the cloud's fast path); False: the fast path only casts its precision.
    tensor_output = False
    #: Task-specific top-level keys of an eval config and their defaults (``scales``, ``fps``..).
    eval_defaults = {'scales': [2, 4], 'fps': 15.0}
    #: What ``dataset.root`` must be, for error messages.
    dataset_layout = 'a data set folder'
    #: Keys of ``dataset:`` this task reads besides ``root`` and ``limit``.
    dataset_keys = ()

    # -- cloud -----------------------------------------------------------------------------
    def make_analytics(self, params, device):
        """
        Build the cloud's :class:`Analytics` from ``params`` on ``device``.

        ``params`` is a mapping of settings: the cloud node's parameters (``analytics_model``
        with a :mod:`runespoor.user_models` mapping, or the task's own legacy keys), or the
        ``model`` section of an eval config.  Missing or mismatched files raise
        :class:`runespoor.cloud_pipeline.ModelError`.
        """
        raise NotImplementedError(f'task {self.name!r} defines no analytics')

    def fitted_tail_unavailable(self, params):
        """
        Return why the fitted tail detector cannot run on the analytics of ``params``, or None.

        ``params``: the cloud node's parameters.  The default: None when :attr:`fitted_tail`.
        """
        return None if self.fitted_tail else f'task {self.name} has no tail features'

    def feature_sets(self):
        """Return the feature sets the fitted tail detector tries (:attr:`tail_feature_sets`)."""
        if self.tail_feature_sets is not None:
            return dict(self.tail_feature_sets)
        return {'ratio': (self.signal_name,), 'all': None}

    def describe_signal(self, config):
        """Return a short text of the tail rule's signal for logs (``config``: PipelineConfig)."""
        return self.signal_name.replace('_', ' ')

    # -- training --------------------------------------------------------------------------
    def finetune_loss(self, method, model=None, alpha=None, beta=None, max_area_fraction=None,
                      frame_area=None, **options):
        """
        Return the loss module of ``method`` (``asr``: paper Eq. 3, ``cloudseg``: Eq. 2).

        ``model`` is the frozen analytics model; the module is called ``loss(sr, hr, targets)``
        and returns ``(loss, parts)`` (:mod:`runespoor.losses`).  ``options``: loss options
        beyond the paper's weights (segmentation: ``target``, ``jitter`` for ASR,
        ``grid_weight`` / ``grid_period`` for ASR and CloudSeg); a task refuses those it does
        not have (:meth:`refuse_loss_options`).
        """
        raise TaskError(f'task {self.name!r} has no fine-tuning losses for {method!r} '
                        '(asr / cloudseg)')

    def refuse_loss_options(self, method, options):
        """Raise :class:`TaskError` naming ``options`` (a dict) when it is not empty."""
        if options:
            raise TaskError(f'{self.name} {method} fine-tuning has no loss option(s) '
                            f'{", ".join(sorted(options))}')

    def finetune_validate(self, sr_model, loader, device, model, max_batches=None,
                          max_area_fraction=None):
        """Return validation metrics of ``sr_model`` through ``model`` (default: none)."""
        return {}

    # -- training data (runespoor train) ---------------------------------------------------
    def training_data(self, cfg):
        """
        Return ``(train_dataset, val_dataset, description)`` for ``runespoor train``.

        ``cfg`` is the resolved training config: ``cfg['task']`` the job (``sr``, ``asr``,
        ``cloudseg``, or the analytics model's own ``seg`` / ``det``), ``cfg['data']`` the root
        (or ``'random'``), ``scale``, ``quality``, ``crop``, ``patch``, ``seed``.  SR datasets
        yield ``(lr, hr)`` patches; fine-tuning ones ``(lr, hr, target)`` with the task's target
        (:class:`runespoor.training.data.DegradedFrames` makes them from ``(image, target)``);
        ``val_dataset`` may be None.  ``description`` (a dict) is recorded in the checkpoint; a
        ``frame_area`` key tells ASR the area of the whole frame when the samples are crops.
        """
        raise TaskError(f'task {self.name!r} has no training data for runespoor train '
                        '(Task.training_data)')

    def training_collate(self, job, split):
        """Return the DataLoader ``collate_fn`` for ``job`` and ``split`` (default: None)."""
        return None

    def frozen_model(self, spec, device, what):
        """
        Load the frozen analytics model of ``train asr|cloudseg`` from ``spec``; ``(model, info)``.

        ``spec`` is the ``--analytics-model`` mapping (or ``{'weights': PATH}`` from the
        :attr:`model_option`), None when neither was given.  The default goes through
        :mod:`runespoor.user_models` with the task's :attr:`model_kind` and :attr:`num_classes`;
        a plug-in task with its own kind of model overrides it.  Raise ``ValueError`` with a
        sentence for a missing or bad spec or file.
        """
        from runespoor.tasks.model_files import load_user_model, ModelError
        if spec is None:
            raise ValueError(f'{what}: the frozen {self.name} model is missing: '
                             '--analytics-model FILE.yaml (docs/user_models.md)')
        try:
            return load_user_model(spec, self.model_kind, self.num_classes, device, what)
        except ModelError as exc:
            raise ValueError(str(exc)) from exc

    # -- evaluation ------------------------------------------------------------------------
    def configure_eval(self, config, section, merged):
        """
        Read the task's section of an eval config (``config.raw[task.name]``) into ``config``.

        ``merged`` holds the top-level keys with defaults (:attr:`eval_defaults` included).
        Raise :class:`runespoor.evaluation.plugin_api.ConfigError` for a bad section.  The
        default keeps the section as ``config.task_section`` and its ``model`` mapping as
        ``config.model_spec``.
        """
        config.task_section = dict(section or {})
        config.model_spec = config.model_section(config.task_section.get('model'),
                                                 f'{self.name}.model')

    def eval_plugin(self, config):
        """Return the per-frame plug-in of ``runespoor eval`` (see ``evaluation.runner``)."""
        raise TaskError(f'task {self.name!r} cannot be evaluated (no eval plug-in)')

    def report(self):
        """Return the report module: ``summarise(config, result)``, ``markdown``, ``to_json``."""
        from runespoor.evaluation import generic_report
        return generic_report

    def figures(self):
        """Return the figures module (``write_all(summary, out_dir)``) or None."""
        return None

    def __repr__(self):
        return f'<task {self.name}>'
