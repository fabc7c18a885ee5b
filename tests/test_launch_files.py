# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The launch files, executed against a tiny fake ``launch`` / ``launch_ros`` (none on PyPI).

Checks that the nodes they start exist as entry points of their packages, use the packages'
YAML files under the right node name, only set declared parameters, remap topics the nodes
use *with the message type the other side has* (a remapped CompressedImage subscription must
land on a ``.../compressed`` topic, never on the raw Image topic), honour the namespace and
``params_file``, end the launch when a required node exits (status 0: clean; otherwise the
launch fails), refuse ``use_rviz:=true`` without rviz2 before anything starts, put each node in
its SROS2 enclave when security is on, and that RViz shows topics the nodes publish.  Where
the real ``launch_ros`` is importable (a ROS 2 install), ``test_real_ros2_launch_*`` runs the
files under it too.
"""

import ast
import importlib.util
import os
import re
import sys
import types

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(REPO, 'ros2_ws', 'src')
EDGE_LAUNCH = os.path.join(SRC, 'runespoor_edge', 'launch')
LAUNCH = os.path.join(SRC, 'runespoor_bringup', 'launch')
CALLS = []
HANDLERS = []
PACKAGES = ('runespoor_edge', 'runespoor_cloud', 'runespoor_bringup')
PREFIXES = {}  # package -> install prefix, for get_package_prefix (rviz2 present or not)


# ---------------------------------------------------------------------------- fake launch API
class Recorded:
    def __init__(self, *args, **kwargs):
        CALLS.append(type(self).__name__)
        self.args, self.kwargs = args, kwargs


class LaunchDescription(Recorded):
    pass


class DeclareLaunchArgument(Recorded):
    pass


class OpaqueFunction(Recorded):
    pass


class IncludeLaunchDescription(Recorded):
    pass


class PythonLaunchDescriptionSource(Recorded):
    pass


class IfCondition(Recorded):
    pass


class Node(Recorded):
    pass


class RegisterEventHandler(Recorded):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        HANDLERS.append(self)


class OnProcessExit(Recorded):
    pass


class EmitEvent(Recorded):
    pass


class LogInfo(Recorded):
    pass


class Shutdown(Recorded):
    pass


class PackageNotFoundError(KeyError):
    pass


class LaunchConfiguration(Recorded):
    def perform(self, context):
        return context[self.args[0]]


def share_dir(package):
    if package not in PACKAGES:
        raise LookupError(package)
    return os.path.join(SRC, package)


def package_prefix(package):
    if package not in PREFIXES:
        raise PackageNotFoundError(package)
    return PREFIXES[package]


def fake_modules():
    mods = {}
    for name in ('launch', 'launch.actions', 'launch.substitutions', 'launch.conditions',
                 'launch.launch_description_sources', 'launch.event_handlers', 'launch.events',
                 'launch_ros', 'launch_ros.actions', 'ament_index_python',
                 'ament_index_python.packages'):
        mods[name] = types.ModuleType(name)
    mods['launch'].LaunchDescription = LaunchDescription
    for cls in (DeclareLaunchArgument, OpaqueFunction, IncludeLaunchDescription,
                RegisterEventHandler, EmitEvent, LogInfo):
        setattr(mods['launch.actions'], cls.__name__, cls)
    mods['launch.substitutions'].LaunchConfiguration = LaunchConfiguration
    mods['launch.conditions'].IfCondition = IfCondition
    mods['launch.launch_description_sources'].PythonLaunchDescriptionSource = \
        PythonLaunchDescriptionSource
    mods['launch.event_handlers'].OnProcessExit = OnProcessExit
    mods['launch.events'].Shutdown = Shutdown
    mods['launch_ros.actions'].Node = Node
    pkgs = mods['ament_index_python.packages']
    pkgs.get_package_share_directory = share_dir
    pkgs.get_package_prefix = package_prefix
    pkgs.PackageNotFoundError = PackageNotFoundError
    return mods


@pytest.fixture(autouse=True)
def fake_launch(monkeypatch):
    for name, mod in fake_modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delenv('ROS_SECURITY_ENABLE', raising=False)
    monkeypatch.delenv('ROS_SECURITY_KEYSTORE', raising=False)
    CALLS.clear()
    HANDLERS.clear()
    PREFIXES.clear()


def load(path):
    spec = importlib.util.spec_from_file_location(
        'launch_under_test_' + os.path.basename(path).replace('.', '_'), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def resolve(value, context):
    if isinstance(value, LaunchConfiguration):
        return value.perform(context)
    return value


def enabled(entity, context):
    cond = entity.kwargs.get('condition')
    return cond is None or resolve(cond.args[0], context).lower() == 'true'


def execute(path, arguments=None):
    """Run a launch file like `ros2 launch` would; return the Node actions it starts."""
    desc = load(path).generate_launch_description()
    context = {}
    entities = desc.args[0]
    for e in entities:
        if isinstance(e, DeclareLaunchArgument):
            name = e.args[0]
            assert e.kwargs.get('description'), f'{path}: argument {name} has no description'
            if 'default_value' in e.kwargs:
                context[name] = e.kwargs['default_value']
    for name, value in (arguments or {}).items():
        context[name] = value
    nodes = []

    def add(node):
        if enabled(node, context):
            nodes.append((node, dict(context)))

    for e in entities:
        if isinstance(e, OpaqueFunction):
            for action in e.kwargs['function'](context):
                if isinstance(action, Node):
                    add(action)
                else:
                    assert isinstance(action, RegisterEventHandler), action
        elif isinstance(e, Node):
            add(e)
        elif isinstance(e, IncludeLaunchDescription) and enabled(e, context):
            included = e.args[0].args[0]
            args = {k: resolve(v, context) for k, v in e.kwargs['launch_arguments']}
            nodes += execute(included, args)
    return nodes


def exit_policy(node):
    """The OnProcessExit callback registered for ``node`` (None: not a required node)."""
    for h in HANDLERS:
        handler = h.args[0]
        if handler.kwargs['target_action'] is node:
            return handler.kwargs['on_exit']
    return None


class Event:
    def __init__(self, returncode):
        self.returncode = returncode


class Context:
    def __init__(self, is_shutdown=False):
        self.is_shutdown = is_shutdown


def entry_points(package):
    """console_scripts of a package's setup.py, parsed with ast: {exe: 'module:func'}."""
    with open(os.path.join(SRC, package, 'setup.py')) as f:
        tree = ast.parse(f.read())
    scripts = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                re.match(r'^\s*\w+\s*=\s*[\w.]+:\w+\s*$', node.value):
            exe, target = (s.strip() for s in node.value.split('='))
            scripts[exe] = target
    return scripts


