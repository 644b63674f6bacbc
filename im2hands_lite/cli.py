"""The `im2hands` command line. Subcommands grow with the kit (train, evaluate, ... later)."""
from __future__ import annotations

import argparse
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"im2hands: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
