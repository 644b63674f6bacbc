"""HandModel: batched linear blend skinning of the CC0 hand asset, in torch.

Pose = a global rotation (axis-angle) + translation + per finger joint (flexion, abduction,
twist) angles relative to the asset's rest pose, clamped to anatomical limits. Shape = `betas`
(the asset's CC0 shape space, like MANO's beta: finger diameter, finger distance, wrist
circumference, palm thickness, each in [-1, 1]; the rest joints are regressed from the shaped
vertices, as in MANO), an overall scale and a length factor per finger. Left hands are the mirror image (x -> -x in the
hand's own frame, faces re-wound) of the right hand with the same finger angles, so the same
angles give mirrored poses.

Every output is in metres; keypoints follow the InterHand2.6M order (see joints.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import Tensor, nn

from ..geometry.rotations import axis_angle_to_matrix
from .asset import HandAsset, load_hand_asset
from .joints import (
    BONE_HEADS,
    BONE_PARENTS,
    BONE_TAILS,
    N_BONES,
    N_JOINTS,
    WRIST,
    base_joint,
    tip_joint,
)

N_FINGER_JOINTS = 15  # one rotating joint at the head of every phalanx
SIDES = ("right", "left")

# Anatomical limits (radians) per finger joint for (flexion, abduction, twist), relative to the
# asset's rest pose (which is already slightly curled). Rows: thumb CMC, MCP, IP, then
# MCP, PIP, DIP of index, middle, ring, pinky. Positive flexion curls towards the palm.
_THUMB = [[(-0.6, 0.9), (-0.6, 0.6), (-0.4, 0.4)],
          [(-0.2, 1.0), (-0.15, 0.15), (-0.1, 0.1)],
          [(-0.3, 1.3), (-0.05, 0.05), (-0.05, 0.05)]]
_FINGER = [[(-0.35, 1.55), (-0.35, 0.35), (-0.12, 0.12)],
           [(-0.05, 1.75), (-0.05, 0.05), (-0.05, 0.05)],
           [(-0.1, 1.3), (-0.05, 0.05), (-0.05, 0.05)]]
JOINT_LIMITS = torch.tensor(_THUMB + _FINGER * 4, dtype=torch.float32)  # (15, 3, 2)


@dataclass
class HandOutput:
    vertices: Tensor  # (B, V, 3)
    joints: Tensor  # (B, 21, 3) InterHand2.6M order
    faces: Tensor  # (F, 3), wound outwards for this side

    def mesh(self, index: int = 0):
        """One posed hand as a trimesh.Trimesh (numpy, detached)."""
        return trimesh.Trimesh(self.vertices[index].detach().cpu().numpy(),
                               self.faces.cpu().numpy(), process=False)


def blend_skinning(rest: Tensor, weights: Tensor, affine: Tensor) -> Tensor:
    """Linear blend skinning: rest vertices (B, V, 3), skinning weights (V, J) whose rows sum to 1,
    one affine map [R | t] per bone (B, J, 3, 4) -> posed vertices (B, V, 3), each
    v' = (sum_j w_vj [R_j | t_j]) [v; 1]: the maps are blended, then applied."""
    batch, bones = affine.shape[:2]
    blended = torch.einsum("vj,njk->nvk", weights, affine.reshape(batch, bones, 12)).reshape(batch, -1, 3, 4)
    return (blended[..., :3] @ rest.unsqueeze(-1)).squeeze(-1) + blended[..., 3]


