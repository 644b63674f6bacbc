"""HALO speed on CPU: queries/s forward, and mesh extraction of both hands.

    .venv/bin/python benchmarks/bench_halo.py [--checkpoint PATH] [--threads N]

Goal (issue "HALO"): <= 3 s for both hands at 128^3-equivalent on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import platform

import torch
from timing import best_time  # benchmarks/timing.py

from im2hands_lite.checkpoints import SHIPPED
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.evaluation.reconstruction import ReconstructionConfig, reconstruct_pair
from im2hands_lite.geometry.extraction import extract_mesh_dense, keypoint_bounds
from im2hands_lite.models.halo import HaloModel
from im2hands_lite.models.registry import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED / "halo_fast.pt"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint) if os.path.exists(args.checkpoint) else HaloModel().eval()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; weights: "
          f"{args.checkpoint if os.path.exists(args.checkpoint) else 'untrained'}")
    sample = TwoHandDataset(kit_samples_dir(), "test").sample(0)
    kp = torch.tensor(sample.keypoints[:21])[None]
    left = torch.tensor([False])
    frames = model.frames(kp, left)
    for n in (16_384, 65_536):
        q = torch.randn(1, n, 3) * 0.05 + kp[:, 9:10]
        with torch.no_grad():
            seconds = best_time(lambda: model(q, kp, left, frames=frames))
        print(f"forward, {n:6d} queries: {seconds:.3f} s = {n / seconds / 1e3:.0f} k queries/s")

    print(f"\n{'resolution':>10s} {'method':>15s} {'seconds (2 hands)':>18s} {'evaluations':>12s}")
    for resolution in (64, 128):
        config = ReconstructionConfig.at(resolution)  # what the tables use
        results = []
        seconds = best_time(lambda: results.append(reconstruct_pair(model, sample.keypoints, config)), 2)
        evals = sum(r.n_evaluations for r in results[-1])
        print(f"{resolution:10d} {'coarse-to-fine':>15s} {seconds:18.2f} {evals:12d}")
        lo, hi = keypoint_bounds(sample.keypoints[:21], padding=config.padding)

        def dense():
            for _ in range(2):  # both hands
                with torch.no_grad():
                    extract_mesh_dense(lambda p: model(p[None], kp, left, frames=frames).occupancy[0],
                                       lo, hi, resolution=resolution, batch_points=config.batch_points)
        dense_seconds = best_time(dense, 1)
        print(f"{resolution:10d} {'dense':>15s} {dense_seconds:18.2f} {2 * (resolution + 1) ** 3:12d}"
              f"   (coarse-to-fine is {dense_seconds / seconds:.1f}x faster)")


if __name__ == "__main__":
    main()
