"""Training profiles: fast (CPU, minutes), colab (one GPU, about an hour), paper (the paper's
hyperparameters). A profile is data: per-model `TrainSettings` plus the data it trains on.

Paper (supplementary S.3.2 / DESIGN.md): I and R: Adam lr 1e-4, betas (0.9, 0.999), eps 1e-8,
weight decay 1e-5, lr x0.2 every 5,000 steps, batch 8, 10 epochs; K: Adam lr 1e-4, x0.3 every
5,000 steps, batch 32, 30 epochs. The fast profile raises the learning rate to 1e-3 and trains
for minutes (docs/DECISIONS.md); colab sits between them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .train import OptimizerSettings

MODELS = ("halo", "i", "k", "estimator", "r")


@dataclass(frozen=True)
class TrainSettings(OptimizerSettings):
    """How one model trains (any field can be overridden: `im2hands train --set lr=3e-4`)."""

    steps: int = 1500
    n_queries: int = 1024  # occupancy models: query points per hand per step
    train_samples: int = 512  # the first N samples of the training split
    checkpoint_every: int = 100  # steps between resumable checkpoints
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)

    def __post_init__(self):
        super().__post_init__()
        if self.checkpoint_every < 1 or self.train_samples < 1:
            raise ValueError("checkpoint_every and train_samples must be >= 1")


@dataclass(frozen=True)
class Profile:
    name: str
    image_size: int
    data_queries: int  # labelled queries per hand generated per sample
    test_samples: int
    models: dict[str, TrainSettings] = field(default_factory=dict)
    backbone: str = "fast"  # image networks: "fast" (ResNet-10, 128^2) or "paper" (ResNet-50, 256^2)

    def generator_config(self):
        """The data generator settings this profile trains and tests on."""
        from .data.scene import GeneratorConfig

        return GeneratorConfig(image_size=self.image_size, n_queries=self.data_queries)

    def settings(self, model: str) -> TrainSettings:
        if model not in self.models:
            raise ValueError(f"unknown model {model!r}; choose one of {sorted(self.models)}")
        return self.models[model]


def _epochs(epochs: int, samples: int, batch: int) -> int:
    return max(1, epochs * samples // batch)


PROFILES: dict[str, Profile] = {
    "fast": Profile("fast", image_size=128, data_queries=4096, test_samples=32, models={
        "halo": TrainSettings(steps=2000),
        "i": TrainSettings(steps=1500),
        "estimator": TrainSettings(steps=4000, batch_size=8, decay_factor=0.3, train_samples=2048),
        "k": TrainSettings(steps=3000, batch_size=8, decay_factor=0.3, train_samples=2048),
        "r": TrainSettings(steps=600, train_samples=256),
    }),
    "colab": Profile("colab", image_size=128, data_queries=4096, test_samples=64, models={
        "halo": TrainSettings(steps=6000, batch_size=8, lr=3e-4, n_queries=2048, train_samples=4096),
        "i": TrainSettings(steps=6000, batch_size=8, lr=3e-4, n_queries=2048, train_samples=4096),
        "estimator": TrainSettings(steps=8000, batch_size=32, lr=3e-4, decay_factor=0.3, train_samples=4096),
        "k": TrainSettings(steps=6000, batch_size=32, lr=3e-4, decay_factor=0.3, train_samples=4096),
        "r": TrainSettings(steps=3000, batch_size=8, lr=3e-4, n_queries=2048, train_samples=2048),
    }),
    "paper": Profile("paper", image_size=256, data_queries=20_000, test_samples=256, backbone="paper", models={
        "halo": TrainSettings(steps=_epochs(10, 20_000, 8), batch_size=8, lr=1e-4, n_queries=4096,
                              train_samples=20_000, checkpoint_every=1000),
        "i": TrainSettings(steps=_epochs(10, 20_000, 8), batch_size=8, lr=1e-4, n_queries=4096,
                           train_samples=20_000, checkpoint_every=1000),
        "estimator": TrainSettings(steps=_epochs(30, 20_000, 32), batch_size=32, lr=1e-4, decay_factor=0.3,
                                   train_samples=20_000, checkpoint_every=1000),
        "k": TrainSettings(steps=_epochs(30, 20_000, 32), batch_size=32, lr=1e-4, decay_factor=0.3,
                           train_samples=20_000, checkpoint_every=1000),
        "r": TrainSettings(steps=_epochs(10, 20_000, 8), batch_size=8, lr=1e-4, n_queries=4096,
                           train_samples=20_000, checkpoint_every=1000),
    }),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def parse_override(text: str) -> tuple[str, object]:
    """'lr=3e-4' -> ('lr', 3e-4), typed by the TrainSettings field; a clear error otherwise."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like field=value")
    name, raw = text.split("=", 1)
    fields = {f.name: f for f in dataclasses.fields(TrainSettings)}
    if name not in fields:
        raise ValueError(f"unknown training setting {name!r}; choose one of {sorted(fields)}")
    default = getattr(TrainSettings(), name)
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


def with_overrides(settings: TrainSettings, overrides: list[str] | dict | None) -> TrainSettings:
    if not overrides:
        return settings
    pairs = dict(parse_override(o) for o in overrides) if isinstance(overrides, list) else dict(overrides)
    unknown = sorted(set(pairs) - {f.name for f in dataclasses.fields(TrainSettings)})
    if unknown:
        raise ValueError(f"unknown training setting(s) {unknown}; choose from "
                         f"{sorted(f.name for f in dataclasses.fields(TrainSettings))}")
    return dataclasses.replace(settings, **pairs)