def declared_parameters(module):
    return set(importlib.import_module(module).PARAMETERS)


MODULES = {('runespoor_edge', 'edge_node'): 'runespoor_edge.edge_node',
           ('runespoor_edge', 'source_node'): 'runespoor_edge.source_node',
           ('runespoor_cloud', 'cloud_node'): 'runespoor_cloud.cloud_node',
           ('runespoor_cloud', 'fleet_node'): 'runespoor_cloud.fleet_node'}


def topic_types(module):
    """``{topic: {message type, ...}}`` the node module subscribes or publishes (by source)."""
    src = open(importlib.util.find_spec(module).origin).read()
    out = {}
    for kind, topic in re.findall(r"create_(?:subscription|publisher)\(\s*(\w+),\s*'([^']+)'",
                                  src):
        out.setdefault(topic, set()).add(kind)
    return out


def check_node(node, context):
    kw = node.kwargs
    if kw['package'] == 'rviz2':
        assert kw['arguments'][0] == '-d'
        rviz = resolve(kw['arguments'][1], context)
        assert os.path.isfile(rviz), rviz
        return
    scripts = entry_points(kw['package'])
    assert kw['executable'] in scripts, f'{kw["executable"]} not in {kw["package"]}/setup.py'
    module = MODULES[(kw['package'], kw['executable'])]
    assert scripts[kw['executable']] == module + ':main'
    files = [p for p in kw['parameters'] if isinstance(p, str)]
    overrides = [p for p in kw['parameters'] if isinstance(p, dict)]
    assert kw['parameters'] == files + overrides, 'files first, then the overrides'
    declared = declared_parameters(module)
    for i, params_file in enumerate(files):
        with open(params_file) as f:
            data = yaml.safe_load(f)
        if i == 0:  # the node's own file
            assert list(data) == ['/**/' + kw['name']], f'{params_file}: keys {list(data)}'
        mine = data.get('/**/' + kw['name'], {}).get('ros__parameters', {})
        assert set(mine) <= declared, set(mine) - declared
    for extra in overrides:
        assert set(extra) <= declared, set(extra) - declared
    types_ = topic_types(module)
    for frm, to in kw.get('remappings', []):
        assert frm in types_, f'{module} does not use topic {frm}'
        if types_[frm] == {'CompressedImage'}:  # image_transport: <base>/compressed
            assert to.rstrip('/').endswith('/compressed'), (frm, to)
        if types_[frm] == {'Image'}:
            assert not to.rstrip('/').endswith('/compressed'), (frm, to)


