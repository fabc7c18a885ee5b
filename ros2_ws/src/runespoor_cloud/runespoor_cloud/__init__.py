"""Runespoor cloud node: decodes EncodedFrame, reconstructs it (bilinear, SR, ASR, CloudSeg), runs the analytics model, flags tail frames and steers the edge."""
