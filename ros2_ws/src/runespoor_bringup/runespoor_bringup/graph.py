# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Start the Runespoor graph without ``ros2 launch``: each node its own OS process over DDS.

The pip-only counterpart of ``ros2 launch runespoor_bringup system.launch.py``, from the same
YAML files (rewritten for any namespace with :mod:`runespoor_edge.params_file`) and the same
node names:

    python scripts/run_graph.py                       # source + edge + cloud, Ctrl-C stops all
    python scripts/run_graph.py --nodes edge,cloud --namespace robot1 --method asr
    python scripts/run_graph.py -p cloud.seg_arch=palette -p source.max_frames=200
    python scripts/run_graph.py --task detection      # cloud from config/cloud_detection.yaml
    python scripts/run_graph.py --respawn edge --respawn cloud:5:10   # restart dead nodes

Processes run ``python -m <module> --ros-args ...``; Ctrl-C (or SIGTERM) is forwarded as SIGINT
so every node shuts down through rclpy, then SIGTERM / SIGKILL after a grace period.

When a node exits, everything stops (like a required node under ``ros2 launch``) unless the
node has a respawn policy (:class:`RespawnPolicy`, launch's ``respawn`` / ``respawn_delay``
plus a restart limit): then it is started again after its delay, up to ``max_restarts`` times,
and only the exit after the last restart stops the graph.  The runner's exit status is the
node's (128 + N for a node killed by signal N).
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from runespoor_edge.params_file import any_namespace_params

