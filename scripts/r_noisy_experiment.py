"""Why does R lower IoU when I reads K-refined noisy keypoints (Table S2: K + I + R vs K + I)?

The shipped I and R (and R - FeatureCloud) at every labelled query of each sample (half
uniform in the hands' box, half near the true surfaces), with I reading the ground-truth
keypoints or K's refinement of one noise-model draw:

- MSE: R's training loss. If R's MSE is below I's while its IoU is lower, R does what it is
  trained for and the 0.5 level of its field is what loses the IoU.
- point IoU at thresholds 0.5 (the paper's level) down to 0.2, and the positive ratio (points
  predicted inside / points truly inside): below 1 means the 0.5 level set is smaller than the
  hands. Under keypoint error the MSE-optimal occupancy is the probability of being inside,
  which stays below 0.5 on fingers thinner than the error: thresholded at 0.5, they vanish.
- the same on training samples with the training noise draw (seed 1), which R saw: a gap
  between the two splits would mean R overfits its 256 training samples instead.
- per sample, the IoU change against the input keypoints' error (root-relative MPJPE).
- with `--meshes N`: the tables' protocol on N test samples with the noisy keypoints (meshes at
  `--resolution`, each hand aligned by its predicted middle joint): mesh IoU and each mesh's
  volume over the true hand's, I at the 0.5 level and I + R at the levels above.

    python scripts/r_noisy_experiment.py --samples 32 --meshes 32 --out docs/results/r_noisy_experiment.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from im2hands_lite.apps.table_runs import profile_test_dir
from im2hands_lite.data.dataset import (
    TwoHandDataset,
    config_dir,
    default_cache_root,
    generate_split,
)
from im2hands_lite.data.noise import root_relative_mpjpe_mm
from im2hands_lite.evaluation.evaluate import occupancy_at_queries, threshold_metrics
from im2hands_lite.evaluation.metrics import two_hand_metrics
from im2hands_lite.evaluation.paired import paired_bootstrap
from im2hands_lite.geometry.extraction import ReconstructionConfig, hand_mesh
from im2hands_lite.models.registry import load_model
from im2hands_lite.models.two_stage import InitialPlusTwoHandRefiner
from im2hands_lite.training.r_inputs import refined_noisy_keypoints
from im2hands_lite.training.runs import R_TRAINING_NOISE, R_TRAINING_NOISE_SEED
from im2hands_lite.training.settings import get_profile

THRESHOLDS = (0.5, 0.4, 0.3, 0.2)
TABLE_NOISE_SEED = 0  # the tables' test draw


def at_level(occupancy, level: float):
    """An occupancy function whose 0.5 level set is `occupancy`'s `level` set (for meshing)."""
    return lambda points: occupancy(points) + (0.5 - level)


def mesh_rows(models: dict, dataset, refiner, indices, resolution: int) -> list[dict]:
    """Per test sample (K-refined noisy keypoints, the tables' draw): mesh IoU (aligned by the
    predicted middle joint, the tables' Monte Carlo points) and volume / true volume of I at 0.5
    and of I + R at every threshold."""
    config = ReconstructionConfig.at(resolution)
    rows = []
    for i in tqdm(indices, desc="meshes"):
        sample = dataset.sample(i)
        item = dataset[i]
        keypoints = refined_noisy_keypoints(refiner, R_TRAINING_NOISE, TABLE_NOISE_SEED)(i, item)
        item = dict(item, keypoints=keypoints.to(item["keypoints"].dtype))
        truth = [sample.mesh(0), sample.mesh(1)]
        true_volume = sum(abs(m.volume) for m in truth)
        row = {"index": int(i)}
        for label, model, level in [("I", models["I"], 0.5)] + [("I + R", models["I + R"], t) for t in THRESHOLDS]:
            with torch.no_grad():
                meshes = [hand_mesh(at_level(model.occupancy_function(item, h), level),
                                    item["keypoints"][21 * h:21 * h + 21].numpy(), config).mesh for h in (0, 1)]
            metrics = two_hand_metrics(meshes, truth, item["keypoints"].numpy(), sample.keypoints, n_points=20_000,
                                       rng=np.random.default_rng([0, i]))
            row[f"{label}@{level}"] = {"iou": float(metrics["iou"]),
                                       "volume_ratio": sum(abs(m.volume) for m in meshes if len(m.faces)) / true_volume}
        rows.append(row)
    return rows


def summarise_meshes(rows: list[dict]) -> dict:
    labels = [k for k in rows[0] if k != "index"]
    means = {label: {m: float(np.mean([r[label][m] for r in rows])) for m in ("iou", "volume_ratio")}
             for label in labels}
    paired = {}
    for label in labels[1:]:
        d = paired_bootstrap([r[label]["iou"] for r in rows], [r["I@0.5"]["iou"] for r in rows])
        paired[f"{label} - I@0.5: iou"] = [d.mean, d.low, d.high]
    return {"samples": len(rows), "means": means, "paired": paired, "rows": rows}


