"""Meshes from any occupancy model: `reconstruct_hand` / `reconstruct_pair`.

Any model with `occupancy_function(item, hand)` works: HALO (keypoints only), I (image too)
and I + R. A source is a TwoHandSample, a data item dict, or bare (42, 3) keypoints (HALO).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import sample_to_item
from ..data.scene import TwoHandSample
from ..geometry.extraction import ExtractionResult, ReconstructionConfig, hand_mesh

__all__ = ["ReconstructionConfig", "as_item", "reconstruct_hand", "reconstruct_pair"]


def as_item(source) -> dict:
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
    """Mesh (world coordinates) of one hand (0 right, 1 left) of a sample; see `as_item`."""
    if hand not in (0, 1):
        raise ValueError(f"hand must be 0 (right) or 1 (left), got {hand!r}")
    item = as_item(source)
    model.eval()
    with torch.no_grad():
        occupancy = model.occupancy_function(item, hand)
        return hand_mesh(occupancy, item["keypoints"][21 * hand:21 * hand + 21].cpu().numpy(), config)


def reconstruct_pair(model, source,
                     config: ReconstructionConfig = ReconstructionConfig()) -> list[ExtractionResult]:
    """[right, left] meshes of a sample (TwoHandSample, item dict, or (42, 3) keypoints for HALO)."""
    item = as_item(source)
    return [reconstruct_hand(model, item, hand, config) for hand in (0, 1)]
