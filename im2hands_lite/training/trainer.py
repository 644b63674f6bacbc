"""The one training loop, for every model kind: the CLI, the notebooks and `im2hands ship` call it.

    result = train(model, dataset, settings)                       # in memory (notebooks)
    result = train(model, dataset, settings, out="runs/k")         # checkpoints, logs, final.pt
    result = train(model, dataset, settings, out="runs/k", resume=True)

The model brings nothing but itself: the step loss comes from its kind (`training/losses.py`).
Every step's randomness comes from the step number: the batch's sample indices and the step's
generator (query subsets, keypoint noise) are seeded by (seed, step), and the global torch RNG
(dropout) is saved in each checkpoint. A run stopped after checkpoint k and resumed therefore
takes exactly the steps an uninterrupted run takes (tests/test_trainer.py). Under `torchrun`
each process takes its share of every step's global batch and DDP averages the gradients.

Checkpoints (`<out>/checkpoints/step_XXXXXXX.pt`, the newest `keep_last` kept) are written
atomically and hold model, optimiser, scheduler, RNG states, step, settings and the log; a
truncated or foreign newest checkpoint is reported and skipped in favour of the previous good
one. At the end: `<out>/final.pt` (loadable by `load_model`, with the run's loss curves),
`log.csv`, `log.json`, `loss.png`.

Given a validation set, every settings.val_every steps (and at the last) the log's row gets a
`val_loss`: the step loss in eval mode, without gradients, on fixed batches with a fixed
generator, so every validation sees the same queries and noise. It draws nothing from the
training's randomness: a run trains the same weights with or without it (tests/test_trainer.py).
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from ..checkpoints import (
    SHIPPED,
    CheckpointError,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
    sha256_of,
)
from ..models.image_encoder import load_pretrained_encoder, pretrainable_encoder
from ..models.registry import kind_of, load_model, shipped_path
from .curves import draw_loss_curves, loss_curves
from .distributed import Distributed, StepModule, init_distributed, pick_device
from .losses import StepLoss, step_loss_for
from .settings import TrainSettings

# settings a resumed run may change without becoming another run
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "num_workers", "val_every", "val_samples")


@dataclass
class TrainResult:
    log: list[dict]  # one row per step: step, loss, lr, seconds, samples_per_s (+ the loss's terms, val_loss)
    steps: int
    device: str
    processes: int = 1
    out: Path | None = None
    final: Path | None = None  # <out>/final.pt when the run has an out folder
    sha256: str = ""


def make_optimizer(model: torch.nn.Module, settings: TrainSettings):
    """Adam with the settings' lr, betas, eps, weight decay; lr x decay_factor every decay_every.
    A model with an image path (I: `image_parameters()`) trains it at the settings' scaled lr."""
    groups = [{"params": list(model.parameters())}]
    scales = (getattr(settings, "image_lr_scale", 1.0), getattr(settings, "encoder_lr_scale", 1.0))
    if hasattr(model, "image_parameters") and scales != (1.0, 1.0):  # else one group, as resumable runs hold
        image, encoder = model.image_parameters()
        image_ids, encoder_ids = {id(p) for p in image}, {id(p) for p in encoder}
        rest = [p for p in model.parameters() if id(p) not in image_ids | encoder_ids]
        groups = [{"params": rest},
                  {"params": image, "lr": settings.lr * settings.image_lr_scale},
                  {"params": encoder, "lr": settings.lr * settings.image_lr_scale * settings.encoder_lr_scale}]
        groups = [g for g in groups if g["params"]]
    optimizer = torch.optim.Adam(groups, lr=settings.lr, betas=settings.betas,
                                 eps=settings.eps, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, settings.decay_every, settings.decay_factor)
    return optimizer, scheduler


