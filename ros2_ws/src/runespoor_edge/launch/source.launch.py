# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Launch the frame source (synthetic pattern, a folder of frames, or a rosbag2 bag).

    ros2 launch runespoor_edge source.launch.py mode:=bag path:=data/bags/clip0 loop:=false

Empty arguments keep the value of ``params_file`` (config/source.yaml).  The source is a
required node: when a clip or bag is over (``loop:=false``) it exits and the launch ends with
status 0; a bag it cannot read ends the launch with an error.  ``wait_for_subscribers``
(``auto``: on for bags) holds the first frame until the edge subscribes and every topic of
``wait_for_topics`` has a subscriber, so no frame of a bag is lost while the graph starts.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
import yaml


def source_overrides(context, params_file):
    """Return the parameters the launch arguments set (empty arguments set nothing)."""
    from runespoor_edge.launch_support import as_bool
    with open(params_file, 'r', encoding='utf-8') as f:
        base = (yaml.safe_load(f) or {}).get('runespoor_source', {}).get('ros__parameters', {})
    get = {name: LaunchConfiguration(name).perform(context)
           for name in ('mode', 'path', 'bag_topic', 'rate_multiplier', 'loop',
                        'wait_for_subscribers', 'wait_for_topics', 'wait_for_subscribers_s',
                        'exit_when_done')}
    out = {}
    for name in ('mode', 'path', 'bag_topic'):
        if get[name]:
            out[name] = get[name]
    if get['rate_multiplier']:
        out['rate_multiplier'] = float(get['rate_multiplier'])
    if get['wait_for_subscribers_s']:
        out['wait_for_subscribers_s'] = float(get['wait_for_subscribers_s'])
    for name in ('loop', 'exit_when_done'):
        if get[name]:
            out[name] = as_bool(get[name])
    mode = out.get('mode', base.get('mode', 'synthetic'))
    wait = get['wait_for_subscribers'] or 'auto'
    out['wait_for_subscribers'] = mode == 'bag' if wait == 'auto' else as_bool(wait)
    if get['wait_for_topics']:
        out['wait_for_topics'] = get['wait_for_topics']
    if mode != 'synthetic':
        path = out.get('path', base.get('path', ''))
        if not path or not os.path.exists(path):
            raise ValueError(f'mode {mode}: path {path!r} does not exist (bag:= / path:=)')
    return out


def launch_setup(context, *args, **kwargs):
    """Create the frame source with the resolved arguments."""
    from runespoor_edge import launch_support as ls
    ls.check_security(context, ['source'])
    params_file = LaunchConfiguration('params_file').perform(context)
    return ls.required_node(
        context, 'source', package='runespoor_edge', executable='source_node',
        parameters=ls.params_files(params_file,
                                   LaunchConfiguration('extra_params_file').perform(context))
        + [source_overrides(context, params_file)],
        remappings=[('camera/image_raw', LaunchConfiguration('input_topic').perform(context))])


def generate_launch_description():
    """Declare the arguments and the frame source."""
    from runespoor_edge.launch_support import common_arguments
    edge_share = get_package_share_directory('runespoor_edge')
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(edge_share, 'config', 'source.yaml'),
                              description='frame source parameters (runespoor_source: ...)'),
        DeclareLaunchArgument('extra_params_file', default_value='',
                              description='optional overlay applied after params_file'),
        DeclareLaunchArgument('input_topic', default_value='camera/image_raw',
                              description='topic the frames go to'),
        DeclareLaunchArgument('mode', default_value='',
                              description='synthetic | folder | bag; empty = params_file'),
        DeclareLaunchArgument('path', default_value='',
                              description='folder or rosbag2 bag (modes folder, bag)'),
        DeclareLaunchArgument('bag_topic', default_value='',
                              description='image topic in the bag; empty = the first one'),
        DeclareLaunchArgument('rate_multiplier', default_value='',
                              description='replay speed factor; empty = params_file'),
        DeclareLaunchArgument('loop', default_value='',
                              description='replay in a loop (true | false); empty = params_file'),
        DeclareLaunchArgument('exit_when_done', default_value='true',
                              description='the source exits at the end of the clip and the '
                                          'launch ends with it'),
        DeclareLaunchArgument('wait_for_subscribers', default_value='auto',
                              description='hold the first frame until the graph subscribes: '
                                          'true | false | auto (= on for mode bag)'),
        DeclareLaunchArgument('wait_for_topics', default_value='',
                              description='comma-separated topics that need a subscriber too, '
                                          'e.g. runespoor/encoded (the cloud)'),
        DeclareLaunchArgument('wait_for_subscribers_s', default_value='',
                              description='longest wait [s]; empty = params_file (0 = 60 s)'),
        *common_arguments(),
        OpaqueFunction(function=launch_setup),
    ])
