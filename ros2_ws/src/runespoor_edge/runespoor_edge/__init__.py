"""Runespoor edge node: applies the knobs (scale, JPEG quality, frame rate) to camera frames, publishes EncodedFrame, follows the cloud's RatePolicy and estimates the uplink."""
