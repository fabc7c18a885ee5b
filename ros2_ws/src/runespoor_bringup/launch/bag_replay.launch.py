# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Replay a rosbag2 bag (SQLite3 or MCAP) into the graph: source (mode bag) -> edge -> cloud.

    ros2 launch runespoor_bringup bag_replay.launch.py bag:=data/bags/clip0 rate_multiplier:=1.0

The source reads the bag with the rosbags library (no rosbag2 install needed), waits until
the edge and the cloud subscribe before its first frame (``wait_for_subscribers``, on by
default here), and with ``loop:=false`` (the default) exits at the end of the bag, which ends
the launch with status 0.  A bag that does not exist ends it at once with an error.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

#: arguments handed through to both included files
SHARED = ('namespace', 'input_topic', 'use_security', 'keystore', 'enclave_root')


def generate_launch_description():
    """Declare the arguments, the bag source and the edge + cloud graph."""
    from runespoor_edge.launch_support import common_arguments
    edge_share = get_package_share_directory('runespoor_edge')
    bringup_share = get_package_share_directory('runespoor_bringup')
    shared = {name: LaunchConfiguration(name) for name in SHARED}
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 folder or .mcap/.db3 file'),
        DeclareLaunchArgument('bag_topic', default_value='',
                              description='image topic in the bag; empty = first image topic'),
        DeclareLaunchArgument('rate_multiplier', default_value='1.0',
                              description='replay speed factor'),
        DeclareLaunchArgument('loop', default_value='false',
                              description='replay in a loop (false: the launch ends with the '
                                          'bag)'),
        DeclareLaunchArgument('wait_for_subscribers', default_value='true',
                              description='hold the first frame until edge and cloud subscribe'),
        DeclareLaunchArgument('wait_for_subscribers_s', default_value='120.0',
                              description='longest wait for them [s] (model loading included)'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        DeclareLaunchArgument('input_topic', default_value='camera/image_raw',
                              description='topic the replayed frames go to'),
        DeclareLaunchArgument('source_params_file',
                              default_value=os.path.join(edge_share, 'config', 'source.yaml'),
                              description='frame source parameters (mode/path set here)'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='parameters for all nodes (see system.launch.py)'),
        DeclareLaunchArgument('method', default_value='bilinear',
                              description='reconstruction: bilinear | sr | asr | cloudseg'),
        DeclareLaunchArgument('device', default_value='auto', description='auto | cpu | cuda'),
        DeclareLaunchArgument('task', default_value='segmentation',
                              description='cloud analytics: segmentation | detection'),
        DeclareLaunchArgument('use_rviz', default_value='false', description='start RViz2'),
        *common_arguments(respawn=True),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(edge_share, 'launch',
                                                       'source.launch.py')),
            launch_arguments=dict(
                shared, mode='bag', path=LaunchConfiguration('bag'),
                bag_topic=LaunchConfiguration('bag_topic'),
                rate_multiplier=LaunchConfiguration('rate_multiplier'),
                loop=LaunchConfiguration('loop'),
                params_file=LaunchConfiguration('source_params_file'),
                extra_params_file=LaunchConfiguration('params_file'),
                wait_for_subscribers=LaunchConfiguration('wait_for_subscribers'),
                wait_for_subscribers_s=LaunchConfiguration('wait_for_subscribers_s'),
                wait_for_topics='runespoor/encoded').items()),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(bringup_share, 'launch',
                                                       'system.launch.py')),
            launch_arguments=dict(
                shared, method=LaunchConfiguration('method'),
                device=LaunchConfiguration('device'), task=LaunchConfiguration('task'),
                params_file=LaunchConfiguration('params_file'),
                use_rviz=LaunchConfiguration('use_rviz'),
                respawn=LaunchConfiguration('respawn'),
                respawn_delay=LaunchConfiguration('respawn_delay'),
                max_restarts=LaunchConfiguration('max_restarts'),
                use_source='false').items()),
    ])
