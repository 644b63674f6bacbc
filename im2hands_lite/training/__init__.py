"""Training: per-kind settings and profiles, one step loss per kind, the one trainer, runs."""
from .losses import STEP_LOSSES, step_loss_for
from .r_inputs import RInputsDataset, prepare_r_inputs, r_inputs_dir
from .runs import RunSpec, run_training
from .settings import (
                       MODELS,
                       PROFILES,
                       SETTINGS_CLASSES,
                       EstimatorTrainSettings,
                       KeypointRefinerTrainSettings,
                       OccupancyTrainSettings,
                       Profile,
                       TrainSettings,
                       TwoHandRefinerTrainSettings,
                       get_profile,
                       with_overrides,
)
from .trainer import TrainResult, checkpoint_paths, train

__all__ = [
    "STEP_LOSSES", "step_loss_for", "RInputsDataset", "prepare_r_inputs", "r_inputs_dir", "RunSpec", "run_training",
    "MODELS", "PROFILES", "SETTINGS_CLASSES", "EstimatorTrainSettings", "KeypointRefinerTrainSettings",
    "OccupancyTrainSettings", "Profile", "TrainSettings", "TwoHandRefinerTrainSettings", "get_profile",
    "with_overrides", "TrainResult", "checkpoint_paths", "train",
]
