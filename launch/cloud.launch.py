# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch the Runespoor cloud node on the GPU server.

    ros2 launch runespoor_cloud cloud.launch.py namespace:=robot1 method:=asr device:=cuda

Installed into share/runespoor_cloud/launch (see docs/nodes.md).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def launch_setup(context, *args, **kwargs):
    """Create the cloud node with the resolved arguments."""
    from runespoor_cloud.params_file import any_namespace_params
    namespace = LaunchConfiguration('namespace').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    overrides = {'method': LaunchConfiguration('method').perform(context),
                 'device': LaunchConfiguration('device').perform(context)}
    for name in ('seg_arch', 'seg_weights', 'sr_dir'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    return [Node(
        package='runespoor_cloud',
        executable='cloud_node',
        name='runespoor_cloud',
        namespace=namespace,
        output='screen',
        parameters=[any_namespace_params(params_file), overrides],
    )]


def generate_launch_description():
    """Declare the arguments and the cloud node."""
    cloud_share = get_package_share_directory('runespoor_cloud')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='',
                              description='robot namespace whose frames this cloud serves'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(cloud_share, 'config', 'cloud.yaml'),
                              description='cloud parameters (runespoor_cloud: ros__parameters:)'),
        DeclareLaunchArgument('method', default_value='bilinear',
                              description='reconstruction: bilinear | sr | asr | cloudseg'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto | cpu | cuda'),
        DeclareLaunchArgument('seg_arch', default_value='',
                              description='segmentation arch; empty = params_file'),
        DeclareLaunchArgument('seg_weights', default_value='',
                              description='segmentation checkpoint; empty = params_file'),
        DeclareLaunchArgument('sr_dir', default_value='',
                              description='folder of SR checkpoints; empty = params_file'),
        OpaqueFunction(function=launch_setup),
    ])