def run(samples: int, threads: int, meshes: int = 0, resolution: int = 64) -> dict:
    torch.set_num_threads(threads)
    initial, refiner = load_model("i_attention", "i"), load_model("k", "k")
    models = {"I": initial,
              "I + R": InitialPlusTwoHandRefiner(initial, load_model("r", "r")),
              "I + R - FeatureCloud": InitialPlusTwoHandRefiner(initial, load_model("r_no_feature_cloud", "r"))}
    profile = get_profile("fast")
    train_root = config_dir(default_cache_root(), profile.generator_config())
    generate_split(default_cache_root(), "train", samples, profile.generator_config(), progress=False)
    conditions = {  # name: (dataset, keypoint source, noise seed)
        "test, true keypoints": (TwoHandDataset(profile_test_dir("fast", samples=samples), "test"), "truth", None),
        "test, K-refined noisy keypoints": (TwoHandDataset(profile_test_dir("fast", samples=samples), "test"),
                                            "refined", TABLE_NOISE_SEED),
        "train, K-refined noisy keypoints (R's training draw)": (TwoHandDataset(train_root, "train"), "refined",
                                                                 R_TRAINING_NOISE_SEED)}
    report = {}
    for name, (dataset, source, seed) in conditions.items():
        rows = []
        for i in tqdm(range(samples), desc=name):
            item = dataset[i]
            truth = item["keypoints"]
            if source == "refined":
                keypoints = refined_noisy_keypoints(refiner, R_TRAINING_NOISE, seed)(i, item)
                item = dict(item, keypoints=keypoints.to(truth.dtype))
            row = {"index": i, "keypoint_rr_mm": float(root_relative_mpjpe_mm(item["keypoints"][None], truth[None])[0])}
            target = item["occupancy"].numpy()
            for label, model in models.items():
                row[label] = threshold_metrics(occupancy_at_queries(model, item), target, THRESHOLDS)
            rows.append(row)
        report[name] = summarise(rows)
    if meshes:
        test = TwoHandDataset(profile_test_dir("fast", samples=meshes), "test")
        report[f"meshes {resolution}^3, test, K-refined noisy keypoints"] = summarise_meshes(
            mesh_rows(models, test, refiner, range(meshes), resolution))
    return report


def summarise(rows: list[dict]) -> dict:
    labels = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    means = {label: {m: float(np.mean([r[label][m] for r in rows])) for m in rows[0][label]} for label in labels}
    gains = {}
    for label in labels[1:]:
        for metric in ("mse", "iou@0.5", "positive_ratio"):
            d = paired_bootstrap([r[label][metric] for r in rows], [r["I"][metric] for r in rows])
            gains[f"{label} - I: {metric}"] = [d.mean, d.low, d.high]
        best = max(THRESHOLDS, key=lambda t: np.mean([r[label][f"iou@{t}"] for r in rows]))
        d = paired_bootstrap([r[label][f"iou@{best}"] for r in rows], [r["I"]["iou@0.5"] for r in rows])
        gains[f"{label} at its best threshold {best} - I at 0.5: iou"] = [d.mean, d.low, d.high]
    loss = np.array([r["I + R"]["iou@0.5"] - r["I"]["iou@0.5"] for r in rows])
    error = np.array([r["keypoint_rr_mm"] for r in rows])
    correlation = float(np.corrcoef(error, loss)[0, 1]) if error.std() > 0 else float("nan")
    return {"samples": len(rows), "keypoint_rr_mm": float(error.mean()), "means": means, "paired": gains,
            "correlation": correlation, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--meshes", type=int, default=0, help="test samples scored with meshes (0: none)")
    parser.add_argument("--resolution", type=int, default=64, help="Marching Cubes grid of --meshes")
    parser.add_argument("--out", type=Path, default=Path("docs/results/r_noisy_experiment.json"))
    args = parser.parse_args()
    report = run(args.samples, args.threads, args.meshes, args.resolution)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for name, part in report.items():
        print(f"\n== {name} ({part['samples']} samples" + (f", input keypoints {part['keypoint_rr_mm']:.1f} mm rr)"
                                                         if "keypoint_rr_mm" in part else ")"))
        for label, m in part["means"].items():
            print(f"  {label:22s} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))
        for key, (mean, low, high) in part["paired"].items():
            print(f"  {key}: {mean:+.4f} [{low:+.4f}, {high:+.4f}]")
        if "correlation" in part:
            print(f"  correlation of the input's keypoint error with R's IoU change: {part['correlation']:+.2f}")


if __name__ == "__main__":
    main()
