"""Speed of the two-hand data generator and of the inside tests on posed hands.

Prints samples/s of `generate_sample` (interaction + settle + render + labels) per worker
count and image size, and points/s of the inside tests used for labels. Run with::

    .venv/bin/python benchmarks/bench_data.py [--samples 40]

Goal (issue "Foundation"): >= 20 samples/s with 20k labelled points per hand on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from timing import best_time  # benchmarks/timing.py

from im2hands_lite.data.scene import GeneratorConfig, generate_sample, sample_queries
from im2hands_lite.geometry.inside import winding_number


def _run(args) -> int:
    seeds, config = args
    torch.set_num_threads(1)
    for seed in seeds:
        generate_sample(seed, config)
    return len(seeds)


def samples_per_second(config: GeneratorConfig, n: int, workers: int) -> float:
    _run(([10_000], config))  # warm up imports and caches in this process
    chunks = [list(range(i, n, workers)) for i in range(workers)]
    start = time.perf_counter()
    if workers == 1:
        _run((chunks[0], config))
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_run, [(c, config) for c in chunks]))
    return n / (time.perf_counter() - start)


def inside_throughput(n_points: int = 40_000, repeats: int = 5) -> dict[str, float]:
    sample = generate_sample(3, GeneratorConfig(image_size=32, n_queries=2))
    mesh = sample.mesh(0)
    queries = sample_queries(np.random.default_rng(0), mesh, n_points, GeneratorConfig())
    queries = queries.astype(np.float64)
    methods = {
        "winding number (kit labels)": lambda: winding_number(mesh.vertices, mesh.faces, queries) > 0.5,
        "embree ray parity": lambda: mesh.ray.contains_points(queries),
    }
    out = {}
    for name, fn in methods.items():
        best = best_time(fn, repeats)
        out[name] = n_points / best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}")
    print("\ninside tests on a posed hand, 40k HALO-style queries (half near the surface):")
    for name, rate in inside_throughput().items():
        print(f"  {name:28s} {rate / 1e3:8.0f} k points/s")
    print("\ngenerator (image + 2 hands x N labelled points):")
    print(f"  {'image':>6s} {'points/hand':>11s} {'workers':>7s} {'samples/s':>9s}")
    for image_size, n_queries in ((256, 20_000), (128, 20_000), (128, 4096)):
        config = GeneratorConfig(image_size=image_size, n_queries=n_queries)
        for workers in (1, 2):
            rate = samples_per_second(config, args.samples, workers)
            print(f"  {image_size:6d} {n_queries:11d} {workers:7d} {rate:9.1f}")


if __name__ == "__main__":
    main()
