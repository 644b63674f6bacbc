"""A keypoint noise model: what a monocular two-hand keypoint estimator gets wrong.

Table S2 of the paper feeds I with keypoints predicted by DIGIT instead of ground truth. DIGIT
is not available here, so training and evaluating K needs inputs whose errors look like an
estimator's. Errors are drawn in the **camera frame** (x right, y down, z forward), because
that is where estimators err differently per axis:

* per-joint Gaussian jitter, growing from the wrist towards the fingertips (fingertips are small,
  often occluded and far along the kinematic chain);
* extra per-joint depth jitter (depth is the hardest coordinate from one image);
* a whole-hand offset per hand, larger in depth than in the image plane (root depth and scale
  ambiguity);
* occasional finger swaps between the hands: in an interlocked pose an estimator may assign a
  finger to the wrong hand; here the four keypoints of one finger are exchanged between the
  right and the left hand.

Defaults are set so that the root-relative MPJPE per hand is about 14 mm: DIGIT reports
14.27 mm MPJPE on the interacting-hand test frames of InterHand2.6M (Fan et al., "Learning to
Disambiguate Strongly Interacting Hands via Probabilistic Per-pixel Part Segmentation", 3DV
2021); InterNet, the dataset's baseline, 16.00 mm. `docs/DECISIONS.md` records the choice.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..hand.joints import N_JOINTS, WRIST, check_two_hand_keypoints

# joint level along the kinematic chain: wrist 0, finger base (MCP / thumb CMC) 1 ... tip 4
JOINT_LEVEL = torch.tensor([4 - j % 4 for j in range(N_JOINTS - 1)] + [0], dtype=torch.float32)


@dataclass(frozen=True)
class KeypointNoiseConfig:
    joint_sigma_mm: float = 4.0  # per-axis std of a wrist's jitter
    tip_growth: float = 0.25  # std x (1 + tip_growth * level): fingertips (level 4) get 2x
    depth_sigma_mm: float = 5.0  # extra per-joint std along the camera axis
    hand_offset_mm: float = 8.0  # whole-hand offset std, per image-plane axis
    hand_depth_mm: float = 20.0  # whole-hand offset std along the camera axis
    finger_swap_prob: float = 0.05  # per sample: one random finger exchanged between the hands

    def __post_init__(self):
        for name in ("joint_sigma_mm", "tip_growth", "depth_sigma_mm", "hand_offset_mm", "hand_depth_mm"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.finger_swap_prob <= 1.0:
            raise ValueError(f"finger_swap_prob must be in [0, 1], got {self.finger_swap_prob}")

    def joint_sigmas_mm(self) -> Tensor:
        """(21, 3) per-axis std of the per-joint jitter (camera x, y, z), before hand offsets."""
        planar = self.joint_sigma_mm * (1.0 + self.tip_growth * JOINT_LEVEL)
        depth = torch.sqrt(planar ** 2 + self.depth_sigma_mm ** 2)
        return torch.stack([planar, planar, depth], dim=-1)


NO_NOISE = KeypointNoiseConfig(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def add_keypoint_noise(keypoints: Tensor, R: Tensor, config: KeypointNoiseConfig = KeypointNoiseConfig(),
                       generator: torch.Generator | None = None) -> Tensor:
    """Noisy copies of world keypoints (B, 42, 3), metres; R (B, 3, 3) world -> camera rotations.

    Deterministic for a given generator state. Returns a new tensor (the input is unchanged).
    """
    check_two_hand_keypoints(keypoints)
    if R.shape != (keypoints.shape[0], 3, 3):
        raise ValueError(f"R must be (B, 3, 3) with B = {keypoints.shape[0]}, got {tuple(R.shape)}")
    batch, device, dtype = keypoints.shape[0], keypoints.device, keypoints.dtype

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float32).to(device, dtype)

    sigmas = config.joint_sigmas_mm().to(device, dtype) / 1000.0  # (21, 3) metres
    jitter = normal(batch, 2, N_JOINTS, 3) * sigmas
    offset_sigma = torch.tensor([config.hand_offset_mm, config.hand_offset_mm, config.hand_depth_mm],
                                device=device, dtype=dtype) / 1000.0
    offsets = normal(batch, 2, 1, 3) * offset_sigma
    noise_cam = (jitter + offsets).reshape(batch, 2 * N_JOINTS, 3)
    noisy = keypoints + noise_cam @ R  # camera-frame vectors back to the world: R^T e

    swap = torch.rand(batch, generator=generator) < config.finger_swap_prob
    fingers = torch.randint(0, 5, (batch,), generator=generator)
    for b in torch.nonzero(swap).flatten().tolist():
        joints = torch.arange(4 * fingers[b], 4 * fingers[b] + 4, device=device)
        right, left = noisy[b, joints].clone(), noisy[b, joints + N_JOINTS].clone()
        noisy[b, joints], noisy[b, joints + N_JOINTS] = left, right
    return noisy


def noisy_keypoints_of(item: dict, index: int, noise: KeypointNoiseConfig | None = None, seed: int = 0) -> Tensor:
    """The fixed noisy-keypoint draw (42, 3) of one data item: seeded by [seed, index], so it is
    the same for every model and "noisy input" rows of different variants are comparable."""
    noise = KeypointNoiseConfig() if noise is None else noise
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, index]).generate_state(1)[0]))
    return add_keypoint_noise(item["keypoints"][None], item["R"][None], noise, generator)[0]


def root_relative_mpjpe_mm(pred: Tensor, gt: Tensor) -> Tensor:
    """(B,) mean over both hands' joints of the error after re-centring each hand on its wrist."""
    check_two_hand_keypoints(pred, "pred")
    check_two_hand_keypoints(gt, "gt")
    p, g = pred.unflatten(1, (2, N_JOINTS)), gt.unflatten(1, (2, N_JOINTS))
    p, g = p - p[:, :, WRIST:WRIST + 1], g - g[:, :, WRIST:WRIST + 1]
    return 1000.0 * (p - g).norm(dim=-1).mean(dim=(1, 2))


def mpjpe_mm(pred: Tensor, gt: Tensor) -> Tensor:
    """(B,) mean per-joint error of the 42 keypoints, no alignment (absolute positions)."""
    check_two_hand_keypoints(pred, "pred")
    check_two_hand_keypoints(gt, "gt")
    return 1000.0 * (pred - gt).norm(dim=-1).mean(dim=1)
