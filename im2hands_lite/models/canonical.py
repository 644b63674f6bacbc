"""HALO's keypoint canonicalisation: keypoints -> normalised hand frame -> per-bone frames.

1. Left hands are mirrored into right hands (x -> -x), so one network serves both.
2. Global normalisation (as HALO's code): wrist at the origin, wrist -> middle-MCP direction
   onto -y, palm normal (out of the palm) onto +z, coordinates scaled by 1/0.4.
3. Bone frames B_k: each of the 16 bones (palm + 15 phalanges) gets a rigid frame; the palm's
   is the normalised frame itself, each phalanx's is its parent's frame turned by the minimal
   rotation taking the canonical ("straight hand") bone direction onto the posed one. A query x
   seen by part k is B_k^-1 x = R_k^T (x - head_k).
All functions are batched over a leading dimension B and differentiable away from degenerate
(zero-length or exactly reversed) bones.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..hand.joints import (
    BONE_HEADS,
    BONE_PARENTS,
    BONE_TAILS,
    MIDDLE_MCP,
    N_BONES,
    WRIST,
    base_joint,
    check_hand_keypoints,
)

HALO_SCALE = 1.0 / 0.4  # metres -> HALO's normalised units
INDEX_MCP, PINKY_MCP = base_joint(1), base_joint(4)
_MIRROR = (-1.0, 1.0, 1.0)


def mirror_x(points: Tensor, is_left: Tensor) -> Tensor:
    """Mirror (..., 3) points of left hands (is_left (B,) bool) through x = 0."""
    sign = torch.where(is_left, -1.0, 1.0).to(points)
    shape = (-1,) + (1,) * (points.ndim - 2)
    return torch.cat([points[..., :1] * sign.view(shape + (1,)), points[..., 1:]], dim=-1)


def global_frame(keypoints: Tensor) -> tuple[Tensor, Tensor]:
    """(rotation (B, 3, 3), wrist (B, 3)) of HALO's normalisation of right-hand keypoints.

    x_norm = HALO_SCALE * rotation @ (x - wrist).
    """
    wrist = keypoints[:, WRIST]
    down = keypoints[:, MIDDLE_MCP] - wrist
    y_axis = -down / down.norm(dim=-1, keepdim=True).clamp_min(1e-9)  # middle MCP -> -y
    normal = torch.cross(keypoints[:, INDEX_MCP] - wrist, keypoints[:, PINKY_MCP] - wrist, dim=-1)
    z_axis = normal - (normal * y_axis).sum(-1, keepdim=True) * y_axis
    z_axis = z_axis / z_axis.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    x_axis = torch.cross(y_axis, z_axis, dim=-1)
    return torch.stack([x_axis, y_axis, z_axis], dim=1), wrist


def minimal_rotation(a: Tensor, b: Tensor) -> Tensor:
    """(..., 3, 3) rotation taking unit vectors a onto b about the axis a x b."""
    cross = torch.cross(a, b, dim=-1)
    cos = (a * b).sum(-1).clamp(-1.0, 1.0)
    # Rodrigues with the unnormalised axis: R = I + [v]x + [v]x^2 / (1 + cos)
    zeros = torch.zeros_like(cos)
    vx = torch.stack([zeros, -cross[..., 2], cross[..., 1],
                      cross[..., 2], zeros, -cross[..., 0],
                      -cross[..., 1], cross[..., 0], zeros], dim=-1).reshape(a.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(vx)
    rot = eye + vx + vx @ vx / (1.0 + cos).clamp_min(1e-6)[..., None, None]
    # exactly reversed bones: turn 180 degrees about any axis perpendicular to a
    flipped = cos < -1.0 + 1e-6
    if flipped.any():
        helper = torch.where(a[..., :1].abs() < 0.9, torch.tensor([1.0, 0, 0]).to(a),
                             torch.tensor([0, 1.0, 0]).to(a))
        axis = torch.cross(a, helper, dim=-1)
        axis = axis / axis.norm(dim=-1, keepdim=True)
        half_turn = 2 * axis[..., :, None] * axis[..., None, :] - eye
        rot = torch.where(flipped[..., None, None], half_turn, rot)
    return rot


@dataclass
class HandFrames:
    """Everything HALO derives from one batch of keypoints."""

    rotation: Tensor  # (B, 3, 3) global normalisation rotation (after mirroring)
    wrist: Tensor  # (B, 3) world wrist position
    is_left: Tensor  # (B,) bool
    keypoints: Tensor  # (B, 21, 3) normalised keypoints
    bone_rotations: Tensor  # (B, 16, 3, 3) R_k, bone frame -> normalised frame
    bone_heads: Tensor  # (B, 16, 3) normalised head joint of each bone
    bone_lengths: Tensor  # (B, 16) normalised units
    canonical_heads: Tensor  # (B, 16, 3) bone heads of the straight canonical hand

    def normalise(self, points: Tensor) -> Tensor:
        """World (B, N, 3) -> normalised hand frame (mirrored for left hands)."""
        local = mirror_x(points, self.is_left) - mirror_x(self.wrist[:, None], self.is_left)
        return HALO_SCALE * local @ self.rotation.transpose(1, 2)

    def denormalise(self, points: Tensor) -> Tensor:
        """Normalised hand frame (B, N, 3) -> world."""
        local = (points / HALO_SCALE) @ self.rotation
        return mirror_x(local + mirror_x(self.wrist[:, None], self.is_left), self.is_left)

    def to_bones(self, points_norm: Tensor) -> Tensor:
        """Normalised (B, N, 3) -> (B, 16, N, 3) coordinates in every bone frame: R_k^T (x - head_k)."""
        rel = points_norm[:, None] - self.bone_heads[:, :, None]
        return rel @ self.bone_rotations


def hand_frames(keypoints: Tensor, is_left: Tensor, canonical_dirs: Tensor) -> HandFrames:
    """Canonicalise world keypoints (B, 21, 3); canonical_dirs (16, 3) unit straight-hand bones."""
    check_hand_keypoints(keypoints)
    if is_left.shape != keypoints.shape[:1]:
        raise ValueError(f"is_left must have shape ({keypoints.shape[0]},), got {tuple(is_left.shape)}")
    mirrored = mirror_x(keypoints, is_left.bool())
    rotation, wrist_m = global_frame(mirrored)
    kp = HALO_SCALE * (mirrored - wrist_m[:, None]) @ rotation.transpose(1, 2)
    heads = kp[:, list(BONE_HEADS)]
    vectors = kp[:, list(BONE_TAILS)] - heads
    lengths = vectors.norm(dim=-1)
    dirs = vectors / lengths[..., None].clamp_min(1e-9)
    batch = kp.shape[0]
    eye = torch.eye(3, dtype=kp.dtype, device=kp.device).expand(batch, 3, 3)
    canonical = canonical_dirs.to(kp)
    rots: list[Tensor] = []
    canon_heads: list[Tensor] = []
    for bone in range(N_BONES):
        parent = BONE_PARENTS[bone]
        if parent < 0:  # the palm: the normalised frame is its frame
            rots.append(eye)
            canon_heads.append(torch.zeros_like(kp[:, 0]))
            continue
        parent_rot = rots[parent]
        expected = (parent_rot @ canonical[bone].expand(batch, 3)[..., None]).squeeze(-1)
        rots.append(minimal_rotation(expected, dirs[:, bone]) @ parent_rot)
        if parent == 0:  # proximal phalanges start at the MCPs, rigid with the palm
            canon_heads.append(heads[:, bone])
        else:
            canon_heads.append(canon_heads[parent] + lengths[:, parent, None] * canonical[parent])
    return HandFrames(rotation=rotation, wrist=mirror_x(wrist_m, is_left.bool()), is_left=is_left.bool(),
                      keypoints=kp, bone_rotations=torch.stack(rots, dim=1), bone_heads=heads,
                      bone_lengths=lengths, canonical_heads=torch.stack(canon_heads, dim=1))


def straight_hand_directions(rest_joints: Tensor) -> Tensor:
    """(16, 3) canonical bone directions: the palm along -y, every phalanx of a finger along
    that finger's wrist -> base direction in the normalised rest hand (a flat, straight hand)."""
    rotation, wrist = global_frame(rest_joints[None])
    kp = (rest_joints[None] - wrist[:, None]) @ rotation.transpose(1, 2)
    dirs = torch.zeros(N_BONES, 3, dtype=rest_joints.dtype)
    dirs[0] = torch.tensor([0.0, -1.0, 0.0])
    for bone in range(1, N_BONES):
        finger = (bone - 1) // 3
        d = kp[0, base_joint(finger)] - kp[0, WRIST]
        if finger == 0:  # the thumb's base (CMC) is near the wrist: use CMC -> MCP instead
            d = kp[0, base_joint(0) - 1] - kp[0, base_joint(0)]
        dirs[bone] = d / d.norm()
    return dirs
