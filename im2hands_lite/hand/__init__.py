"""The CC0 hand: asset, joint tables and the LBS HandModel; the chumpy-free MANO layer."""
from .asset import AssetError, HandAsset, load_hand_asset
from .joints import JOINT_NAMES, N_BONES, N_JOINTS, SKELETON_EDGES, TWO_HAND_JOINT_NAMES
from .mano import (
                   MANO_TO_INTERHAND,
                   ManoConfig,
                   ManoFormatError,
                   ManoLayer,
                   ManoModel,
                   fix_left_shapedirs,
                   load_mano_model,
)
from .model import JOINT_LIMITS, HandModel, HandOutput, clamp_finger_angles

__all__ = [
    "AssetError", "HandAsset", "load_hand_asset", "JOINT_NAMES", "N_BONES", "N_JOINTS",
    "SKELETON_EDGES", "TWO_HAND_JOINT_NAMES", "JOINT_LIMITS", "HandModel", "HandOutput",
    "clamp_finger_angles", "MANO_TO_INTERHAND", "ManoConfig", "ManoFormatError", "ManoLayer",
    "ManoModel", "fix_left_shapedirs", "load_mano_model",
]
