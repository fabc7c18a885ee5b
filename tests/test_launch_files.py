# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The launch files, executed against a tiny fake ``launch`` / ``launch_ros`` (none on PyPI).

Checks that the nodes they start exist as entry points of their packages, use the packages'
YAML files under the right node name, only set declared parameters, remap topics the nodes
use, honour the namespace, and that RViz shows topics the nodes publish.
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
LAUNCH = os.path.join(REPO, 'launch')
CALLS = []


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


class LaunchConfiguration(Recorded):
    def perform(self, context):
        return context[self.args[0]]


def share_dir(package):
    if package not in ('runespoor_edge', 'runespoor_cloud'):
        raise LookupError(package)
    return os.path.join(SRC, package)


def fake_modules():
    mods = {}
    for name in ('launch', 'launch.actions', 'launch.substitutions', 'launch.conditions',
                 'launch.launch_description_sources', 'launch_ros', 'launch_ros.actions',
                 'ament_index_python', 'ament_index_python.packages'):
        mods[name] = types.ModuleType(name)
    mods['launch'].LaunchDescription = LaunchDescription
    for cls in (DeclareLaunchArgument, OpaqueFunction, IncludeLaunchDescription):
        setattr(mods['launch.actions'], cls.__name__, cls)
    mods['launch.substitutions'].LaunchConfiguration = LaunchConfiguration
    mods['launch.conditions'].IfCondition = IfCondition
    mods['launch.launch_description_sources'].PythonLaunchDescriptionSource = \
        PythonLaunchDescriptionSource
    mods['launch_ros.actions'].Node = Node
    mods['ament_index_python.packages'].get_package_share_directory = share_dir
    return mods


@pytest.fixture(autouse=True)
def fake_launch(monkeypatch):
    for name, mod in fake_modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    CALLS.clear()


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
        cond = node.kwargs.get('condition')
        if cond is None or resolve(cond.args[0], context).lower() == 'true':
            nodes.append((node, dict(context)))

    for e in entities:
        if isinstance(e, OpaqueFunction):
            for node in e.kwargs['function'](context):
                add(node)
        elif isinstance(e, Node):
            add(e)
        elif isinstance(e, IncludeLaunchDescription):
            included = e.args[0].args[0]
            args = {k: resolve(v, context) for k, v in e.kwargs['launch_arguments']}
            nodes += execute(included, args)
    return nodes


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
           ('runespoor_cloud', 'cloud_node'): 'runespoor_cloud.cloud_node'}


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
    params_file, *overrides = kw['parameters']
    with open(params_file) as f:
        data = yaml.safe_load(f)
    assert list(data) == ['/**/' + kw['name']], f'{params_file}: keys {list(data)}'
    declared = declared_parameters(module)
    assert set(data['/**/' + kw['name']]['ros__parameters']) <= declared
    for extra in overrides:
        assert set(extra) <= declared, set(extra) - declared
    src = open(importlib.util.find_spec(module).origin).read()
    for frm, _ in kw.get('remappings', []):
        assert f"'{frm}'" in src, f'{module} does not use topic {frm}'


def node_names(nodes):
    return sorted(n.kwargs['name'] for n, _ in nodes)


def test_import_has_no_side_effects():
    for name in ('edge', 'cloud', 'system', 'bag_replay'):
        load(os.path.join(LAUNCH, f'{name}.launch.py'))
    assert CALLS == []


def test_edge_launch():
    nodes = execute(os.path.join(LAUNCH, 'edge.launch.py'),
                    {'namespace': 'robot1', 'input_topic': '/front/image'})
    assert node_names(nodes) == ['runespoor_edge']
    node, ctx = nodes[0]
    check_node(node, ctx)
    assert node.kwargs['namespace'] == 'robot1'
    assert node.kwargs['remappings'] == [('camera/image_raw', '/front/image')]
    nodes = execute(os.path.join(LAUNCH, 'edge.launch.py'), {'input_type': 'compressed'})
    assert nodes[0][0].kwargs['remappings'][0][0] == 'camera/image_raw/compressed'
    assert nodes[0][0].kwargs['parameters'][1] == {'input_type': 'compressed'}


