# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch the Runespoor edge node on a robot (needs runespoor_edge + runespoor_msgs only).

    ros2 launch runespoor_edge edge.launch.py namespace:=robot1 input_topic:=/front/image_raw
    ros2 launch runespoor_edge edge.launch.py input_type:=compressed input_topic:=/front/image_raw
    ros2 launch runespoor_edge edge.launch.py respawn:=true use_security:=true keystore:=/ks

``input_topic`` is the camera's *base* topic, as image_transport names it: with
``input_type:=compressed`` the edge subscribes ``sensor_msgs/CompressedImage`` on
``<input_topic>/compressed`` (a topic already ending in ``/compressed`` is taken as it is).
The edge is a required node: when it exits the launch ends (docs/operations.md).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration


def camera_remapping(input_type, input_topic):
    """Return the remapping of the edge's camera topic for ``input_type`` / ``input_topic``."""
    if input_type == 'compressed':
        target = input_topic if input_topic.rstrip('/').endswith('/compressed') else \
            input_topic.rstrip('/') + '/compressed'
        return ('camera/image_raw/compressed', target)
    if input_type != 'raw':
        raise ValueError(f'input_type:={input_type!r}: raw or compressed')
    return ('camera/image_raw', input_topic)


def launch_setup(context, *args, **kwargs):
    """Create the edge node with the resolved arguments."""
    from runespoor_edge import launch_support as ls
    ls.check_security(context, ['edge'])
    input_type = LaunchConfiguration('input_type').perform(context)
    input_topic = LaunchConfiguration('input_topic').perform(context)
    respawn, delay, restarts = ls.respawn_settings(context)
    return ls.required_node(
        context, 'edge', respawn, delay, restarts,
        package='runespoor_edge', executable='edge_node',
        parameters=ls.params_files(LaunchConfiguration('params_file').perform(context),
                                   LaunchConfiguration('extra_params_file').perform(context))
        + [{'input_type': input_type}],
        remappings=[camera_remapping(input_type, input_topic)])


def generate_launch_description():
    """Declare the arguments and the edge node."""
    from runespoor_edge.launch_support import common_arguments
    edge_share = get_package_share_directory('runespoor_edge')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='',
                              description='robot namespace (one per robot)'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(edge_share, 'config', 'edge.yaml'),
                              description='edge parameters (runespoor_edge: ros__parameters:)'),
        DeclareLaunchArgument('extra_params_file', default_value='',
                              description='optional overlay applied after params_file'),
        DeclareLaunchArgument('input_type', default_value='raw',
                              description='raw (sensor_msgs/Image on input_topic) or compressed '
                                          '(CompressedImage on <input_topic>/compressed)'),
        DeclareLaunchArgument('input_topic', default_value='camera/image_raw',
                              description='camera base topic (image_transport naming)'),
        *common_arguments(respawn=True),
        OpaqueFunction(function=launch_setup),
    ])
