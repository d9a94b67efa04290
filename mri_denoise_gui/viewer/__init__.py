"""The viewer's state and computations, without Qt or TensorFlow.

`session.ViewerSession` holds what the window shows (volume, noise, model, slice caches,
metrics, pending export) and announces changes with psygnal events; `compute` holds the
work done on it as plain functions (noisy volume, slice and volume scores); `export` writes
volumes. The Qt window subscribes to the session and keeps layout and wiring only.
"""