def graph_topics(nodes):
    """``{resolved topic: {type}}`` over all nodes of a launch (remaps + namespaces applied)."""
    out = {}
    for node, _ in nodes:
        kw = node.kwargs
        if kw['package'] == 'rviz2':
            continue
        remap = dict(kw.get('remappings', []))
        ns = kw.get('namespace') or ''
        for topic, kinds in topic_types(MODULES[(kw['package'], kw['executable'])]).items():
            name = remap.get(topic, topic)
            if not name.startswith('/'):
                name = '/' + '/'.join(p for p in (ns.strip('/'), name) if p)
            out.setdefault(name, set()).update(kinds)
    return out


def node_names(nodes):
    return sorted(n.kwargs['name'] for n, _ in nodes)


def by_name(nodes, name):
    return next(n for n, _ in nodes if n.kwargs['name'] == name)


@pytest.fixture
def bag(tmp_path):
    path = tmp_path / 'clip0'
    path.mkdir()
    return str(path)


ALL_FILES = [os.path.join(EDGE_LAUNCH, f) for f in ('edge', 'source', 'robot')] + \
    [os.path.join(LAUNCH, f) for f in ('cloud', 'system', 'bag_replay', 'fleet')]


def test_import_has_no_side_effects():
    for path in ALL_FILES:
        load(path + '.launch.py')
    assert CALLS == []


def test_edge_launch():
    nodes = execute(os.path.join(EDGE_LAUNCH, 'edge.launch.py'),
                    {'namespace': 'robot1', 'input_topic': '/front/image'})
    assert node_names(nodes) == ['runespoor_edge']
    node, ctx = nodes[0]
    check_node(node, ctx)
    assert node.kwargs['namespace'] == 'robot1'
    assert node.kwargs['remappings'] == [('camera/image_raw', '/front/image')]
    assert node.kwargs['parameters'][-1] == {'input_type': 'raw'}


@pytest.mark.parametrize('topic,expected', [('/front/image', '/front/image/compressed'),
                                            ('camera/image_raw', 'camera/image_raw/compressed'),
                                            ('/cam/compressed', '/cam/compressed')])
def test_compressed_input_lands_on_the_compressed_topic(topic, expected):
    nodes = execute(os.path.join(EDGE_LAUNCH, 'edge.launch.py'),
                    {'input_type': 'compressed', 'input_topic': topic})
    node, ctx = nodes[0]
    check_node(node, ctx)  # CompressedImage subscription -> a .../compressed topic
    assert node.kwargs['remappings'] == [('camera/image_raw/compressed', expected)]
    assert node.kwargs['parameters'][-1] == {'input_type': 'compressed'}
    # both sides: the edge's CompressedImage subscription is where image_transport publishes
    # the camera's compressed stream, and only CompressedImage is expected there
    topics = graph_topics(nodes)
    full = expected if expected.startswith('/') else '/' + expected
    assert topics[full] == {'CompressedImage'}


