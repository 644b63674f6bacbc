"""How every model kind trains: per-kind settings, and the profiles that hold them.

Profiles: fast (CPU, minutes), colab (one GPU, about an hour), paper (the paper's
hyperparameters). A profile is data: per-kind settings plus the data it trains on.

Paper (supplementary S.3.2): I and R: Adam lr 1e-4, betas (0.9, 0.999), eps 1e-8, weight decay
1e-5, lr x0.2 every 5,000 steps, batch 8, 10 epochs; K: Adam lr 1e-4, x0.3 every 5,000 steps,
batch 32, 30 epochs. The fast profile raises the learning rate to 1e-3 and trains for minutes
(docs/DECISIONS.md); colab sits between them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..data.noise import KeypointNoiseConfig
from ..data.scene import GeneratorConfig


@dataclass(frozen=True)
class TrainSettings:
    """What every run shares: its length, batch and data, and the paper's optimiser (Adam,
    betas, eps, weight decay, lr x decay_factor every decay_every steps). Any field can be
    overridden: `im2hands train --set lr=3e-4`."""

    steps: int = 1500
    batch_size: int = 4  # samples per step (both hands of each); the global batch under torchrun
    lr: float = 1e-3  # paper: 1e-4 (see docs/DECISIONS.md)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-5
    decay_every: int = 5000
    decay_factor: float = 0.2
    seed: int = 0
    num_workers: int = 0
    train_samples: int = 512  # the first N samples of the training split
    checkpoint_every: int = 100  # steps between resumable checkpoints
    amp: bool = True  # bfloat16 autocast on CUDA (ignored elsewhere)
    # the validation loss: the step loss on the first val_samples of the validation split (all of
    # it if a given data folder holds fewer; the same queries and noise each time), every
    # val_every steps and at the last (0: none)
    val_every: int = 100
    val_samples: int = 32

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.checkpoint_every < 1 or self.train_samples < 1:
            raise ValueError("checkpoint_every and train_samples must be >= 1")
        if self.val_every < 0 or self.val_samples < 1:
            raise ValueError(f"val_every must be >= 0 (0: no validation) and val_samples >= 1, "
                             f"got {self.val_every} and {self.val_samples}")


ENCODER_INITS = ("pretrained", "scratch")


@dataclass(frozen=True)
class ImageModelSettings(TrainSettings):
    """What the models with an image share (I, K, R, the estimator): where ImgEnc starts, and the
    learning rates of the image path. The image path besides ImgEnc (I: ViT, attention, the layer
    that reads the feature) trains at lr x image_lr_scale, ImgEnc at lr x image_lr_scale x
    encoder_lr_scale. Models without an image (HALO, I "none", K without image_cond) ignore them."""

    # "pretrained": ImgEnc starts from `encoder_checkpoint` (the official code never trains it
    # from scratch: IntagHand's pretrained encoder); "scratch": random weights (the ablation)
    encoder_init: str = "pretrained"
    encoder_checkpoint: str = ""  # "" = the shipped image_encoder_fast.pt (fast backbone)
    image_lr_scale: float = 1.0
    encoder_lr_scale: float = 0.1  # the official code fine-tunes its pretrained encoder at a tenth

    def __post_init__(self):
        super().__post_init__()
        if self.encoder_init not in ENCODER_INITS:
            raise ValueError(f"encoder_init must be one of {ENCODER_INITS}, got {self.encoder_init!r}")
        if not (self.image_lr_scale > 0 and self.encoder_lr_scale > 0):
            raise ValueError(f"image_lr_scale and encoder_lr_scale must be positive, got "
                             f"{self.image_lr_scale} and {self.encoder_lr_scale}")


@dataclass(frozen=True)
class OccupancyTrainSettings(ImageModelSettings):
    """HALO and I: occupancy loss at random queries."""

    n_queries: int = 1024  # per hand per step, drawn from the item's labelled queries
    loss: str = "mse"  # or "bce"
    # I's image path at x 0.03 (without it the image channels shake HALO's part MLPs, issue 19);
    # its ImgEnc at no further reduction: lr 3e-5 at the fast lr, near the official 1e-5
    image_lr_scale: float = 0.03
    encoder_lr_scale: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        if self.n_queries < 2:
            raise ValueError(f"n_queries must be >= 2, got {self.n_queries}")


@dataclass(frozen=True)
class KeypointRefinerTrainSettings(ImageModelSettings):
    """K: fresh noise-model inputs every step, loss against the true keypoints."""

    batch_size: int = 8
    decay_factor: float = 0.3
    root_weight: float = 1.0  # K's loss: + root_weight x wrist MSE (0 = the paper's loss)
    noise: KeypointNoiseConfig = KeypointNoiseConfig()

    def __post_init__(self):
        super().__post_init__()
        if self.root_weight < 0:
            raise ValueError(f"root_weight must be >= 0, got {self.root_weight}")


@dataclass(frozen=True)
class EstimatorTrainSettings(ImageModelSettings):
    """The image -> keypoint estimator (its loss weights live in its model config)."""

    batch_size: int = 8
    decay_factor: float = 0.3


R_KEYPOINT_INPUTS = ("truth", "refined")


@dataclass(frozen=True)
class TwoHandRefinerTrainSettings(ImageModelSettings):
    """R: occupancy MSE of both hands + the model's penetration term, on a frozen I's outputs.

    `keypoint_inputs`: the keypoints I reads for R's inputs, comma-separated: "truth" (the
    sample's) and "refined" (K's refinement of a fixed noise-model draw): with both, every
    training sample appears once with each. The official code trains R on whatever keypoints
    it is given, predicted ones included, and R gains most with predicted keypoints (S2)."""

    n_queries: int = 1024  # per hand per step
    keypoint_inputs: str = "truth,refined"
    keypoint_refiner_checkpoint: str = ""  # "" = the shipped k_fast.pt (for "refined")

    def __post_init__(self):
        super().__post_init__()
        if self.n_queries < 2:
            raise ValueError(f"n_queries must be >= 2, got {self.n_queries}")
        sources = self.keypoint_sources()
        if not sources or len(set(sources)) != len(sources) or set(sources) - set(R_KEYPOINT_INPUTS):
            raise ValueError(f"keypoint_inputs must name distinct ones of {R_KEYPOINT_INPUTS} separated by commas, "
                             f"got {self.keypoint_inputs!r}")

    def keypoint_sources(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.keypoint_inputs.split(",") if name.strip())


@dataclass(frozen=True)
class ImageEncoderTrainSettings(TrainSettings):
    """ImgEnc pretraining on dense targets (side, part, heatmaps, betas; weights in its config)."""

    batch_size: int = 8
    train_samples: int = 2048


SETTINGS_CLASSES: dict[str, type[TrainSettings]] = {
    "halo": OccupancyTrainSettings, "i": OccupancyTrainSettings, "k": KeypointRefinerTrainSettings,
    "estimator": EstimatorTrainSettings, "r": TwoHandRefinerTrainSettings, "encoder": ImageEncoderTrainSettings,
}
MODELS = tuple(SETTINGS_CLASSES)


@dataclass(frozen=True)
class Profile:
    name: str
    image_size: int
    data_queries: int  # labelled queries per hand generated per sample
    test_samples: int
    models: dict[str, TrainSettings] = field(default_factory=dict)
    backbone: str = "fast"  # model configs: "fast" (`.fast()`, 128^2) or "paper" (`.paper()`, 256^2)

    def generator_config(self) -> GeneratorConfig:
        """The data generator settings this profile trains and tests on."""
        return GeneratorConfig(image_size=self.image_size, n_queries=self.data_queries)

    def settings(self, model: str) -> TrainSettings:
        if model not in self.models:
            raise ValueError(f"unknown model {model!r}; choose one of {sorted(self.models)}")
        return self.models[model]


def _epochs(epochs: int, samples: int, batch: int) -> int:
    return max(1, epochs * samples // batch)


def _paper_occupancy(**extra) -> dict:
    return dict(steps=_epochs(10, 20_000, 8), batch_size=8, lr=1e-4, n_queries=4096, train_samples=20_000,
                checkpoint_every=1000, val_every=1000, val_samples=128, **extra)


def _paper_keypoints() -> dict:
    return dict(steps=_epochs(30, 20_000, 32), batch_size=32, lr=1e-4, decay_factor=0.3, train_samples=20_000,
                checkpoint_every=1000, val_every=1000, val_samples=128)


PROFILES: dict[str, Profile] = {
    "fast": Profile("fast", image_size=128, data_queries=4096, test_samples=32, models={
        "halo": OccupancyTrainSettings(steps=2000),
        "i": OccupancyTrainSettings(steps=1500),
        "estimator": EstimatorTrainSettings(steps=4000, train_samples=16_384),  # 2,048: -5.2 mm worse
        "k": KeypointRefinerTrainSettings(steps=3000, train_samples=2048),
        "r": TwoHandRefinerTrainSettings(steps=600, train_samples=256),
        # 16,384 renders: on 2,048 it memorised them (docs/RESULTS.md, "A pretrained ImgEnc")
        "encoder": ImageEncoderTrainSettings(steps=8000, train_samples=16_384),
    }),
    "colab": Profile("colab", image_size=256, data_queries=4096, test_samples=64, models={
        "halo": OccupancyTrainSettings(steps=6000, batch_size=8, lr=3e-4, n_queries=2048, train_samples=4096),
        "i": OccupancyTrainSettings(steps=6000, batch_size=8, lr=3e-4, n_queries=2048, train_samples=4096),
        "estimator": EstimatorTrainSettings(steps=8000, batch_size=32, lr=3e-4, train_samples=4096),
        "k": KeypointRefinerTrainSettings(steps=6000, batch_size=32, lr=3e-4, train_samples=4096),
        "r": TwoHandRefinerTrainSettings(steps=3000, batch_size=8, lr=3e-4, n_queries=2048, train_samples=2048),
        "encoder": ImageEncoderTrainSettings(steps=20_000, batch_size=32, lr=3e-4, train_samples=16_384),
    }),
    "paper": Profile("paper", image_size=256, data_queries=20_000, test_samples=256, backbone="paper", models={
        "halo": OccupancyTrainSettings(**_paper_occupancy()),
        "i": OccupancyTrainSettings(**_paper_occupancy()),
        "estimator": EstimatorTrainSettings(**_paper_keypoints()),
        "k": KeypointRefinerTrainSettings(**_paper_keypoints()),
        "r": TwoHandRefinerTrainSettings(**_paper_occupancy()),
        "encoder": ImageEncoderTrainSettings(**_paper_keypoints()),
    }),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def settings_fields(settings_class: type[TrainSettings]) -> list[str]:
    """The fields `--set` can change for a settings class (nested configs are not among them)."""
    return sorted(f.name for f in dataclasses.fields(settings_class)
                  if not dataclasses.is_dataclass(getattr(settings_class(), f.name)))


def parse_override(text: str, settings_class: type[TrainSettings] = TrainSettings) -> tuple[str, object]:
    """'lr=3e-4' -> ('lr', 3e-4), typed by the settings class's field; a clear error otherwise,
    also for a field that this kind of model does not use."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like field=value")
    name, raw = text.split("=", 1)
    fields = settings_fields(settings_class)
    if name not in fields:
        raise ValueError(f"unknown training setting {name!r} for {settings_class.__name__}; choose one of {fields}")
    default = getattr(settings_class(), name)
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            value: object = raw.lower() in ("true", "1")
        elif isinstance(default, tuple):
            value = tuple(float(x) for x in raw.split(","))
        else:
            value = type(default)(float(raw)) if isinstance(default, int) else type(default)(raw)
    except ValueError:
        raise ValueError(f"cannot read {raw!r} as the {type(default).__name__} setting {name!r}") from None
    return name, value


def with_overrides(settings: TrainSettings, overrides: list[str] | tuple[str, ...] | dict | None) -> TrainSettings:
    """A copy of `settings` with "field=value" strings (or a {field: value} dict) applied."""
    if not overrides:
        return settings
    cls = type(settings)
    if isinstance(overrides, dict):
        pairs = dict(overrides)
        unknown = sorted(set(pairs) - set(settings_fields(cls)))
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown} for {cls.__name__}; "
                             f"choose from {settings_fields(cls)}")
    else:
        pairs = dict(parse_override(o, cls) for o in overrides)
    return dataclasses.replace(settings, **pairs)
