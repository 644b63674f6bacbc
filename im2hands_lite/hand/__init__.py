"""The CC0 hand: asset, joint tables and the LBS HandModel."""
from .asset import AssetError, HandAsset, load_hand_asset
from .joints import JOINT_NAMES, N_BONES, N_JOINTS, SKELETON_EDGES, TWO_HAND_JOINT_NAMES
from .model import JOINT_LIMITS, HandModel, HandOutput, clamp_finger_angles

__all__ = [
    "AssetError", "HandAsset", "load_hand_asset", "JOINT_NAMES", "N_BONES", "N_JOINTS",
    "SKELETON_EDGES", "TWO_HAND_JOINT_NAMES", "JOINT_LIMITS", "HandModel", "HandOutput",
    "clamp_finger_angles",
]