def test_compressed_input_with_the_frame_source_is_refused():
    with pytest.raises(RuntimeError, match='CompressedImage'):
        execute(os.path.join(LAUNCH, 'system.launch.py'), {'input_type': 'compressed'})
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'),
                    {'input_type': 'compressed', 'use_source': 'false'})
    assert node_names(nodes) == ['runespoor_cloud', 'runespoor_edge']


def test_system_graph_types_agree_on_every_topic():
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'),
                    {'namespace': 'robot2', 'input_topic': '/robot2/cam'})
    topics = graph_topics(nodes)
    for topic, kinds in topics.items():
        assert len(kinds) == 1, f'{topic}: {kinds}'
    assert topics['/robot2/cam'] == {'Image'}
    assert topics['/robot2/runespoor/encoded'] == {'EncodedFrame'}


def test_cloud_launch_passes_method_and_device():
    nodes = execute(os.path.join(LAUNCH, 'cloud.launch.py'),
                    {'method': 'asr', 'device': 'cuda', 'seg_weights': '/m/seg.pt'})
    node, ctx = nodes[0]
    check_node(node, ctx)
    assert node.kwargs['parameters'][-1] == {'method': 'asr', 'device': 'cuda',
                                             'seg_weights': '/m/seg.pt'}


def test_fleet_launch_serves_the_robots_given():
    path = os.path.join(LAUNCH, 'fleet.launch.py')
    nodes = execute(path, {'robots': 'robot1, robot2,/robot3', 'method': 'asr',
                           'max_batch': '4', 'max_wait_ms': '3'})
    assert len(nodes) == 1
    node, ctx = nodes[0]
    check_node(node, ctx)
    assert node.kwargs['name'] == 'runespoor_fleet' and exit_policy(node) is not None
    over = node.kwargs['parameters'][-1]
    assert over['robots'] == ['robot1', 'robot2', 'robot3'] and over['method'] == 'asr'
    assert (over['max_batch'], over['max_wait_ms']) == (4, 3.0)
    cloud = yaml.safe_load(open(node.kwargs['parameters'][1]))   # what the robots' nodes read
    assert list(cloud) == ['/**/runespoor_cloud']
    assert set(cloud['/**/runespoor_cloud']['ros__parameters']) <= \
        declared_parameters('runespoor_cloud.cloud_node')
    # scale-out: one server per GPU, each with its own robots and fleet node name
    node, _ = execute(path, {'robots': 'robot5', 'namespace': 'gpu1',
                             'cuda_visible_devices': '1'})[0]
    assert node.kwargs['namespace'] == 'gpu1'
    assert node.kwargs['additional_env'] == {'CUDA_VISIBLE_DEVICES': '1'}
    for bad in ('', 'robot1,robot1', ' , '):
        with pytest.raises(ValueError, match='robots'):
            execute(path, {'robots': bad})


def test_task_argument_chooses_the_cloud_params_file(bag):
    for path in ('cloud.launch.py', 'system.launch.py', 'bag_replay.launch.py'):
        args = {'task': 'detection', 'bag': bag}
        nodes = execute(os.path.join(LAUNCH, path), args)
        node = by_name(nodes, 'runespoor_cloud')
        check_node(node, {})  # cloud_detection.yaml sets only declared parameters
        params = yaml.safe_load(open(node.kwargs['parameters'][0]))
        assert params['/**/runespoor_cloud']['ros__parameters']['task'] == 'detection', path
        assert 'task' not in node.kwargs['parameters'][-1]
    node, ctx = execute(os.path.join(LAUNCH, 'cloud.launch.py'))[0]
    params = yaml.safe_load(open(node.kwargs['parameters'][0]))
    assert params['/**/runespoor_cloud']['ros__parameters']['task'] == 'segmentation'
    # an explicit params file runs the task asked for
    own = os.path.join(SRC, 'runespoor_cloud', 'config', 'cloud.yaml')
    node, ctx = execute(os.path.join(LAUNCH, 'cloud.launch.py'),
                        {'task': 'detection', 'params_file': own})[0]
    assert node.kwargs['parameters'][-1]['task'] == 'detection'
    with pytest.raises(ValueError, match='tracking'):
        execute(os.path.join(LAUNCH, 'cloud.launch.py'), {'task': 'tracking'})


