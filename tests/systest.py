"""Shared helpers for the system tests: repository paths and isolated ROS environments."""

import os
import pathlib
import random
import subprocess


REPO = pathlib.Path(__file__).resolve().parents[1]


def ros_env(wheels=None, domain_id=None):
    """
    Return an environment for a child process that talks DDS in its own ROS domain.

    ``wheels=None`` keeps the current environment (the one `make test` sourced).  ``'kilted'`` or
    ``'jazzy'`` builds a clean one from ``scripts/env.sh`` so that nothing of the parent's ROS
    distribution leaks into the child.
    """
    domain = str(domain_id if domain_id is not None else random.randint(1, 100))
    if wheels is None:
        env = dict(os.environ)
    else:
        base = {k: os.environ[k] for k in ('HOME', 'LANG', 'TMPDIR') if k in os.environ}
        base['PATH'] = '/usr/local/bin:/usr/bin:/bin'
        out = subprocess.run(
            ['bash', '-c', f'source scripts/env.sh {wheels} >/dev/null && env -0'],
            cwd=REPO, env=base, capture_output=True, check=True)
        env = dict(kv.split('=', 1) for kv in out.stdout.decode().split('\0') if '=' in kv)
    env['ROS_DOMAIN_ID'] = domain
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['PYTHONUNBUFFERED'] = '1'
    return env


def wheels_available(wheels):
    """Return True if `make setup` built the workspace for the given wheels."""
    install = 'install' if wheels == 'jazzy' else f'install-{wheels}'
    venv = '.venv' if wheels == 'jazzy' else f'.venv-{wheels}'
    return (REPO / venv / 'bin' / 'python').exists() and \
        (REPO / 'ros2_ws' / install / 'runespoor_msgs').is_dir()
