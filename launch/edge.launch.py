# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch the Runespoor edge node on a robot.

    ros2 launch runespoor_cloud edge.launch.py namespace:=robot1 input_topic:=/camera/image_raw

Installed into share/runespoor_cloud/launch (see docs/nodes.md).  Loading this file has no side
effects; everything happens in generate_launch_description().
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def launch_setup(context, *args, **kwargs):
    """Create the edge node with the resolved arguments."""
    from runespoor_cloud.params_file import any_namespace_params
    namespace = LaunchConfiguration('namespace').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    input_type = LaunchConfiguration('input_type').perform(context)
    input_topic = LaunchConfiguration('input_topic').perform(context)
    own_topic = 'camera/image_raw' + ('/compressed' if input_type == 'compressed' else '')
    return [Node(
        package='runespoor_edge',
        executable='edge_node',
        name='runespoor_edge',
        namespace=namespace,
        output='screen',
        parameters=[any_namespace_params(params_file), {'input_type': input_type}],
        remappings=[(own_topic, input_topic)],
    )]


def generate_launch_description():
    """Declare the arguments and the edge node."""
    edge_share = get_package_share_directory('runespoor_edge')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='',
                              description='robot namespace (one per robot)'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(edge_share, 'config', 'edge.yaml'),
                              description='edge parameters (runespoor_edge: ros__parameters:)'),
        DeclareLaunchArgument('input_type', default_value='raw',
                              description='raw (sensor_msgs/Image) or compressed'),
        DeclareLaunchArgument('input_topic', default_value='camera/image_raw',
                              description='camera topic to compress (remapped)'),
        OpaqueFunction(function=launch_setup),
    ])
