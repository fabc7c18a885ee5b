# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Replay a rosbag2 bag (SQLite3 or MCAP) into the graph: source (mode bag) -> edge -> cloud.

    ros2 launch runespoor_cloud bag_replay.launch.py bag:=data/bags/clip0 rate_multiplier:=1.0

The source node reads the bag with the rosbags library, so no rosbag2 install is needed.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def launch_setup(context, *args, **kwargs):
    """Create the bag-mode frame source with the resolved arguments."""
    from runespoor_cloud.params_file import any_namespace_params
    params_file = LaunchConfiguration('source_params_file').perform(context)
    return [Node(
        package='runespoor_edge',
        executable='source_node',
        name='runespoor_source',
        namespace=LaunchConfiguration('namespace').perform(context),
        output='screen',
        parameters=[any_namespace_params(params_file), {
            'mode': 'bag',
            'path': LaunchConfiguration('bag').perform(context),
            'bag_topic': LaunchConfiguration('bag_topic').perform(context),
            'rate_multiplier': float(LaunchConfiguration('rate_multiplier').perform(context)),
            'loop': LaunchConfiguration('loop').perform(context).lower() == 'true',
        }],
        remappings=[('camera/image_raw', LaunchConfiguration('input_topic').perform(context))],
    )]


def generate_launch_description():
    """Declare the arguments, the bag source and the edge + cloud graph."""
    launch_dir = os.path.join(get_package_share_directory('runespoor_cloud'), 'launch')
    edge_share = get_package_share_directory('runespoor_edge')
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 folder or .mcap/.db3 file'),
        DeclareLaunchArgument('bag_topic', default_value='',
                              description='image topic in the bag; empty = first image topic'),
        DeclareLaunchArgument('rate_multiplier', default_value='1.0',
                              description='replay speed factor'),
        DeclareLaunchArgument('loop', default_value='false', description='replay in a loop'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        DeclareLaunchArgument('input_topic', default_value='camera/image_raw',
                              description='topic the replayed frames go to'),
        DeclareLaunchArgument('source_params_file',
                              default_value=os.path.join(edge_share, 'config', 'source.yaml'),
                              description='frame source parameters (mode/path set here)'),
        DeclareLaunchArgument('method', default_value='bilinear',
                              description='reconstruction: bilinear | sr | asr | cloudseg'),
        DeclareLaunchArgument('device', default_value='auto', description='auto | cpu | cuda'),
        DeclareLaunchArgument('task', default_value='segmentation',
                              description='cloud analytics: segmentation | detection'),
        DeclareLaunchArgument('use_rviz', default_value='false', description='start RViz2'),
        OpaqueFunction(function=launch_setup),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(launch_dir, 'system.launch.py')),
            launch_arguments={'namespace': LaunchConfiguration('namespace'),
                              'input_topic': LaunchConfiguration('input_topic'),
                              'method': LaunchConfiguration('method'),
                              'device': LaunchConfiguration('device'),
                              'task': LaunchConfiguration('task'),
                              'use_rviz': LaunchConfiguration('use_rviz'),
                              'use_source': 'false'}.items()),
    ])
