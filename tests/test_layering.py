# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Layering of the packages, read from the sources (AST only: nothing here imports them).

- The ROS-free package ``runespoor`` imports no ROS package, at any level (function-local
  and ``importlib.import_module('...')`` included): it installs and runs without ROS.
- No import cycle among ``runespoor``'s modules: none through module-level imports, and none
  closed by a function-local import either (a cycle a lazy import hides is still a cycle in
  the design), except the edges listed in :data:`KNOWN_LOCAL_CYCLE_EDGES` with their reason.
- ``runespoor_edge`` (what a robot installs) imports neither ``runespoor_cloud`` nor
  ``runespoor_bringup``.
- One definition each: the device resolver (``runespoor.device``), the BGR <-> tensor
  conversion (``runespoor.tensors``), the nodes' QoS profiles and parameter descriptors
  (``runespoor_edge.ros_common``).

The files are the repository's (``git ls-files``: what a clone holds; outside a git checkout,
every ``.py`` below the repository minus build outputs and virtual environments).
"""

import ast
import collections
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / 'ros2_ws' / 'src'
CORE = SRC / 'runespoor' / 'runespoor'
EDGE = SRC / 'runespoor_edge'

#: Top-level modules that come with ROS 2 or with this workspace's ROS packages (plus every
#: ``launch*`` and ``*_msgs`` / ``*_srvs`` / ``*_interfaces``, see :func:`is_ros`).
ROS_MODULES = {'rclpy', 'rcl_interfaces', 'builtin_interfaces', 'ament_index_python',
               'rosidl_runtime_py', 'rosidl_parser', 'rosbag2_py', 'cv_bridge',
               'message_filters', 'tf2_ros', 'rosgraph_msgs', 'runespoor_edge',
               'runespoor_cloud', 'runespoor_bringup'}

#: Function-local imports that close a cycle and are known, importer -> target: why, and where
#: the fix goes.  An entry that no longer exists fails the test (remove it then).
KNOWN_LOCAL_CYCLE_EDGES = {}

_EXCLUDED_DIRS = {'.git', 'build', 'install', 'log', 'out', 'node_modules', '__pycache__'}


def repo_python_files():
    """Return the repository's ``.py`` files (absolute paths)."""
    try:
        out = subprocess.run(['git', 'ls-files', '-z', '--', '*.py'], cwd=REPO,
                             capture_output=True, check=True).stdout.decode()
        files = [REPO / f for f in out.split('\0') if f]
        if files:
            return [f for f in files if f.is_file()]  # not those deleted in the worktree
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for root, dirs, names in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in _EXCLUDED_DIRS and not d.startswith('.venv')]
        found += [Path(root) / n for n in names if n.endswith('.py')]
    return found


FILES = repo_python_files()
_TREES = {}


def tree_of(path):
    if path not in _TREES:
        _TREES[path] = ast.parse(path.read_text(encoding='utf-8'), str(path))
    return _TREES[path]


def rel(path):
    return path.relative_to(REPO).as_posix()


def is_ros(module):
    top = module.split('.')[0]
    return top in ROS_MODULES or top.startswith('launch') or \
        top.endswith(('_msgs', '_srvs', '_interfaces'))


Import = collections.namedtuple('Import', 'module names line local')


def _is_type_checking(node):
    test = node.test
    return isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING' or \
        isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING'


def imports_in(path, module_name=None):
    """
    Return every import of ``path``, static or ``import_module('...')`` / ``__import__``.

    ``module_name`` (dotted; a package's ``__init__`` is the package) resolves relative imports.
    ``local`` is true inside a function (a lazy import); imports under ``if TYPE_CHECKING:``
    are left out (they never run).
    """
    is_package = path.name == '__init__.py'
    found = []

    def visit(node, local):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit_one(sub, local)
                continue
            visit_one(child, local)

    def visit_one(node, local):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(alias.name, (), node.lineno, local))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module_name is None:
                    return
                base = module_name.split('.')
                if not is_package:
                    base = base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append(Import(target, tuple(a.name for a in node.names), node.lineno, local))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', None)
            if name in ('import_module', '__import__') and node.args and \
                    isinstance(node.args[0], ast.Constant) and \
                    isinstance(node.args[0].value, str) and not node.args[0].value.startswith('.'):
                found.append(Import(node.args[0].value, (), node.lineno, local))
        inner = local or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        visit(node, inner)

    visit(tree_of(path), False)
    return found


