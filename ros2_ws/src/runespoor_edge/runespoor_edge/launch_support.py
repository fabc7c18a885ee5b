# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
What every Runespoor launch file does the same way (runespoor_edge's and runespoor_bringup's).

- **Required nodes** (:class:`ExitPolicy`): when the source, edge or cloud exits while the
  launch is not shutting down, the launch ends: a node that finished (status 0, e.g. the
  source at the end of a clip with ``loop:=false``) ends it with status 0 and a reason; a node
  that failed (``method:=foo``, a bad ``bag:=``) raises, which ``ros2 launch`` reports as
  ``Caught exception in launch: required node ... exited with status 2`` and answers with exit
  status 1 after stopping the other nodes.  With ``respawn:=true`` a node is restarted after
  ``respawn_delay`` seconds up to ``max_restarts`` times before that happens.
- **SROS2** (:func:`security_env`, :func:`enclave`): with ``use_security:=true`` (or
  ``auto`` and ``ROS_SECURITY_ENABLE=true`` in the environment) every node runs with
  ``--ros-args --enclave /runespoor[/<namespace>]/<node>`` and ``ROS_SECURITY_ENABLE=true``,
  ``ROS_SECURITY_STRATEGY=Enforce``, ``ROS_SECURITY_KEYSTORE=<keystore>``; a keystore that
  lacks an enclave is refused at launch time, before any node starts.
- **Parameter files**: :func:`params_files` rewrites the package default and an optional
  overlay (``params_file:=``) for any namespace and refuses an overlay without a section for
  a Runespoor node, instead of ignoring it.

