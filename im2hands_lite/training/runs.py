"""A training run as data (`RunSpec`): which model, which profile, which data; `run_training`
builds the model from the registry and its data set, then calls the one trainer.

    im2hands train --profile fast --model i --variant attention --out runs/i
    im2hands train ... --resume          # continue from the newest good checkpoint
    torchrun --nproc_per_node=N -m im2hands_lite train ...   # N processes (DDP), same semantics
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import TwoHandDataset, default_cache_root, generate_split
from ..data.dataset import config_dir
from ..data.noise import KeypointNoiseConfig
from ..models.initial import IMAGE_CONDITIONS
from ..models.registry import VARIANTS, build_model, load_model, shipped_path
from ..models.two_hand_refiner import ABLATIONS
from ..models.two_stage import IsoSurfaceConfig
from .distributed import init_distributed, pick_device
from .r_inputs import (
    RInputsDataset,
    prepare_r_inputs,
    r_inputs_dir,
    refined_keypoints_key,
    refined_noisy_keypoints,
)
from .settings import MODELS, Profile, TrainSettings, get_profile, with_overrides
from .trainer import TrainResult, refuse_another_run, train

# R's "refined" training inputs: K refines the noise model K trains on, one draw per sample
# (seed 1; the tables' test draws use seed 0)
R_TRAINING_NOISE, R_TRAINING_NOISE_SEED = KeypointNoiseConfig(), 1
# what only models with an image use (not HALO, not I "none")
IMAGE_PATH_SETTINGS = ("image_lr_scale", "encoder_lr_scale", "encoder_init", "encoder_checkpoint")


@dataclass
class RunSpec:
    """Everything that defines a training run (the CLI, `im2hands ship` and notebook 06 build one)."""

    model: str  # one of MODELS
    profile: str = "fast"
    out: str = "runs/run"
    variant: str = ""  # I: image conditioning ("" = attention)
    ablate: tuple[str, ...] = ()  # R: switches turned off
    n_points: int = 0  # R: iso-surface points per hand (0 = 512)
    initial_checkpoint: str = ""  # R: the frozen I (default: the shipped attention checkpoint)
    overrides: tuple[str, ...] = ()  # "field=value" settings overrides
    device: str = "auto"
    resume: bool = False
    keep_last: int = 2
    cache_root: str = ""  # where generated data is cached; default: $IM2HANDS_CACHE or ~/.cache/im2hands-lite
    data_dir: str = ""  # an existing generated data folder to train on instead (e.g. a prepared InterHand)
    val_data_dir: str = ""  # with data_dir: the folder whose val/ split the validation loss reads (default data_dir)
    progress: bool = True
    threads: int = 0  # torch CPU threads (0: leave torch's default)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {list(MODELS)}")
        get_profile(self.profile)
        if self.keep_last < 1:
            raise ValueError("keep_last must be >= 1")
        if self.variant and self.model != "i":
            raise ValueError(f"--variant (image conditioning) is I's option; model {self.model!r} has none")
        if self.variant and self.variant not in IMAGE_CONDITIONS:
            raise ValueError(f"unknown variant {self.variant!r}; choose one of {list(IMAGE_CONDITIONS)}")
        if (self.ablate or self.n_points or self.initial_checkpoint) and self.model != "r":
            raise ValueError(f"--ablate, --points and --initial are R's options; model {self.model!r} has none")
        unknown = [name for name in self.ablate if name not in ABLATIONS]
        if unknown:
            raise ValueError(f"unknown ablation(s) {unknown}; choose from {list(ABLATIONS)}")
        self.ablate = tuple(self.ablate)
        if self.val_data_dir and not self.data_dir:
            raise ValueError("--val-data-dir goes with --data-dir (the kit's own data has its validation split)")
        self.settings()  # unknown or invalid overrides fail here, before any folder is made

    @classmethod
    def from_variant(cls, stem: str, **fields) -> "RunSpec":
        """The run that produces a shipped variant ("i_pixel_aligned", "r_256", ...)."""
        if stem not in VARIANTS:
            raise ValueError(f"unknown variant {stem!r}; choose one of {list(VARIANTS)}")
        kind, options = VARIANTS[stem]
        spec = {"model": kind}
        if "image_cond" in options:
            spec["variant"] = options["image_cond"]
        if "n_points" in options:
            spec["n_points"] = options["n_points"]
        ablate = tuple(name for name in ABLATIONS if options.get(name) is False)
        if ablate:
            spec["ablate"] = ablate
        return cls(**spec, **fields)

    @property
    def has_image_path(self) -> bool:
        """Whether the model reads the image (and so uses IMAGE_PATH_SETTINGS): not HALO, not I "none"."""
        return self.model in ("i", "k", "r", "estimator") and self.variant != "none"

    def settings(self) -> TrainSettings:
        if self.model != "encoder" and not self.has_image_path:  # its image settings would do nothing
            named = sorted({o.split("=", 1)[0] for o in self.overrides} & set(IMAGE_PATH_SETTINGS))
            if named:
                raise ValueError(f"{named} set the image path's start or learning rate; {self.model} "
                                 f"{self.variant or ''} has no image path".replace("  ", " "))
        return with_overrides(get_profile(self.profile).settings(self.model), list(self.overrides))

    def model_options(self) -> dict:
        options: dict = {}
        if self.variant:
            options["image_cond"] = self.variant
        if self.n_points:
            options["n_points"] = self.n_points
        options |= {name: False for name in self.ablate}
        return options

    def run_info(self) -> dict:
        """What the checkpoints record of the run."""
        keep = ("profile", "variant", "ablate", "n_points", "initial_checkpoint", "data_dir", "val_data_dir")  # the kind is the file's own
        return {k: v for k, v in dataclasses.asdict(self).items() if k in keep}


SPLIT_WORDS = {"train": "training", "val": "validation"}


def check_data_dir(directory: Path, split: str, needed: int, setting: str) -> None:
    """A given data folder must hold the split and as many samples as the run reads from it."""
    if not (directory / split).is_dir():
        raise FileNotFoundError(f"--data-dir {directory} has no {split}/ split (generate it with im2hands generate-data)")
    available = len(TwoHandDataset(directory, split))
    if available < needed:
        raise ValueError(f"--data-dir {directory} holds {available} {SPLIT_WORDS[split]} samples, the run asks for "
                         f"{needed} (lower it with --set {setting}={available})")


def r_data(spec: RunSpec, settings: TrainSettings, folders: dict[str, Path], root: Path, splits: dict[str, range],
           device: torch.device, progress: bool) -> dict:
    """R's data per split: the frozen I's surface points and occupancy (cached) for each of the
    settings' keypoint sources, one item per sample and source."""
    initial_path = Path(spec.initial_checkpoint) if spec.initial_checkpoint else shipped_path("i")
    initial = load_model(initial_path, "i").to(device)
    iso_surface = IsoSurfaceConfig()
    sources = {}
    for source in settings.keypoint_sources():
        keypoints_key, input_keypoints = "", None
        if source == "refined":
            k_path = Path(settings.keypoint_refiner_checkpoint or shipped_path("k"))
            keypoints_key = refined_keypoints_key(k_path, R_TRAINING_NOISE, R_TRAINING_NOISE_SEED)
            input_keypoints = refined_noisy_keypoints(load_model(k_path, "k").to(device), R_TRAINING_NOISE,
                                                      R_TRAINING_NOISE_SEED)
        sources[source] = keypoints_key, input_keypoints
    data = {}
    for split, indices in splits.items():
        base = TwoHandDataset(folders[split], split)
        parts = []
        for keypoints_key, input_keypoints in sources.values():
            inputs = r_inputs_dir(root / "refine_inputs", initial_path, iso_surface, base, keypoints_key)
            prepare_r_inputs(initial, base, inputs, split, indices, iso_surface, progress=progress,
                             input_keypoints=input_keypoints)
            # every query of each item: the step loss draws settings.n_queries of them afresh each step
            parts.append(RInputsDataset(base, inputs, split, n_queries=None, indices=indices))
        data[split] = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    return data