def core_modules():
    """Return ``{dotted name: path}`` of every module of the runespoor package."""
    modules = {}
    for path in FILES:
        if CORE in path.parents:
            parts = list(path.relative_to(CORE.parent).with_suffix('').parts)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            modules['.'.join(parts)] = path
    return modules


MODULES = core_modules()


def _ancestors(name):
    parts = name.split('.')
    return ['.'.join(parts[:i]) for i in range(1, len(parts))]


def import_graph(include_local):
    """
    Return ``{module: {imported module: (line, local)}}`` within the runespoor package.

    ``from pkg import name`` goes to ``pkg.name`` when that is a module, else to ``pkg``.
    Importing ``a.b.c`` also runs the packages ``a`` and ``a.b`` - an edge to each that is not
    already an ancestor of the importer (those are initialising anyway).
    """
    graph = {m: {} for m in MODULES}
    for name, path in MODULES.items():
        own = set(_ancestors(name))
        for imp in imports_in(path, name):
            if imp.local and not include_local:
                continue
            targets = []
            if imp.names:
                sub = [f'{imp.module}.{n}' for n in imp.names if f'{imp.module}.{n}' in MODULES]
                targets += sub
                if len(sub) < len(imp.names):
                    targets.append(imp.module)
            else:
                targets.append(imp.module)
            for target in list(targets):
                targets += [a for a in _ancestors(target) if a not in own]
            for target in targets:
                if target in MODULES and target != name:
                    prev = graph[name].get(target)
                    # a module-level import of the same target wins over a local one
                    if prev is None or (prev[1] and not imp.local):
                        graph[name][target] = (imp.line, imp.local)
    return graph


