"""Training loops: occupancy networks (HALO and I), keypoint refinement K, the estimator.

One loop (`train_loop`: seeded sampling with replacement, Adam + step decay, tqdm, a log per
step) and one step function per model kind. Occupancy: any model with `predict(batch)`
returning rows 2s (right) / 2s + 1 (left). The shared trainer of the training issue
(profiles, checkpoints, resume) grows from this loop.

The optimiser is the paper's (Adam, betas (0.9, 0.999), eps 1e-8, weight decay 1e-5, learning
rate x0.2 every 5000 steps); the fast profile raises the learning rate to 1e-3 so a few hundred
CPU steps already give recognisable hands (docs/DECISIONS.md).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm

from .data.noise import KeypointNoiseConfig, add_keypoint_noise


@dataclass(frozen=True)
class OptimizerSettings:
    """What every training run shares: its length and batch, and the paper's optimiser (Adam,
    betas (0.9, 0.999), eps 1e-8, weight decay 1e-5, lr x decay_factor every decay_every steps)."""

    steps: int = 500
    batch_size: int = 4  # samples per step (both hands of each)
    lr: float = 1e-3  # paper: 1e-4 (see docs/DECISIONS.md)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-5
    decay_every: int = 5000
    decay_factor: float = 0.2
    seed: int = 0
    num_workers: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class HaloTrainConfig(OptimizerSettings):
    """HALO and I."""

    n_queries: int = 1024  # per hand per step; drawn at random from the item's queries
    loss: str = "mse"  # or "bce"

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        if self.n_queries < 2:
            raise ValueError(f"n_queries must be >= 2, got {self.n_queries}")


def occupancy_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    if kind == "mse":
        return F.mse_loss(pred, target)
    return F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target)


def make_optimizer(model: torch.nn.Module, config):
    """Adam with the config's lr, betas, eps, weight decay; lr x decay_factor every decay_every."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas,
                                 eps=config.eps, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.decay_every, config.decay_factor)
    return optimizer, scheduler


# ----------------------------------------------------------------------------- step losses
# step_loss(model, batch, generator) -> scalar loss of one batch on the model's device; the
# generator is the step's own (queries drawn, noise added), so that a run can resume exactly.

def occupancy_step_loss(n_queries: int, kind: str = "mse"):
    """HALO / I: occupancy MSE (or BCE) at n_queries random queries per hand."""
    def step_loss(model, batch, generator):
        available = batch["queries"].shape[2]
        if available > n_queries:  # the items carry more queries than a step uses
            keep = torch.randperm(available, generator=generator)[:n_queries].to(batch["queries"].device)
            batch["queries"] = batch["queries"][:, :, keep]
            batch["occupancy"] = batch["occupancy"][:, :, keep]
        pred = model.predict(batch).occupancy
        target = batch["occupancy"].flatten(0, 1)  # (S, 2, N) -> rows 2s right, 2s + 1 left
        return occupancy_loss(pred, target, kind)
    return step_loss


def refiner_step_loss(noise: KeypointNoiseConfig = KeypointNoiseConfig(), root_weight: float = 1.0):
    """K: fresh noise-model inputs, loss against the true keypoints."""
    from .models.keypoints import keypoint_loss

    def step_loss(model, batch, generator):
        noisy = add_keypoint_noise(batch["keypoints"], batch["R"], noise, generator)
        refined = model.predict(batch, keypoints=noisy).keypoints
        return keypoint_loss(refined, batch["keypoints"], root_weight)
    return step_loss


def estimator_step_loss(model, batch, generator=None):
    """The keypoint estimator: heatmap / depth / log(z / f) losses."""
    from .models.estimator import estimator_loss, estimator_targets

    out = model(batch["image"], batch["K"])
    targets = estimator_targets(batch["keypoints"], batch["K"], batch["R"], batch["t"])
    return estimator_loss(out, targets, batch["image"].shape[-1], model.config)


def refinement_step_loss_and_terms(model, batch):
    """R: occupancy MSE of both hands + penetration at both hands' queries; (loss, terms)."""
    from .models.refine import refinement_loss

    x = model.prepare(batch)
    out = model(x["points"], x["point_features"], x["global_image"], x["queries"], x["initial_occupancy"])
    x_pen = model.to_network(batch["pen_queries"], batch["R"], batch["t"], x["centre_cam"])
    pen_initial = batch["pen_initial"] if model.config.init_occ_cond else None
    return refinement_loss(model, out, batch["occupancy"], x_pen, pen_initial)