def _check(name: str, value: Tensor, shape: tuple[int, ...]) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(value.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def clamp_finger_angles(finger_angles: Tensor) -> Tensor:
    """Clamp (..., 15, 3) finger angles into the anatomical limits."""
    limits = JOINT_LIMITS.to(finger_angles)
    return torch.maximum(torch.minimum(finger_angles, limits[..., 1]), limits[..., 0])


def _bone_axes(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bone: direction d, flexion axis e and curl direction c (unit vectors, rest frame).

    Positive flexion rotates d towards c (the palm side), positive abduction rotates d
    towards e (the thumb side for fingers), twist rotates about d.
    """
    x_axis, z_axis = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    d = np.zeros((N_BONES, 3))
    c = np.zeros((N_BONES, 3))
    for b in range(N_BONES):
        d[b] = joints[BONE_TAILS[b]] - joints[BONE_HEADS[b]]
        d[b] /= np.linalg.norm(d[b])
        # fingers curl towards the palm normal; the thumb folds across the palm, towards the
        # fingers and into the palm (a fixed blend chosen by looking at renders)
        target = z_axis if b == 0 or b > 3 else -x_axis - 0.5 * z_axis
        c[b] = target - (target @ d[b]) * d[b]
        c[b] /= np.linalg.norm(c[b])
    e = np.cross(d, c)
    return d, e, c


class HandModel(nn.Module):
    """Linear blend skinning of the CC0 hand; `forward` poses a batch of right or left hands."""

    def __init__(self, asset: HandAsset | None = None):
        super().__init__()
        asset = asset if asset is not None else load_hand_asset()
        joints = asset.joints.astype(np.float64)
        d, e, c = _bone_axes(joints)
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.register_buffer("rest_vertices", f32(asset.vertices), persistent=False)
        self.register_buffer("skin_weights", f32(asset.weights), persistent=False)
        self.register_buffer("rest_joints", f32(joints), persistent=False)
        self.register_buffer("bone_heads", f32(joints[list(BONE_HEADS)]), persistent=False)
        self.register_buffer("bone_tails", f32(joints[list(BONE_TAILS)]), persistent=False)
        self.register_buffer("bone_dirs", f32(d), persistent=False)
        self.register_buffer("flex_axes", f32(e), persistent=False)
        self.register_buffer("curl_dirs", f32(c), persistent=False)
        faces = torch.as_tensor(asset.faces, dtype=torch.long)
        self.register_buffer("faces_right", faces, persistent=False)
        self.register_buffer("faces_left", faces[:, [0, 2, 1]].contiguous(), persistent=False)
        self.register_buffer("tip_ids", torch.as_tensor(asset.fingertip_vertex_ids), persistent=False)
        self.register_buffer("shapedirs", f32(asset.shapedirs), persistent=False)  # (K, 2, V, 3)
        self.register_buffer("joint_regressor", f32(asset.joint_regressor), persistent=False)
        self.shape_names = asset.shape_names

    @property
    def n_betas(self) -> int:
        return len(self.shape_names)

    @property
    def n_vertices(self) -> int:
        return self.rest_vertices.shape[0]

    def faces(self, side: str) -> Tensor:
        _check_side(side)
        return self.faces_right if side == "right" else self.faces_left

    def forward(
        self,
        finger_angles: Tensor,
        global_orient: Tensor | None = None,
        transl: Tensor | None = None,
        scale: Tensor | None = None,
        finger_lengths: Tensor | None = None,
        side: str = "right",
        clamp: bool = True,
        betas: Tensor | None = None,
    ) -> HandOutput:
        """Pose a batch of hands.

        finger_angles: (B, 15, 3) (flexion, abduction, twist) per finger joint, radians.
        global_orient: (B, 3) axis-angle applied about the wrist; transl: (B, 3) wrist position.
        scale: (B,) overall size factor; finger_lengths: (B, 5) length factor per finger.
        betas: (B, K) shape coefficients in [-1, 1] (`shape_names`); None is the mean hand.
        """
        _check_side(side)
        if not isinstance(finger_angles, Tensor) or finger_angles.ndim != 3:
            raise ValueError(
                f"finger_angles must be a (B, {N_FINGER_JOINTS}, 3) tensor, got "
                f"{getattr(finger_angles, 'shape', type(finger_angles).__name__)}")
        batch = finger_angles.shape[0]
        _check("finger_angles", finger_angles, (batch, N_FINGER_JOINTS, 3))
        ref = self.rest_vertices
        finger_angles = finger_angles.to(ref)
        zeros3 = ref.new_zeros(batch, 3)
        global_orient = zeros3 if global_orient is None else global_orient.to(ref)
        transl = zeros3 if transl is None else transl.to(ref)
        scale = ref.new_ones(batch) if scale is None else scale.to(ref)
        finger_lengths = ref.new_ones(batch, 5) if finger_lengths is None else finger_lengths.to(ref)
        _check("global_orient", global_orient, (batch, 3))
        _check("transl", transl, (batch, 3))
        _check("scale", scale, (batch,))
        _check("finger_lengths", finger_lengths, (batch, 5))
        if (scale <= 0).any() or (finger_lengths <= 0).any():
            raise ValueError("scale and finger_lengths must be positive")
        if clamp:
            finger_angles = clamp_finger_angles(finger_angles)
        rest, affine, bone_rot, bone_trans, heads = self._bones(finger_angles, finger_lengths, betas)
        verts = blend_skinning(rest, self.skin_weights, affine)

        joints = ref.new_zeros(batch, N_JOINTS, 3)
        for finger in range(5):
            for segment in range(3):
                bone = 1 + 3 * finger + segment
                head = (bone_rot[:, bone] @ heads[:, bone].unsqueeze(-1)).squeeze(-1)
                joints[:, base_joint(finger) - segment] = head + bone_trans[:, bone]
            joints[:, tip_joint(finger)] = verts[:, self.tip_ids[finger]]
        # the palm bone is not posed by finger angles: the wrist stays where the shape put it
        joints[:, WRIST] = (bone_rot[:, 0] @ heads[:, 0].unsqueeze(-1)).squeeze(-1) + bone_trans[:, 0]

        verts = verts * scale[:, None, None]
        joints = joints * scale[:, None, None]
        if side == "left":
            mirror = ref.new_tensor([-1.0, 1.0, 1.0])
            verts, joints = verts * mirror, joints * mirror
        world_rot = axis_angle_to_matrix(global_orient)  # (B, 3, 3)
        verts = verts @ world_rot.transpose(1, 2) + transl[:, None]
        joints = joints @ world_rot.transpose(1, 2) + transl[:, None]
        return HandOutput(vertices=verts, joints=joints, faces=self.faces(side))

    def bone_transforms(self, finger_angles: Tensor, finger_lengths: Tensor | None = None,
                        betas: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(rest vertices (B, V, 3), one affine map [R | t] per bone (B, 16, 3, 4)): what linear
        blend skinning blends, in the hand's own frame (before scale, mirror and global pose);
        `blend_skinning(rest, self.skin_weights, affine)` gives `forward`'s vertices there.
        The angles are used as given (no clamping)."""
        _check("finger_angles", finger_angles, (finger_angles.shape[0], N_FINGER_JOINTS, 3))
        ref = self.rest_vertices
        lengths = ref.new_ones(finger_angles.shape[0], 5) if finger_lengths is None else finger_lengths.to(ref)
        rest, affine, _, _, _ = self._bones(finger_angles.to(ref), lengths, betas)
        return rest, affine

    def _bones(self, finger_angles: Tensor, finger_lengths: Tensor, betas: Tensor | None):
        """rest vertices, per-bone affine maps (shape first, then pose), and the pose's bone
        rotations, translations and rest heads (for the joints)."""
        rest = self.shaped_vertices(finger_angles.shape[0], betas)  # (B, V, 3)
        rest_joints = self.joint_regressor @ rest  # (B, 21, 3)
        rot_shape, trans_shape, heads = self._shape_transforms(finger_lengths, rest_joints)
        bone_rot, bone_trans = self._forward_kinematics(self._local_rotations(finger_angles), heads)
        m_rot = bone_rot @ rot_shape  # (B, 16, 3, 3)
        m_trans = (bone_rot @ trans_shape.unsqueeze(-1)).squeeze(-1) + bone_trans
        return rest, torch.cat([m_rot, m_trans.unsqueeze(-1)], dim=-1), bone_rot, bone_trans, heads

    def shaped_vertices(self, batch: int, betas: Tensor | None = None) -> Tensor:
        """(B, V, 3) rest-pose vertices of the shape `betas` (B, K); None: the mean hand."""
        ref = self.rest_vertices
        if betas is None:
            return ref.expand(batch, -1, -1)
        _check("betas", betas, (batch, self.n_betas))
        betas = betas.to(ref)
        if (betas.abs() > 1.0 + 1e-6).any():
            raise ValueError("betas must lie in [-1, 1] (the range of the shape targets)")
        # MakeHuman's modifier rule: a negative coefficient adds the `decr` target, a positive one `incr`
        offsets = (torch.einsum("bk,kvc->bvc", (-betas).clamp(min=0), self.shapedirs[:, 0])
                   + torch.einsum("bk,kvc->bvc", betas.clamp(min=0), self.shapedirs[:, 1]))
        return ref + offsets

    def _shape_transforms(self, finger_lengths: Tensor, rest_joints: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-bone affine maps that stretch each phalanx along its axis, and the new heads.

        rest_joints: (B, 21, 3) joints of the shaped rest hand. The bone axes stay the mean
        hand's (the shape moves joints by a few millimetres, turning no bone noticeably)."""
        batch = finger_lengths.shape[0]
        eye = torch.eye(3, dtype=finger_lengths.dtype, device=finger_lengths.device)
        lengths = torch.cat([finger_lengths.new_ones(batch, 1),
                             finger_lengths.repeat_interleave(3, dim=1)], dim=1)  # (B, 16)
        outer = self.bone_dirs[:, :, None] * self.bone_dirs[:, None, :]  # (16, 3, 3)
        rot = eye + (lengths[..., None, None] - 1.0) * outer  # (B, 16, 3, 3)
        rest_heads = rest_joints[:, list(BONE_HEADS)]  # (B, 16, 3)
        heads = rest_heads.clone()
        for finger in range(5):
            for segment in (1, 2):
                bone = 1 + 3 * finger + segment
                step = rest_heads[:, bone] - rest_heads[:, bone - 1]
                heads[:, bone] = heads[:, bone - 1] + lengths[:, bone - 1, None] * step
        trans = heads - (rot @ rest_heads.unsqueeze(-1)).squeeze(-1)
        return rot, trans, heads

    def _local_rotations(self, finger_angles: Tensor) -> Tensor:
        """(B, 16, 3, 3) rest-frame rotation of each bone about its head (palm: identity)."""
        flex, abduct, twist = finger_angles.unbind(-1)  # (B, 15) each
        bones = slice(1, N_BONES)
        r_abduct = axis_angle_to_matrix(-self.curl_dirs[bones] * abduct[..., None])
        r_flex = axis_angle_to_matrix(self.flex_axes[bones] * flex[..., None])
        r_twist = axis_angle_to_matrix(self.bone_dirs[bones] * twist[..., None])
        fingers = r_abduct @ r_flex @ r_twist
        palm = torch.eye(3, dtype=fingers.dtype, device=fingers.device).expand(
            fingers.shape[0], 1, 3, 3)
        return torch.cat([palm, fingers], dim=1)

    def _forward_kinematics(self, local: Tensor, heads: Tensor) -> tuple[Tensor, Tensor]:
        """Global (rotation, translation) of every bone; parents come before children."""
        rots, trans = [], []
        for bone in range(N_BONES):
            r = local[:, bone]
            t = heads[:, bone] - (r @ heads[:, bone].unsqueeze(-1)).squeeze(-1)
            parent = BONE_PARENTS[bone]
            if parent >= 0:
                t = (rots[parent] @ t.unsqueeze(-1)).squeeze(-1) + trans[parent]
                r = rots[parent] @ r
            rots.append(r)
            trans.append(t)
        return torch.stack(rots, dim=1), torch.stack(trans, dim=1)


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
