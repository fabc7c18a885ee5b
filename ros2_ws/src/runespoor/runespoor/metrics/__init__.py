# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
Accuracy, tail-accuracy, image-quality and bandwidth metrics (paper §5).

Plain NumPy in and out, no ROS and no torch: ``segmentation`` (confusion matrix, IoU, mIoU,
class-wise tail), ``framewise`` (10-frame episode mIoU and its 90 %/99 % tails), ``image``
(PSNR, SSIM, bytes per frame, Mbit/s) and ``detection`` (COCO-style mAP via pycocotools).
"""
