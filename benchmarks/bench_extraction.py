"""Coarse-to-fine vs dense Marching Cubes on a hand-sized two-sphere occupancy.

Two spheres of radius 4 cm (centres 9 cm apart, about the size of two hands
side by side), box = centres padded by radius + 1 cm. Two occupancy
functions: the analytic one alone (cheap: the grid bookkeeping shows), and
the same plus a small random MLP run on every point (3 -> 128 -> 128 -> 1,
its output multiplied by 0) to emulate a network where evaluation cost
dominates. Timings use one torch thread by default (``--threads``): steadier
on a shared machine. Prints evaluation counts, their ratio and best-of-N
seconds for ``extract_mesh`` (coarse 32) and ``extract_mesh_dense`` at 64
and 128, and whether both give the same mesh::

    .venv/bin/python benchmarks/bench_extraction.py [--repeats 3]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from timing import best_time  # benchmarks/timing.py

from im2hands_lite.geometry import extract_mesh, extract_mesh_dense, keypoint_bounds

RADIUS = 0.04
CENTRES = ((-0.045, 0.0, 0.0), (0.045, 0.0, 0.0))
EPS = 0.002


def two_spheres(points: torch.Tensor) -> torch.Tensor:
    """Analytic occupancy (N,) of the union of the two spheres (soft step of width EPS)."""
    centres = torch.tensor(CENTRES, dtype=points.dtype, device=points.device)
    distance = torch.minimum((points - centres[0]).norm(dim=1), (points - centres[1]).norm(dim=1))
    return torch.sigmoid((RADIUS - distance) / EPS)


def with_mlp_cost(width: int = 128, seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    """``two_spheres`` plus the cost of a random ``3 -> width -> width -> 1`` MLP per point."""
    generator = torch.Generator().manual_seed(seed)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(3, width), torch.nn.ReLU(),
        torch.nn.Linear(width, width), torch.nn.ReLU(),
        torch.nn.Linear(width, 1),
    )
    with torch.no_grad():
        for parameter in mlp.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)

    def occupancy(points: torch.Tensor) -> torch.Tensor:
        return two_spheres(points) + 0.0 * mlp(points)[:, 0]

    return occupancy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--coarse", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 gives steadier timings on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    low, high = keypoint_bounds(np.array(CENTRES), padding=RADIUS + 0.01)
    functions = {"analytic": two_spheres, "analytic+MLP128": with_mlp_cost()}
    print(f"two spheres r = {RADIUS * 100:.0f} cm, box {np.round((high - low) * 100, 1)} cm, "
          f"coarse {args.coarse}, torch threads {torch.get_num_threads()}, best of {args.repeats}")
    header = (f"{'function':<16} {'res':>4} {'dense evals':>12} {'c2f evals':>10} {'ratio':>6} "
              f"{'dense s':>8} {'c2f s':>7} {'speed-up':>8} {'faces':>7} {'same mesh':>9}")
    print(header)
    print("-" * len(header))
    for name, function in functions.items():
        for resolution in (64, 128):
            fine = extract_mesh(function, low, high, resolution, args.coarse)
            dense = extract_mesh_dense(function, low, high, resolution)
            same = (fine.mesh.vertices.shape == dense.mesh.vertices.shape
                    and np.allclose(fine.mesh.vertices, dense.mesh.vertices, atol=1e-7))
            dense_s = best_time(lambda: extract_mesh_dense(function, low, high, resolution),
                                args.repeats)
            fine_s = best_time(lambda: extract_mesh(function, low, high, resolution, args.coarse),
                               args.repeats)
            print(f"{name:<16} {resolution:>4} {dense.n_evaluations:>12,} {fine.n_evaluations:>10,} "
                  f"{fine.evaluation_ratio:>6.3f} {dense_s:>8.3f} {fine_s:>7.3f} "
                  f"{dense_s / fine_s:>7.1f}x {len(fine.mesh.faces):>7,} {str(same):>9}")


if __name__ == "__main__":
    main()
