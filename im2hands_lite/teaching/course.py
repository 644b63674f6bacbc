"""What several notebooks load the same way: notebooks 03a and 03b look inside the three
trained image conditionings of I (Table S1).

    model, meta, source = initial_variant("attention", train_set=..., out=OUT)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoints import SHIPPED, load_checkpoint, save_checkpoint, trained_steps
from ..models.initial import InitialConfig, InitialOccupancyNet
from ..models.registry import load_model
from ..training.settings import OccupancyTrainSettings
from ..training.trainer import train


def initial_variant(variant: str, *, train_set, out: str | Path, retrain: bool = False, steps: int = 30,
                    seed: int = 0) -> tuple[InitialOccupancyNet, dict, str]:
    """(I in eval mode, its metadata, where it came from) for one `image_cond`: the shipped
    checkpoint, unless it is missing or `retrain`; then the one an earlier notebook trained here
    with the same `steps` (<out>/03_i_<variant>_trained_here.pt), else a fresh `steps`-step run on
    `train_set`, saved there — only to show the loop: a few steps give blobs, not hands."""
    shipped = SHIPPED / f"i_{variant}_fast.pt"
    if shipped.is_file() and not retrain:
        return load_model(shipped), load_checkpoint(shipped)["extra"], "shipped"
    here = Path(out) / f"03_i_{variant}_trained_here.pt"
    earlier = load_checkpoint(here)["extra"] if here.is_file() else {}
    if trained_steps(earlier) == steps:
        return load_model(here), earlier, f"trained here ({steps} steps)"
    torch.manual_seed(seed)
    model = InitialOccupancyNet(InitialConfig(image_cond=variant))
    log = train(model, train_set, OccupancyTrainSettings(steps=steps, seed=seed), progress=False).log
    losses = [row["loss"] for row in log]
    meta = {"steps": steps, "train_samples": len(train_set), "first_loss": float(np.mean(losses[:5])),
            "final_loss": float(np.mean(losses[-5:])), "train_minutes": log[-1]["seconds"] / 60}
    save_checkpoint(here, model, "i", model.config, **meta)
    return model.eval(), meta, f"trained here ({steps} steps)"
