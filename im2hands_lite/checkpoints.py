"""Checkpoints: atomic writes, `torch.load(weights_only=True)`-compatible, clear errors."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch

from .atomic import atomic_write

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = REPO_ROOT / "data_samples" / "checkpoints"  # small fast-profile weights


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated or of the wrong kind."""


def save_checkpoint(path: str | Path, model: torch.nn.Module, kind: str, config, **extra) -> str:
    """Write {kind, config, state_dict, extra} atomically; returns the file's sha256."""
    path = Path(path)
    payload = {"kind": kind, "config": dataclasses.asdict(config),
               "state_dict": model.state_dict(), "extra": json.loads(json.dumps(extra))}
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict:
    """Read a checkpoint written by save_checkpoint (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a kit checkpoint: {err}") from err
    if not isinstance(payload, dict) or not {"kind", "config", "state_dict"} <= set(payload):
        raise CheckpointError(f"checkpoint {path} lacks kind/config/state_dict")
    if kind is not None and payload["kind"] != kind:
        raise CheckpointError(f"checkpoint {path} holds a {payload['kind']!r} model, expected {kind!r}")
    return payload


def load_halo(path: str | Path):
    """A HaloModel (eval mode) from a checkpoint."""
    from .models.halo import HaloConfig, HaloModel

    payload = load_checkpoint(path, kind="halo")
    model = HaloModel(HaloConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def config_from_dict(cls, raw: dict):
    """Rebuild a (nested) config dataclass from its `dataclasses.asdict` form. Fields missing
    from `raw` take their defaults; unknown fields raise CheckpointError."""
    import typing

    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise CheckpointError(f"checkpoint config has fields {sorted(unknown)} that {cls.__name__} lacks")
    values = {}
    for name, value in raw.items():
        kind = hints.get(name)
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = config_from_dict(kind, value)
        elif isinstance(value, list):  # JSON-like round trip of tuples
            value = tuple(value)
        values[name] = value
    return cls(**values)


def load_refiner(path: str | Path):
    """K (KeypointRefiner, eval mode) from a checkpoint."""
    from .models.keypoints import KeypointRefiner, KeypointRefinerConfig

    payload = load_checkpoint(path, kind="keypoints")
    model = KeypointRefiner(config_from_dict(KeypointRefinerConfig, payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def load_estimator(path: str | Path):
    """The image -> keypoint estimator (eval mode) from a checkpoint."""
    from .models.estimator import EstimatorConfig, KeypointEstimator

    payload = load_checkpoint(path, kind="estimator")
    model = KeypointEstimator(config_from_dict(EstimatorConfig, payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def load_two_hand_refiner(path: str | Path):
    """R (TwoHandRefiner, eval mode) from a checkpoint."""
    from .models.refine import RefineConfig, TwoHandRefiner

    payload = load_checkpoint(path, kind="two_hand_refiner")
    model = TwoHandRefiner(config_from_dict(RefineConfig, payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def initial_config_from_dict(raw: dict):
    """Rebuild a nested InitialConfig from its `dataclasses.asdict` form."""
    from .models.attention import QueryAttentionConfig
    from .models.halo import HaloConfig
    from .models.image import DeconvDecoderConfig, ResNetConfig, ViTConfig
    from .models.initial import InitialConfig

    parts = {"halo": HaloConfig, "resnet": ResNetConfig, "decoder": DeconvDecoderConfig,
             "vit": ViTConfig, "attention": QueryAttentionConfig}
    # checkpoints from before `vit_input` existed patchified the RGB image
    return InitialConfig(image_cond=raw["image_cond"], vit_input=raw.get("vit_input", "image"),
                         **{name: cls(**raw[name]) for name, cls in parts.items()})


def load_initial(path: str | Path):
    """An InitialOccupancyNet (I, any image-conditioning variant; eval mode) from a checkpoint."""
    from .models.initial import InitialOccupancyNet

    payload = load_checkpoint(path, kind="initial")
    model = InitialOccupancyNet(initial_config_from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()
