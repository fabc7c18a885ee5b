# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch one fleet cloud: one process and one copy of the models serving several robots.

    ros2 launch runespoor_bringup fleet.launch.py robots:=robot1,robot2,robot3 method:=asr
    ros2 launch runespoor_bringup fleet.launch.py robots:=robot1,robot2 max_batch:=4 device:=cuda

Each robot's edge publishes on ``/<robot>/runespoor/encoded`` and gets its maps, tail flags,
rate policies and link feedback under ``/<robot>/runespoor/``, as from a cloud launched with
``cloud.launch.py namespace:=<robot>``.  Scale-out beyond one GPU: one launch per GPU (or per
server), each with its own robots and its own ``namespace`` so the fleet nodes' names differ;
``cuda_visible_devices`` picks the GPU of a server with several (docs/operations.md):

    ros2 launch runespoor_bringup fleet.launch.py namespace:=gpu0 robots:=robot1,robot2
    ros2 launch runespoor_bringup fleet.launch.py namespace:=gpu1 robots:=robot3,robot4

(with ``cuda_visible_devices:=0`` / ``:=1`` when both run on one machine).

The fleet node is required: when it refuses to start or dies, the launch ends non-zero.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration


def robot_list(text):
    """``'robot1, robot2'`` -> ``['robot1', 'robot2']`` (ValueError when empty or repeated)."""
    robots = [r.strip().strip('/') for r in str(text).split(',') if r.strip().strip('/')]
    if not robots or len(set(robots)) != len(robots):
        raise ValueError(f'robots:={text!r}: a comma-separated list of distinct namespaces')
    return robots


def launch_setup(context, *args, **kwargs):
    """Create the fleet node with the resolved arguments."""
    from runespoor_edge import launch_support as ls
    ls.check_security(context, ['fleet'])
    share = get_package_share_directory('runespoor_cloud')
    params_file = LaunchConfiguration('params_file').perform(context) or \
        os.path.join(share, 'config', 'fleet.yaml')
    overrides = {'robots': robot_list(LaunchConfiguration('robots').perform(context)),
                 'method': LaunchConfiguration('method').perform(context),
                 'device': LaunchConfiguration('device').perform(context),
                 'max_batch': int(LaunchConfiguration('max_batch').perform(context)),
                 'max_wait_ms': float(LaunchConfiguration('max_wait_ms').perform(context))}
    for name in ('seg_arch', 'seg_weights', 'sr_dir'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    # the robots' port nodes (/<robot>/runespoor_cloud) read the cloud's file
    files = ls.params_files(params_file) + ls.params_files(
        os.path.join(share, 'config', 'cloud.yaml'),
        LaunchConfiguration('extra_params_file').perform(context))
    gpus = LaunchConfiguration('cuda_visible_devices').perform(context)
    extra = {'additional_env': {'CUDA_VISIBLE_DEVICES': gpus}} if gpus else {}
    respawn, delay, restarts = ls.respawn_settings(context)
    return ls.required_node(context, 'fleet', respawn, delay, restarts,
                            package='runespoor_cloud', executable='fleet_node',
                            parameters=files + [overrides], **extra)


def generate_launch_description():
    """Declare the arguments and the fleet node."""
    from runespoor_edge.launch_support import common_arguments
    return LaunchDescription([
        DeclareLaunchArgument('robots', default_value='robot1',
                              description='comma-separated robot namespaces this process '
                                          'serves'),
        DeclareLaunchArgument('namespace', default_value='',
                              description="the fleet node's own namespace (distinct per "
                                          'server when scaling out); robot topics stay '
                                          '/<robot>/runespoor/...'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='fleet parameters (runespoor_fleet: ros__parameters:)'
                                          '; empty = config/fleet.yaml'),
        DeclareLaunchArgument('extra_params_file', default_value='',
                              description='optional overlay for the robots (runespoor_cloud: '
                                          'or /<robot>/runespoor_cloud: sections)'),
        DeclareLaunchArgument('method', default_value='bilinear',
                              description='reconstruction: bilinear | sr | asr | cloudseg'),
        DeclareLaunchArgument('device', default_value='auto', description='auto | cpu | cuda'),
        DeclareLaunchArgument('max_batch', default_value='8',
                              description='frames of the same scale and size per batch'),
        DeclareLaunchArgument('max_wait_ms', default_value='5.0',
                              description='longest an incomplete batch waits [ms]'),
        DeclareLaunchArgument('cuda_visible_devices', default_value='',
                              description='CUDA_VISIBLE_DEVICES of this server (one GPU per '
                                          'fleet); empty = inherited'),
        DeclareLaunchArgument('seg_arch', default_value='',
                              description='segmentation arch; empty = params_file'),
        DeclareLaunchArgument('seg_weights', default_value='',
                              description='segmentation checkpoint; empty = params_file'),
        DeclareLaunchArgument('sr_dir', default_value='',
                              description='folder of SR checkpoints; empty = params_file'),
        *common_arguments(respawn=True),
        OpaqueFunction(function=launch_setup),
    ])
