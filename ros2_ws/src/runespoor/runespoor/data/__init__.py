"""
Data: synthetic Cityscapes-layout street video, loaders, torch datasets, statistics, bags.

Modules (import them explicitly; nothing heavy is imported here):
``scene`` (procedural street renderer), ``synth`` (writes the Cityscapes layout),
``cityscapes`` and ``visdrone`` (loaders), ``datasets`` (torch datasets), ``stats``
(label and JPEG-size statistics), ``bag`` (rosbag2 writing/reading), ``sizes`` (frame-size
parsing), ``cli`` and ``bag_cli``.
"""
