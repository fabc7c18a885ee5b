# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
SROS2: the graph runs with DDS security where the middleware has the security plugins.

The end-to-end test makes a keystore with ``scripts/make_keystore.sh`` (``ros2 security``),
runs source -> edge -> cloud with ``run_graph.py --keystore`` (every node in its enclave
``/runespoor/<node>``, ``ROS_SECURITY_STRATEGY=Enforce``) and checks that frames flow and
that a participant without the keystore's credentials sees none of them.  It is skipped,
saying why, where that cannot run: the Fast DDS of the Jazzy PyPI wheels is built without
the security plugins (no ``DDS:Auth:PKI-DH`` in its library) and sros2 is not on PyPI.  The
parts that do not need the plugins run everywhere.
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from systest import REPO, ros_env

pytestmark = pytest.mark.ros


def middleware_libraries(env=None):
    """The Fast DDS / Cyclone DDS shared libraries on the library path of ``env``."""
    env = os.environ if env is None else env
    found = []
    for folder in env.get('LD_LIBRARY_PATH', '').split(':'):
        for pattern in ('libfastrtps.so*', 'libfastdds.so*', 'libddsc.so*'):
            found += glob.glob(os.path.join(folder, pattern))
    return sorted({os.path.realpath(p) for p in found})


def has_security_plugins(path):
    """True if the DDS library was built with the builtin authentication plugin."""
    with open(path, 'rb') as f:
        data = f.read()
    return b'DDS:Auth:PKI-DH' in data


def security_unavailable_reason():
    """Why the secured graph cannot run here, or None."""
    libs = middleware_libraries()
    if not libs:
        return 'no DDS library found on LD_LIBRARY_PATH'
    if not any(has_security_plugins(p) for p in libs):
        return ('the middleware has no DDS security plugins (no DDS:Auth:PKI-DH in '
                f'{", ".join(os.path.basename(p) for p in libs)}; the Fast DDS of the PyPI '
                'wheels is built without them)')
    if shutil.which('ros2') is None or subprocess.run(
            ['ros2', 'security', '--help'], capture_output=True).returncode != 0:
        return "'ros2 security' (sros2) is not installed: no keystore can be made"
    return None


def test_keystore_script_refuses_clearly_without_sros2(tmp_path):
    if shutil.which('ros2') is not None:
        pytest.skip('ros2 is installed here: the script makes real keystores')
    proc = subprocess.run(['bash', 'scripts/make_keystore.sh', str(tmp_path / 'ks')],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert "'ros2 security' (package sros2) is not available" in proc.stderr
    assert not (tmp_path / 'ks').exists()


def test_run_graph_puts_nodes_in_enclaves(tmp_path):
    from runespoor_bringup.graph import main, node_command
    cmd = node_command('edge', namespace='robot1', enclave=True)
    assert cmd[cmd.index('--enclave') + 1] == '/runespoor/robot1/edge'
    assert '--enclave' not in node_command('edge')
    with pytest.raises(SystemExit, match='no usable enclave /runespoor/source'):
        main(['--keystore', str(tmp_path)])


def test_detector_sees_the_plugins_of_this_venv():
    libs = middleware_libraries()
    assert libs, 'scripts/env.sh puts the wheels\' libraries on LD_LIBRARY_PATH'
    reason = security_unavailable_reason()
    assert reason is None or 'security' in reason or 'sros2' in reason


def test_secured_graph_delivers_frames(tmp_path):
    reason = security_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from rclpy.qos import qos_profile_sensor_data
    from runespoor_cloud.testing import Probe
    from runespoor_msgs.msg import SemanticMap
    ks = tmp_path / 'ks'
    subprocess.run(['bash', 'scripts/make_keystore.sh', str(ks), '/runespoor/source',
                    '/runespoor/edge', '/runespoor/cloud', '/runespoor/probe'],
                   cwd=REPO, check=True)
    env = ros_env()
    cmd = [sys.executable, 'scripts/run_graph.py', '--keystore', str(ks),
           '-p', 'cloud.seg_arch=palette', '-p', "cloud.seg_weights=''",
           '-p', 'source.width=128', '-p', 'source.height=64']
    graph = subprocess.Popen(cmd, cwd=REPO, env=env)
    try:
        # an outsider (no credentials) sees nothing
        outsider = Probe(int(env['ROS_DOMAIN_ID']), 'outsider')
        seen = outsider.collect(SemanticMap, 'runespoor/semantic_map', 10)
        # the trusted probe runs in its own enclave
        os.environ.update({'ROS_SECURITY_ENABLE': 'true', 'ROS_SECURITY_STRATEGY': 'Enforce',
                           'ROS_SECURITY_KEYSTORE': str(ks),
                           'ROS_SECURITY_ENCLAVE_OVERRIDE': '/runespoor/probe'})
        try:
            trusted = Probe(int(env['ROS_DOMAIN_ID']), 'trusted')
            maps = trusted.collect(SemanticMap, 'runespoor/semantic_map',
                                   qos_profile_sensor_data)
            assert trusted.spin_until(lambda: len(maps) >= 3 or graph.poll() is not None, 120)
            assert len(maps) >= 3
        finally:
            for k in ('ROS_SECURITY_ENABLE', 'ROS_SECURITY_STRATEGY', 'ROS_SECURITY_KEYSTORE',
                      'ROS_SECURITY_ENCLAVE_OVERRIDE'):
                os.environ.pop(k, None)
        outsider.spin_until(lambda: bool(seen), 2.0)
        assert not seen, 'an unauthenticated participant received a SemanticMap'
    finally:
        graph.send_signal(2)
        graph.wait(60)
