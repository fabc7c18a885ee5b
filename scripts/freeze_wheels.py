#!/usr/bin/env python3
"""
Print ``name==version`` for every wheel installed in this interpreter's environment.

Like ``pip freeze``, but only for distributions installed from wheels (``*.dist-info``): the
ROS 2 wheels on PyPI carry ``*.egg-info`` metadata of their inner Python packages
(``action_msgs``, ``rclpy``, ...) that pip freeze lists too, although no index provides them.
"""

from importlib.metadata import distributions

SKIP = {'pip', 'setuptools', 'wheel'}


def main():
    pins = set()
    for dist in distributions():
        path = getattr(dist, '_path', None)
        name = dist.metadata['Name']
        if path is None or not path.name.endswith('.dist-info') or name.lower() in SKIP:
            continue
        pins.add(f'{name}=={dist.version}')
    for pin in sorted(pins, key=str.lower):
        print(pin)


if __name__ == '__main__':
    main()
