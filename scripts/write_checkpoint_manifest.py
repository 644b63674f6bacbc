#!/usr/bin/env python3
"""Write data_samples/checkpoints/MANIFEST.json: what each shipped checkpoint is, how it was
trained (profile, data, seed range, steps), its test metrics and its sha256.

    python scripts/write_checkpoint_manifest.py        # after (re)training a shipped checkpoint

tests/test_packaging.py checks that the manifest matches the files.
"""
from __future__ import annotations

import hashlib
import json

from im2hands_lite.atomic import atomic_write
from im2hands_lite.checkpoints import SHIPPED, load_checkpoint
from im2hands_lite.data.dataset import SPLIT_OFFSETS


def main() -> None:
    entries = {}
    for path in sorted(SHIPPED.glob("*.pt")):
        payload = load_checkpoint(path)
        extra = payload["extra"]
        train = extra.get("train_config", {})
        n_train = extra.get("train_samples")
        entries[path.name] = {
            "kind": payload["kind"],
            "variant": payload["config"].get("image_cond"),
            "profile": extra.get("profile", "fast"),
            "data_config": extra.get("data_config"),
            "train_seeds": [SPLIT_OFFSETS["train"], SPLIT_OFFSETS["train"] + n_train - 1] if n_train else None,
            "steps": train.get("steps"),
            "batch_size": train.get("batch_size"),
            "lr": train.get("lr"),
            "train_minutes": round(extra["train_minutes"], 1) if "train_minutes" in extra else None,
            "test_samples": extra.get("test_samples"),
            "test_metrics": extra.get("test_metrics"),
            "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
    manifest = {"note": "fast-profile weights trained by scripts/train_fast_checkpoints.py on the kit's synthetic "
                        "data (CC0 hand); test metrics on the test split (seeds from 20,000,000), see docs/RESULTS.md",
                "total_bytes": sum(e["bytes"] for e in entries.values()), "checkpoints": entries}
    atomic_write(SHIPPED / "MANIFEST.json", lambda handle: handle.write((json.dumps(manifest, indent=1) + "\n").encode()))
    print(f"{len(entries)} checkpoints, {manifest['total_bytes'] / 1e6:.1f} MB -> {SHIPPED / 'MANIFEST.json'}")


if __name__ == "__main__":
    main()