def cycles(graph):
    """Return one cycle (list of modules, first == last) per strongly connected component."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_cycle_in(graph, component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def _cycle_in(graph, component):
    """Return a shortest cycle through the smallest module of ``component`` (breadth first)."""
    start = min(component)
    parents, queue = {start: None}, collections.deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return path[::-1] + [start]
            if w in component and w not in parents:
                parents[w] = v
                queue.append(w)
    return sorted(component)  # pragma: no cover - a component always holds a cycle


def describe_cycle(graph, cycle):
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        line, local = graph[a][b]
        steps.append(f'  {a} -> {b}  ({rel(MODULES[a])}:{line}'
                     f'{", inside a function" if local else ""})')
    return '\n'.join(steps)


# -- (a) no ROS in the ROS-free package ---------------------------------------------------
def test_the_core_is_found():
    assert len(MODULES) > 50 and 'runespoor.codec' in MODULES, sorted(MODULES)[:5]


def test_runespoor_imports_no_ros_package():
    bad = [f'{rel(path)}:{imp.line}: {imp.module}'
           + (' (inside a function)' if imp.local else '')
           for path in MODULES.values() for imp in imports_in(path) if is_ros(imp.module)]
    assert not bad, 'the ROS-free runespoor package imports ROS packages:\n' + '\n'.join(bad)


# -- (b) no import cycles ------------------------------------------------------------------
def test_no_import_cycle_through_module_level_imports():
    graph = import_graph(include_local=False)
    found = cycles(graph)
    assert not found, 'import cycles among runespoor modules:\n' + '\n\n'.join(
        describe_cycle(graph, c) for c in found)


def test_no_import_cycle_closed_by_a_function_local_import():
    graph = import_graph(include_local=True)
    missing = [edge for edge in KNOWN_LOCAL_CYCLE_EDGES
               if edge[1] not in graph.get(edge[0], {})]
    assert not missing, f'known cycle edges no longer exist, remove them here: {missing}'
    for a, b in KNOWN_LOCAL_CYCLE_EDGES:
        assert graph[a][b][1], f'{a} -> {b} is a module-level import now, not a known lazy one'
        del graph[a][b]
    found = cycles(graph)
    assert not found, ('import cycles among runespoor modules once function-local imports '
                       'count (a lazy import hides them at run time, not in the design):\n'
                       + '\n\n'.join(describe_cycle(graph, c) for c in found))


def test_cycle_finder_finds_a_lazy_cycle():
    graph = {'a': {'b': (1, False)}, 'b': {'c': (2, True)}, 'c': {'a': (3, False)},
             'd': {'a': (4, False)}}
    assert cycles(graph) == [['a', 'b', 'c', 'a']]
    assert cycles({'a': {'b': (1, False)}, 'b': {}}) == []


def test_import_reader_resolves_relative_lazy_and_dynamic_imports(tmp_path):
    path = tmp_path / 'mod.py'
    path.write_text('from typing import TYPE_CHECKING\n'
                    'from . import codec\n'
                    'from ..tasks import base\n'
                    'if TYPE_CHECKING:\n'
                    '    import rclpy\n'
                    'def f():\n'
                    '    import importlib\n'
                    '    from sensor_msgs.msg import Image\n'
                    "    return importlib.import_module('runespoor_bringup.graph')\n")
    got = [(i.module, i.local) for i in imports_in(path, 'runespoor.cac.mod')]
    assert got == [('typing', False), ('runespoor.cac', False), ('runespoor.tasks', False),
                   ('importlib', True), ('sensor_msgs.msg', True),
                   ('runespoor_bringup.graph', True)]
    assert [is_ros(m) for m, _ in got] == [False, False, False, False, True, True]


# -- (c) the robot's package stands without the cloud's ----------------------------------
def test_edge_imports_neither_cloud_nor_bringup():
    files = [p for p in FILES if EDGE in p.parents]
    assert any(p.name == 'edge_node.py' for p in files)
    bad = [f'{rel(path)}:{imp.line}: {imp.module}' for path in files
           for imp in imports_in(path)
           if imp.module.split('.')[0] in ('runespoor_cloud', 'runespoor_bringup')]
    assert not bad, ('runespoor_edge (installed on the robot without runespoor_cloud and '
                     'runespoor_bringup) imports them:\n' + '\n'.join(bad))


# -- (d) one definition each -----------------------------------------------------------------
def _is_test(path):
    parts = path.relative_to(REPO).parts
    return parts[0] == 'tests' or 'test' in parts[:-1]


def _functions_defined(name):
    return [f'{rel(p)}:{n.lineno}' for p in FILES for n in ast.walk(tree_of(p))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]


@pytest.mark.parametrize('name, where', [
    ('resolve_device', 'ros2_ws/src/runespoor/runespoor/device.py'),
    ('cuda_available', 'ros2_ws/src/runespoor/runespoor/device.py'),
    ('bgr_to_tensor', 'ros2_ws/src/runespoor/runespoor/tensors.py'),
    ('tensor_to_bgr', 'ros2_ws/src/runespoor/runespoor/tensors.py'),
    ('stamp_to_s', 'ros2_ws/src/runespoor_edge/runespoor_edge/ros_common.py'),
    ('describe', 'ros2_ws/src/runespoor_edge/runespoor_edge/ros_common.py'),
])
def test_defined_once(name, where):
    defs = _functions_defined(name)
    if name == 'describe':  # a method of that name elsewhere is something else
        defs = [d for d in defs if not _is_method(d)]
    assert [d.split(':')[0] for d in defs] == [where], f'def {name}: {defs}'


def _is_method(location):
    path, line = location.rsplit(':', 1)
    for node in ast.walk(tree_of(REPO / path)):
        if isinstance(node, ast.ClassDef):
            if any(getattr(f, 'lineno', None) == int(line) for f in node.body):
                return True
    return False


def _scopes(tree):
    """Yield ``(name, nodes)`` per function and one for the module's own statements."""
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef,
                                                             ast.AsyncFunctionDef))]
    inside = {id(sub) for f in functions for sub in ast.walk(f) if sub is not f}
    for f in functions:
        yield f.name, list(ast.walk(f))
    yield '<module>', [n for n in ast.walk(tree) if id(n) not in inside]


def _flips_channels(node):
    """``x[..., ::-1]`` / ``x[:, :, ::-1]`` or a ``cv2.COLOR_BGR2RGB`` / ``RGB2BGR`` code."""
    if isinstance(node, ast.Attribute) and node.attr in ('COLOR_BGR2RGB', 'COLOR_RGB2BGR'):
        return True
    if not isinstance(node, ast.Subscript) or not isinstance(node.slice, ast.Tuple):
        return False
    last = node.slice.elts[-1]
    return isinstance(last, ast.Slice) and last.lower is None and last.upper is None and \
        isinstance(last.step, ast.UnaryOp) and isinstance(last.step.op, ast.USub) and \
        isinstance(last.step.operand, ast.Constant) and last.step.operand.value == 1