The launch-specific imports happen inside the functions, so this module imports without
launch (its logic is unit-tested that way).  Python 3.10; the launch API of Humble.
"""

import os

from runespoor_edge.params_file import any_namespace_params
import yaml

TRUE = ('1', 'true', 'yes', 'on')
#: the enclave prefix of the Runespoor nodes (``ros2 security create_enclave <ks> <name>``)
ENCLAVE_ROOT = '/runespoor'
#: node key -> node name (the parameter files' top-level keys)
NODE_NAMES = {'source': 'runespoor_source', 'edge': 'runespoor_edge',
              'cloud': 'runespoor_cloud', 'fleet': 'runespoor_fleet'}
#: files an enclave folder of a ros2 security keystore holds
ENCLAVE_FILES = ('cert.pem', 'key.pem', 'governance.p7s', 'permissions.p7s',
                 'identity_ca.cert.pem', 'permissions_ca.cert.pem')


def as_bool(text):
    """Launch-argument text -> bool (``true``, ``1``, ``yes``, ``on``; any case)."""
    return str(text).strip().lower() in TRUE


# ------------------------------------------------------------------------- required nodes
class ExitPolicy:
    """
    What the launch does when a required node's process exits (``OnProcessExit`` handler).

    ``decide(returncode, shutting_down)`` -> ``(action, message)`` with action ``ignore``
    (the launch is shutting down anyway), ``respawn`` (launch's ``respawn`` restarts it),
    ``finish`` (status 0: end the launch cleanly) or ``fail`` (end it with an error).
    """

    def __init__(self, name, respawn=False, max_restarts=3):
        self.name = name
        self.respawn = bool(respawn)
        self.max_restarts = int(max_restarts)
        self.exits = 0

    def decide(self, returncode, shutting_down=False):
        """Return ``(action, message)`` for one exit of the process."""
        if shutting_down:
            return 'ignore', ''
        self.exits += 1
        status = f'status {returncode}'
        if self.respawn and (self.max_restarts < 0 or self.exits <= self.max_restarts):
            limit = 'no limit' if self.max_restarts < 0 else f'{self.exits}/{self.max_restarts}'
            return 'respawn', f'{self.name} exited with {status}; respawning ({limit})'
        after = f' after {self.exits - 1} restarts' if self.respawn else ''
        if returncode == 0:
            return 'finish', f'{self.name} finished{after}'
        return 'fail', f'required node {self.name} exited with {status}{after}'

    def __call__(self, event, context):
        """``OnProcessExit`` callback: log, end the launch, or raise (non-zero launch)."""
        from launch.actions import EmitEvent, LogInfo
        from launch.events import Shutdown
        action, message = self.decide(event.returncode,
                                      bool(getattr(context, 'is_shutdown', False)))
        if action == 'ignore':
            return None
        if action == 'respawn':
            return [LogInfo(msg=message)]
        if action == 'finish':
            return [LogInfo(msg=message + '; ending the launch'),
                    EmitEvent(event=Shutdown(reason=message))]
        # An exception in an event handler makes launch stop every process and return 1.
        raise RuntimeError(message + '; stopping the launch (see its log above)')


def respawn_settings(context):
    """``(respawn, respawn_delay, max_restarts)`` from the launch arguments of that name."""
    from launch.substitutions import LaunchConfiguration
    respawn = as_bool(LaunchConfiguration('respawn').perform(context))
    delay = float(LaunchConfiguration('respawn_delay').perform(context))
    restarts = int(LaunchConfiguration('max_restarts').perform(context))
    if delay < 0:
        raise ValueError(f'respawn_delay:={delay:g}: must be >= 0 [s]')
    return respawn, delay, restarts


def required_node(context, key, respawn=False, respawn_delay=0.0, max_restarts=3, **kwargs):
    """
    Return ``[Node, RegisterEventHandler]``: node ``key`` that ends the launch when it exits.

    ``kwargs`` go to ``launch_ros.actions.Node`` (package, executable, parameters, ...); name
    and namespace are filled in, and the SROS2 enclave when security is on.
    """
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node
    namespace = LaunchConfiguration('namespace').perform(context)
    env = security_env(context, [key])
    if env:
        kwargs['ros_arguments'] = list(kwargs.get('ros_arguments', [])) + [
            '--enclave', enclave(context, key)]
        kwargs['additional_env'] = dict(kwargs.get('additional_env', {}), **env)
    if respawn:
        kwargs['respawn'] = True
        kwargs['respawn_delay'] = float(respawn_delay)
    node = Node(name=NODE_NAMES[key], namespace=namespace, output='screen', **kwargs)
    policy = ExitPolicy(NODE_NAMES[key], respawn, max_restarts)
    return [node, RegisterEventHandler(OnProcessExit(target_action=node, on_exit=policy))]


# ------------------------------------------------------------------------------- SROS2
def enclave_name(node_key, namespace='', root=ENCLAVE_ROOT):
    """``/runespoor/edge``, or ``/runespoor/robot1/edge`` in namespace ``robot1``."""
    parts = [p for p in (root.strip('/'), namespace.strip('/'), node_key) if p]
    return '/' + '/'.join(parts)


def enclave(context, node_key):
    """Return the enclave of ``node_key`` under the enclave_root and namespace arguments."""
    from launch.substitutions import LaunchConfiguration
    return enclave_name(node_key, LaunchConfiguration('namespace').perform(context),
                        LaunchConfiguration('enclave_root').perform(context) or ENCLAVE_ROOT)


def security_wanted(use_security, environ=None):
    """``use_security`` argument (true | false | auto) -> bool; auto = $ROS_SECURITY_ENABLE."""
    environ = os.environ if environ is None else environ
    text = str(use_security).strip().lower()
    if text == 'auto':
        return as_bool(environ.get('ROS_SECURITY_ENABLE', 'false'))
    if text not in TRUE + ('0', 'false', 'no', 'off'):
        raise ValueError(f'use_security:={use_security!r}: true, false or auto')
    return as_bool(text)


def missing_enclave_files(keystore, enclave_path):
    """Return what ``keystore`` lacks for ``enclave_path`` (empty: usable)."""
    folder = os.path.join(keystore, 'enclaves', enclave_path.strip('/'))
    if not os.path.isdir(folder):
        return [folder]
    return [os.path.join(folder, f) for f in ENCLAVE_FILES
            if not os.path.isfile(os.path.join(folder, f))]


def security_settings(use_security, keystore, enclaves, environ=None):
    """
    Return the environment for SROS2, or ``{}`` when security is off.

    ``keystore``: the launch argument (empty: ``$ROS_SECURITY_KEYSTORE``).  ``enclaves``: the
    enclave names the launch will use; each must be in the keystore (``ValueError`` naming
    what is missing and the command that makes it).
    """
    environ = os.environ if environ is None else environ
    if not security_wanted(use_security, environ):
        return {}
    keystore = keystore or environ.get('ROS_SECURITY_KEYSTORE', '')
    if not keystore:
        raise ValueError('use_security is on but no keystore: pass keystore:=/path or set '
                         'ROS_SECURITY_KEYSTORE (make one with scripts/make_keystore.sh)')
    keystore = os.path.abspath(os.path.expanduser(keystore))
    for name in enclaves:
        missing = missing_enclave_files(keystore, name)
        if missing:
            raise ValueError(
                f'keystore {keystore} has no usable enclave {name} (missing {missing[0]}); '
                f'create it with: scripts/make_keystore.sh {keystore} {name}')
    return {'ROS_SECURITY_ENABLE': 'true', 'ROS_SECURITY_STRATEGY': 'Enforce',
            'ROS_SECURITY_KEYSTORE': keystore}


def security_env(context, node_keys=None):
    """SROS2 environment for the nodes of this launch (``{}``: security off)."""
    from launch.substitutions import LaunchConfiguration
    keys = node_keys or ()
    return security_settings(LaunchConfiguration('use_security').perform(context),
                             LaunchConfiguration('keystore').perform(context),
                             [enclave(context, k) for k in keys])


def check_security(context, node_keys):
    """Refuse at launch time when security is on and an enclave is missing; return []."""
    try:
        security_env(context, node_keys)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    return []


# --------------------------------------------------------------------- parameter files
def params_files(default_file, overlay=''):
    """
    Return the parameter files for a node: the default and, if given, the overlay.

    Both are rewritten for any namespace.  An overlay that does not exist, or has no section
    for a Runespoor node, raises ``ValueError`` (a typo must not be ignored).
    """
    files = [any_namespace_params(default_file)]
    if overlay:
        check_overlay(overlay)
        files.append(any_namespace_params(overlay))
    return files


def check_overlay(path):
    """Raise ``ValueError`` unless ``path`` is a parameter file with a Runespoor node section."""
    if not os.path.isfile(path):
        raise ValueError(f'params_file:={path}: no such file')
    with open(path, 'r', encoding='utf-8') as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f'params_file:={path}: not a ROS 2 parameter file')
    names = {str(k).rsplit('/', 1)[-1] for k in data}
    if not names & set(NODE_NAMES.values()):
        raise ValueError(f'params_file:={path}: no section for '
                         f'{", ".join(NODE_NAMES.values())} (found {sorted(names)})')


# ------------------------------------------------------------------ common arguments
def common_arguments(respawn=False):
    """``DeclareLaunchArgument``s every Runespoor launch file takes (security, respawn)."""
    from launch.actions import DeclareLaunchArgument
    args = [
        DeclareLaunchArgument('use_security', default_value='auto',
                              description='SROS2: true | false | auto (= $ROS_SECURITY_ENABLE)'),
        DeclareLaunchArgument('keystore', default_value='',
                              description='SROS2 keystore; empty = $ROS_SECURITY_KEYSTORE '
                                          '(scripts/make_keystore.sh makes one)'),
        DeclareLaunchArgument('enclave_root', default_value=ENCLAVE_ROOT,
                              description='enclaves are <root>[/<namespace>]/<node>'),
    ]
    if respawn:
        args += [
            DeclareLaunchArgument('respawn', default_value='false',
                                  description='restart the edge / cloud node when it exits'),
            DeclareLaunchArgument('respawn_delay', default_value='2.0',
                                  description='seconds before a restart'),
            DeclareLaunchArgument('max_restarts', default_value='3',
                                  description='restarts before the launch gives up and ends '
                                              'with an error; -1 = no limit'),
        ]
    return args
