"""The one registry of model kinds: name -> config class, model class, shipped checkpoint.

    model = build_model("i", "fast", image_cond="pixel_aligned")   # a fresh I
    model = load_model("i")                                         # the shipped I (attention)
    model = load_model("runs/k/final.pt")                           # any kit checkpoint

Adding a kind is one `ModelKind` entry here (its training step loss lives in
`training/losses.py`, its settings in `training/settings.py`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..checkpoints import SHIPPED, CheckpointError, config_from_dict, load_checkpoint
from .estimator import EstimatorConfig, KeypointEstimator
from .halo import HaloConfig, HaloModel
from .image_encoder import ImageEncoderConfig, ImageEncoderPretrainer
from .initial import InitialConfig, InitialOccupancyNet
from .keypoint_refiner import KeypointRefiner, KeypointRefinerConfig
from .two_hand_refiner import TwoHandRefiner, TwoHandRefinerConfig

BACKBONES = ("fast", "paper")


def _upgrade_initial_config(raw: dict) -> dict:
    # checkpoints from before `vit_input` existed patchified the RGB image; those from before
    # `feature_norm` handed HALO the raw image feature
    return {"vit_input": "image", "feature_norm": "none", **raw}


@dataclass(frozen=True)
class ModelKind:
    name: str  # the kind's one name: CLI --model, file "kind", registry key
    title: str  # how prose names it
    config_class: type
    model_class: type
    shipped: str  # default shipped checkpoint stem (SHIPPED / f"{shipped}_fast.pt")
    legacy_names: tuple[str, ...] = ()  # "kind" strings of older checkpoint files
    upgrade_config: Callable[[dict], dict] = lambda raw: raw

    def config(self, backbone: str = "fast", **options):
        """The config from its named constructor (`.fast()` / `.paper()`) with options."""
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
        return getattr(self.config_class, backbone)(**options)

    def build(self, config=None) -> nn.Module:
        return self.model_class(self.config() if config is None else config)


MODEL_KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("halo", "HALO (I without the image)", HaloConfig, HaloModel, "halo"),
    ModelKind("i", "initial occupancy I", InitialConfig, InitialOccupancyNet, "i_attention",
              legacy_names=("initial",), upgrade_config=_upgrade_initial_config),
    ModelKind("k", "keypoint refinement K", KeypointRefinerConfig, KeypointRefiner, "k",
              legacy_names=("keypoints",)),
    ModelKind("estimator", "keypoint estimator", EstimatorConfig, KeypointEstimator, "estimator"),
    ModelKind("r", "two-hand refinement R", TwoHandRefinerConfig, TwoHandRefiner, "r",
              legacy_names=("two_hand_refiner",)),
    ModelKind("encoder", "image encoder pretraining (ImgEnc + dense heads)", ImageEncoderConfig,
              ImageEncoderPretrainer, "image_encoder"),
)}


# every shipped (and table) variant: stem -> (kind, config options); its file is SHIPPED / "<stem>_fast.pt"
VARIANTS: dict[str, tuple[str, dict]] = {
    "halo": ("halo", {}),
    "i_attention": ("i", {"image_cond": "attention"}),
    "i_pixel_aligned": ("i", {"image_cond": "pixel_aligned"}),
    "i_none": ("i", {"image_cond": "none"}),
    "k": ("k", {}),
    "estimator": ("estimator", {}),
    "r": ("r", {}),
    "r_no_init_occ_cond": ("r", {"init_occ_cond": False}),
    "r_no_feature_cloud": ("r", {"feature_cloud": False}),
    "r_no_context_latent": ("r", {"context_latent": False}),
    "r_256": ("r", {"n_points": 256}),
    "r_1024": ("r", {"n_points": 1024}),
    "image_encoder": ("encoder", {}),
}


def model_kind(name: str) -> ModelKind:
    """The registry entry of a kind name (or of an older file's kind string)."""
    if name in MODEL_KINDS:
        return MODEL_KINDS[name]
    for kind in MODEL_KINDS.values():
        if name in kind.legacy_names:
            return kind
    raise ValueError(f"unknown model kind {name!r}; choose one of {list(MODEL_KINDS)}")


def kind_of(model: nn.Module) -> ModelKind:
    """The registry entry of a model instance (by its class)."""
    for kind in MODEL_KINDS.values():
        if type(model) is kind.model_class:
            return kind
    raise ValueError(f"{type(model).__name__} is not a registered model kind ({list(MODEL_KINDS)})")


def build_model(name: str, backbone: str = "fast", **options) -> nn.Module:
    """A freshly initialised model of a kind: `build_model("r", n_points=256, feature_cloud=False)`."""
    kind = model_kind(name)
    return kind.build(kind.config(backbone, **options))


def shipped_path(name: str) -> Path:
    """The shipped fast-profile checkpoint of a kind ("i") or of a stem ("i_pixel_aligned", "r_256")."""
    stem = model_kind(name).shipped if name in MODEL_KINDS else name
    if stem not in VARIANTS:
        raise ValueError(f"no shipped variant {name!r}; choose a kind {list(MODEL_KINDS)} or a variant {list(VARIANTS)}")
    return SHIPPED / f"{stem}_fast.pt"


def load_model(source: str | Path, kind: str | None = None) -> nn.Module:
    """A model in eval mode from a kit checkpoint: a path, a kind name ("i": its shipped
    checkpoint) or a shipped stem ("i_pixel_aligned"). With `kind`, the file must hold that kind."""
    path = Path(source)
    if isinstance(source, str) and not path.suffix and not path.exists():
        path = shipped_path(source)
    accepted = None if kind is None else (model_kind(kind).name, *model_kind(kind).legacy_names)
    payload = load_checkpoint(path, kind=accepted)
    try:
        entry = model_kind(payload["kind"])
    except ValueError:
        raise CheckpointError(f"checkpoint {path} holds an unknown kind {payload['kind']!r}") from None
    model = entry.build(config_from_dict(entry.config_class, entry.upgrade_config(payload["config"])))
    model.load_state_dict(payload["state_dict"])
    return model.eval()
