#!/usr/bin/env python3
"""Train a shipped fast-profile checkpoint into data_samples/checkpoints/.

    python scripts/train_fast_checkpoints.py halo [--steps 2000]                 # halo_fast.pt
    python scripts/train_fast_checkpoints.py initial --variant attention [--steps 1500]
                                                                  # i_<variant>_fast.pt
    python scripts/train_fast_checkpoints.py estimator [--steps 3000]  # estimator_fast.pt
    python scripts/train_fast_checkpoints.py keypoints [--steps 3000]   # k_fast.pt (K)
    python scripts/train_fast_checkpoints.py refinement [--steps 600]   # r_fast.pt (R on I)
        [--points 256|1024] [--ablate init_occ_cond|feature_cloud|context_latent]  # r_<...>_fast.pt

Generates the training/test data into the cache if missing, trains with `train_occupancy`,
evaluates on the test split and writes the checkpoint atomically with its metrics.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from im2hands_lite.checkpoints import SHIPPED, load_estimator, load_initial, save_checkpoint
from im2hands_lite.data import GeneratorConfig, TwoHandDataset, default_cache_root, generate_split
from im2hands_lite.data.dataset import config_dir
from im2hands_lite.evaluate import evaluate_keypoints, evaluate_occupancy
from im2hands_lite.models.estimator import KeypointEstimator
from im2hands_lite.models.halo import HaloModel
from im2hands_lite.models.keypoints import KeypointRefiner
from im2hands_lite.models.refine import RefineConfig, TwoHandRefiner
from im2hands_lite.refine_inputs import (InitialPlusRefinement, RefineDataset, RefineInputConfig, cache_dir,
                                         prepare_refine_inputs)
from im2hands_lite.models.initial import IMAGE_CONDITIONS, InitialConfig, InitialOccupancyNet
from im2hands_lite.train import (HaloTrainConfig, KeypointTrainConfig, train_estimator, train_occupancy,
                                 train_refinement, train_refiner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["halo", "initial", "estimator", "keypoints", "refinement"])
    parser.add_argument("--variant", choices=IMAGE_CONDITIONS, default="attention",
                        help="image conditioning of I (ignored for halo)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--train-samples", type=int, default=512)
    parser.add_argument("--test-samples", type=int, default=32)
    parser.add_argument("--points", type=int, default=512, help="R: iso-surface points per hand")
    parser.add_argument("--ablate", choices=["init_occ_cond", "feature_cloud", "context_latent"], action="append",
                        default=[], help="R: switch this part off (I+R - InitOccCond / - FeatureCloud / - ContextLatent)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data_config = GeneratorConfig(image_size=128, n_queries=4096)
    root = default_cache_root()
    generate_split(root, "train", args.train_samples, data_config, workers=args.workers)
    generate_split(root, "test", args.test_samples, data_config, workers=args.workers)
    directory = config_dir(root, data_config)
    if args.model in ("estimator", "keypoints"):
        train_keypoint_model(args, directory, data_config)
        return
    if args.model == "refinement":
        train_refinement_model(args, directory, data_config, root)
        return
    train_config = HaloTrainConfig(steps=args.steps)
    torch.manual_seed(train_config.seed)
    if args.model == "halo":
        model, name = HaloModel(), "halo_fast.pt"
    else:
        model = InitialOccupancyNet(InitialConfig(image_cond=args.variant))
        name = f"i_{args.variant}_fast.pt"
    start = time.perf_counter()
    # the cache may hold more samples than asked for (another model used more): take the first
    train_set = torch.utils.data.Subset(TwoHandDataset(directory, "train"), range(args.train_samples))
    log = train_occupancy(model, train_set, train_config, desc=f"train {name}")
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


def train_keypoint_model(args, directory, data_config) -> None:
    """K or the estimator: train, then MPJPE on the test split (noise-model inputs; with the
    shipped estimator also its predictions, refined by K)."""
    train_config = KeypointTrainConfig(steps=args.steps)
    torch.manual_seed(train_config.seed)
    train_set = torch.utils.data.Subset(TwoHandDataset(directory, "train", n_queries=2),  # no queries needed
                                        range(args.train_samples))
    test_set = TwoHandDataset(directory, "test", n_queries=2)
    start = time.perf_counter()
    if args.model == "estimator":
        model, name = KeypointEstimator(), "estimator_fast.pt"
        log = train_estimator(model, train_set, train_config)
        result = evaluate_keypoints(test_set, estimator=model)
    else:
        model, name = KeypointRefiner(), "k_fast.pt"
        log = train_refiner(model, train_set, train_config)
        estimator_path = SHIPPED / "estimator_fast.pt"
        estimator = load_estimator(estimator_path) if estimator_path.is_file() else None
        result = evaluate_keypoints(test_set, refiner=model, estimator=estimator)
    minutes = (time.perf_counter() - start) / 60
    config = dataclasses.asdict(train_config)
    sha = save_checkpoint(SHIPPED / name, model, args.model, model.config, train_config=config,
                          data_config=data_config.key(), train_samples=len(train_set),
                          final_loss=sum(r["loss"] for r in log[-50:]) / 50, train_minutes=minutes,
                          test_metrics=result["mean"], test_samples=len(test_set))
    print(json.dumps({"checkpoint": str(SHIPPED / name), "sha256": sha, "minutes": round(minutes, 1),
                      "test": result["mean"]}, indent=2))


def train_refinement_model(args, directory, data_config, root) -> None:
    """R on the shipped I (attention): cache I's surface points and occupancy, train, then
    evaluate I + R on the test split like I."""
    initial_path = SHIPPED / "i_attention_fast.pt"
    initial = load_initial(initial_path)
    input_config = RefineInputConfig()
    inputs = cache_dir(root / "refine_inputs", initial_path, input_config)
    base_train, base_test = TwoHandDataset(directory, "train"), TwoHandDataset(directory, "test")
    prepare_refine_inputs(initial, base_train, inputs, "train", range(args.train_samples), input_config)
    train_set = RefineDataset(base_train, inputs, "train", n_queries=1024, indices=range(args.train_samples))
    train_config = HaloTrainConfig(steps=args.steps)
    torch.manual_seed(train_config.seed)
    model = TwoHandRefiner(RefineConfig(n_points=args.points, **{switch: False for switch in args.ablate}))
    suffix = "".join(f"_no_{switch}" for switch in sorted(args.ablate)) + ("" if args.points == 512 else f"_{args.points}")
    name = f"r{suffix}_fast.pt"
    start = time.perf_counter()
    log = train_refinement(model, train_set, train_config, desc=f"train {name}")
    minutes = (time.perf_counter() - start) / 60
    result = evaluate_occupancy(InitialPlusRefinement(initial, model.eval(), input_config), base_test,
                                range(args.test_samples))
    tail = log[-50:]
    sha = save_checkpoint(SHIPPED / name, model, "two_hand_refiner", model.config,
                          train_config=train_config.__dict__ | {"betas": list(train_config.betas)},
                          data_config=data_config.key(), train_samples=args.train_samples,
                          initial_checkpoint=initial_path.name, refine_inputs=dataclasses.asdict(input_config),
                          final_loss=sum(r["loss"] for r in tail) / len(tail),
                          final_penetration=sum(r.get("penetration", 0.0) for r in tail) / len(tail),
                          seconds_per_step=log[-1]["seconds"] / len(log),
                          train_minutes=minutes, test_metrics=result["mean"], test_samples=args.test_samples)
    print(json.dumps({"checkpoint": str(SHIPPED / name), "sha256": sha, "minutes": round(minutes, 1),
                      "test": result["mean"]}, indent=2))


if __name__ == "__main__":
    main()
