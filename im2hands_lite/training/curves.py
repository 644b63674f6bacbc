"""Training and validation loss curves: a run's log reduced to what a figure needs, stored in
every `final.pt` (and so in the shipped checkpoints), and drawn the same way everywhere
(the run's `loss.png`, notebook 06).

    curves = loss_curves(result.log)            # {"train": [[step, mean loss], ...], "validation": [...]}
    draw_loss_curves(ax, curves, title="K")
"""
from __future__ import annotations

import math


def loss_curves(log: list[dict], points: int = 200) -> dict:
    """{"train": [[last step of a window, mean loss over the window], ...] (at most `points` windows
    of equal length), "validation": [[step, validation loss], ...] (every validation the run made)}."""
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    window = max(1, math.ceil(len(log) / points))
    train = []
    for start in range(0, len(log), window):
        rows = log[start:start + window]
        train.append([rows[-1]["step"], sum(r["loss"] for r in rows) / len(rows)])
    validation = [[r["step"], r["val_loss"]] for r in log if r.get("val_loss") is not None]
    return {"train": train, "validation": validation}


def draw_loss_curves(ax, curves: dict, title: str = "", log_scale: bool = True):
    """Draw a run's curves on a matplotlib axis: the training loss (window means) and, where the
    run logged one, the validation loss as points joined by a line."""
    if not curves.get("train"):
        raise ValueError("these curves hold no training loss (an empty log?)")
    steps, losses = zip(*curves["train"])
    ax.plot(steps, losses, lw=1.2, label="training (window mean)")
    if curves.get("validation"):
        val_steps, val_losses = zip(*curves["validation"])
        ax.plot(val_steps, val_losses, "o-", ms=3, lw=1.2, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if log_scale and min(losses) > 0:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    return ax