def test_system_launch_all_nodes_and_rviz():
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'), {'namespace': 'robot2'})
    assert node_names(nodes) == ['runespoor_cloud', 'runespoor_edge', 'runespoor_source']
    for node, ctx in nodes:
        check_node(node, ctx)
        assert node.kwargs['namespace'] == 'robot2'
    source = by_name(nodes, 'runespoor_source')
    assert source.kwargs['parameters'][-1]['wait_for_topics'] == 'runespoor/encoded'
    assert source.kwargs['parameters'][-1]['wait_for_subscribers'] is False  # synthetic
    PREFIXES['rviz2'] = os.path.join(REPO, 'tests')  # pretend: lib/rviz2/rviz2 missing
    with pytest.raises(RuntimeError, match='rviz2'):
        execute(os.path.join(LAUNCH, 'system.launch.py'), {'use_rviz': 'true'})


def test_use_rviz_without_rviz2_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(RuntimeError, match='use_rviz:=true but package rviz2 is not installed'):
        execute(os.path.join(LAUNCH, 'system.launch.py'), {'use_rviz': 'true'})
    exe = tmp_path / 'lib' / 'rviz2' / 'rviz2'
    exe.parent.mkdir(parents=True)
    exe.write_text('')
    PREFIXES['rviz2'] = str(tmp_path)
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'),
                    {'use_rviz': 'true', 'use_source': 'false'})
    assert node_names(nodes) == ['runespoor_cloud', 'runespoor_edge', 'rviz2']
    for node, ctx in nodes:
        check_node(node, ctx)
    assert exit_policy(by_name(nodes, 'rviz2')) is None  # closing RViz ends nothing


def test_system_params_file_is_honoured(tmp_path):
    own = tmp_path / 'mine.yaml'
    own.write_text('runespoor_edge:\n  ros__parameters:\n    scale: 8\n'
                   'runespoor_cloud:\n  ros__parameters:\n    hold_s: 2.5\n')
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'), {'params_file': str(own)})
    for name, key, value in (('runespoor_edge', 'scale', 8), ('runespoor_cloud', 'hold_s', 2.5)):
        node = by_name(nodes, name)
        check_node(node, {})
        files = [p for p in node.kwargs['parameters'] if isinstance(p, str)]
        assert len(files) == 2, files  # own file, then the overlay (later wins)
        overlay = yaml.safe_load(open(files[1]))
        assert overlay['/**/' + name]['ros__parameters'][key] == value
    bad = tmp_path / 'typo.yaml'
    bad.write_text('runespoor_edg:\n  ros__parameters:\n    scale: 8\n')
    with pytest.raises(RuntimeError, match='no section'):
        execute(os.path.join(LAUNCH, 'system.launch.py'), {'params_file': str(bad)})
    with pytest.raises(RuntimeError, match='no such file'):
        execute(os.path.join(LAUNCH, 'system.launch.py'),
                {'params_file': str(tmp_path / 'missing.yaml')})


def test_bag_replay_launch(bag):
    nodes = execute(os.path.join(LAUNCH, 'bag_replay.launch.py'),
                    {'bag': bag, 'rate_multiplier': '2.0'})
    assert node_names(nodes) == ['runespoor_cloud', 'runespoor_edge', 'runespoor_source']
    source = by_name(nodes, 'runespoor_source')
    p = source.kwargs['parameters'][-1]
    assert p['mode'] == 'bag' and p['path'] == bag and p['rate_multiplier'] == 2.0
    # waits for edge and cloud before the first frame, ends the launch at the end of the bag
    assert p['wait_for_subscribers'] is True and p['wait_for_topics'] == 'runespoor/encoded'
    assert p['loop'] is False and p['exit_when_done'] is True
    for node, ctx in nodes:
        check_node(node, ctx)
    with pytest.raises(ValueError, match='does not exist'):
        execute(os.path.join(LAUNCH, 'bag_replay.launch.py'), {'bag': bag + '_missing'})


