"""Joint and bone tables: the one keypoint order used everywhere in the kit (InterHand2.6M's).

Per hand, 21 joints: for each finger (thumb, index, middle, ring, pinky) tip -> base
(4 joints: tip, DIP/IP, PIP/MCP, MCP/CMC), then the wrist (index 20). Two hands stack as
right 0..20, left 21..41, exactly as in InterHand2.6M's ``joint_3d.json``.

Bones (16 per hand, the HALO/MANO part layout): 0 = palm (wrist -> middle MCP), then
1 + 3*finger + segment for the proximal (0), middle (1) and distal (2) phalanx of each finger.
"""
from __future__ import annotations

import torch

FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
N_JOINTS = 21
N_BONES = 16
WRIST = 20

JOINT_NAMES: tuple[str, ...] = tuple(
    f"{finger}{k}" for finger in FINGER_NAMES for k in (4, 3, 2, 1)
) + ("wrist",)
TWO_HAND_JOINT_NAMES: tuple[str, ...] = tuple(f"r_{n}" for n in JOINT_NAMES) + tuple(
    f"l_{n}" for n in JOINT_NAMES
)
HAND_SIDES: tuple[str, ...] = ("right", "left")  # InterHand2.6M stacks right first


def tip_joint(finger: int) -> int:
    return 4 * finger


def base_joint(finger: int) -> int:
    """MCP for fingers, CMC for the thumb."""
    return 4 * finger + 3


MIDDLE_MCP = base_joint(2)  # 11: the mid-joint used for alignment in the metrics


def bone_joints(bone: int) -> tuple[int, int]:
    """(head joint, tail joint) of a bone; the palm bone runs wrist -> middle MCP."""
    if bone == 0:
        return WRIST, MIDDLE_MCP
    finger, segment = divmod(bone - 1, 3)
    return base_joint(finger) - segment, base_joint(finger) - segment - 1


BONE_HEADS: tuple[int, ...] = tuple(bone_joints(b)[0] for b in range(N_BONES))
BONE_TAILS: tuple[int, ...] = tuple(bone_joints(b)[1] for b in range(N_BONES))
BONE_PARENTS: tuple[int, ...] = (-1,) + tuple(
    0 if (b - 1) % 3 == 0 else b - 1 for b in range(1, N_BONES)
)
BONE_NAMES: tuple[str, ...] = ("palm",) + tuple(
    f"{finger}_{seg}" for finger in FINGER_NAMES for seg in ("proximal", "middle", "distal")
)

# skeleton edges of one hand (20): wrist to each finger base, then along each finger
SKELETON_EDGES: tuple[tuple[int, int], ...] = tuple(
    (WRIST, base_joint(f)) for f in range(5)
) + tuple((base_joint(f) - k, base_joint(f) - k - 1) for f in range(5) for k in range(3))


def two_hand_edges(inter_hand: bool = False) -> tuple[tuple[int, int], ...]:
    """Edges of the 42-joint two-hand skeleton; optionally link the two wrists."""
    edges = SKELETON_EDGES + tuple((a + N_JOINTS, b + N_JOINTS) for a, b in SKELETON_EDGES)
    if inter_hand:
        edges = edges + ((WRIST, WRIST + N_JOINTS),)
    return edges


def check_hand_keypoints(keypoints, name: str = "keypoints") -> None:
    """Raise ValueError unless `keypoints` is a finite (B, 21, 3) torch tensor (one hand per row)."""
    if not isinstance(keypoints, torch.Tensor) or keypoints.ndim != 3 or keypoints.shape[1:] != (N_JOINTS, 3):
        raise ValueError(f"{name} must be a (B, {N_JOINTS}, 3) tensor, got "
                         f"{tuple(getattr(keypoints, 'shape', ())) or type(keypoints).__name__}")
    if not torch.isfinite(keypoints).all():
        raise ValueError(f"{name} contain NaN or infinite values")


def check_two_hand_keypoints(keypoints, name: str = "keypoints") -> None:
    """Raise ValueError unless `keypoints` is a finite float (B, 42, 3) torch tensor."""
    if not isinstance(keypoints, torch.Tensor) or keypoints.ndim != 3 or keypoints.shape[1:] != (2 * N_JOINTS, 3):
        shape = tuple(keypoints.shape) if hasattr(keypoints, "shape") else type(keypoints).__name__
        raise ValueError(f"{name} must be a (B, 42, 3) tensor (right 0..20, left 21..41), got {shape}")
    if not keypoints.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got {keypoints.dtype}")
    if not torch.isfinite(keypoints).all():
        raise ValueError(f"{name} contain NaN or infinite values")
