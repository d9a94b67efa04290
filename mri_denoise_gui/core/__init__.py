"""Headless core: volumes, normalisation, noise, metrics, orientation, classical baselines.

Importing this package must never import Qt or TensorFlow (a test enforces it), so the
command line and the workers can use it without paying for either.
"""
