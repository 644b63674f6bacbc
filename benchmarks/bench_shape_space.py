#!/usr/bin/env python3
"""What the hand's shape space changes: volume, IoU against the mean hand, joint shifts, overlap.

    .venv/bin/python benchmarks/bench_shape_space.py [--points 200000] [--draws 100]

For each shape coefficient at -1, -0.5, +0.5, +1 (the others 0, rest pose): the closed hand's
volume, its IoU against the mean hand (winding numbers on uniform points in a box around both),
the largest joint shift, and the overlap volume (points where the skin covers itself, winding
number > 1.5). Then random draws of the generator's distribution (SHAPE_RANGES) with natural poses:
every mesh stays watertight and consistently wound, and the shape adds no self-overlap beyond
what the same pose has with the mean hand. The last table is what the data generator's draws
look like: the IoU of each drawn hand against the mean hand in the same pose (docs/DATA.md).
"""
from __future__ import annotations

import argparse
import os
import platform

import numpy as np
import torch

from im2hands_lite.data.interactions import SHAPE_RANGES, natural_finger_angles, sample_betas
from im2hands_lite.geometry.inside import (
    is_watertight,
    is_winding_consistent,
    mesh_volume,
    winding_number,
)
from im2hands_lite.hand import HandModel


def _occupancy(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    return winding_number(vertices.astype(np.float64), faces, points)


def compare(model: HandModel, angles: torch.Tensor, betas: torch.Tensor, n_points: int,
            rng: np.random.Generator) -> dict[str, float]:
    """Shaped hand vs the mean hand in the same pose."""
    shaped = model(angles, betas=betas)
    mean = model(angles)
    faces = shaped.faces.numpy()
    v_shaped, v_mean = shaped.vertices[0].numpy(), mean.vertices[0].numpy()
    both = np.concatenate([v_shaped, v_mean])
    lo, hi = both.min(axis=0) - 0.005, both.max(axis=0) + 0.005
    points = rng.uniform(lo, hi, size=(n_points, 3))
    w_shaped, w_mean = _occupancy(v_shaped, faces, points), _occupancy(v_mean, faces, points)
    inside_shaped, inside_mean = w_shaped > 0.5, w_mean > 0.5
    box = float(np.prod(hi - lo))
    return {
        "volume_cm3": mesh_volume(v_shaped, faces) * 1e6,
        "iou": float((inside_shaped & inside_mean).sum() / (inside_shaped | inside_mean).sum()),
        "joint_shift_mm": float((shaped.joints - mean.joints).norm(dim=-1).max()) * 1e3,
        "overlap_cm3": float((w_shaped > 1.5).mean()) * box * 1e6,
        "overlap_mean_cm3": float((w_mean > 1.5).mean()) * box * 1e6,
        "closed": bool(is_watertight(v_shaped, faces) and is_winding_consistent(v_shaped, faces)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--draws", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}")
    model = HandModel()
    rng = np.random.default_rng(0)
    rest = torch.zeros(1, 15, 3)
    mean_volume = mesh_volume(model(rest).vertices[0].numpy(), model.faces("right").numpy()) * 1e6
    print(f"\nmean hand, rest pose: {mean_volume:.1f} cm3")
    print("| coefficient | value | volume cm3 | IoU vs mean hand % | largest joint shift mm | overlap cm3 |")
    print("|---|---:|---:|---:|---:|---:|")
    for k, name in enumerate(model.shape_names):
        for value in (-1.0, -0.5, 0.5, 1.0):
            betas = torch.zeros(1, model.n_betas)
            betas[0, k] = value
            r = compare(model, rest, betas, args.points, rng)
            print(f"| {name} | {value:+.1f} | {r['volume_cm3']:.1f} | {100 * r['iou']:.1f} | "
                  f"{r['joint_shift_mm']:.2f} | {r['overlap_cm3']:.3f} |")

    results = []
    for _ in range(args.draws):
        angles = torch.as_tensor(natural_finger_angles(rng)[None], dtype=torch.float32)
        betas = torch.as_tensor(sample_betas(rng, model.shape_names)[None], dtype=torch.float32)
        results.append(compare(model, angles, betas, args.points // 4, rng))
    iou = np.array([r["iou"] for r in results]) * 100
    added = np.array([r["overlap_cm3"] - r["overlap_mean_cm3"] for r in results])
    ranges = ", ".join(f"{name} {low:+g}..{high:+g}" for name, (low, high) in SHAPE_RANGES.items())
    print(f"\n{args.draws} draws of the generator's distribution ({ranges}), natural poses: "
          f"closed and consistently wound: {sum(r['closed'] for r in results)} of {len(results)}; "
          f"overlap added by the shape: max {added.max():+.3f} cm3, mean {added.mean():+.3f} cm3 "
          f"(mean hand {mean_volume:.0f} cm3)")
    print(f"IoU of the drawn hand against the mean hand in the same pose: mean {iou.mean():.1f} %, "
          f"5th-95th percentile {np.percentile(iou, 5):.1f} - {np.percentile(iou, 95):.1f} %")


if __name__ == "__main__":
    main()
