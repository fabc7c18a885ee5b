# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch the whole graph on one machine: (source) -> edge -> cloud, and optionally RViz2.

    ros2 launch runespoor_cloud system.launch.py use_source:=true use_rviz:=true
    ros2 launch runespoor_cloud system.launch.py task:=detection   # Detection2DArray

On a pip-only machine (no launch_ros) the same graph is `python scripts/run_graph.py`.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def launch_setup(context, *args, **kwargs):
    """Create the frame source with the resolved arguments."""
    from runespoor_cloud.params_file import any_namespace_params
    namespace = LaunchConfiguration('namespace').perform(context)
    params_file = LaunchConfiguration('source_params_file').perform(context)
    return [Node(
        package='runespoor_edge',
        executable='source_node',
        name='runespoor_source',
        namespace=namespace,
        output='screen',
        parameters=[any_namespace_params(params_file)],
        remappings=[('camera/image_raw', LaunchConfiguration('input_topic').perform(context))],
        condition=IfCondition(LaunchConfiguration('use_source')),
    )]


def generate_launch_description():
    """Declare the arguments, include edge and cloud, add source and RViz2."""
    launch_dir = os.path.join(get_package_share_directory('runespoor_cloud'), 'launch')
    edge_share = get_package_share_directory('runespoor_edge')
    cloud_share = get_package_share_directory('runespoor_cloud')
    namespace = LaunchConfiguration('namespace')
    input_topic = LaunchConfiguration('input_topic')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
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
                              description='camera topic'),
        DeclareLaunchArgument('use_source', default_value='true',
                              description='start the frame source (false: a real camera)'),
        DeclareLaunchArgument('use_rviz', default_value='false', description='start RViz2'),
        DeclareLaunchArgument('rviz_config',
                              default_value=os.path.join(cloud_share, 'rviz', 'runespoor.rviz'),
                              description='RViz2 configuration'),
        OpaqueFunction(function=launch_setup),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(launch_dir, 'edge.launch.py')),
            launch_arguments={'namespace': namespace,
                              'params_file': LaunchConfiguration('edge_params_file'),
                              'input_topic': input_topic}.items()),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(launch_dir, 'cloud.launch.py')),
            launch_arguments={'namespace': namespace,
                              'task': LaunchConfiguration('task'),
                              'params_file': LaunchConfiguration('cloud_params_file'),
                              'method': LaunchConfiguration('method'),
                              'device': LaunchConfiguration('device')}.items()),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            namespace=namespace,
            arguments=['-d', LaunchConfiguration('rviz_config')],
            condition=IfCondition(LaunchConfiguration('use_rviz')),
        ),
    ])