def _makes_tensor_layout(node):
    """``torch.from_numpy`` / ``as_tensor`` / ``torch.tensor`` or a ``.permute(...)``."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    attr, owner = node.func.attr, node.func.value
    return attr in ('from_numpy', 'as_tensor', 'permute') or \
        attr == 'tensor' and isinstance(owner, ast.Name) and owner.id == 'torch'


def test_one_bgr_tensor_converter():
    """A function that flips BGR <-> RGB and builds or lays out a tensor is a converter."""
    home = CORE / 'tensors.py'
    bad = []
    for path in FILES:
        if path == home or _is_test(path):
            continue  # tests may build an expected tensor by hand, independently
        for name, nodes in _scopes(tree_of(path)):
            flips = [n for n in nodes if _flips_channels(n)]
            if flips and any(_makes_tensor_layout(n) for n in nodes):
                bad.append(f'{rel(path)}:{flips[0].lineno} ({name})')
    assert not bad, ('BGR <-> tensor conversions outside runespoor.tensors (use bgr_to_tensor, '
                     'bgr_to_uint8_tensor, tensor_to_bgr):\n' + '\n'.join(bad))


def test_one_state_dict_unwrapper():
    """Looking for a state dict under the usual wrapper keys is torch_files.unwrap_state_dict."""
    home = CORE / 'torch_files.py'
    bad = []
    for path in FILES:
        if path == home or _is_test(path):
            continue
        for name, nodes in _scopes(tree_of(path)):
            consts = {n.value for n in nodes if isinstance(n, ast.Constant)}
            if {'state_dict', 'model_state'} <= consts:
                bad.append(f'{rel(path)} ({name})')
    assert not bad, ('state-dict unwrapping outside runespoor.torch_files (use '
                     'unwrap_state_dict / read_state_dict):\n' + '\n'.join(bad))


def _strings(node):
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_converter_and_device_patterns_are_recognised():
    copy = ast.parse('def f(bgr):\n'
                     '    rgb = np.ascontiguousarray(bgr[:, :, ::-1])\n'
                     '    return torch.from_numpy(rgb).permute(2, 0, 1)\n')
    not_one = ast.parse('def g(img):\n    return torch.from_numpy(img[:, :, 1:])\n')
    for tree, expected in ((copy, True), (not_one, False)):
        nodes = next(n for name, n in _scopes(tree) if name != '<module>')
        assert (any(map(_flips_channels, nodes)) and
                any(map(_makes_tensor_layout, nodes))) is expected
    inline = ast.parse("d = torch.device('cuda' if torch.cuda.is_available() else 'cpu')")
    ifexp = next(n for n in ast.walk(inline) if isinstance(n, ast.IfExp))
    assert {'cuda', 'cpu'} <= _strings(ifexp.body) | _strings(ifexp.orelse)


def test_no_inline_device_resolution():
    """``'cuda' if torch.cuda.is_available() else 'cpu'`` is resolve_device('auto')."""
    home = CORE / 'device.py'
    bad = []
    for path in FILES:
        if path == home or _is_test(path):
            continue
        for node in ast.walk(tree_of(path)):
            if isinstance(node, ast.IfExp) and isinstance(node.test, ast.Call) and \
                    isinstance(node.test.func, ast.Attribute) and \
                    node.test.func.attr == 'is_available' and \
                    'cuda' in ast.unparse(node.test.func.value) and \
                    {'cuda', 'cpu'} <= _strings(node.body) | _strings(node.orelse):
                bad.append(f'{rel(path)}:{node.lineno}: {ast.unparse(node)}')
    assert not bad, 'device chosen inline (use runespoor.device.resolve_device):\n' + \
        '\n'.join(bad)


def test_qos_profiles_and_descriptors_only_in_ros_common():
    """
    The nodes' QoS profiles and parameter descriptors are built in ``ros_common`` only.

    Allowed elsewhere: the experiment monitor (a recorder with its own deeper queues) and the
    observers outside the packages (tests, benchmarks, scripts: probes pick their queues).
    """
    allowed = {EDGE / 'runespoor_edge' / 'ros_common.py',
               SRC / 'runespoor_bringup' / 'runespoor_bringup' / 'experiment_monitor.py'}
    built = ('QoSProfile', 'ParameterDescriptor', 'IntegerRange', 'FloatingPointRange')
    bad = []
    for path in FILES:
        if SRC not in path.parents or path in allowed or _is_test(path):
            continue
        for node in ast.walk(tree_of(path)):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', '')
                if name in built:
                    bad.append(f'{rel(path)}:{node.lineno}: {name}(...)')
    assert not bad, ('QoS profiles / parameter descriptors built outside '
                     'runespoor_edge.ros_common:\n' + '\n'.join(bad))
