"""im2hands-lite: a notebook-first reproduction kit of Im2Hands (CVPR 2023)."""

__version__ = "0.1.0"