def test_required_nodes_end_the_launch():
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'))
    for name in ('runespoor_source', 'runespoor_edge', 'runespoor_cloud'):
        policy = exit_policy(by_name(nodes, name))
        assert policy is not None, name
        assert policy(Event(-2), Context(is_shutdown=True)) is None  # launch is stopping
        with pytest.raises(RuntimeError, match=f'required node {name} exited with status 2'):
            policy(Event(2), Context())  # e.g. method:=foo: launch stops all, exits 1
    done = exit_policy(by_name(nodes, 'runespoor_source'))(Event(0), Context())
    log, emit = done
    assert isinstance(log, LogInfo) and isinstance(emit, EmitEvent)
    assert isinstance(emit.kwargs['event'], Shutdown)
    assert 'runespoor_source finished' in emit.kwargs['event'].kwargs['reason']


def test_respawn_arguments_reach_edge_and_cloud():
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'),
                    {'respawn': 'true', 'respawn_delay': '0.5', 'max_restarts': '2'})
    for name in ('runespoor_edge', 'runespoor_cloud'):
        node = by_name(nodes, name)
        assert node.kwargs['respawn'] is True and node.kwargs['respawn_delay'] == 0.5
        policy = exit_policy(node)
        assert isinstance(policy(Event(-9), Context())[0], LogInfo)  # restart 1
        assert isinstance(policy(Event(-9), Context())[0], LogInfo)  # restart 2
        with pytest.raises(RuntimeError, match='after 2 restarts'):
            policy(Event(-9), Context())
    assert 'respawn' not in by_name(nodes, 'runespoor_source').kwargs
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'))
    assert 'respawn' not in by_name(nodes, 'runespoor_edge').kwargs


def make_keystore(root, enclaves):
    from runespoor_edge.launch_support import ENCLAVE_FILES
    for name in enclaves:
        folder = root / 'enclaves' / name.strip('/')
        folder.mkdir(parents=True)
        for f in ENCLAVE_FILES:
            (folder / f).write_text('')
    return str(root)


def test_security_puts_every_node_in_its_enclave(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match='no keystore'):
        execute(os.path.join(LAUNCH, 'system.launch.py'), {'use_security': 'true'})
    ks = make_keystore(tmp_path / 'ks', ['/runespoor/robot1/edge', '/runespoor/robot1/cloud'])
    with pytest.raises(RuntimeError, match='/runespoor/robot1/source'):  # refused up front
        execute(os.path.join(LAUNCH, 'system.launch.py'),
                {'use_security': 'true', 'keystore': ks, 'namespace': 'robot1'})
    make_keystore(tmp_path / 'ks', ['/runespoor/robot1/source'])
    monkeypatch.setenv('ROS_SECURITY_ENABLE', 'true')  # use_security:=auto follows it
    monkeypatch.setenv('ROS_SECURITY_KEYSTORE', ks)
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'), {'namespace': 'robot1'})
    for node, _ in nodes:
        key = node.kwargs['name'].split('_')[-1]
        assert node.kwargs['ros_arguments'] == ['--enclave', f'/runespoor/robot1/{key}']
        env = node.kwargs['additional_env']
        assert env == {'ROS_SECURITY_ENABLE': 'true', 'ROS_SECURITY_STRATEGY': 'Enforce',
                       'ROS_SECURITY_KEYSTORE': ks}
    monkeypatch.setenv('ROS_SECURITY_ENABLE', 'false')
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'))
    assert all('ros_arguments' not in n.kwargs for n, _ in nodes)


