#!/usr/bin/env python3
"""Train the shipped fast-profile HALO checkpoint (data_samples/checkpoints/halo_fast.pt).

    python scripts/train_halo_checkpoint.py [--steps 2000] [--train-samples 512]

Generates the training/test data into the cache if missing, trains with `train_halo`,
evaluates on test samples and writes the checkpoint atomically with its metrics and sha256.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from im2hands_lite.checkpoints import SHIPPED, save_checkpoint
from im2hands_lite.data import GeneratorConfig, TwoHandDataset, default_cache_root, generate_split
from im2hands_lite.data.dataset import config_dir
from im2hands_lite.evaluate import evaluate_halo
from im2hands_lite.models.halo import HaloConfig, HaloModel
from im2hands_lite.train import HaloTrainConfig, train_halo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--train-samples", type=int, default=512)
    parser.add_argument("--test-samples", type=int, default=32)
    parser.add_argument("--out", default=str(SHIPPED / "halo_fast.pt"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    data_config = GeneratorConfig(image_size=128, n_queries=4096)
    root = default_cache_root()
    generate_split(root, "train", args.train_samples, data_config, workers=args.workers)
    generate_split(root, "test", args.test_samples, data_config, workers=args.workers)
    directory = config_dir(root, data_config)
    train_config = HaloTrainConfig(steps=args.steps)
    torch.manual_seed(train_config.seed)
    model = HaloModel(HaloConfig())
    start = time.perf_counter()
    log = train_halo(model, TwoHandDataset(directory, "train", n_queries=train_config.n_queries),
                     train_config)
    minutes = (time.perf_counter() - start) / 60
    result = evaluate_halo(model, TwoHandDataset(directory, "test"))
    sha = save_checkpoint(args.out, model, "halo", model.config,
                          train_config=train_config.__dict__ | {"betas": list(train_config.betas)},
                          data_config=data_config.key(), train_samples=args.train_samples,
                          final_loss=sum(r["loss"] for r in log[-50:]) / 50,
                          train_minutes=minutes, test_metrics=result["mean"],
                          test_samples=args.test_samples)
    print(json.dumps({"checkpoint": args.out, "sha256": sha, "minutes": round(minutes, 1),
                      "test": result["mean"]}, indent=2))


if __name__ == "__main__":
    main()
