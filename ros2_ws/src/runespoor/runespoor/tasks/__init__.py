# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The registry of analytics tasks: one explicit dict, :data:`TASKS`.

``segmentation`` (Cityscapes classes, the paper's main task) and ``detection`` (VisDrone
categories, paper §5.2) are built in.  A third task is a :class:`Task` subclass registered
with :func:`register_task` -- from Python, or by naming its import path
(``package.module:TaskClass``) as ``task`` in an eval config or the cloud node's launch-time
parameter; :func:`get_task` then imports and registers it.  See ``docs/architecture.md``.
"""

from runespoor.tasks.base import Analytics, import_object, Task, TaskError
from runespoor.tasks.detection import DetectionTask
from runespoor.tasks.segmentation import SegmentationTask

#: name -> :class:`Task` instance.  Edit through :func:`register_task`.
TASKS = {
    'segmentation': SegmentationTask(),
    'detection': DetectionTask(),
}

__all__ = ['Analytics', 'get_task', 'import_object', 'register_task', 'Task', 'TaskError',
           'TASKS', 'task_names']


def register_task(task, replace=False):
    """
    Add ``task`` (a :class:`Task` instance or subclass) to :data:`TASKS`; return the instance.

    A name already taken raises :class:`TaskError` unless ``replace`` (tests, a user
    overriding a built-in on purpose).
    """
    if isinstance(task, type):
        task = task()
    if not isinstance(task, Task):
        raise TaskError(f'{task!r} is not a runespoor.tasks.Task')
    if not task.name or not isinstance(task.name, str):
        raise TaskError(f'{type(task).__name__} has no name')
    if task.name in TASKS and not replace and TASKS[task.name] is not task:
        raise TaskError(f'task {task.name!r} is already registered')
    TASKS[task.name] = task
    return task


def task_names():
    """Return the registered task names."""
    return tuple(TASKS)


def get_task(name):
    """
    Return the registered task ``name``, or import and register ``package.module:Class``.

    Raises :class:`TaskError` naming the known tasks.
    """
    if isinstance(name, Task):
        return name
    if name in TASKS:
        return TASKS[name]
    if isinstance(name, str) and ':' in name:
        obj = import_object(name, 'task')
        task = obj() if isinstance(obj, type) else obj
        if not isinstance(task, Task):
            raise TaskError(f'task {name!r} is not a runespoor.tasks.Task')
        if task.name in TASKS and type(TASKS[task.name]) is type(task):
            return TASKS[task.name]
        return register_task(task)
    raise TaskError(f'unknown task {name!r}; choose from {", ".join(TASKS)} (or name a '
                    'plug-in as package.module:TaskClass)')
