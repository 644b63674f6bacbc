"""Image-only reconstruction on the test renders: how far the estimator's keypoints leave I and
I + R from what they reach with the true keypoints.

Keypoint sources per sample: the truth; the estimator; the estimator refined by K (the kit's
image-only chain, `ImagePipeline`); and a constant mean pose refined by K (the floor: the
training split's mean (u, v), relative depth and log(z / f), lifted with each render's camera).
Each source goes through I (attention) and I + R, meshed at `--resolution`, each hand aligned by
its *predicted* middle joint (the paper's protocol without ground truth at test time). Every
variant of a sample gets the same Monte Carlo points; the orderings are paired bootstrap 95 %
intervals over samples.

    python scripts/image_only_experiment.py --samples 32 --out runs/image_only/shipped.json
    python scripts/image_only_experiment.py --report runs/image_only/shipped.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from im2hands_lite.data.dataset import (
    TwoHandDataset,
    config_dir,
    default_cache_root,
    generate_split,
)
from im2hands_lite.data.noise import root_relative_mpjpe_mm
from im2hands_lite.evaluation.evaluate import constant_pose_keypoints
from im2hands_lite.evaluation.metrics import two_hand_metrics
from im2hands_lite.evaluation.paired import paired_bootstrap
from im2hands_lite.evaluation.reconstruction import ReconstructionConfig, reconstruct_pair
from im2hands_lite.models.registry import load_model
from im2hands_lite.models.two_stage import InitialPlusTwoHandRefiner
from im2hands_lite.training.settings import get_profile

SOURCES = ("truth", "estimator", "estimator+K", "constant+K")
# (keypoint source, model) pairs measured; R only where the chain would use it or as its reference
RUNS = [(source, "I") for source in SOURCES] + [("truth", "I + R"), ("estimator+K", "I + R")]
# (a, b): a - b reported, paired
ORDERINGS = [(("estimator+K", "I"), ("truth", "I")), (("estimator+K", "I"), ("estimator", "I")),
             (("estimator+K", "I"), ("constant+K", "I")), (("estimator+K", "I + R"), ("estimator+K", "I")),
             (("truth", "I + R"), ("truth", "I"))]


def keypoint_sources(dataset, indices, train, estimator, keypoint_refiner) -> dict[str, dict[int, torch.Tensor]]:
    """{source: {index: (42, 3) world keypoints}} for `SOURCES`."""
    train_batch = torch.utils.data.default_collate([train[i] for i in range(min(len(train), 2048))])
    sources = {name: {} for name in SOURCES}
    with torch.no_grad():
        for i in indices:
            item = dataset[i]
            batch = {k: item[k][None] for k in ("image", "K", "R", "t")}
            estimated = estimator.predict(batch)
            constant = constant_pose_keypoints(train_batch, batch)
            sources["truth"][i] = item["keypoints"]
            sources["estimator"][i] = estimated[0]
            sources["estimator+K"][i] = keypoint_refiner.predict(batch, keypoints=estimated).keypoints[0]
            sources["constant+K"][i] = keypoint_refiner.predict(batch, keypoints=constant).keypoints[0]
    return sources


def measure(args) -> dict:
    profile = get_profile("fast")
    root = Path(args.cache_root) if args.cache_root else default_cache_root()
    generate_split(root, "test", args.samples, profile.generator_config(), progress=False)
    directory = config_dir(root, profile.generator_config())
    dataset, train = TwoHandDataset(directory, "test"), TwoHandDataset(directory, "train")
    indices = list(range(args.samples))
    initial = load_model(args.initial or "i", "i")
    models = {"I": initial, "I + R": InitialPlusTwoHandRefiner(initial, load_model(args.refiner or "r", "r"))}
    sources = keypoint_sources(dataset, indices, train, load_model(args.estimator or "estimator", "estimator"),
                               load_model(args.keypoint_refiner or "k", "k"))
    config = ReconstructionConfig(resolution=args.resolution, coarse_resolution=max(args.resolution // 4, 4))
    rows = []
    for i in tqdm(indices, desc="image-only"):
        sample = dataset.sample(i)
        truth = [sample.mesh(0), sample.mesh(1)]
        item = dataset[i]
        row = {"index": i}
        for source in SOURCES:
            keypoints = sources[source][i]
            row[f"{source} rr_mm"] = float(root_relative_mpjpe_mm(keypoints[None], item["keypoints"][None])[0])
        for source, model_name in RUNS:
            keypoints = sources[source][i]
            meshes = [r.mesh for r in reconstruct_pair(models[model_name], dict(item, keypoints=keypoints), config)]
            metrics = two_hand_metrics(meshes, truth, keypoints.numpy(), sample.keypoints, n_points=args.points,
                                       rng=np.random.default_rng([args.seed, i]))  # the same points for every run
            row[f"{source} | {model_name} iou"] = metrics["iou"]
            row[f"{source} | {model_name} penetration_cm3"] = metrics["penetration_cm3"]
        rows.append(row)
    return {"samples": args.samples, "resolution": args.resolution, "points": args.points,
            "checkpoints": {"initial": args.initial or "shipped", "refiner": args.refiner or "shipped",
                            "estimator": args.estimator or "shipped", "k": args.keypoint_refiner or "shipped"},
            "rows": rows}


def report(result: dict) -> str:
    rows = result["rows"]

    def column(key):
        return np.array([r[key] for r in rows], dtype=float)

    lines = [f"{result['samples']} test renders, {result['resolution']}^3, checkpoints {result['checkpoints']}", "",
             "| keypoints | model | IoU % | penetration cm^3 | keypoint error rr mm |", "|---|---|---:|---:|---:|"]
    for source, model in RUNS:
        lines.append(f"| {source} | {model} | {100 * np.mean(column(f'{source} | {model} iou')):.1f} | "
                     f"{np.nanmean(column(f'{source} | {model} penetration_cm3')):.2f} | "
                     f"{np.mean(column(f'{source} rr_mm')):.1f} |")
    lines += ["", "| ordering (IoU points, a - b) | mean [95 % CI] |", "|---|---|"]
    for a, b in ORDERINGS:
        diff = paired_bootstrap(100 * column(f"{a[0]} | {a[1]} iou"), 100 * column(f"{b[0]} | {b[1]} iou"))
        lines.append(f"| {a[0]} {a[1]} - {b[0]} {b[1]} | {diff.mean:+.1f} [{diff.low:+.1f}, {diff.high:+.1f}] |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--initial", default="", help="I checkpoint (default: the shipped attention I)")
    parser.add_argument("--refiner", default="", help="R checkpoint (default: shipped)")
    parser.add_argument("--estimator", default="", help="estimator checkpoint (default: shipped)")
    parser.add_argument("--keypoint-refiner", default="", help="K checkpoint (default: shipped)")
    parser.add_argument("--cache-root", default="")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/image_only/shipped.json")
    parser.add_argument("--report", metavar="JSON", help="print the tables of a finished run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return
    result = measure(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(report(result))


if __name__ == "__main__":
    main()
