"""Runespoor cloud: the server-side node (reconstruction, analytics, tail flags, rate policy)."""