def start_from_pretrained_encoder(model: torch.nn.Module, settings: TrainSettings) -> dict:
    """Load the pretrained ImgEnc into a fresh model's encoder when the settings ask for it
    (`encoder_init="pretrained"`, every image model's default); returns what was loaded
    ({"checkpoint", "sha256"}, stored with the run) or {} (scratch, or a model without an image)."""
    if getattr(settings, "encoder_init", "scratch") != "pretrained" or pretrainable_encoder(model) is None:
        return {}
    path = Path(settings.encoder_checkpoint) if settings.encoder_checkpoint else shipped_path("encoder")
    if not path.is_file():
        raise FileNotFoundError(
            f"no pretrained image encoder at {path}: pretrain one (`im2hands ship image_encoder`, or "
            f"`im2hands train --model encoder ...` and --set encoder_checkpoint=<its final.pt>), or train "
            f"this model from scratch with --set encoder_init=scratch")
    load_pretrained_encoder(model, load_model(path, "encoder"), str(path))
    shipped = path.resolve().parent == SHIPPED.resolve()  # recorded by name: no machine's paths in shipped files
    return {"checkpoint": path.name if shipped else str(path), "sha256": sha256_of(path)}


def step_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The sample indices of one step: drawn with replacement from a (seed, step) generator."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randint(0, n, (batch_size,), generator=generator).tolist()


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The step's own randomness (query subsets, keypoint noise), distinct per process."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step + 7 + 7919 * rank)


# ----------------------------------------------------------------------------- validation

def validation_batches(dataset, batch_size: int, device: torch.device) -> list[dict]:
    """The validation set in consecutive batches, loaded once and kept on the device."""
    chunks = [list(range(i, min(i + batch_size, len(dataset)))) for i in range(0, len(dataset), batch_size)]
    # its own generator: an iterator over a loader without one draws from the global RNG (dropout)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=chunks, generator=torch.Generator().manual_seed(0))
    return [{k: v.to(device) for k, v in batch.items()} for batch in loader]


@torch.no_grad()
def validation_loss(model: torch.nn.Module, step_loss: StepLoss, batches: list[dict], seed: int,
                    amp: bool = False) -> float:
    """The step loss over `batches` (weighted by batch size) in eval mode; batch b always draws
    from the same generator, and the global RNG is not touched (no dropout in eval mode)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    device_type = next(iter(batches[0].values())).device.type
    try:
        for b, batch in enumerate(batches):
            generator = torch.Generator().manual_seed(seed * 1_000_003 + 999_983 + b)
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=amp):
                loss, _ = step_loss(model, dict(batch), generator)  # a copy: step losses may replace entries
            n = next(iter(batch.values())).shape[0]
            total, count = total + float(loss) * n, count + n
    finally:
        model.train(was_training)
    return total / count


# ----------------------------------------------------------------------------- checkpoints

def checkpoint_paths(out: Path) -> list[Path]:
    """Resumable checkpoints of a run, newest first."""
    return sorted((Path(out) / "checkpoints").glob("step_*.pt"), reverse=True)


def refuse_another_run(out: Path, resume: bool) -> None:
    """Never mix two runs in one folder: checkpoints there continue only with `resume`."""
    if not resume and checkpoint_paths(out):
        raise CheckpointError(f"{out} already holds checkpoints of a run: pass --resume to continue it, "
                              f"or choose another --out")


def _comparable(settings: dict) -> dict:
    return json.loads(json.dumps(settings))  # tuples and lists compare alike


def save_train_state(out: Path, step: int, kind: str, model, optimizer, scheduler, settings: TrainSettings,
                     log: list[dict], keep_last: int, run_info: dict) -> Path:
    state = {"kind": "train_state", "model_kind": kind, "step": step, "config": dataclasses.asdict(model.config),
             "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "settings": dataclasses.asdict(settings), "run": run_info,
             "rng": {"torch": torch.get_rng_state(),
                     "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
             "log": log}
    path = out / "checkpoints" / f"step_{step:07d}.pt"
    atomic_write(path, lambda handle: torch.save(state, handle))
    for old in checkpoint_paths(out)[keep_last:]:  # only after the new one is complete
        old.unlink(missing_ok=True)
    return path


def load_latest_state(out: Path, kind: str, settings: TrainSettings) -> dict | None:
    """The newest good checkpoint's state; corrupt ones are reported on stderr and skipped."""
    paths = checkpoint_paths(out)
    for path in paths:
        try:
            state = load_checkpoint(path, kind="train_state")
        except CheckpointError as err:
            print(f"im2hands: skipping unreadable checkpoint: {err}", file=sys.stderr)
            continue
        saved, current = _comparable(state["settings"]), _comparable(dataclasses.asdict(settings))
        differing = sorted(k for k in set(current) | set(saved)
                           if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k))
        if state["model_kind"] != kind or differing:
            raise CheckpointError(f"{path} belongs to another run (model {state['model_kind']!r}, differing "
                                  f"settings {differing}); use another --out or drop --resume")
        return state
    if paths:
        raise CheckpointError(f"no readable checkpoint in {out / 'checkpoints'} (all {len(paths)} are corrupt)")
    return None


