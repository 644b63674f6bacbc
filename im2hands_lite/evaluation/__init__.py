"""Evaluation: meshes from occupancy models, metrics, evaluation loops, Tables S1-S3, baselines.
Never imports training: training the missing variants of a table lives in `apps.table_runs`."""
from .evaluate import (
           evaluate_keypoints,
           evaluate_occupancy,
           evaluate_queries,
           noisy_keypoints_for,
           noisy_keypoints_of,
           occupancy_at_queries,
           threshold_metrics,
)
from .paired import PairedDifference, paired_bootstrap
from .reconstruction import ReconstructionConfig, reconstruct_hand, reconstruct_pair
from .tables import CheckpointSource, TableResult, evaluate_table

__all__ = ["evaluate_keypoints", "evaluate_occupancy", "evaluate_queries", "noisy_keypoints_for", "noisy_keypoints_of",
           "occupancy_at_queries", "threshold_metrics",
           "PairedDifference", "paired_bootstrap", "ReconstructionConfig", "reconstruct_hand", "reconstruct_pair", "CheckpointSource", "TableResult",
           "evaluate_table"]
