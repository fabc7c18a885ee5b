#!/usr/bin/env python3
# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Start source, edge and cloud as separate processes over DDS, from the packages' YAML files.

The pip-only counterpart of ``ros2 launch runespoor_bringup system.launch.py``:

    source scripts/env.sh
    python scripts/run_graph.py                                # all three nodes; Ctrl-C stops
    python scripts/run_graph.py -p cloud.seg_arch=palette -p cloud.seg_weights=''   # no model
    python scripts/run_graph.py --nodes edge,cloud --namespace robot1 --method asr
    python scripts/run_graph.py --respawn edge --respawn cloud:5:10   # restart nodes that die

Also installed as the console script ``run_graph`` of runespoor_bringup.  See docs/nodes.md and
docs/operations.md.
"""

import sys

from runespoor_bringup.graph import main

if __name__ == '__main__':
    sys.exit(main())
