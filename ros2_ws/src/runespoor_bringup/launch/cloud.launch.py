# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch the Runespoor cloud node on the GPU server.

    ros2 launch runespoor_bringup cloud.launch.py namespace:=robot1 method:=asr device:=cuda
    ros2 launch runespoor_bringup cloud.launch.py task:=detection    # config/cloud_detection.yaml
    ros2 launch runespoor_bringup cloud.launch.py respawn:=true respawn_delay:=5
    ros2 launch runespoor_bringup cloud.launch.py analytics_model:=my_model.yaml   # your model
    ros2 launch runespoor_bringup cloud.launch.py task:=my_pkg.tasks:DepthTask params_file:=...

The cloud is a required node: when it refuses to start (``method:=foo``, a missing model) or
dies, the launch ends with a non-zero status (docs/operations.md).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

#: task -> its parameter file in share/runespoor_cloud/config
TASK_PARAMS = {'segmentation': 'cloud.yaml', 'detection': 'cloud_detection.yaml'}


def launch_setup(context, *args, **kwargs):
    """Create the cloud node with the resolved arguments."""
    from runespoor_edge import launch_support as ls
    ls.check_security(context, ['cloud'])
    task = LaunchConfiguration('task').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    if task not in TASK_PARAMS and (':' not in task or not params_file):
        raise ValueError(f'task:={task!r}: use {" or ".join(TASK_PARAMS)}, or a plug-in task '
                         '(package.module:TaskClass) with params_file:=')
    overrides = {'method': LaunchConfiguration('method').perform(context),
                 'device': LaunchConfiguration('device').perform(context)}
    if params_file:  # a given file runs the task asked for here
        overrides['task'] = task
    else:
        params_file = os.path.join(get_package_share_directory('runespoor_cloud'), 'config',
                                   TASK_PARAMS[task])
    for name in ('seg_arch', 'seg_weights', 'det_weights', 'sr_dir', 'analytics_model'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    respawn, delay, restarts = ls.respawn_settings(context)
    return ls.required_node(
        context, 'cloud', respawn, delay, restarts,
        package='runespoor_cloud', executable='cloud_node',
        parameters=ls.params_files(params_file,
                                   LaunchConfiguration('extra_params_file').perform(context))
        + [overrides])


def generate_launch_description():
    """Declare the arguments and the cloud node."""
    from runespoor_edge.launch_support import common_arguments
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='',
                              description='robot namespace whose frames this cloud serves'),
        DeclareLaunchArgument('task', default_value='segmentation',
                              description='analytics: segmentation (config/cloud.yaml) | '
                                          'detection (config/cloud_detection.yaml) | a plug-in '
                                          'package.module:TaskClass (with params_file)'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='cloud parameters (runespoor_cloud: ros__parameters:);'
                                          ' empty = the file of the task'),
        DeclareLaunchArgument('extra_params_file', default_value='',
                              description='optional overlay applied after params_file'),
        DeclareLaunchArgument('method', default_value='bilinear',
                              description='reconstruction: bilinear | sr | asr | cloudseg'),
        DeclareLaunchArgument('device', default_value='auto',
                              description='auto | cpu | cuda'),
        DeclareLaunchArgument('seg_arch', default_value='',
                              description='segmentation arch; empty = params_file'),
        DeclareLaunchArgument('seg_weights', default_value='',
                              description='segmentation checkpoint; empty = params_file'),
        DeclareLaunchArgument('det_weights', default_value='',
                              description='detection checkpoint (task detection); empty = '
                                          'params_file'),
        DeclareLaunchArgument('analytics_model', default_value='',
                              description='your own analytics model: a YAML file (or mapping) '
                                          'of runespoor.user_models keys (docs/user_models.md);'
                                          ' empty = seg_arch / seg_weights of params_file'),
        DeclareLaunchArgument('sr_dir', default_value='',
                              description='folder of SR checkpoints; empty = params_file'),
        *common_arguments(respawn=True),
        OpaqueFunction(function=launch_setup),
    ])
