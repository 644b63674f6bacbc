"""Training-step time of R against the number of iso-surface points (Table S3's 256/512/1024).

    .venv/bin/python benchmarks/bench_refine.py [--config fast|paper] [--points 256,512,1024]
                                                [--repeats 3] [--threads 1]

One step = R's forward (its ImgEnc included) on a batch (both hands of every sample), the
occupancy MSE + penetration term at both hands' queries, and backward; training mode, no
optimiser step. Configs: fast = the shipped R (width 64, ResNet-10 at 128^2), batch 4,
1,024 queries per hand; paper = width 256, ResNet-50 at 256^2, batch 8, 4,096 queries per hand
(images upsampled, cameras rescaled). Inputs are real kit samples; the surface points are FPS
samples of the true meshes (timing does not depend on where the points come from), the
"initial occupancy" is the true one. Prints seconds per step and the ratio to 512 points, as
Table S3 reports them (the paper: 1.04 / 1.74 / 3.15 s per iteration for 256 / 512 / 1,024
points). On a GPU (if available) the same with CUDA events.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform

import numpy as np
import torch
from timing import best_time  # benchmarks/timing.py

from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.evaluation.metrics import sample_surface
from im2hands_lite.geometry.sampling import farthest_point_sampling
from im2hands_lite.models.image import paper_image_config
from im2hands_lite.models.two_hand_refiner import (
    TwoHandRefiner,
    TwoHandRefinerConfig,
    two_hand_refiner_loss,
)

CONFIGS = {"fast": {"batch": 4, "queries": 1024, "size": 128},
           "paper": {"batch": 8, "queries": 4096, "size": 256}}


def make_config(name: str, n_points: int) -> TwoHandRefinerConfig:
    if name == "fast":
        return TwoHandRefinerConfig(n_points=n_points)
    resnet, decoder, _ = paper_image_config()
    return dataclasses.replace(TwoHandRefinerConfig(n_points=n_points, width=256), resnet=resnet, decoder=decoder)


def make_batch(config_name: str, n_points: int, device: str) -> dict[str, torch.Tensor]:
    sizes = CONFIGS[config_name]
    dataset = TwoHandDataset(kit_samples_dir(), "train", n_queries=sizes["queries"])
    items = []
    for i in range(sizes["batch"]):
        item, sample = dataset[i], dataset.sample(i)
        if sizes["size"] != sample.camera.width:
            item["image"] = torch.nn.functional.interpolate(item["image"][None], size=(sizes["size"],) * 2,
                                                            mode="bilinear", align_corners=False)[0].clamp(0, 1)
            item["K"] = torch.tensor(sample.camera.resized(sizes["size"], sizes["size"]).K, dtype=torch.float32)
        hands = []
        for hand in (0, 1):
            surface = torch.from_numpy(sample_surface(sample.mesh(hand), 8192, np.random.default_rng(i))).float()
            hands.append(surface[farthest_point_sampling(surface[None], n_points)[0]])
        item["surface_points"] = torch.stack(hands)
        item["initial_occupancy"] = item["occupancy"]
        item["pen_queries"] = item["queries"].reshape(-1, 3)
        item["pen_initial"] = torch.stack([item["occupancy"].reshape(-1)] * 2)
        items.append(item)
    batch = torch.utils.data.default_collate(items)
    return {key: value.to(device) for key, value in batch.items()}


def step(model: TwoHandRefiner, batch: dict[str, torch.Tensor]) -> None:
    model.zero_grad(set_to_none=True)
    x = model.prepare(batch)
    out = model(x["points"], x["point_features"], x["global_image"], x["queries"], x["initial_occupancy"])
    pen = model.to_network(batch["pen_queries"], batch["R"], batch["t"], x["centre_cam"])
    loss, _ = two_hand_refiner_loss(model, out, batch["occupancy"], pen, batch["pen_initial"])
    loss.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=list(CONFIGS), default="fast")
    parser.add_argument("--points", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    points = [int(p) for p in args.points.split(",")]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    sizes = CONFIGS[args.config]
    print(f"R training step, {args.config} config: batch {sizes['batch']} samples x 2 hands, {sizes['queries']} queries "
          f"per hand, {sizes['size']}^2 images; {platform.processor() or 'cpu'}, torch {torch.__version__}, "
          f"{args.threads} thread(s)")
    for device in devices:
        times = {}
        for n in points:
            torch.manual_seed(0)
            model = TwoHandRefiner(make_config(args.config, n)).to(device).train()
            batch = make_batch(args.config, n, device)
            if device == "cuda":
                def timed() -> None:
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    step(model, batch)
                    end.record()
                    torch.cuda.synchronize()
                    timings.append(start.elapsed_time(end) / 1000)
                timings: list[float] = []
                step(model, batch)
                for _ in range(args.repeats):
                    timed()
                times[n] = min(timings)
            else:
                times[n] = best_time(lambda: step(model, batch), args.repeats, warmup=True)
        name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
        base = times.get(512, next(iter(times.values())))
        for n, seconds in times.items():
            print(f"{name:>24}  n_points {n:>5}: {seconds:6.3f} s per step, x{seconds / base:.2f} vs 512")


if __name__ == "__main__":
    main()
