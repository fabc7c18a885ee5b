# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch the whole graph on one machine: (source) -> edge -> cloud, and optionally RViz2.

    ros2 launch runespoor_bringup system.launch.py use_rviz:=true
    ros2 launch runespoor_bringup system.launch.py task:=detection   # Detection2DArray
    ros2 launch runespoor_bringup system.launch.py params_file:=my_params.yaml respawn:=true

``params_file`` is applied to every node after its own file (``edge_params_file``, ...): one
YAML with ``runespoor_edge:`` / ``runespoor_cloud:`` / ``runespoor_source:`` sections, as in
nav2_bringup; a file without any of those sections is refused.  Source, edge and cloud are
required nodes (the launch ends when one exits, non-zero when it failed); RViz2 is not, and
``use_rviz:=true`` without rviz2 installed is refused before anything starts.

On a pip-only machine (no launch_ros) the same graph is ``python scripts/run_graph.py``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

#: arguments every included file gets as they are
SHARED = ('namespace', 'input_topic', 'use_security', 'keystore', 'enclave_root')
RESPAWN = ('respawn', 'respawn_delay', 'max_restarts')


def rviz_missing_reason():
    """Return why RViz2 cannot start here, or ``None`` when its executable is installed."""
    from ament_index_python.packages import get_package_prefix, PackageNotFoundError
    try:
        prefix = get_package_prefix('rviz2')
    except (PackageNotFoundError, LookupError, ValueError):
        return 'package rviz2 is not installed (apt install ros-$ROS_DISTRO-rviz2)'
    exe = os.path.join(prefix, 'lib', 'rviz2', 'rviz2')
    if not os.path.isfile(exe):
        return f'rviz2 executable {exe} not found'
    return None


def preflight(context, *args, **kwargs):
    """Refuse impossible combinations before any node starts (launch then exits 1)."""
    from runespoor_edge import launch_support as ls
    get = {name: LaunchConfiguration(name).perform(context)
           for name in ('use_rviz', 'use_source', 'input_type', 'params_file')}
    if ls.as_bool(get['use_rviz']):
        reason = rviz_missing_reason()
        if reason:
            raise RuntimeError(f'use_rviz:=true but {reason}; install it or launch with '
                               'use_rviz:=false (nothing was started)')
    if ls.as_bool(get['use_source']) and get['input_type'] == 'compressed':
        raise RuntimeError('input_type:=compressed needs a camera driver publishing '
                           'CompressedImage; the frame source publishes raw Image (launch '
                           'with use_source:=false, or input_type:=raw)')
    if get['params_file']:
        try:
            ls.check_overlay(get['params_file'])
        except ValueError as exc:
            raise RuntimeError(str(exc)) from None
    keys = ['edge', 'cloud'] + (['source'] if ls.as_bool(get['use_source']) else [])
    return ls.check_security(context, keys)


def generate_launch_description():
    """Declare the arguments, check them, include source, edge and cloud, add RViz2."""
    from runespoor_edge.launch_support import common_arguments
    edge_share = get_package_share_directory('runespoor_edge')
    bringup_share = get_package_share_directory('runespoor_bringup')
    shared = {name: LaunchConfiguration(name) for name in SHARED}
    respawn = {name: LaunchConfiguration(name) for name in RESPAWN}
    overlay = LaunchConfiguration('params_file')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='parameters for all nodes, applied after their own '
                                          'files (runespoor_edge: / runespoor_cloud: / '
                                          'runespoor_source: sections)'),
        DeclareLaunchArgument('edge_params_file',
                              default_value=os.path.join(edge_share, 'config', 'edge.yaml'),
                              description='edge parameters'),
        DeclareLaunchArgument('task', default_value='segmentation',
                              description='cloud analytics: segmentation | detection'),
        DeclareLaunchArgument('cloud_params_file', default_value='',
                              description='cloud parameters; empty = the file of the task '
                                          '(config/cloud.yaml, config/cloud_detection.yaml)'),
        DeclareLaunchArgument('source_params_file',
                              default_value=os.path.join(edge_share, 'config', 'source.yaml'),
                              description='frame source parameters'),
        DeclareLaunchArgument('method', default_value='bilinear',
                              description='reconstruction: bilinear | sr | asr | cloudseg'),
        DeclareLaunchArgument('device', default_value='auto', description='auto | cpu | cuda'),
        DeclareLaunchArgument('input_topic', default_value='camera/image_raw',
                              description='camera base topic'),
        DeclareLaunchArgument('input_type', default_value='raw',
                              description='edge input: raw | compressed (<input_topic>/'
                                          'compressed; needs use_source:=false)'),
        DeclareLaunchArgument('use_source', default_value='true',
                              description='start the frame source (false: a real camera)'),
        DeclareLaunchArgument('wait_for_subscribers', default_value='auto',
                              description='source holds its first frame until edge and cloud '
                                          'subscribe: true | false | auto (= bags)'),
        DeclareLaunchArgument('use_rviz', default_value='false', description='start RViz2'),
        DeclareLaunchArgument('rviz_config',
                              default_value=os.path.join(bringup_share, 'rviz',
                                                         'runespoor.rviz'),
                              description='RViz2 configuration'),
        *common_arguments(respawn=True),
        OpaqueFunction(function=preflight),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(edge_share, 'launch',
                                                       'source.launch.py')),
            launch_arguments=dict(
                shared, params_file=LaunchConfiguration('source_params_file'),
                extra_params_file=overlay,
                wait_for_subscribers=LaunchConfiguration('wait_for_subscribers'),
                wait_for_topics='runespoor/encoded').items(),
            condition=IfCondition(LaunchConfiguration('use_source'))),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(edge_share, 'launch', 'edge.launch.py')),
            launch_arguments=dict(
                shared, **respawn, params_file=LaunchConfiguration('edge_params_file'),
                extra_params_file=overlay,
                input_type=LaunchConfiguration('input_type')).items()),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(bringup_share, 'launch',
                                                       'cloud.launch.py')),
            launch_arguments=dict(
                shared, **respawn, task=LaunchConfiguration('task'),
                params_file=LaunchConfiguration('cloud_params_file'),
                extra_params_file=overlay,
                method=LaunchConfiguration('method'),
                device=LaunchConfiguration('device')).items()),
        Node(  # not required: closing RViz leaves the graph running
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            namespace=LaunchConfiguration('namespace'),
            arguments=['-d', LaunchConfiguration('rviz_config')],
            condition=IfCondition(LaunchConfiguration('use_rviz')),
        ),
    ])