def train_loop(model: torch.nn.Module, dataset, config, step_loss, progress: bool = True,
               desc: str = "train") -> list[dict]:
    """Train `model` for config.steps steps of config.batch_size items drawn with replacement.

    step_loss(model, batch, generator) -> scalar loss of one batch (already on the model's
    device). Each log row: step, loss, lr, seconds (cumulative). Deterministic for a seed.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = RandomSampler(dataset, replacement=True, num_samples=config.steps * config.batch_size,
                            generator=generator)
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler,
                        num_workers=config.num_workers)
    optimizer, scheduler = make_optimizer(model, config)
    model.train()
    log, start = [], time.perf_counter()
    device = next(model.parameters()).device
    bar = tqdm(loader, total=config.steps, desc=desc, disable=not progress)
    for step, batch in enumerate(bar, start=1):
        batch = {key: value.to(device) for key, value in batch.items()}
        loss = step_loss(model, batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        log.append({"step": step, "loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                    "seconds": time.perf_counter() - start})
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    model.eval()
    return log


def train_occupancy(model: torch.nn.Module, dataset, config: HaloTrainConfig = HaloTrainConfig(),
                    progress: bool = True, desc: str = "train") -> list[dict]:
    """Train HALO or I on a TwoHandDataset (its n_queries sets the points per hand); returns the log."""

    return train_loop(model, dataset, config, occupancy_step_loss(config.n_queries, config.loss), progress, desc)


@dataclass(frozen=True)
class KeypointTrainConfig(OptimizerSettings):
    """K (keypoint refinement) and the keypoint estimator. Paper, K: Adam 1e-4, batch 32,
    x0.3 every 5000 steps, 30 epochs; the fast profile raises the learning rate to 1e-3."""

    steps: int = 2000
    batch_size: int = 8
    decay_factor: float = 0.3
    root_weight: float = 1.0  # K's loss: + root_weight x wrist MSE (0 = the paper's loss)
    noise: KeypointNoiseConfig = KeypointNoiseConfig()  # K's inputs: fresh noise every step

    def __post_init__(self):
        super().__post_init__()
        if self.root_weight < 0:
            raise ValueError(f"root_weight must be >= 0, got {self.root_weight}")


def train_refiner(model: torch.nn.Module, dataset, config: KeypointTrainConfig = KeypointTrainConfig(),
                  progress: bool = True, desc: str = "train K") -> list[dict]:
    """Train K on noise-model inputs (a new draw each step) against the true keypoints."""
    return train_loop(model, dataset, config, refiner_step_loss(config.noise, config.root_weight), progress, desc)


def train_estimator(model: torch.nn.Module, dataset, config: KeypointTrainConfig = KeypointTrainConfig(),
                    progress: bool = True, desc: str = "train estimator") -> list[dict]:
    """Train the image -> keypoint estimator (heatmaps, relative depth, centre depth)."""
    return train_loop(model, dataset, config, estimator_step_loss, progress, desc)


def train_halo(model: torch.nn.Module, dataset, config: HaloTrainConfig = HaloTrainConfig(),
               progress: bool = True) -> list[dict]:
    """HALO (or I) training; the name the HALO notebook uses."""
    return train_occupancy(model, dataset, config, progress, desc="train HALO")


def train_refinement(model: torch.nn.Module, dataset, config: HaloTrainConfig = HaloTrainConfig(),
                     progress: bool = True, desc: str = "train R") -> list[dict]:
    """Train R on a RefineDataset (I's cached iso-surface points and occupancy): occupancy MSE
    of both hands + the model's penetration_weight x mean o_r o_l at both hands' queries.
    Same optimiser as I (the paper's); log rows also carry the two loss terms."""
    terms_log = []

    def step_loss(model, batch, generator):
        loss, terms = refinement_step_loss_and_terms(model, batch)
        terms_log.append(terms)
        return loss

    log = train_loop(model, dataset, config, step_loss, progress, desc)
    for row, terms in zip(log, terms_log):
        row.update(terms)
    return log
