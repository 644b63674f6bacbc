"""The `im2hands` command line: generate-data, train (evaluate and reconstruct grow with the kit)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from .data.dataset import SPLIT_OFFSETS, default_cache_root, generate_split
from .data.interactions import INTERACTIONS
from .data.scene import GeneratorConfig


def _generate_data(args: argparse.Namespace) -> int:
    defaults = GeneratorConfig()
    interactions = tuple(args.interactions) if args.interactions else defaults.interactions
    weights = defaults.interaction_weights if interactions == defaults.interactions else (
        (1.0,) * len(interactions))
    config = GeneratorConfig(image_size=args.image_size, n_queries=args.queries,
                             interactions=interactions, interaction_weights=weights)
    start = time.perf_counter()
    out = generate_split(args.out, args.split, args.n, config, shard_size=args.shard_size,
                         workers=args.workers, progress=not args.quiet)
    seconds = time.perf_counter() - start
    print(f"{args.n} {args.split} samples in {out} ({seconds:.1f} s); config key {config.key()}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .trainer import RunSpec, run_training

    spec = RunSpec(model=args.model, profile=args.profile, out=args.out or f"runs/{args.model}_{args.profile}",
                   variant=args.variant, ablate=tuple(args.ablate), n_points=args.points,
                   initial_checkpoint=args.initial or "", overrides=tuple(args.set), device=args.device,
                   resume=args.resume, keep_last=args.keep_last, data_dir=args.data_dir or "",
                   progress=not args.quiet, threads=args.threads)
    result = run_training(spec)
    log = result["log"]
    print(f"trained {args.model} ({args.profile}) for {result['steps']} steps on {result['device']}: final loss "
          f"{sum(r['loss'] for r in log[-50:]) / max(len(log[-50:]), 1):.4f}, "
          f"{log[-1]['seconds'] / len(log):.3f} s per step" if log else "nothing to do")
    print(f"weights: {result['final']} (sha256 {result['sha256'][:12]}); log: {result['out']}/log.csv, loss.png; "
          f"resumable checkpoints: {result['out']}/checkpoints/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="im2hands", description="im2hands-lite: a runnable reproduction kit of Im2Hands.")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser(
        "generate-data", help="render synthetic two-hand samples into a shard cache",
        description="Generate a split of the kit's synthetic two-hand data (deterministic: "
                    "sample i of a split is always the same). Existing shards are kept, so an "
                    "interrupted run resumes.")
    gen.add_argument("--split", choices=list(SPLIT_OFFSETS), default="train")
    gen.add_argument("--n", type=int, default=256, help="number of samples (default 256)")
    gen.add_argument("--out", default=str(default_cache_root()),
                     help="cache root (default $IM2HANDS_CACHE or ~/.cache/im2hands-lite)")
    gen.add_argument("--image-size", type=int, default=256, help="square image side in pixels")
    gen.add_argument("--queries", type=int, default=20_000, help="labelled query points per hand")
    gen.add_argument("--interactions", nargs="+", choices=INTERACTIONS,
                     help="restrict to these interaction types")
    gen.add_argument("--shard-size", type=int, default=32, help="samples per shard file")
    gen.add_argument("--workers", type=int, default=1, help="worker processes")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_generate_data)

    from .models.initial import IMAGE_CONDITIONS
    from .profiles import MODELS, PROFILES, TrainSettings

    train = sub.add_parser(
        "train", help="train HALO, I, K, the keypoint estimator or R with a profile",
        description="Train one model of the pipeline. A profile (fast: CPU minutes; colab: one GPU, "
                    "about an hour; paper: the paper's hyperparameters) sets the data and the "
                    "optimiser; --set changes any training setting. Checkpoints are written "
                    "atomically every checkpoint_every steps; after a crash or a kill, the same "
                    "command with --resume continues exactly where the last checkpoint left off.",
        epilog="training settings for --set: " + ", ".join(f.name for f in dataclasses.fields(TrainSettings))
               + ". Example: im2hands train --model i --variant pixel_aligned --set steps=300 --set lr=5e-4")
    train.add_argument("--model", choices=MODELS, required=True,
                       help="halo | i (initial occupancy) | k (keypoint refinement) | estimator | r (two-hand refinement)")
    train.add_argument("--profile", choices=sorted(PROFILES), default="fast")
    train.add_argument("--variant", choices=IMAGE_CONDITIONS, default="attention", help="I: image conditioning")
    train.add_argument("--ablate", choices=["init_occ_cond", "feature_cloud", "context_latent"], action="append",
                       default=[], help="R: switch a part off (repeatable)")
    train.add_argument("--points", type=int, default=512, help="R: iso-surface points per hand (256/512/1024)")
    train.add_argument("--initial", help="R: the I checkpoint it refines (default: the shipped attention I)")
    train.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a training setting")
    train.add_argument("--out", help="run folder (default runs/<model>_<profile>)")
    train.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out")
    train.add_argument("--keep-last", type=int, default=2, help="resumable checkpoints to keep")
    train.add_argument("--data-dir", help="train on this generated data folder instead of the profile's cache")
    train.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU) or a torch device")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # CheckpointError is a RuntimeError
        print(f"im2hands: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
