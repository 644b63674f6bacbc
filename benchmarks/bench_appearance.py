#!/usr/bin/env python3
"""What data v2's look costs per 128^2 render: cluttered background, auto exposure and camera
artefacts (the ray cast is extra). The goal: a few ms, small beside the render.

    python benchmarks/bench_appearance.py
"""
from __future__ import annotations

import numpy as np
from timing import best_time

from im2hands_lite.data.appearance import auto_exposure, camera_artefacts, cluttered_background


def main() -> None:
    rng = np.random.default_rng(0)

    def look() -> None:
        background = cluttered_background(rng, 128, 128)
        camera_artefacts(rng, auto_exposure(rng, background, background[..., 0] > 0.5))

    seconds = best_time(lambda: [look() for _ in range(10)], repeats=3, warmup=True) / 10
    print(f"background + exposure + artefacts at 128^2: {1000 * seconds:.1f} ms per render")


if __name__ == "__main__":
    main()
