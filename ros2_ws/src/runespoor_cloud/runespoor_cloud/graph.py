# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Start the Runespoor graph without ``ros2 launch``: each node its own OS process over DDS.

The pip-only counterpart of ``system.launch.py``, from the same YAML files (rewritten for any
namespace with :mod:`runespoor_cloud.params_file`) and the same node names:

    python scripts/run_graph.py                       # source + edge + cloud, Ctrl-C stops all
    python scripts/run_graph.py --nodes edge,cloud --namespace robot1 --method asr
    python scripts/run_graph.py -p cloud.seg_arch=palette -p source.max_frames=200
    python scripts/run_graph.py --task detection      # cloud from config/cloud_detection.yaml

Processes run ``python -m <module> --ros-args ...``; Ctrl-C (or SIGTERM) is forwarded as SIGINT
so every node shuts down through rclpy, then SIGTERM / SIGKILL after a grace period.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from runespoor_cloud.params_file import any_namespace_params

#: node key -> (python module, package, config file, node name)
NODES = {
    'source': ('runespoor_edge.source_node', 'runespoor_edge', 'source.yaml', 'runespoor_source'),
    'edge': ('runespoor_edge.edge_node', 'runespoor_edge', 'edge.yaml', 'runespoor_edge'),
    'cloud': ('runespoor_cloud.cloud_node', 'runespoor_cloud', 'cloud.yaml', 'runespoor_cloud'),
}

#: cloud task -> its parameter file (config/ of runespoor_cloud)
CLOUD_TASK_PARAMS = {'segmentation': 'cloud.yaml', 'detection': 'cloud_detection.yaml'}


def config_path(package, name):
    """Path of ``config/<name>`` of ``package`` (installed share, else the source tree)."""
    try:
        from ament_index_python.packages import get_package_share_directory
        path = os.path.join(get_package_share_directory(package), 'config', name)
        if os.path.isfile(path):
            return path
    except (ImportError, LookupError, ValueError):
        pass
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(os.path.dirname(here), package, 'config', name)


def _ros_value(value):
    """Render ``value`` as the YAML that ``--ros-args -p name:=value`` parses back."""
    import yaml
    text = yaml.safe_dump(list(value) if isinstance(value, tuple) else value,
                          default_flow_style=True, width=1 << 16).strip()
    return text[:-3].strip() if text.endswith('...') else text


def node_command(key, namespace='', params_file=None, overrides=None, remappings=None):
    """Return the argv that runs node ``key`` (``source``, ``edge`` or ``cloud``)."""
    module, package, config, _ = NODES[key]
    params_file = params_file or config_path(package, config)
    cmd = [sys.executable, '-m', module, '--ros-args',
           '--params-file', any_namespace_params(params_file)]
    for name, value in (overrides or {}).items():
        cmd += ['-p', f'{name}:={_ros_value(value)}']
    if namespace:
        cmd += ['-r', '__ns:=/' + namespace.strip('/')]
    for src, dst in (remappings or {}).items():
        cmd += ['-r', f'{src}:={dst}']
    return cmd


class Graph:
    """A set of node processes started together and stopped together."""

    def __init__(self, env=None, log_dir=None):
        self.env = dict(os.environ if env is None else env)
        self.log_dir = log_dir
        self.procs = {}
        self._logs = []

    def start(self, key, **kwargs):
        """Start node ``key``; output goes to ``log_dir/<key>.log`` or to this terminal."""
        cmd = node_command(key, **kwargs)
        out = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            out = open(os.path.join(self.log_dir, f'{key}.log'), 'w')
            self._logs.append(out)
        self.procs[key] = subprocess.Popen(cmd, env=self.env, stdout=out,
                                           stderr=subprocess.STDOUT if out else None,
                                           start_new_session=True)
        return self.procs[key]

    def log(self, key):
        """Return what node ``key`` wrote so far (needs ``log_dir``)."""
        with open(os.path.join(self.log_dir, f'{key}.log'), 'r', errors='replace') as f:
            return f.read()

    def alive(self):
        """Return the keys of the processes still running."""
        return [k for k, p in self.procs.items() if p.poll() is None]

    def stop(self, grace_s=5.0):
        """SIGINT every process, wait ``grace_s``, then SIGTERM, then SIGKILL; return codes."""
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 2.0),
                            (signal.SIGKILL, 2.0)):
            running = [p for p in self.procs.values() if p.poll() is None]
            if not running:
                break
            for p in running:
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait_s
            for p in running:
                try:
                    p.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for f in self._logs:
            f.close()
        self._logs = []
        return {k: p.returncode for k, p in self.procs.items()}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def parse_overrides(items):
    """``['cloud.seg_arch=palette', ...]`` -> ``{'cloud': {'seg_arch': 'palette'}}``."""
    import yaml
    out = {k: {} for k in NODES}
    for item in items or []:
        try:
            target, value = item.split('=', 1)
            key, name = target.split('.', 1)
        except ValueError:
            raise SystemExit(f'-p {item!r}: expected NODE.PARAM=VALUE')
        if key not in NODES:
            raise SystemExit(f'-p {item!r}: node must be one of {", ".join(NODES)}')
        out[key][name] = yaml.safe_load(value)
    return out