#: node key -> (python module, package, config file, node name)
NODES = {
    'source': ('runespoor_edge.source_node', 'runespoor_edge', 'source.yaml', 'runespoor_source'),
    'edge': ('runespoor_edge.edge_node', 'runespoor_edge', 'edge.yaml', 'runespoor_edge'),
    'cloud': ('runespoor_cloud.cloud_node', 'runespoor_cloud', 'cloud.yaml', 'runespoor_cloud'),
    'fleet': ('runespoor_cloud.fleet_node', 'runespoor_cloud', 'fleet.yaml', 'runespoor_fleet'),
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


def node_command(key, namespace='', params_file=None, overrides=None, remappings=None,
                 enclave=None):
    """
    Return the argv that runs node ``key`` (``source``, ``edge`` or ``cloud``).

    ``enclave``: SROS2 enclave (``--ros-args --enclave``); ``True`` = the launch files' name
    ``/runespoor[/<namespace>]/<key>``.
    """
    module, package, config, _ = NODES[key]
    params_file = params_file or config_path(package, config)
    cmd = [sys.executable, '-m', module, '--ros-args',
           '--params-file', any_namespace_params(params_file)]
    if enclave:
        from runespoor_edge.launch_support import enclave_name
        cmd += ['--enclave', enclave_name(key, namespace) if enclave is True else enclave]
    for name, value in (overrides or {}).items():
        cmd += ['-p', f'{name}:={_ros_value(value)}']
    if namespace:
        cmd += ['-r', '__ns:=/' + namespace.strip('/')]
    for src, dst in (remappings or {}).items():
        cmd += ['-r', f'{src}:={dst}']
    return cmd


class RespawnPolicy:
    """
    Restart a node that exits: after ``delay_s``, at most ``max_restarts`` times (-1: always).

    The counterpart of launch's ``respawn=True, respawn_delay=...`` (the launch files take
    ``respawn:=``, ``respawn_delay:=``, ``max_restarts:=``).  ``RespawnPolicy()`` = off.
    """

    def __init__(self, respawn=False, delay_s=2.0, max_restarts=3):
        if delay_s < 0:
            raise ValueError(f'respawn delay {delay_s:g} s: must be >= 0')
        self.respawn = bool(respawn)
        self.delay_s = float(delay_s)
        self.max_restarts = int(max_restarts)

    def allows(self, restarts):
        """Return True if a node restarted ``restarts`` times may be restarted once more."""
        return self.respawn and (self.max_restarts < 0 or restarts < self.max_restarts)

    @classmethod
    def parse(cls, text, delay_s=2.0, max_restarts=3):
        """``'edge'`` / ``'edge:1.5'`` / ``'edge:1.5:10'`` -> ``(key, RespawnPolicy)``."""
        parts = text.split(':')
        if not parts[0] or len(parts) > 3:
            raise ValueError(f'--respawn {text!r}: expected NODE[:DELAY_S[:MAX_RESTARTS]]')
        try:
            delay = float(parts[1]) if len(parts) > 1 and parts[1] else delay_s
            limit = int(parts[2]) if len(parts) > 2 and parts[2] else max_restarts
        except ValueError:
            raise ValueError(f'--respawn {text!r}: expected NODE[:DELAY_S[:MAX_RESTARTS]]')
        return parts[0], cls(True, delay, limit)

    def __repr__(self):
        if not self.respawn:
            return 'RespawnPolicy(off)'
        return f'RespawnPolicy(delay {self.delay_s:g} s, max {self.max_restarts})'


def exit_status(returncode):
    """Return a child's return code as a shell exit status (killed by signal N: 128 + N)."""
    if returncode is None:
        return 0
    return 128 - returncode if returncode < 0 else returncode


class Graph:
    """A set of node processes started together and stopped together (with respawns)."""

    def __init__(self, env=None, log_dir=None, say=None):
        self.env = dict(os.environ if env is None else env)
        self.log_dir = log_dir
        self.procs = {}
        self.restarts = {}
        self._logs = []
        self._specs = {}
        self._pending = {}  # key -> monotonic time of the restart
        self._say = say or (lambda text: None)

    def start(self, key, respawn=None, **kwargs):
        """
        Start node ``key``; output goes to ``log_dir/<key>.log`` or to this terminal.

        ``respawn``: a :class:`RespawnPolicy` applied by :meth:`supervise`.  ``kwargs``: see
        :func:`node_command`.
        """
        self._specs[key] = (respawn or RespawnPolicy(), kwargs)
        self.restarts.setdefault(key, 0)
        return self._spawn(key)

    def _spawn(self, key, mode='w'):
        cmd = node_command(key, **self._specs[key][1])
        out = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            out = open(os.path.join(self.log_dir, f'{key}.log'), mode)
            if mode == 'a':
                out.write(f'[run_graph] --- restart {self.restarts[key]} of {key} ---\n')
                out.flush()
            self._logs.append(out)
        self.procs[key] = subprocess.Popen(cmd, env=self.env, stdout=out,
                                           stderr=subprocess.STDOUT if out else None,
                                           start_new_session=True)
        return self.procs[key]

    def supervise(self):
        """
        Restart exited nodes whose policy allows it; return the keys that are dead for good.

        Call it periodically (``main`` does, every 0.2 s).  A restart waits for the node's
        ``delay_s`` after the exit was seen.
        """
        now = time.monotonic()
        dead = []
        for key, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            policy = self._specs.get(key, (RespawnPolicy(), {}))[0]
            if key in self._pending:
                if now >= self._pending[key]:
                    del self._pending[key]
                    self.restarts[key] += 1
                    self._spawn(key, mode='a')
                    self._say(f'{key} restarted ({self.restarts[key]}'
                              f'{"" if policy.max_restarts < 0 else "/%d" % policy.max_restarts}'
                              f', pid {self.procs[key].pid})')
            elif policy.allows(self.restarts[key]):
                self._pending[key] = now + policy.delay_s
                self._say(f'{key} exited (status {exit_status(proc.returncode)}); respawning in '
                          f'{policy.delay_s:g} s')
            else:
                dead.append(key)
        return dead

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
    ap.add_argument('--keystore', help='SROS2: run every node in its enclave '
                                       '/runespoor[/<namespace>]/<node> of this keystore '
                                       '(scripts/make_keystore.sh), ROS_SECURITY_STRATEGY=Enforce')
    ap.add_argument('--respawn', action='append', metavar='NODE[:DELAY_S[:MAX]]',
                    help='restart NODE when it exits (after DELAY_S, at most MAX times; '
                         'defaults --respawn-delay, --max-restarts); repeatable, e.g. '
                         '--respawn edge --respawn cloud:5:10')
    ap.add_argument('--respawn-delay', type=float, default=2.0,
                    help='seconds before a restart (default 2, launch: respawn_delay)')
    ap.add_argument('--max-restarts', type=int, default=3,
                    help='restarts per node before the graph stops (default 3; -1 = always)')
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
    if args.keystore:
        from runespoor_edge.launch_support import enclave_name, security_settings
        try:
            env.update(security_settings('true', args.keystore,
                                         [enclave_name(k, args.namespace) for k in keys], env))
        except ValueError as exc:
            raise SystemExit(f'--keystore: {exc}')
    if args.cloud_params:  # a given file runs the task asked for
        overrides['cloud'].setdefault('task', args.task)
    files = {'source': args.source_params, 'edge': args.edge_params,
             'cloud': args.cloud_params or config_path('runespoor_cloud',
                                                       CLOUD_TASK_PARAMS[args.task]),
             'fleet': None}  # config/fleet.yaml; its robots read cloud.yaml's defaults
    respawn = {}
    for item in args.respawn or []:
        try:
            key, policy = RespawnPolicy.parse(item, args.respawn_delay, args.max_restarts)
        except ValueError as exc:
            raise SystemExit(str(exc))
        if key not in keys:
            raise SystemExit(f'--respawn {item!r}: {key!r} is not one of --nodes {args.nodes}')
        respawn[key] = policy

    def say(text):
        print(f'[run_graph] {text}', flush=True)

    graph = Graph(env, say=say)
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
            graph.start(k, respawn=respawn.get(k), namespace=args.namespace,
                        params_file=files[k], overrides=overrides[k], remappings=remap,
                        enclave=bool(args.keystore))
        policies = ', '.join(f'{k}: {p!r}' for k, p in respawn.items())
        say(f'started {", ".join(f"{k} (pid {graph.procs[k].pid})" for k in keys)}'
            f'{" in /" + args.namespace.strip("/") if args.namespace else ""}'
            f'{"; respawn " + policies if respawn else ""}; Ctrl-C stops')
        while stop['sig'] is None:
            dead = graph.supervise()
            if dead:
                rc = max(exit_status(graph.procs[k].returncode) for k in dead)
                after = {k: graph.restarts[k] for k in dead if graph.restarts[k]}
                say(f'{", ".join(dead)} exited (status {rc})'
                    f'{" after %s restarts" % after if after else ""}; stopping the rest')
                break
            time.sleep(0.2)
    finally:
        codes = graph.stop()
        print(f'[run_graph] stopped: {codes}', flush=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