# ----------------------------------------------------------------------------- logs

def write_logs(out: Path, log: list[dict]) -> None:
    if not log:
        return
    fields = sorted({k for row in log for k in row}, key=lambda k: (k != "step", k))

    def write_csv(handle):
        text = [",".join(fields)] + [",".join(str(row.get(k, "")) for k in fields) for row in log]
        handle.write(("\n".join(text) + "\n").encode())
    atomic_write(out / "log.csv", write_csv)
    atomic_write(out / "log.json", lambda handle: handle.write(json.dumps(log).encode()))


def plot_loss(out: Path, log: list[dict], title: str) -> Path:
    """<out>/loss.png: the loss of every step, faint, under the run's curves (training, validation)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([row["step"] for row in log], [row["loss"] for row in log], lw=0.5, alpha=0.3, color="grey",
            label="loss per step")
    draw_loss_curves(ax, loss_curves(log, points=50), title=title)
    fig.tight_layout()
    path = out / "loss.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- the loop

def train(model: torch.nn.Module, dataset, settings: TrainSettings, *, out: str | Path | None = None,
          resume: bool = False, device: str | torch.device = "auto", progress: bool = True, keep_last: int = 2,
          desc: str | None = None, run_info: dict | None = None, step_loss: StepLoss | None = None,
          dist: Distributed | None = None, val_dataset=None) -> TrainResult:
    """Train `model` (any registered kind) for settings.steps steps of settings.batch_size
    items of `dataset`, drawn with replacement. With `out`: resumable checkpoints every
    settings.checkpoint_every steps, logs and `<out>/final.pt`; `run_info` is stored with them.
    With `val_dataset` (and settings.val_every > 0): the validation loss every val_every steps.
    The model is left in eval mode on its training device."""
    kind = kind_of(model).name
    step_loss = step_loss or step_loss_for(kind, settings)
    if keep_last < 1:
        raise ValueError("keep_last must be >= 1")
    out = Path(out) if out is not None else None
    if out is not None:
        refuse_another_run(out, resume)
    own_dist = dist is None
    dist = init_distributed(str(device)) if own_dist else dist
    if settings.batch_size % dist.world_size:
        raise ValueError(f"batch_size {settings.batch_size} (the global batch) must be divisible by the "
                         f"{dist.world_size} processes")
    device = pick_device(device) if isinstance(device, str) else device
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    model.to(device)
    optimizer, scheduler = make_optimizer(model, settings)
    log: list[dict] = []
    start_step = 0
    state = load_latest_state(out, kind, settings) if (out is not None and resume) else None
    if state is not None:  # every process reads the same complete file
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        start_step, log = state["step"], state["log"]
        started_from = state["run"].get("encoder_start", {})
    else:
        torch.manual_seed(settings.seed)  # dropout: the same in every process and every rerun
        started_from = start_from_pretrained_encoder(model, settings)
    if out is not None and dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
    run_info = dict(run_info or {}) | ({"encoder_start": started_from} if started_from else {})
    amp = settings.amp and device.type == "cuda"
    validate = val_dataset is not None and settings.val_every > 0
    if val_dataset is not None and len(val_dataset) == 0:
        raise ValueError("the validation set is empty: give one with samples, or none (or val_every=0)")
    val_batches = validation_batches(val_dataset, settings.batch_size, device) if validate else []
    model.train()
    trained = model
    if dist.enabled and device.type == "cuda":
        # batch statistics over the global batch, as in one process (same state-dict keys as BatchNorm)
        model = trained = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if dist.enabled:  # gradients are averaged over the processes' shares of each step's global batch
        trained = torch.nn.parallel.DistributedDataParallel(
            StepModule(model, step_loss), device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=kind in ("i", "r"))  # image variants / R ablations leave parameters unused
    bar = tqdm(total=settings.steps, initial=start_step, desc=desc or f"train {kind}",
               disable=not (progress and dist.is_main))
    elapsed = log[-1]["seconds"] if log else 0.0
    started = time.perf_counter()
    steps = range(start_step + 1, settings.steps + 1)
    # the batches are fixed by (seed, step) up front, so worker processes change nothing but speed;
    # each process takes every world_size-th sample of the step's global batch
    shares = [step_indices(len(dataset), settings.batch_size, settings.seed, step)[dist.rank::dist.world_size]
              for step in steps]
    batches = torch.utils.data.DataLoader(
        dataset, batch_sampler=shares, num_workers=settings.num_workers, pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(settings.seed))  # its own: the global RNG (dropout) stays untouched
    for step, batch in zip(steps, batches):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        generator = step_generator(settings.seed, step, dist.rank)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss, terms = trained(batch, generator) if dist.enabled else step_loss(model, batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        mean_loss = dist.mean(loss)
        seconds = elapsed + time.perf_counter() - started
        done = step - start_step
        log.append({"step": step, "loss": mean_loss, "lr": scheduler.get_last_lr()[0], "seconds": seconds,
                    "samples_per_s": done * settings.batch_size / max(seconds - elapsed, 1e-9), **terms})
        if validate and (step % settings.val_every == 0 or step == settings.steps):
            log[-1]["val_loss"] = validation_loss(model, step_loss, val_batches, settings.seed, amp)
        bar.update(1)
        if step % 10 == 0 or step == settings.steps:
            shown = {"val_loss": f"{log[-1]['val_loss']:.4f}"} if "val_loss" in log[-1] else {}
            bar.set_postfix(loss=f"{mean_loss:.4f}", samples_per_s=f"{log[-1]['samples_per_s']:.1f}", **shown)
        if out is not None and (step % settings.checkpoint_every == 0 or step == settings.steps):
            if dist.is_main:  # one writer; the others wait until the checkpoint is complete
                save_train_state(out, step, kind, model, optimizer, scheduler, settings, log, keep_last, run_info)
                write_logs(out, log)
            dist.barrier()
    bar.close()
    model.eval()
    result = TrainResult(log=log, steps=settings.steps, device=str(device), processes=dist.world_size, out=out)
    if out is not None:
        result.final = out / "final.pt"
        if dist.is_main:
            tail = log[-50:]
            result.sha256 = save_checkpoint(
                result.final, model, kind, model.config, **run_info, train_settings=dataclasses.asdict(settings),
                steps=settings.steps, device=str(device), processes=dist.world_size,
                seconds_per_step=(log[-1]["seconds"] / len(log)) if log else None,
                final_loss=sum(r["loss"] for r in tail) / max(len(tail), 1),
                curves=loss_curves(log) if log else {}, validation_samples=len(val_dataset) if validate else 0)
            write_logs(out, log)
            if log:
                plot_loss(out, log, f"{kind} ({run_info.get('profile', 'custom')}, {device.type} x {dist.world_size})")
        dist.barrier()
    if own_dist:
        dist.close()
    return result
