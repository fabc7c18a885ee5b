# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Runespoor fleet cloud: one process, one copy of the models, N robots (docs/operations.md).

The node ``runespoor_fleet`` reads ``robots`` (e.g. ``[robot1, robot2]``), loads the models
once and creates one :class:`RobotPort` per robot: a node ``/<robot>/runespoor_cloud`` with
the single-robot cloud's topics, parameters and message adapters (it *is* a
:class:`~runespoor_cloud.cloud_node.CloudNode` without models or worker of its own), so each
robot keeps its own sequence guard, tail state, rate policies, link feedback, diagnostics and
run-time parameters (``ros2 param set /robot1/runespoor_cloud hold_s 2.0``).  Frames go into
a :class:`runespoor.fleet.FleetScheduler` (bounded per-robot queues, round-robin fairness);
one worker thread takes batches of frames of the same scale and size (``max_batch``, at most
``max_wait_ms`` of waiting) through :class:`runespoor.fleet.FleetPipeline` (one batched SR
and segmentation pass) and hands each result back to its robot's port to publish.

Scale-out beyond one GPU: several fleet nodes, each launched with its own ``robots`` list
(``fleet.launch.py robots:=... fleet_name:=...``); nothing coordinates them.
"""

import sys
import threading

from rclpy.node import Node
from rclpy.parameter import Parameter
from runespoor.cloud_pipeline import make_reconstructor, ModelError
from runespoor.device import resolve_device
from runespoor.fleet import FleetPipeline, FleetScheduler
from runespoor.stages import StagePipeline
from runespoor.tasks import get_task
from runespoor_edge.ros_common import describe

from . import cloud_node
from .cloud_node import (CloudNode, declare_parameters, load_tail_model, pipeline_config,
                         pipelining_on, setup_fast_path, tensor_decoder, warm_up)

#: Parameters of the fleet node that its robots share: the models and how frames are queued.
SHARED = ('task', 'analytics_model', 'method', 'device', 'sr_dir', 'sr_scales', 'seg_arch',
          'seg_weights',
          'det_arch', 'det_weights', 'det_score_threshold', 'tail_detector', 'tail_model_file',
          'warm_up', 'queue_size', 'max_source_pixels', 'max_source_side', 'precision',
          'channels_last', 'graphs', 'gpu_decode', 'pin_memory', 'pipelining', 'warm_up_width',
          'warm_up_height')

#: name -> (default, descriptor) of the fleet node (defaults mirror config/fleet.yaml).
FLEET_PARAMETERS = {
    'robots': (['robot1'], describe('robot namespaces served by this process (one port node '
                                    '/<robot>/runespoor_cloud each)', read_only=True)),
    'max_batch': (8, describe('frames of different robots of the same scale and size analysed '
                              'as one batch', read_only=True, lo=1, hi=256, kind=int)),
    'max_wait_ms': (5.0, describe('longest an incomplete batch waits for more frames (not at '
                                  'all when every robot already has a frame in it) [ms]',
                                  read_only=True, lo=0.0, hi=1000.0)),
}
FLEET_PARAMETERS.update({name: cloud_node.PARAMETERS[name] for name in SHARED})
#: What the launch-file tests check parameter files against (the fleet node's own).
PARAMETERS = FLEET_PARAMETERS


class RobotPort(CloudNode):
    """
    One served robot: the cloud node's topics, parameters and adapters on shared models.

    Constructed by :class:`FleetNode`; ``shared`` are the fleet node's values of
    :data:`SHARED` (the robot's own values of those would not be used, so they are set).
    """

    def __init__(self, robot, shared, scheduler, stop, context=None):
        Node.__init__(self, 'runespoor_cloud', namespace='/' + robot.strip('/'),
                      context=context,
                      parameter_overrides=[Parameter(k, value=v) for k, v in shared.items()])
        self.robot = robot
        self.p = declare_parameters(self, cloud_node.PARAMETERS)
        self.task_plugin = get_task(self.p['task'])
        self.task = self.task_plugin.name
        self.pipeline = None            # set by FleetNode once every port has its config
        self._stop = stop
        self._init_state(self.p, scheduler.queue(robot))
        self.counters['batched_frames'] = 0

    def attach(self, pipeline):
        """Start serving with the robot's pipeline (of the fleet's :class:`FleetPipeline`)."""
        self.pipeline = pipeline
        self._make_endpoints(self.p)

    def destroy_node(self):
        """Destroy the port (the fleet node owns the worker)."""
        return Node.destroy_node(self)


class FleetNode(Node):
    """Load the models once, create the robot ports, batch their frames on one worker."""

    def __init__(self, node_name='runespoor_fleet', **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, FLEET_PARAMETERS)
        log = self.get_logger()
        robots = [str(r).strip('/') for r in p['robots']]
        if not robots or any(not r for r in robots) or len(set(robots)) != len(robots):
            raise ValueError(f'parameter robots={p["robots"]!r}: distinct non-empty names')
        self.task = p['task']
        tail_model = load_tail_model(p)
        device = resolve_device(p['device'])
        reconstructor = make_reconstructor(p['method'], p['sr_dir'], device,
                                           tuple(int(s) for s in p['sr_scales']))
        analytics = CloudNode._make_analytics(self, p, device)
        fast = setup_fast_path(self, p, device, reconstructor, analytics)
        self._stop = threading.Event()
        self.scheduler = FleetScheduler(robots, p['queue_size'], p['max_batch'],
                                        p['max_wait_ms'])
        shared = {k: self.get_parameter(k).value for k in SHARED}
        self.ports = {r: RobotPort(r, shared, self.scheduler, self._stop, self.context)
                      for r in robots}
        configs = {r: pipeline_config(port.p, tail_model) for r, port in self.ports.items()}
        self.fleet = FleetPipeline(reconstructor, analytics, robots, configs)
        for r, port in self.ports.items():
            self.fleet[r].tensor_decode = tensor_decoder(fast)   # gpu_decode / pin_memory
            port.attach(self.fleet[r])
        if p['warm_up']:  # graphs for a single frame and for a full batch
            ms = warm_up(next(iter(self.fleet.pipelines.values())), fast, p,
                         sorted({1, min(int(p['max_batch']), len(robots))}))
            log.info(f'warm-up: {ms:.0f} ms')
        self.companion_nodes = list(self.ports.values())
        self._stages = None
        if pipelining_on(p['pipelining'], device):
            self._stages = StagePipeline([self.fleet.decode_batch, self.fleet.infer_batch,
                                          self._deliver], depth=1, on_error=self._stage_error,
                                         name='fleet-stage')
        log.info('pipelining: ' + ('on (decode | reconstruct + analyse | publish, batches '
                                   'overlapped)' if self._stages else 'off (one batch at a time)'))
        self._worker = threading.Thread(target=self._work, name='fleet-worker', daemon=True)
        self._worker.start()
        log.info(f'fleet ready ({self.task}, {p["method"]} on {device}): {len(robots)} robots '
                 f'{robots}, max_batch {p["max_batch"]}, max_wait_ms {p["max_wait_ms"]:g}, '
                 f'queue {p["queue_size"]} per robot')

    def _work(self):
        while not self._stop.is_set():
            batch = self.scheduler.get(timeout=0.2)
            if not batch:
                continue
            if self._stages is not None:
                while not self._stop.is_set() and not self._stages.put(batch, timeout=0.2):
                    pass
                continue
            try:
                outcomes = self.fleet.process_batch(batch)
            except Exception as exc:  # noqa: B902 - keep serving; count and report
                self._batch_failed(batch, exc)
                continue
            if not self._deliver(outcomes):
                return

    def _deliver(self, outcomes):
        """Publish a processed batch robot by robot; return False when shutting down."""
        for out in outcomes:
            port = self.ports[out.robot]
            if out.error is not None:
                port._bad_frame(out.error)
                continue
            if out.batch_size > 1:
                port.counters['batched_frames'] += 1
            if not port._deliver(out.frame, out.result):
                return False
        return True

    def _batch_failed(self, batch, exc, stage=None):
        """Count an unexpected failure for every frame of ``batch`` (``(robot, frame)`` list)."""
        for robot, _ in batch:
            self.ports[robot].pipeline.count_error('internal')
            self.ports[robot]._last_error = f'internal: {exc!r}'
        where = '' if stage is None else f' in stage {stage}'
        self.get_logger().error(f'batch of {len(batch)} failed{where}: {exc!r}',
                                throttle_duration_sec=1.0)

    def _stage_error(self, item, exc, stage):
        """Count a pipelined stage that raised on ``item`` (batch, decoded state, outcomes)."""
        if self._stop.is_set():
            return
        outcomes = item[0] if isinstance(item, tuple) else item
        batch = [(o.robot, o.frame) if hasattr(o, 'robot') else o for o in outcomes]
        self._batch_failed(batch, exc, stage)

    def destroy_node(self):
        """Stop the worker (and the stage threads), destroy the robot ports, then this node."""
        self._stop.set()
        self.scheduler.close()
        self._worker.join(5.0)
        if self._stages is not None:
            self._stages.close()
        for port in self.ports.values():
            port.destroy_node()
        return super().destroy_node()


def main(args=None):
    """
    Entry point of ``ros2 run runespoor_cloud fleet_node``.

    Like the cloud node: missing models and bad parameters are logged at FATAL ("refusing to
    start: ...") and give status 2; Ctrl-C / SIGTERM shut down once.
    """
    from runespoor_edge.node_main import run
    return run(FleetNode, args, node_name='runespoor_fleet', refuse=(ModelError, ValueError))


if __name__ == '__main__':
    sys.exit(main())
