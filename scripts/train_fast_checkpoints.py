#!/usr/bin/env python3
"""Train a shipped fast-profile checkpoint into data_samples/checkpoints/.

    python scripts/train_fast_checkpoints.py halo [--steps 2000]                 # halo_fast.pt
    python scripts/train_fast_checkpoints.py initial --variant attention [--steps 1500]
                                                                  # i_<variant>_fast.pt

Generates the training/test data into the cache if missing, trains with `train_occupancy`,
evaluates on the test split and writes the checkpoint atomically with its metrics.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from im2hands_lite.checkpoints import SHIPPED, save_checkpoint
from im2hands_lite.data import GeneratorConfig, TwoHandDataset, default_cache_root, generate_split
from im2hands_lite.data.dataset import config_dir
from im2hands_lite.evaluate import evaluate_occupancy
from im2hands_lite.models.halo import HaloModel
from im2hands_lite.models.initial import IMAGE_CONDITIONS, InitialConfig, InitialOccupancyNet
from im2hands_lite.train import HaloTrainConfig, train_occupancy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["halo", "initial"])
    parser.add_argument("--variant", choices=IMAGE_CONDITIONS, default="attention",
                        help="image conditioning of I (ignored for halo)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--train-samples", type=int, default=512)
    parser.add_argument("--test-samples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data_config = GeneratorConfig(image_size=128, n_queries=4096)
    root = default_cache_root()
    generate_split(root, "train", args.train_samples, data_config, workers=args.workers)
    generate_split(root, "test", args.test_samples, data_config, workers=args.workers)
    directory = config_dir(root, data_config)
    train_config = HaloTrainConfig(steps=args.steps)
    torch.manual_seed(train_config.seed)
    if args.model == "halo":
        model, name = HaloModel(), "halo_fast.pt"
    else:
        model = InitialOccupancyNet(InitialConfig(image_cond=args.variant))
        name = f"i_{args.variant}_fast.pt"
    start = time.perf_counter()
    log = train_occupancy(model, TwoHandDataset(directory, "train"), train_config,
                          desc=f"train {name}")
    minutes = (time.perf_counter() - start) / 60
    result = evaluate_occupancy(model, TwoHandDataset(directory, "test"))
    sha = save_checkpoint(SHIPPED / name, model, args.model, model.config,
                          train_config=train_config.__dict__ | {"betas": list(train_config.betas)},
                          data_config=data_config.key(), train_samples=args.train_samples,
                          final_loss=sum(r["loss"] for r in log[-50:]) / 50,
                          train_minutes=minutes, test_metrics=result["mean"],
                          test_samples=args.test_samples)
    print(json.dumps({"checkpoint": str(SHIPPED / name), "sha256": sha, "minutes": round(minutes, 1),
                      "test": result["mean"]}, indent=2))


if __name__ == "__main__":
    main()