def test_cloud_launch_passes_method_and_device():
    nodes = execute(os.path.join(LAUNCH, 'cloud.launch.py'),
                    {'method': 'asr', 'device': 'cuda', 'seg_weights': '/m/seg.pt'})
    node, ctx = nodes[0]
    check_node(node, ctx)
    assert node.kwargs['parameters'][1] == {'method': 'asr', 'device': 'cuda',
                                            'seg_weights': '/m/seg.pt'}


def test_task_argument_chooses_the_cloud_params_file():
    for path in ('cloud.launch.py', 'system.launch.py', 'bag_replay.launch.py'):
        args = {'task': 'detection', 'bag': '/data/bags/clip0'}
        nodes = execute(os.path.join(LAUNCH, path), args)
        node, ctx = next((n, c) for n, c in nodes if n.kwargs['name'] == 'runespoor_cloud')
        check_node(node, ctx)  # cloud_detection.yaml sets only declared parameters
        params = yaml.safe_load(open(node.kwargs['parameters'][0]))
        assert params['/**/runespoor_cloud']['ros__parameters']['task'] == 'detection', path
        assert 'task' not in node.kwargs['parameters'][1]
    node, ctx = execute(os.path.join(LAUNCH, 'cloud.launch.py'))[0]
    params = yaml.safe_load(open(node.kwargs['parameters'][0]))
    assert params['/**/runespoor_cloud']['ros__parameters']['task'] == 'segmentation'
    # an explicit params file runs the task asked for
    own = os.path.join(SRC, 'runespoor_cloud', 'config', 'cloud.yaml')
    node, ctx = execute(os.path.join(LAUNCH, 'cloud.launch.py'),
                        {'task': 'detection', 'params_file': own})[0]
    assert node.kwargs['parameters'][1]['task'] == 'detection'
    with pytest.raises(ValueError, match='tracking'):
        execute(os.path.join(LAUNCH, 'cloud.launch.py'), {'task': 'tracking'})


def test_system_launch_all_nodes_and_rviz():
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'), {'namespace': 'robot2'})
    assert node_names(nodes) == ['runespoor_cloud', 'runespoor_edge', 'runespoor_source']
    for node, ctx in nodes:
        check_node(node, ctx)
        assert node.kwargs['namespace'] == 'robot2'
    nodes = execute(os.path.join(LAUNCH, 'system.launch.py'),
                    {'use_rviz': 'true', 'use_source': 'false'})
    assert node_names(nodes) == ['runespoor_cloud', 'runespoor_edge', 'rviz2']
    for node, ctx in nodes:
        check_node(node, ctx)


def test_bag_replay_launch():
    nodes = execute(os.path.join(LAUNCH, 'bag_replay.launch.py'),
                    {'bag': '/data/bags/clip0', 'rate_multiplier': '2.0'})
    assert node_names(nodes) == ['runespoor_cloud', 'runespoor_edge', 'runespoor_source']
    source = next(n for n, _ in nodes if n.kwargs['name'] == 'runespoor_source')
    assert source.kwargs['parameters'][1]['mode'] == 'bag'
    assert source.kwargs['parameters'][1]['path'] == '/data/bags/clip0'
    assert source.kwargs['parameters'][1]['rate_multiplier'] == 2.0
    for node, ctx in nodes:
        check_node(node, ctx)


def test_rviz_topics_are_published_by_the_nodes():
    with open(os.path.join(REPO, 'rviz', 'runespoor.rviz')) as f:
        rviz = yaml.safe_load(f)
    topics = [d['Topic']['Value'] for d in rviz['Visualization Manager']['Displays']]
    sources = ''.join(open(importlib.util.find_spec(m).origin).read() for m in MODULES.values())
    for topic in topics:
        assert not topic.startswith('/'), 'relative, so namespaces work'
        assert f"'{topic}'" in sources, topic


def test_launch_and_rviz_installed_via_symlinks():
    for name in ('launch', 'rviz'):
        link = os.path.join(SRC, 'runespoor_cloud', name)
        assert os.path.islink(link)
        assert os.path.realpath(link) == os.path.join(REPO, name)
