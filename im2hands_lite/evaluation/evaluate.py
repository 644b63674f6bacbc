"""Evaluation on the kit's data: occupancy models (IoU, Chamfer, penetration; the paper's
protocol, each hand aligned by its middle joint) and keypoints (MPJPE of inputs and of K).
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.noise import (
    mpjpe_mm,
    noisy_keypoints_of,
    root_relative_mpjpe_mm,
)
from ..geometry.extraction import ReconstructionConfig
from ..models.estimator import estimator_targets, lift_to_camera
from .metrics import two_hand_metrics
from .reconstruction import reconstruct_pair

OCCUPANCY_METRICS = ("iou", "chamfer_mm", "penetration_cm3")


def summarise_occupancy(rows: list[dict]) -> dict[str, float]:
    """Means of `OCCUPANCY_METRICS` over the samples where all of them are defined (an empty
    predicted hand has no Chamfer distance), so every mean is over the same samples;
    `failed`: how many samples that leaves out; `iou_all`: IoU over every sample (an empty hand
    counts IoU 0). NaN means when every sample failed."""
    defined = [r for r in rows if all(np.isfinite(r[k]) for k in OCCUPANCY_METRICS)]
    means = {k: float(np.mean([r[k] for r in defined])) if defined else float("nan") for k in OCCUPANCY_METRICS}
    return means | {"iou_all": float(np.mean([r["iou"] for r in rows])), "failed": len(rows) - len(defined)}


def evaluate_occupancy(model, dataset, indices=None,
                       config: ReconstructionConfig = ReconstructionConfig(resolution=64, coarse_resolution=16),
                       n_points: int = 20_000, seed: int = 0, progress: bool = True) -> dict:
    """Per-sample and mean metrics of HALO or I (ground-truth keypoints) over a TwoHandDataset:
    {"mean", "failed", "iou_all", "rows"} as in `summarise_occupancy`."""
    indices = range(len(dataset)) if indices is None else indices
    rows = []
    for i in tqdm(indices, desc="evaluate", disable=not progress):
        sample = dataset.sample(i)
        results = reconstruct_pair(model, sample, config)
        metrics = two_hand_metrics([r.mesh for r in results], [sample.mesh(0), sample.mesh(1)],
                                   sample.keypoints, sample.keypoints, n_points=n_points,
                                   rng=np.random.default_rng([seed, i]))
        rows.append({"index": i, "seed": sample.seed, "interaction": sample.interaction, **metrics})
    summary = summarise_occupancy(rows)
    return {"mean": {k: summary[k] for k in OCCUPANCY_METRICS}, "failed": summary["failed"],
            "iou_all": summary["iou_all"], "rows": rows}


@torch.no_grad()
def evaluate_queries(model, dataset, indices=None, batch_size: int = 4, progress: bool = True) -> dict:
    """Per-sample occupancy MSE and point IoU (prediction > 0.5 against the label, both hands'
    labelled queries together) of HALO or I at every labelled query of each item: the same
    points for every model, so two models' rows pair. Fast (no meshes): for training curves
    and comparisons on many samples. Returns {"mean": {...}, "rows": per sample}."""
    indices = list(range(len(dataset)) if indices is None else indices)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows = []
    try:
        for start in tqdm(range(0, len(indices), batch_size), desc="evaluate queries", disable=not progress):
            chunk = indices[start:start + batch_size]
            batch = torch.utils.data.default_collate([dataset[i] for i in chunk])
            batch = {k: v.to(device) for k, v in batch.items()}
            pred = model.predict(batch).occupancy.reshape(len(chunk), -1)
            target = batch["occupancy"].reshape(len(chunk), -1)
            inside, truth = pred > 0.5, target > 0.5
            union = (inside | truth).sum(1).clamp_min(1)
            for i, mse, iou in zip(chunk, ((pred - target) ** 2).mean(1), (inside & truth).sum(1) / union):
                rows.append({"index": i, "mse": float(mse), "point_iou": float(iou)})
    finally:
        model.train(was_training)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("mse", "point_iou")}
    return {"mean": mean, "rows": rows}


def threshold_metrics(pred, target, thresholds=(0.5,)) -> dict[str, float]:
    """Occupancy at labelled queries read at several levels: pred, target (...) arrays of the
    same shape (e.g. both hands' (2, Q)). "mse"; "positive_ratio": points predicted inside (> 0.5)
    over points truly inside (below 1: the 0.5 level set is smaller than the hands);
    "mean_inside": the mean prediction at the truly inside points; "iou@t": point IoU of
    pred > t against the labels, per threshold t."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.size == 0:
        raise ValueError(f"pred and target must be non-empty arrays of one shape, got {pred.shape} and {target.shape}")
    if not all(0.0 < t < 1.0 for t in thresholds):
        raise ValueError(f"thresholds must lie in (0, 1), got {tuple(thresholds)}")
    truth = target > 0.5
    out = {"mse": float(((pred - target) ** 2).mean()),
           "positive_ratio": float((pred > 0.5).sum() / max(truth.sum(), 1)),
           "mean_inside": float(pred[truth].mean()) if truth.any() else float("nan")}
    for t in thresholds:
        inside = pred > t
        out[f"iou@{t}"] = float((inside & truth).sum() / max((inside | truth).sum(), 1))
    return out


@torch.no_grad()
def occupancy_at_queries(model, item: dict) -> np.ndarray:
    """(2, Q) occupancy of both hands at an item's labelled queries, from any model with
    `occupancy_function(item, hand)` (HALO, I, I + R), reading the item's keypoints."""
    return np.stack([model.occupancy_function(item, hand)(item["queries"][hand]).cpu().numpy() for hand in (0, 1)])


def noisy_keypoints_for(dataset, indices, noise=None, seed: int = 0) -> dict[int, torch.Tensor]:
    """`noisy_keypoints_of` for every index of a dataset."""
    return {i: noisy_keypoints_of(dataset[i], i, noise, seed) for i in indices}


def evaluate_keypoints(dataset, indices=None, keypoint_refiner=None, estimator=None, noise=None, seed: int = 0,
                       batch_size: int = 8, progress: bool = True) -> dict:
    """MPJPE (mm; root-relative per hand, and absolute) of keypoint inputs and of K's refinement.

    Inputs per sample: the noise model's draw (`noisy_keypoints_for`) and, with an `estimator`,
    its prediction from the image. With a `keypoint_refiner` (K), each input is also refined. Returns
    {"mean": {"<input>_<rr|abs>": mm, ...}, "rows": per sample}.
    """
    indices = list(range(len(dataset)) if indices is None else indices)
    rows = []
    for start in tqdm(range(0, len(indices), batch_size), desc="evaluate keypoints", disable=not progress):
        chunk = indices[start:start + batch_size]
        items = [dataset[i] for i in chunk]  # each item is loaded once
        batch = torch.utils.data.default_collate(items)
        inputs = {"noisy": torch.stack([noisy_keypoints_of(item, i, noise, seed) for item, i in zip(items, chunk)])}
        with torch.no_grad():
            if estimator is not None:
                estimator.eval()
                inputs["estimator"] = estimator.predict(batch)
            if keypoint_refiner is not None:
                keypoint_refiner.eval()
                for name in list(inputs):
                    inputs[f"{name}+K"] = keypoint_refiner.predict(batch, keypoints=inputs[name]).keypoints
        errors = {f"{name}_rr": root_relative_mpjpe_mm(kp, batch["keypoints"]) for name, kp in inputs.items()}
        errors |= {f"{name}_abs": mpjpe_mm(kp, batch["keypoints"]) for name, kp in inputs.items()}
        for j, i in enumerate(chunk):
            rows.append({"index": i, **{key: float(value[j]) for key, value in errors.items()}})
    mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "index"}
    return {"mean": mean, "rows": rows}


def constant_pose_keypoints(train_batch: dict, test_batch: dict) -> torch.Tensor:
    """The estimator's yardstick: always the training batch's mean (u, v), relative depth and
    log(z / f), lifted with each test image's own camera -> world keypoints (B, 42, 3)."""
    mean = {k: v.mean(0) for k, v in estimator_targets(train_batch["keypoints"], train_batch["K"], train_batch["R"],
                                                       train_batch["t"]).items()}
    n = test_batch["K"].shape[0]
    cam = lift_to_camera(mean["uv"].expand(n, -1, -1), mean["relative_depth"].expand(n, -1),
                         mean["log_depth_over_focal"].expand(n), test_batch["K"])
    return (cam - test_batch["t"][:, None]) @ test_batch["R"]
