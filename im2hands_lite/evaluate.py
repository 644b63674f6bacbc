"""Reconstruction (occupancy -> meshes) and evaluation on the kit's data.

Any model with `occupancy_function(item, hand)` works: HALO (keypoints only) and I (image too).
Metrics follow the paper: each hand aligned by its middle joint, IoU on uniform points in the
joint box, Chamfer-L1 in mm, plus the penetration volume of the predicted pair.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .data.dataset import sample_to_item
from .data.scene import TwoHandSample
from .geometry.extraction import ExtractionResult, extract_mesh, keypoint_bounds
from .metrics import two_hand_metrics


@dataclass(frozen=True)
class ReconstructionConfig:
    resolution: int = 128  # marching-cubes grid, evaluated coarse-to-fine
    coarse_resolution: int = 32
    padding: float = 0.03  # metres around the keypoints (skin lies outside the skeleton)
    # small chunks keep HALO's (16 parts x points x 64) activations in cache: measured 3x
    # faster per query at 1,024 than at 65,536 points on this kit's CPU (docs/RESULTS.md)
    batch_points: int = 1024


def _as_item(source) -> dict:
    """A TwoHandSample, a data item dict, or bare (42, 3) keypoints (enough for HALO)."""
    if isinstance(source, TwoHandSample):
        return sample_to_item(source)
    if isinstance(source, dict):
        return source
    keypoints = torch.as_tensor(np.asarray(source, dtype=np.float32))
    if keypoints.shape != (42, 3):
        raise ValueError(f"two-hand keypoints must be (42, 3), got {tuple(keypoints.shape)}")
    return {"keypoints": keypoints}


def reconstruct_hand(model, source, hand: int,
                     config: ReconstructionConfig = ReconstructionConfig()) -> ExtractionResult:
    """Mesh (world coordinates) of one hand (0 right, 1 left) of a sample; see `_as_item`."""
    if hand not in (0, 1):
        raise ValueError(f"hand must be 0 (right) or 1 (left), got {hand!r}")
    item = _as_item(source)
    model.eval()
    with torch.no_grad():
        occupancy = model.occupancy_function(item, hand)
        keypoints = item["keypoints"][21 * hand:21 * hand + 21].cpu().numpy()
        lo, hi = keypoint_bounds(keypoints, padding=config.padding)
        return extract_mesh(occupancy, lo, hi, resolution=config.resolution,
                            coarse_resolution=config.coarse_resolution,
                            batch_points=config.batch_points)


def reconstruct_pair(model, source,
                     config: ReconstructionConfig = ReconstructionConfig()) -> list[ExtractionResult]:
    """[right, left] meshes of a sample (TwoHandSample, item dict, or (42, 3) keypoints for HALO)."""
    item = _as_item(source)
    return [reconstruct_hand(model, item, hand, config) for hand in (0, 1)]


def evaluate_occupancy(model, dataset, indices=None,
                       config: ReconstructionConfig = ReconstructionConfig(resolution=64, coarse_resolution=16),
                       n_points: int = 20_000, seed: int = 0, progress: bool = True) -> dict:
    """Per-sample and mean metrics of HALO or I (ground-truth keypoints) over a TwoHandDataset."""
    indices = range(len(dataset)) if indices is None else indices
    rows = []
    for i in tqdm(indices, desc="evaluate", disable=not progress):
        sample = dataset.sample(i)
        results = reconstruct_pair(model, sample, config)
        metrics = two_hand_metrics([r.mesh for r in results], [sample.mesh(0), sample.mesh(1)],
                                   sample.keypoints, sample.keypoints, n_points=n_points,
                                   rng=np.random.default_rng([seed, i]))
        rows.append({"index": i, "seed": sample.seed, "interaction": sample.interaction, **metrics})
    keys = ("iou", "chamfer_mm", "penetration_cm3")
    mean = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    return {"mean": mean, "rows": rows}


evaluate_halo = evaluate_occupancy  # the name the HALO notebook uses


def noisy_keypoints_of(item: dict, index: int, noise=None, seed: int = 0) -> torch.Tensor:
    """The fixed noisy-keypoint draw (42, 3) of one data item: seeded by [seed, index], so it is
    the same for every model and "noisy input" rows of different variants are comparable."""
    from .data.noise import KeypointNoiseConfig, add_keypoint_noise

    noise = KeypointNoiseConfig() if noise is None else noise
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, index]).generate_state(1)[0]))
    return add_keypoint_noise(item["keypoints"][None], item["R"][None], noise, generator)[0]


def noisy_keypoints_for(dataset, indices, noise=None, seed: int = 0) -> dict[int, torch.Tensor]:
    """`noisy_keypoints_of` for every index of a dataset."""
    return {i: noisy_keypoints_of(dataset[i], i, noise, seed) for i in indices}


def evaluate_keypoints(dataset, indices=None, refiner=None, estimator=None, noise=None, seed: int = 0,
                       batch_size: int = 8, progress: bool = True) -> dict:
    """MPJPE (mm; root-relative per hand, and absolute) of keypoint inputs and of K's refinement.

    Inputs per sample: the noise model's draw (`noisy_keypoints_for`) and, with an `estimator`,
    its prediction from the image. With a `refiner` (K), each input is also refined. Returns
    {"mean": {"<input>_<rr|abs>": mm, ...}, "rows": per sample}.
    """
    from .data.noise import mpjpe_mm, root_relative_mpjpe_mm

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
            if refiner is not None:
                refiner.eval()
                for name in list(inputs):
                    inputs[f"{name}+K"] = refiner.predict(batch, keypoints=inputs[name]).keypoints
        errors = {f"{name}_rr": root_relative_mpjpe_mm(kp, batch["keypoints"]) for name, kp in inputs.items()}
        errors |= {f"{name}_abs": mpjpe_mm(kp, batch["keypoints"]) for name, kp in inputs.items()}
        for j, i in enumerate(chunk):
            rows.append({"index": i, **{key: float(value[j]) for key, value in errors.items()}})
    mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "index"}
    return {"mean": mean, "rows": rows}
