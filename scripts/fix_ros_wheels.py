#!/usr/bin/env python3
"""Repair the exported CMake targets of the ROS 2 PyPI wheels in a virtual environment.

The message wheels on PyPI (``ros-jazzy-*``, ``ros-kilted-*``) export CMake targets such as
``std_msgs::std_msgs__rosidl_generator_py`` whose ``INTERFACE_INCLUDE_DIRECTORIES`` name paths of
the machine the wheels were built on::

    /opt/python/cp311-cp311/include/python3.11
    /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include

CMake refuses imported targets whose include directories do not exist, so
``rosidl_generate_interfaces`` of our own ``runespoor_msgs`` fails at the generate step.  This
script rewrites those two paths, inside the venv only, to this interpreter's include directory
and the venv's NumPy include directory.  It is idempotent (a second run finds nothing to change)
and is never needed on a real ROS install, where the paths are correct; ``make setup`` only runs
it against the project venv.

Usage: ``python scripts/fix_ros_wheels.py VENV`` (run with the venv's own interpreter).
"""

import pathlib
import re
import sys
import sysconfig

# The build-machine prefix baked into the wheels: any manylinux CPython ('cp311-cp311', ...).
_BUILD_PREFIX = re.compile(r'/opt/python/cp3\d+-cp3\d+')


def replacements():
    """Return (pattern, replacement) pairs for this interpreter and its NumPy."""
    import numpy

    py_include = sysconfig.get_paths()['include']
    np_include = numpy.get_include()
    return [
        (re.compile(_BUILD_PREFIX.pattern + r'/include/python3\.\d+'), py_include),
        (re.compile(_BUILD_PREFIX.pattern + r'/lib/python3\.\d+/site-packages/numpy/_core/include'),
         np_include),
        (re.compile(_BUILD_PREFIX.pattern + r'/lib/python3\.\d+/site-packages/numpy/core/include'),
         np_include),
    ]


def fix_tree(root):
    """Rewrite every ``*.cmake`` file under ``root/share``; return the list of files changed."""
    pairs = replacements()
    changed = []
    for path in sorted(pathlib.Path(root, 'share').glob('*/cmake/*.cmake')):
        text = path.read_text()
        if '/opt/python/' not in text:
            continue
        new = text
        for pattern, repl in pairs:
            new = pattern.sub(lambda _m, r=repl: r, new)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    root = pathlib.Path(argv[0])
    if not (root / 'share').is_dir():
        print(f'fix_ros_wheels: {root}/share does not exist; is {root} a venv with ROS wheels?',
              file=sys.stderr)
        return 1
    changed = fix_tree(root)
    print(f'fix_ros_wheels: rewrote build-machine include paths in {len(changed)} CMake file(s) '
          f'under {root}/share')
    return 0


if __name__ == '__main__':
    sys.exit(main())
