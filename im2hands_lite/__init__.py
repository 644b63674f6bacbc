"""im2hands-lite: a notebook-first reproduction kit of Im2Hands (CVPR 2023).

    import im2hands_lite as ih
    initial = ih.load_model("i")                       # the shipped I (query-image attention)
    meshes = ih.reconstruct_pair(initial, sample)      # [right, left]
    result = ih.train(ih.build_model("halo"), dataset, ih.OccupancyTrainSettings(steps=100))

Layers, each importing only those below it: `geometry`, `hand` -> `data`, `models` ->
`training`, `evaluation` -> `apps` -> `cli`; `checkpoints` sits under all of them.
"""
from .apps.pipeline import ImagePipeline
from .checkpoints import SHIPPED, CheckpointError, load_checkpoint, save_checkpoint
from .data import (
                       GeneratorConfig,
                       TwoHandDataset,
                       TwoHandSample,
                       generate_sample,
                       generate_split,
                       kit_samples_dir,
)
from .evaluation.evaluate import evaluate_keypoints, evaluate_occupancy
from .evaluation.metrics import two_hand_metrics
from .evaluation.reconstruction import ReconstructionConfig, reconstruct_hand, reconstruct_pair
from .evaluation.tables import evaluate_table
from .hand import HandModel
from .models.registry import MODEL_KINDS, VARIANTS, build_model, load_model
from .models.two_stage import InitialPlusTwoHandRefiner
from .training import (
                       EstimatorTrainSettings,
                       KeypointRefinerTrainSettings,
                       OccupancyTrainSettings,
                       RunSpec,
                       TwoHandRefinerTrainSettings,
                       get_profile,
                       run_training,
                       train,
)

__version__ = "0.2.0"

# one reconstruction call under the name a newcomer looks for first
reconstruct = reconstruct_pair

__all__ = [
    "ImagePipeline", "SHIPPED", "CheckpointError", "load_checkpoint", "save_checkpoint", "GeneratorConfig",
    "TwoHandDataset", "TwoHandSample", "generate_sample", "generate_split", "kit_samples_dir", "evaluate_keypoints",
    "evaluate_occupancy", "two_hand_metrics", "ReconstructionConfig", "reconstruct_hand", "reconstruct_pair",
    "reconstruct", "evaluate_table", "HandModel", "MODEL_KINDS", "VARIANTS", "build_model", "load_model",
    "InitialPlusTwoHandRefiner", "EstimatorTrainSettings", "KeypointRefinerTrainSettings", "OccupancyTrainSettings",
    "RunSpec", "TwoHandRefinerTrainSettings", "get_profile", "run_training", "train", "__version__",
]