def build_data(spec: RunSpec, profile: Profile, settings: TrainSettings, device: torch.device, progress: bool):
    """The run's training set and validation set (None without validation); generates the kit
    data into the cache if missing. R's sets hold a frozen I's cached surface points and occupancy."""
    root = Path(spec.cache_root) if spec.cache_root else default_cache_root()
    validate = settings.val_every > 0
    if spec.data_dir:
        check_data_dir(Path(spec.data_dir), "train", settings.train_samples, "train_samples")
        folders = {"train": Path(spec.data_dir), "val": Path(spec.val_data_dir or spec.data_dir)}
        if validate and not (folders["val"] / "val").is_dir():
            print(f"im2hands: {folders['val']} has no val/ split: training without a validation loss (prepare one, "
                  f"e.g. `im2hands prepare-interhand --split val`, and pass --val-data-dir; --set val_every=0 "
                  f"says so)", file=sys.stderr)
            validate = False
        elif validate:  # a given folder's validation split may be smaller: all of it is used then
            check_data_dir(folders["val"], "val", 1, "val_samples")
            settings = dataclasses.replace(
                settings, val_samples=min(settings.val_samples, len(TwoHandDataset(folders["val"], "val"))))
    else:
        data_config = profile.generator_config()
        generate_split(root, "train", settings.train_samples, data_config, progress=progress)
        if validate:
            generate_split(root, "val", settings.val_samples, data_config, progress=progress)
        generate_split(root, "test", profile.test_samples, data_config, progress=progress)
        folders = dict.fromkeys(("train", "val"), config_dir(root, data_config))
    splits = {"train": range(settings.train_samples)} | ({"val": range(settings.val_samples)} if validate else {})
    if spec.model in ("halo", "i"):
        data = {split: torch.utils.data.Subset(TwoHandDataset(folders[split], split), indices)
                for split, indices in splits.items()}
    elif spec.model in ("k", "estimator", "encoder"):  # no queries needed
        data = {split: torch.utils.data.Subset(TwoHandDataset(folders[split], split, n_queries=2), indices)
                for split, indices in splits.items()}
    else:
        data = r_data(spec, settings, folders, root, splits, device, progress)
    return data["train"], data.get("val")


def run_training(spec: RunSpec) -> TrainResult:
    """Train (or resume) one model as the spec says; returns the trainer's result."""
    if spec.threads:
        torch.set_num_threads(spec.threads)
    profile, settings = get_profile(spec.profile), spec.settings()
    out = Path(spec.out)
    refuse_another_run(out, spec.resume)  # before the data is generated, not only when training starts
    dist = init_distributed(spec.device)
    torch.manual_seed(settings.seed)  # the same initial weights in every process
    model = build_model(spec.model, profile.backbone, **spec.model_options())
    if not dist.is_main:
        dist.barrier()  # the main process generates / caches the data first ...
    data, val_data = build_data(spec, profile, settings, pick_device(spec.device), spec.progress and dist.is_main)
    if dist.is_main:
        dist.barrier()  # ... then the others find it in the cache
    try:
        return train(model, data, settings, out=out, resume=spec.resume, device=spec.device,
                     progress=spec.progress, keep_last=spec.keep_last, desc=f"train {spec.model} ({spec.profile})",
                     run_info=spec.run_info(), dist=dist, val_dataset=val_data)
    finally:
        dist.close()
