# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Everything that runs on the robot: the edge node and, optionally, the frame source.

    ros2 launch runespoor_edge robot.launch.py namespace:=robot1 input_topic:=/front/image_raw
    ros2 launch runespoor_edge robot.launch.py use_source:=true mode:=bag path:=/data/clip0

Needs runespoor_edge and runespoor_msgs only (no runespoor_cloud, rviz2 or a GPU stack); the cloud
runs elsewhere (``ros2 launch runespoor_bringup cloud.launch.py`` on the GPU server, same
namespace and ROS_DOMAIN_ID).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

#: arguments handed through to both included files
SHARED = ('namespace', 'input_topic', 'use_security', 'keystore', 'enclave_root')


def generate_launch_description():
    """Declare the arguments, include edge.launch.py and (use_source) source.launch.py."""
    from runespoor_edge.launch_support import common_arguments
    launch_dir = os.path.join(get_package_share_directory('runespoor_edge'), 'launch')
    edge_share = get_package_share_directory('runespoor_edge')
    shared = {name: LaunchConfiguration(name) for name in SHARED}
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        DeclareLaunchArgument('input_topic', default_value='camera/image_raw',
                              description='camera base topic'),
        DeclareLaunchArgument('input_type', default_value='raw',
                              description='raw | compressed (edge input)'),
        DeclareLaunchArgument('edge_params_file',
                              default_value=os.path.join(edge_share, 'config', 'edge.yaml'),
                              description='edge parameters'),
        DeclareLaunchArgument('use_source', default_value='false',
                              description='start the frame source (no camera driver)'),
        DeclareLaunchArgument('mode', default_value='', description='source mode (use_source)'),
        DeclareLaunchArgument('path', default_value='', description='source folder or bag'),
        DeclareLaunchArgument('loop', default_value='', description='source loop'),
        *common_arguments(respawn=True),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(launch_dir, 'source.launch.py')),
            launch_arguments=dict(shared, mode=LaunchConfiguration('mode'),
                                  path=LaunchConfiguration('path'),
                                  loop=LaunchConfiguration('loop')).items(),
            condition=IfCondition(LaunchConfiguration('use_source'))),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(launch_dir, 'edge.launch.py')),
            launch_arguments=dict(shared, input_type=LaunchConfiguration('input_type'),
                                  params_file=LaunchConfiguration('edge_params_file'),
                                  respawn=LaunchConfiguration('respawn'),
                                  respawn_delay=LaunchConfiguration('respawn_delay'),
                                  max_restarts=LaunchConfiguration('max_restarts')).items()),
    ])