def test_robot_launch_needs_only_the_edge_package(bag):
    nodes = execute(os.path.join(EDGE_LAUNCH, 'robot.launch.py'), {'namespace': 'robot3'})
    assert node_names(nodes) == ['runespoor_edge']
    nodes = execute(os.path.join(EDGE_LAUNCH, 'robot.launch.py'),
                    {'use_source': 'true', 'mode': 'bag', 'path': bag, 'loop': 'false'})
    assert node_names(nodes) == ['runespoor_edge', 'runespoor_source']
    for node, ctx in nodes:
        check_node(node, ctx)
        assert node.kwargs['package'] == 'runespoor_edge'
    # nothing of the robot's launch files or node code needs the cloud, bringup or torch
    for root in (EDGE_LAUNCH, os.path.join(SRC, 'runespoor_edge', 'runespoor_edge')):
        for name in os.listdir(root):
            if not name.endswith('.py'):
                continue
            tree = ast.parse(open(os.path.join(root, name)).read())
            for n in ast.walk(tree):
                mods = [a.name for a in n.names] if isinstance(n, ast.Import) else \
                    [n.module or ''] if isinstance(n, ast.ImportFrom) else []
                for m in mods:
                    assert not m.startswith(('runespoor_cloud', 'runespoor_bringup')), \
                        (name, m)
            text = open(os.path.join(root, name)).read()
            assert "get_package_share_directory('runespoor_cloud')" not in text, name
    xml = open(os.path.join(SRC, 'runespoor_edge', 'package.xml')).read()
    assert 'runespoor_cloud' not in xml and 'rviz2' not in xml


def test_rviz_topics_are_published_by_the_nodes():
    with open(os.path.join(SRC, 'runespoor_bringup', 'rviz', 'runespoor.rviz')) as f:
        rviz = yaml.safe_load(f)
    topics = [d['Topic']['Value'] for d in rviz['Visualization Manager']['Displays']]
    modules = list(MODULES.values()) + ['runespoor_cloud.outputs']  # the task publishers
    sources = ''.join(open(importlib.util.find_spec(m).origin).read() for m in modules)
    for topic in topics:
        assert not topic.startswith('/'), 'relative, so namespaces work'
        assert f"'{topic}'" in sources, topic


def test_launch_files_and_rviz_installed_by_their_packages():
    for package, globs in (('runespoor_edge', ["glob('launch/*.launch.py')"]),
                           ('runespoor_bringup', ["glob('launch/*.launch.py')",
                                                  "glob('rviz/*.rviz')"])):
        setup = open(os.path.join(SRC, package, 'setup.py')).read()
        for g in globs:
            assert g in setup, (package, g)
    assert entry_points('runespoor_bringup')['run_graph'] == 'runespoor_bringup.graph:main'
    cloud = open(os.path.join(SRC, 'runespoor_cloud', 'setup.py')).read()
    assert 'launch' not in cloud.split('data_files')[1].split(']')[0]
    for old in ('launch', 'rviz', os.path.join('ros2_ws', 'src', 'runespoor_cloud', 'launch')):
        assert not os.path.lexists(os.path.join(REPO, old)), old


# ------------------------------------------------------------------- real ros2 launch
def _real_launch_missing():
    """Reason the real launch / launch_ros cannot be used here, or None."""
    import subprocess
    code = 'import launch, launch_ros; print(launch.__file__)'
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if proc.returncode != 0:
        return ('the real launch / launch_ros are not importable (not on PyPI; they come '
                'with a ROS 2 install): the fake-launch tests above cover the files')
    return None


@pytest.mark.ros
@pytest.mark.parametrize('args,status', [(['method:=foo'], 1)])
def test_real_ros2_launch_fails_with_a_failed_required_node(args, status):
    reason = _real_launch_missing()
    if reason:
        pytest.skip(reason)
    import subprocess
    code = ('import sys, launch\n'
            'from launch.actions import IncludeLaunchDescription\n'
            'from launch.launch_description_sources import PythonLaunchDescriptionSource\n'
            'ls = launch.LaunchService(argv=sys.argv[2:])\n'
            'ls.include_launch_description(launch.LaunchDescription([IncludeLaunchDescription('
            'PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=[a.split(":=") for a '
            'in sys.argv[2:]])]))\n'
            'sys.exit(ls.run())\n')
    proc = subprocess.run([sys.executable, '-c', code, os.path.join(LAUNCH, 'cloud.launch.py'),
                           *args], capture_output=True, text=True, timeout=180)
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert 'required node runespoor_cloud exited with status 2' in proc.stdout + proc.stderr
