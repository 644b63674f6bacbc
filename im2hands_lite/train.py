"""Training loop for the occupancy networks (HALO and I) on ground-truth keypoints.

Any model with `predict(batch)` returning rows 2s (right) / 2s + 1 (left) trains here; the
shared trainer of the training issue (profiles, checkpoints, resume) grows from this loop.

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



@dataclass(frozen=True)
class HaloTrainConfig:
    steps: int = 500
    batch_size: int = 4  # samples per step (both hands of each)
    n_queries: int = 1024  # per hand per step; drawn at random from the item's queries
    lr: float = 1e-3  # paper: 1e-4 (see docs/DECISIONS.md)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-5
    decay_every: int = 5000
    decay_factor: float = 0.2
    loss: str = "mse"  # or "bce"
    seed: int = 0
    num_workers: int = 0

    def __post_init__(self):
        if self.loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {self.loss!r}")
        if self.steps < 1 or self.batch_size < 1 or self.n_queries < 2:
            raise ValueError("steps, batch_size must be >= 1 and n_queries >= 2")


def occupancy_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    if kind == "mse":
        return F.mse_loss(pred, target)
    return F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target)


def make_optimizer(model: torch.nn.Module, config: HaloTrainConfig):
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas,
                                 eps=config.eps, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.decay_every, config.decay_factor)
    return optimizer, scheduler


def train_occupancy(model: torch.nn.Module, dataset, config: HaloTrainConfig = HaloTrainConfig(),
                    progress: bool = True, desc: str = "train") -> list[dict]:
    """Train HALO or I on a TwoHandDataset (its n_queries sets the points per hand); returns the log.

    Each log row: step, loss, lr, seconds (cumulative). Deterministic for a given seed.
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
        available = batch["queries"].shape[2]
        if available > config.n_queries:  # the items carry more queries than a step uses
            keep = torch.randperm(available, generator=generator)[:config.n_queries].to(device)
            batch["queries"] = batch["queries"][:, :, keep]
            batch["occupancy"] = batch["occupancy"][:, :, keep]
        pred = model.predict(batch).occupancy
        target = batch["occupancy"].flatten(0, 1)  # (S, 2, N) -> rows 2s right, 2s + 1 left
        loss = occupancy_loss(pred, target, config.loss)
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


def train_halo(model: torch.nn.Module, dataset, config: HaloTrainConfig = HaloTrainConfig(),
               progress: bool = True) -> list[dict]:
    """HALO (or I) training; the name the HALO notebook uses."""
    return train_occupancy(model, dataset, config, progress, desc="train HALO")
