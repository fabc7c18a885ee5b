# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
CAC, the content-aware adaptive controller (paper §3.2), without ROS.

- :mod:`runespoor.cac.tail`: tail frames and the fitted small-region-ratio threshold (Fig. 8).
- :mod:`runespoor.cac.selection`: standard / tail-specific config choice per bandwidth.
- :mod:`runespoor.cac.profiling`: tail-aware offline profiling -> the edge's profile YAML.
- :mod:`runespoor.cac.awstream`: the AWStream-style baseline controller (Fig. 7 steps 1-3).
- :mod:`runespoor.cac.shaper`: link shaping for the experiment (netns + tc, or a token bucket).
- :mod:`runespoor.cac.profile_cli`: the ``runespoor profile`` command.

The online tail switch itself lives in :mod:`runespoor.cloud_pipeline` (flag + policy with a
hold time) and :mod:`runespoor.edge_control` (applies the policy from the next frame).
"""
