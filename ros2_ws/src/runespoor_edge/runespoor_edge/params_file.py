# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Make a ROS 2 parameter file usable in any namespace.

Our ``config/*.yaml`` use the plain ``<node_name>: ros__parameters:`` form.  rcl reads such a
key as ``/<node_name>``, which does not match a node pushed into a robot namespace
(``/robot1/<node_name>``).  :func:`any_namespace_params` writes a copy whose keys are
``/**/<node_name>`` (rcl wildcard: any namespace), the same job as nav2_common's
``RewrittenYaml(root_key=namespace)``.  The launch files (runespoor_edge, runespoor_bringup) and
``scripts/run_graph.py`` pass the copy to the nodes.  Pure Python (PyYAML), no launch or rclpy
import.
"""

import hashlib
import os
import tempfile

import yaml


def rewrite_keys(data):
    """Return ``data`` with every top-level node key made namespace-independent."""
    if not isinstance(data, dict):
        raise ValueError('a ROS 2 parameter file is a mapping of node names')
    out = {}
    for key, value in data.items():
        key = str(key)
        out[key if key.startswith('/') else '/**/' + key] = value
    return out


def any_namespace_params(path, out_dir=None):
    """
    Write the rewritten copy of parameter file ``path``; return the copy's path.

    The copy lives in ``out_dir`` (default ``$TMPDIR/runespoor_params``) under a name derived
    from its content, so repeated launches reuse one file instead of piling up new ones.
    """
    with open(path, 'r', encoding='utf-8') as f:
        data = yaml.safe_load(f)
    text = yaml.safe_dump(rewrite_keys(data), sort_keys=False)
    out_dir = out_dir or os.path.join(tempfile.gettempdir(), 'runespoor_params')
    os.makedirs(out_dir, exist_ok=True)
    digest = hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]
    name = os.path.splitext(os.path.basename(path))[0]
    out = os.path.join(out_dir, f'{name}-{digest}.yaml')
    if not os.path.exists(out):
        tmp = out + f'.{os.getpid()}.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, out)
    return out
