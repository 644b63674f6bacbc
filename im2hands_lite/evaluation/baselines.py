"""A mesh-regression stand-in for the tables: the kit's hand template posed to the input keypoints
by inverse kinematics (IK).

Methods like IntagHand regress a parametric hand mesh; what limits them is the template's
expressiveness and the pose estimate, not an implicit surface. The kit's equivalent fits
`HandModel` (global rotation, translation, scale, five finger lengths, 15 x 3 joint angles
inside their anatomical limits) to 21 keypoints per hand by gradient descent, starting from a
similarity (Umeyama) alignment of the palm joints. On ground-truth keypoints of the kit's own
data the template is the generator's model, so the fit is nearly exact: an upper bound, not a
competitor. With noisy keypoints it shows what a template does with a bad skeleton.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..geometry.rotations import matrix_to_axis_angle
from ..hand.joints import N_JOINTS, WRIST, base_joint
from ..hand.model import JOINT_LIMITS, SIDES, HandModel, HandOutput

PALM_JOINTS = (WRIST,) + tuple(base_joint(f) for f in range(5))  # rigid in the hand's own frame


@dataclass(frozen=True)
class TemplateIKConfig:
    steps: int = 300
    lr: float = 0.05
    scale_range: tuple[float, float] = (0.8, 1.2)  # the generator draws 0.9-1.1
    finger_length_range: tuple[float, float] = (0.85, 1.15)  # the generator draws 0.9-1.1
    angle_prior: float = 1e-4  # pulls unobserved twists towards the rest pose (per rad^2)


@dataclass
class TemplateIKResult:
    output: HandOutput  # posed vertices, joints and faces
    params: dict[str, Tensor]  # finger_angles, global_orient, transl, scale, finger_lengths
    joint_error_mm: Tensor  # (B,) mean distance of the fitted joints to the targets


def _bounded(raw: Tensor, lo, hi) -> Tensor:
    return lo + (hi - lo) * torch.sigmoid(raw)


def _unbounded(value: Tensor, lo, hi) -> Tensor:
    return torch.logit(((value - lo) / (hi - lo)).clamp(1e-4, 1 - 1e-4))


def similarity_alignment(source: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Umeyama: rotation R (B, 3, 3), scale s (B,) and translation t (B, 3) with
    target ~ s * source @ R^T + t, for (B, N, 3) point sets."""
    mu_s, mu_t = source.mean(1, keepdim=True), target.mean(1, keepdim=True)
    xs, xt = source - mu_s, target - mu_t
    cov = xt.transpose(1, 2) @ xs / source.shape[1]  # (B, 3, 3)
    u, sigma, vh = torch.linalg.svd(cov)
    sign = torch.sign(torch.det(u @ vh))
    d = torch.ones_like(sigma)
    d[:, 2] = sign
    rotation = u @ torch.diag_embed(d) @ vh
    scale = (sigma * d).sum(-1) / xs.pow(2).sum((1, 2)).div(source.shape[1])
    translation = mu_t[:, 0] - scale[:, None] * (rotation @ mu_s[:, 0, :, None])[..., 0]
    return rotation, scale, translation


def fit_template(keypoints: Tensor, side: str, config: TemplateIKConfig = TemplateIKConfig(),
                 hand_model: HandModel | None = None) -> TemplateIKResult:
    """Pose the template to (B, 21, 3) keypoints (metres, InterHand2.6M order) of `side` hands."""
    if side not in SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    if not isinstance(keypoints, Tensor) or keypoints.ndim != 3 or keypoints.shape[1:] != (N_JOINTS, 3):
        raise ValueError(f"keypoints must be a (B, {N_JOINTS}, 3) tensor, got "
                         f"{tuple(getattr(keypoints, 'shape', ())) or type(keypoints).__name__}")
    if not torch.isfinite(keypoints).all():
        raise ValueError("keypoints contain NaN or infinite values")
    model = hand_model if hand_model is not None else HandModel()
    target = keypoints.detach().float()
    batch = target.shape[0]
    limits = JOINT_LIMITS
    with torch.no_grad():
        # rest joints of this side in the hand's own frame; the palm joints are rigid there
        rest = model(torch.zeros(batch, 15, 3), side=side).joints
        rotation, scale, transl = similarity_alignment(rest[:, list(PALM_JOINTS)], target[:, list(PALM_JOINTS)])
        scale = scale.clamp(config.scale_range[0] + 1e-3, config.scale_range[1] - 1e-3)
    raw = {
        "finger_angles": _unbounded(torch.zeros(batch, 15, 3), limits[..., 0], limits[..., 1]),
        "global_orient": matrix_to_axis_angle(rotation),
        "transl": transl,
        "scale": _unbounded(scale, *config.scale_range),
        "finger_lengths": torch.zeros(batch, 5),  # sigmoid(0): the middle of the range, 1.0
    }
    raw = {k: v.clone().requires_grad_(True) for k, v in raw.items()}
    optimizer = torch.optim.Adam(raw.values(), lr=config.lr)

    def params() -> dict[str, Tensor]:
        return {"finger_angles": _bounded(raw["finger_angles"], limits[..., 0], limits[..., 1]),
                "global_orient": raw["global_orient"], "transl": raw["transl"],
                "scale": _bounded(raw["scale"], *config.scale_range),
                "finger_lengths": _bounded(raw["finger_lengths"], *config.finger_length_range)}

    for _ in range(config.steps):
        optimizer.zero_grad()
        p = params()
        joints = model(side=side, clamp=False, **p).joints
        # centimetres keep the loss near 1 for Adam's step sizes
        loss = (100 * (joints - target)).pow(2).sum(-1).mean() + config.angle_prior * p["finger_angles"].pow(2).sum(
            (1, 2)).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        p = params()
        output = model(side=side, clamp=False, **p)
        error = 1000 * (output.joints - target).norm(dim=-1).mean(-1)
    return TemplateIKResult(output, p, error)


class TemplateIKBaseline:
    """Both hands of a sample: `meshes(item)` -> [right, left] trimesh meshes fitted to
    `item["keypoints"]` (42, 3)."""

    def __init__(self, config: TemplateIKConfig = TemplateIKConfig()):
        self.config = config
        self.hand_model = HandModel()
        self.last_joint_error_mm: list[float] = []

    def meshes(self, item: dict) -> list:
        keypoints = torch.as_tensor(item["keypoints"], dtype=torch.float32)
        if keypoints.shape != (2 * N_JOINTS, 3):
            raise ValueError(f"two-hand keypoints must be (42, 3), got {tuple(keypoints.shape)}")
        meshes, self.last_joint_error_mm = [], []
        for hand, side in enumerate(SIDES):
            fit = fit_template(keypoints[None, N_JOINTS * hand:N_JOINTS * (hand + 1)], side, self.config,
                               self.hand_model)
            meshes.append(fit.output.mesh(0))
            self.last_joint_error_mm.append(float(fit.joint_error_mm[0]))
        return meshes
