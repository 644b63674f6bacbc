"""Networks of Im2Hands (HALO, I, K, R, the keypoint estimator) and the registry of model kinds.
Models take tensors: nothing here imports the data layer."""
from .registry import (
    MODEL_KINDS,
    VARIANTS,
    ModelKind,
    build_model,
    kind_of,
    load_model,
    model_kind,
    shipped_path,
)

__all__ = ["MODEL_KINDS", "VARIANTS", "ModelKind", "build_model", "kind_of", "load_model", "model_kind", "shipped_path"]