def build_parser():
    """Command-line interface of ``scripts/run_graph.py``."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--nodes', default='source,edge,cloud',
                    help='comma-separated subset of source,edge,cloud (default: all)')
    ap.add_argument('--namespace', default='', help='robot namespace, e.g. robot1')
    ap.add_argument('--source-params', help='source YAML (default: runespoor_edge config)')
    ap.add_argument('--edge-params', help='edge YAML (default: runespoor_edge config)')
    ap.add_argument('--cloud-params', help='cloud YAML (default: runespoor_cloud config of '
                                           'the task)')
    ap.add_argument('--task', choices=tuple(CLOUD_TASK_PARAMS), default='segmentation',
                    help='cloud analytics; picks config/cloud.yaml or cloud_detection.yaml')
    ap.add_argument('--method', help='cloud reconstruction method (bilinear|sr|asr|cloudseg)')
    ap.add_argument('--device', help='cloud device (auto|cpu|cuda)')
    ap.add_argument('--input-topic', default='camera/image_raw', help='camera topic')
    ap.add_argument('--domain-id', type=int, help='ROS_DOMAIN_ID for the nodes')
    ap.add_argument('-p', dest='params', action='append', metavar='NODE.PARAM=VALUE',
                    help='parameter override, e.g. -p cloud.seg_arch=palette (repeatable)')
    return ap


def main(argv=None):
    """Run the graph until Ctrl-C or until a node exits; return its exit status."""
    args = build_parser().parse_args(argv)
    keys = [k.strip() for k in args.nodes.split(',') if k.strip()]
    for k in keys:
        if k not in NODES:
            raise SystemExit(f'--nodes: unknown node {k!r}; use {", ".join(NODES)}')
    overrides = parse_overrides(args.params)
    if args.method:
        overrides['cloud']['method'] = args.method
    if args.device:
        overrides['cloud']['device'] = args.device
    env = dict(os.environ)
    if args.domain_id is not None:
        env['ROS_DOMAIN_ID'] = str(args.domain_id)
    if args.cloud_params:  # a given file runs the task asked for
        overrides['cloud'].setdefault('task', args.task)
    files = {'source': args.source_params, 'edge': args.edge_params,
             'cloud': args.cloud_params or config_path('runespoor_cloud',
                                                       CLOUD_TASK_PARAMS[args.task])}
    graph = Graph(env)
    stop = {'sig': None}

    def on_signal(signum, frame):
        stop['sig'] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rc = 0
    try:
        for k in keys:
            remap = {'camera/image_raw': args.input_topic} \
                if k in ('source', 'edge') and args.input_topic != 'camera/image_raw' else None
            graph.start(k, namespace=args.namespace, params_file=files[k],
                        overrides=overrides[k], remappings=remap)
        print(f'[run_graph] started {", ".join(keys)}'
              f'{" in /" + args.namespace.strip("/") if args.namespace else ""}; Ctrl-C stops',
              flush=True)
        while stop['sig'] is None:
            dead = [k for k, p in graph.procs.items() if p.poll() is not None]
            if dead:
                rc = max(graph.procs[k].returncode or 0 for k in dead)
                print(f'[run_graph] {", ".join(dead)} exited (status {rc}); stopping the rest',
                      flush=True)
                break
            time.sleep(0.2)
    finally:
        codes = graph.stop()
        print(f'[run_graph] stopped: {codes}', flush=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
