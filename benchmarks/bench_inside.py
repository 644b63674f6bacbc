"""Speed of the geometry layer: inside/outside tests and ray-cast rendering.

Prints points/s for winding-number and embree-ray ``contains`` on an
icosphere (subdivisions 4) and on a ~3,300-triangle closed torus (about a
hand mesh's size), each with 40k query points, and the time to render two
spheres at 128² and 256². Run with::

    .venv/bin/python benchmarks/bench_inside.py
"""

from __future__ import annotations

import numpy as np
import trimesh
from timing import best_time  # benchmarks/timing.py

from im2hands_lite.geometry import (
    PinholeCamera,
    contains,
    is_watertight,
    is_winding_consistent,
    mesh_volume,
    render_meshes,
    winding_number,
)

NUM_POINTS = 40_000
REPEATS = 5


def query_points(mesh: trimesh.Trimesh, rng: np.random.Generator) -> np.ndarray:
    """Half uniform in the padded bounding box, half near the surface (σ = 1% of
    the size), like an occupancy-training batch."""
    low, high = mesh.bounds
    padding = 0.1 * (high - low)
    uniform = rng.uniform(low - padding, high + padding, size=(NUM_POINTS // 2, 3))
    surface, _ = trimesh.sample.sample_surface(mesh, NUM_POINTS - len(uniform), seed=0)
    near = surface + rng.normal(scale=0.01 * mesh.scale, size=surface.shape)
    return np.concatenate([uniform, near])


def bench_contains() -> None:
    meshes = {
        "icosphere(4)": trimesh.creation.icosphere(subdivisions=4, radius=0.05),
        "torus 52x32": trimesh.creation.torus(0.05, 0.02, major_sections=52, minor_sections=32),
    }
    rng = np.random.default_rng(0)
    print(f"inside/outside, {NUM_POINTS:,} points (best of {REPEATS})")
    print(f"{'mesh':<14} {'V':>6} {'F':>6} {'method':<22} {'seconds':>8} {'points/s':>12}")
    for name, mesh in meshes.items():
        vertices, faces = mesh.vertices, mesh.faces
        points = query_points(mesh, rng)
        methods = {
            "winding (igl fast)": lambda: contains(vertices, faces, points),
            "winding (igl exact)": lambda: winding_number(vertices, faces, points, exact=True) > 0.5,
            "ray parity (embree)": lambda: contains(vertices, faces, points, method="ray"),
            # Fixed per-call costs: fast winding builds its tree on every call;
            # contains() also validates the mesh (watertight, oriented, volume).
            "1-point call": lambda: contains(vertices, faces, points[:1]),
            "mesh validation only": lambda: (
                is_watertight(vertices, faces),
                is_winding_consistent(vertices, faces),
                mesh_volume(vertices, faces),
            ),
        }
        for method, function in methods.items():
            seconds = best_time(function, REPEATS, warmup=True)
            fixed_cost = method in ("1-point call", "mesh validation only")
            rate = "-" if fixed_cost else f"{NUM_POINTS / seconds:,.0f}"
            print(f"{name:<14} {len(vertices):>6} {len(faces):>6} {method:<22} "
                  f"{seconds:>8.4f} {rate:>12}")


def bench_render() -> None:
    first = trimesh.creation.icosphere(subdivisions=4, radius=0.05)
    second = first.copy().apply_translation((0.06, 0.02, -0.03))
    torus = trimesh.creation.torus(0.05, 0.02, major_sections=52, minor_sections=32)
    scenes = {
        "two icospheres(4)": [first, second],
        "two tori 52x32": [torus, torus.copy().apply_translation((0.06, 0.02, -0.03))],
    }
    print(f"\nrender (best of {REPEATS})")
    print(f"{'scene':<18} {'triangles':>9} {'size':>8} {'seconds':>8} {'coverage':>8}")
    for name, meshes in scenes.items():
        triangles = sum(len(mesh.faces) for mesh in meshes)
        for size in (128, 256):
            camera = PinholeCamera.looking_at((0.03, 0.01, -0.015), 0.35, 30.0, 20.0, 40.0, size, size)
            result = render_meshes(meshes, camera)
            seconds = best_time(lambda: render_meshes(meshes, camera), REPEATS, warmup=True)
            coverage = np.mean(result.mask_ids >= 0)
            print(f"{name:<18} {triangles:>9} {f'{size}²':>8} {seconds:>8.4f} {coverage:>8.1%}")


if __name__ == "__main__":
    bench_contains()
    bench_render()
