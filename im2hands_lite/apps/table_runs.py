"""Tables for any profile: checkpoints that train themselves when missing, and the test split
a profile is evaluated on. Above both evaluation and training, which never import each other."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..data import TwoHandDataset, default_cache_root, generate_split, kit_samples_dir
from ..data.dataset import config_dir
from ..evaluation.tables import CheckpointSource
from ..training.runs import RunSpec, run_training
from ..training.settings import get_profile

NO_EFFECT_SETTINGS = ("checkpoint_every", "num_workers")  # change how a run is made, not its weights


@dataclass
class TrainingCheckpointSource(CheckpointSource):
    """A `CheckpointSource` that trains a missing variant into `<runs>/<profile>/<stem>/`
    (resumably, with the one trainer) when `train_missing`, and refuses a found run trained with
    other settings than the profile's with `overrides` (it is never trained over)."""

    train_missing: bool = False
    progress: bool = True
    threads: int = 0
    data_dir: str = ""  # train on this generated data folder instead of the profile's cache

    def __post_init__(self):
        super().__post_init__()
        get_profile(self.profile)

    def missing(self, stem: str, final: Path) -> Path:
        if not self.train_missing:
            return super().missing(stem, final)
        fields = {}
        if stem.startswith("r"):
            fields["initial_checkpoint"] = str(self.path("i_attention"))
        run_training(RunSpec.from_variant(stem, profile=self.profile, out=str(final.parent), resume=True,
                                          overrides=self.overrides, progress=self.progress, threads=self.threads,
                                          data_dir=self.data_dir, **fields))
        return final

    def available(self, stem: str) -> bool:
        return self.train_missing or super().available(stem)

    def expected_settings(self, stem: str) -> dict:
        settings = RunSpec.from_variant(stem, profile=self.profile, overrides=self.overrides).settings()
        recorded = json.loads(json.dumps(dataclasses.asdict(settings)))  # as the checkpoint stores them
        return {k: v for k, v in recorded.items() if k not in NO_EFFECT_SETTINGS}


def profile_test_dir(profile: str, root: str | Path | None = None, samples: int = 0) -> Path:
    """The test split a profile's models are evaluated on: the committed kit samples for "fast"
    (the same generator settings) when they hold `samples`, else the profile's test split
    (at least `samples` of it) generated into the cache; the generator is deterministic by
    seed, so the committed samples are the first of the generated ones (the same seeds; equal up
    to float rounding, 1e-8 m in the keypoints)."""
    spec = get_profile(profile)
    config = spec.generator_config()
    kit = kit_samples_dir()
    if kit.name == config.key() and samples <= len(TwoHandDataset(kit, "test")):
        return kit
    root = Path(root) if root is not None else default_cache_root()
    generate_split(root, "test", max(spec.test_samples, samples), config)
    return config_dir(root, config)
