"""Regenerate the small committed sample set in data_samples/ (what notebooks and tests read offline).

    .venv/bin/python scripts/build_data_samples.py [--workers 2]

The fast profile's generator, splits of 24 train / 8 val / 16 test samples (seeds from each
split's offset, so the committed test samples are the first 16 of every fast-profile test
split), shards of 8. Any other config folder under data_samples/ is removed: one set is
committed, the one the current generator makes.
"""
from __future__ import annotations

import argparse
import shutil

from im2hands_lite.data.dataset import DATA_SAMPLES, config_dir, generate_split
from im2hands_lite.training.settings import get_profile

SPLITS = {"train": 24, "val": 8, "test": 16}
SHARD_SIZE = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = get_profile("fast").generator_config()
    target = config_dir(DATA_SAMPLES, config)
    for old in DATA_SAMPLES.glob("*"):
        if old.is_dir() and old != target:
            shutil.rmtree(old)
            print(f"removed {old}")
    for split, n in SPLITS.items():
        generate_split(DATA_SAMPLES, split, n, config, shard_size=SHARD_SIZE, workers=args.workers, progress=False)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {target}: {sum(SPLITS.values())} samples, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
