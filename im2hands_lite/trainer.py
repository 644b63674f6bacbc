"""One resumable trainer for HALO, I, K, the estimator and R, driven by a profile.

    im2hands train --profile fast --model i --variant attention --out runs/i
    im2hands train ... --resume          # continue from the newest good checkpoint
    torchrun --nproc_per_node=N -m im2hands_lite.cli train ...   # N processes (DDP), same semantics

Every step's randomness comes from the step number: the batch's sample indices and the
step's generator (query subsets, keypoint noise) are seeded by (seed, step), and the global
torch RNG (dropout) is saved in each checkpoint. A run killed after checkpoint k and resumed
therefore takes exactly the steps an uninterrupted run takes (tests/test_trainer.py).

Checkpoints (`<out>/checkpoints/step_XXXXXXX.pt`, the newest `keep_last` kept) are written
atomically and hold model, optimiser, scheduler, RNG states, step, settings and the log; they
load with `torch.load(weights_only=True)`. A truncated or foreign newest checkpoint is reported
and skipped in favour of the previous good one, which is never deleted before a newer one is
complete. At the end: `<out>/final.pt` (a kit checkpoint for `load_initial` & co.), `log.csv`,
`log.json` and `loss.png`.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .atomic import atomic_write
from .checkpoints import SHIPPED, CheckpointError, load_checkpoint, load_initial, save_checkpoint
from .data import TwoHandDataset, default_cache_root, generate_split
from .data.dataset import config_dir
from .profiles import MODELS, Profile, TrainSettings, get_profile, with_overrides
from .train import (estimator_step_loss, make_optimizer, occupancy_step_loss, refinement_step_loss_and_terms,
                    refiner_step_loss)

KINDS = {"halo": "halo", "i": "initial", "k": "keypoints", "estimator": "estimator", "r": "two_hand_refiner"}


def pick_device(name: str = "auto") -> torch.device:
    """"auto": CUDA, else Apple MPS, else CPU; or an explicit torch device string."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class RunSpec:
    """Everything that defines a training run (the CLI and notebook 06 build one)."""

    model: str  # one of MODELS
    profile: str = "fast"
    out: str = "runs/run"
    variant: str = "attention"  # I's image conditioning
    ablate: tuple[str, ...] = ()  # R: switches turned off
    n_points: int = 512  # R
    initial_checkpoint: str = ""  # R: the frozen I (default: the shipped attention checkpoint)
    overrides: tuple[str, ...] = ()  # "field=value" TrainSettings overrides
    device: str = "auto"
    resume: bool = False
    keep_last: int = 2
    data_root: str = ""  # default: $IM2HANDS_CACHE or ~/.cache/im2hands-lite
    data_dir: str = ""  # an existing generated data folder to train on instead (e.g. data_samples/<key>)
    progress: bool = True
    threads: int = 0  # torch CPU threads (0: leave torch's default)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {list(MODELS)}")
        get_profile(self.profile)
        if self.keep_last < 1:
            raise ValueError("keep_last must be >= 1")
        from .models.refine import ABLATIONS

        unknown = [name for name in self.ablate if name not in ABLATIONS]
        if unknown:
            raise ValueError(f"unknown ablation(s) {unknown}; choose from {list(ABLATIONS)}")
        self.settings()  # unknown or invalid overrides fail here, before any folder is made

    def settings(self) -> TrainSettings:
        return with_overrides(get_profile(self.profile).settings(self.model), list(self.overrides))


# ----------------------------------------------------------------------------- building blocks

def build_model(spec: RunSpec, profile: Profile) -> torch.nn.Module:
    from .models.estimator import EstimatorConfig, KeypointEstimator
    from .models.halo import HaloModel
    from .models.image import paper_image_config, vit_on_feature_map
    from .models.initial import InitialConfig, InitialOccupancyNet
    from .models.keypoints import KeypointRefiner, KeypointRefinerConfig
    from .models.refine import RefineConfig, TwoHandRefiner

    paper = profile.backbone == "paper"
    resnet, decoder, vit = paper_image_config()
    if spec.model == "halo":
        return HaloModel()
    if spec.model == "i":
        return InitialOccupancyNet(InitialConfig.paper(image_cond=spec.variant) if paper
                                   else InitialConfig(image_cond=spec.variant))
    if spec.model == "k":
        extra = {"resnet": resnet, "decoder": decoder, "vit": vit_on_feature_map(vit, decoder, profile.image_size)}
        return KeypointRefiner(KeypointRefinerConfig(**(extra if paper else {})))
    if spec.model == "estimator":
        return KeypointEstimator(EstimatorConfig(resnet=resnet) if paper else EstimatorConfig())
    switches = {name: False for name in spec.ablate}
    extra = {"resnet": resnet, "decoder": decoder, "width": 256} if paper else {}
    return TwoHandRefiner(RefineConfig(n_points=spec.n_points, **switches, **extra))


def build_data(spec: RunSpec, profile: Profile, settings: TrainSettings, model: torch.nn.Module, device):
    """(train dataset, step_loss) for the run; generates the kit data into the cache if missing."""
    root = Path(spec.data_root) if spec.data_root else default_cache_root()
    if spec.data_dir:
        directory = Path(spec.data_dir)
        if not (directory / "train").is_dir():
            raise FileNotFoundError(f"--data-dir {directory} has no train/ split (generate it with im2hands generate-data)")
        available = len(TwoHandDataset(directory, "train"))
        if available < settings.train_samples:
            raise ValueError(f"--data-dir {directory} holds {available} training samples, the run asks for "
                             f"{settings.train_samples} (lower it with --set train_samples={available})")
    else:
        data_config = profile.generator_config()
        generate_split(root, "train", settings.train_samples, data_config, progress=spec.progress)
        generate_split(root, "test", profile.test_samples, data_config, progress=spec.progress)
        directory = config_dir(root, data_config)
    indices = range(settings.train_samples)
    if spec.model in ("halo", "i"):
        data = torch.utils.data.Subset(TwoHandDataset(directory, "train"), indices)
        return data, occupancy_step_loss(settings.n_queries)
    if spec.model == "k":
        return torch.utils.data.Subset(TwoHandDataset(directory, "train", n_queries=2), indices), refiner_step_loss()
    if spec.model == "estimator":
        return torch.utils.data.Subset(TwoHandDataset(directory, "train", n_queries=2), indices), estimator_step_loss
    from .refine_inputs import RefineDataset, RefineInputConfig, cache_dir, prepare_refine_inputs

    initial_path = Path(spec.initial_checkpoint) if spec.initial_checkpoint else SHIPPED / "i_attention_fast.pt"
    initial = load_initial(initial_path).to(device)
    input_config = RefineInputConfig()
    inputs = cache_dir(root / "refine_inputs", initial_path, input_config)
    base = TwoHandDataset(directory, "train")
    prepare_refine_inputs(initial, base, inputs, "train", indices, input_config, progress=spec.progress)
    data = RefineDataset(base, inputs, "train", n_queries=settings.n_queries, indices=indices)
    return data, lambda model, batch, generator: refinement_step_loss_and_terms(model, batch)[0]


def step_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The sample indices of one step: drawn with replacement from a (seed, step) generator."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randint(0, n, (batch_size,), generator=generator).tolist()


# ----------------------------------------------------------------------------- checkpoints

def checkpoint_paths(out: Path) -> list[Path]:
    """Resumable checkpoints of a run, newest first."""
    return sorted((out / "checkpoints").glob("step_*.pt"), reverse=True)


def save_train_state(out: Path, step: int, model, optimizer, scheduler, settings: TrainSettings, spec: RunSpec,
                     log: list[dict], keep_last: int) -> Path:
    state = {"kind": "train_state", "model_kind": spec.model, "step": step, "config": dataclasses.asdict(model.config),
             "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "settings": dataclasses.asdict(settings),
             "spec": {k: v for k, v in dataclasses.asdict(spec).items() if k in ("model", "profile", "variant",
                                                                                 "ablate", "n_points")},
             "rng": {"torch": torch.get_rng_state(),
                     "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
             "log": log}
    path = out / "checkpoints" / f"step_{step:07d}.pt"
    atomic_write(path, lambda handle: torch.save(state, handle))
    for old in checkpoint_paths(out)[keep_last:]:  # only after the new one is complete
        old.unlink(missing_ok=True)
    return path


def load_latest_state(out: Path, spec: RunSpec, settings: TrainSettings) -> dict | None:
    """The newest good checkpoint's state; corrupt ones are reported on stderr and skipped."""
    paths = checkpoint_paths(out)
    for path in paths:
        try:
            state = load_checkpoint(path, kind="train_state")
        except CheckpointError as err:
            print(f"im2hands: skipping unreadable checkpoint: {err}", file=sys.stderr)
            continue
        saved = dict(state["settings"], betas=tuple(state["settings"]["betas"]))
        current = dataclasses.asdict(settings)
        differing = sorted(k for k in current if k not in ("steps", "checkpoint_every", "num_workers")
                           and saved.get(k) != current[k])
        if state["model_kind"] != spec.model or differing:
            raise CheckpointError(f"{path} belongs to another run (model {state['model_kind']!r}, differing "
                                  f"settings {differing}); use another --out or drop --resume")
        return state
    if paths:
        raise CheckpointError(f"no readable checkpoint in {out / 'checkpoints'} (all {len(paths)} are corrupt)")
    return None


# ----------------------------------------------------------------------------- the loop

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
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in log]
    losses = [row["loss"] for row in log]
    window = max(1, len(losses) // 50)
    smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
              for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, lw=0.5, alpha=0.4, label="loss per step")
    ax.plot(steps, smooth, lw=1.5, label=f"mean of {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path = out / "loss.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- several processes

@dataclass
class Distributed:
    """This process's place in a `torchrun` job (one process: rank 0 of 1, nothing initialised)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this run initialised the process group (and tears it down)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over all processes (the log's loss)."""
        if not self.enabled:
            return float(value.item())
        total = value.detach().float().clone()
        torch.distributed.all_reduce(total)
        return float(total.item()) / self.world_size


def init_distributed(device: str = "auto") -> Distributed:
    """Join the process group that `torchrun` describes in the environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR/PORT): NCCL on CUDA, gloo on CPU. A plain run returns rank 0 of 1."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    owns = not torch.distributed.is_initialized()
    if owns:
        use_nccl = torch.cuda.is_available() and device in ("auto", "cuda")
        torch.distributed.init_process_group("nccl" if use_nccl else "gloo")
    return Distributed(rank, world, local, owns)


class _StepModule(torch.nn.Module):
    """The model and its step loss as one module, so DistributedDataParallel sees the forward
    pass (the step losses call `predict`/`prepare`, not `forward`) and synchronises gradients."""

    def __init__(self, model: torch.nn.Module, step_loss):
        super().__init__()
        self.model, self.step_loss = model, step_loss

    def forward(self, batch, generator):
        return self.step_loss(self.model, batch, generator)


def run_training(spec: RunSpec) -> dict:
    """Train (or resume) one model; returns {"final": path, "steps": n, "log": rows, ...}."""
    if spec.threads:
        torch.set_num_threads(spec.threads)
    profile, settings = get_profile(spec.profile), spec.settings()
    out = Path(spec.out)
    if not spec.resume and checkpoint_paths(out):  # before any work: never mix two runs in one folder
        raise CheckpointError(f"{out} already holds checkpoints of a run: pass --resume to continue it, "
                              f"or choose another --out")
    dist = init_distributed(spec.device)
    if settings.batch_size % dist.world_size:
        raise ValueError(f"batch_size {settings.batch_size} (the global batch) must be divisible by the "
                         f"{dist.world_size} processes")
    device = pick_device(spec.device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    torch.manual_seed(settings.seed)  # the same initial weights in every process
    model = build_model(spec, profile).to(device)
    if not dist.is_main:
        dist.barrier()  # the main process generates / caches the data first ...
    data, step_loss = build_data(spec, profile, settings, model, device)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)  # only once the run can start: a bad data folder leaves no empty run
        dist.barrier()  # ... then the others find it in the cache
    optimizer, scheduler = make_optimizer(model, settings)
    log: list[dict] = []
    start_step = 0
    if spec.resume:
        state = load_latest_state(out, spec, settings)  # every process reads the same complete file
        if state is not None:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"]["torch"])
            if state["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
            start_step, log = state["step"], state["log"]
    amp = settings.amp and device.type == "cuda"
    model.train()
    trained = model
    if dist.enabled and device.type == "cuda":
        # batch statistics over the global batch, as in one process (same state-dict keys as BatchNorm)
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        trained = model
    if dist.enabled:  # gradients are averaged over the processes' shares of each step's global batch
        trained = torch.nn.parallel.DistributedDataParallel(
            _StepModule(model, step_loss), device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=spec.model in ("i", "r"))  # image variants / R ablations leave parameters unused
    bar = tqdm(total=settings.steps, initial=start_step, desc=f"train {spec.model} ({spec.profile})",
               disable=not (spec.progress and dist.is_main))
    elapsed = log[-1]["seconds"] if log else 0.0
    started = time.perf_counter()
    steps = range(start_step + 1, settings.steps + 1)
    # the batches are fixed by (seed, step) up front, so worker processes change nothing but speed
    # each process takes every world_size-th sample of the step's global batch
    shares = [step_indices(len(data), settings.batch_size, settings.seed, step)[dist.rank::dist.world_size]
              for step in steps]
    batches = torch.utils.data.DataLoader(
        data, batch_sampler=shares,
        num_workers=settings.num_workers, pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(settings.seed))  # its own: the global RNG (dropout) stays untouched
    for step, batch in zip(steps, batches):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        # the step's own randomness (query subsets, keypoint noise), distinct per process
        generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + step + 7 + 7919 * dist.rank)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss = trained(batch, generator) if dist.enabled else step_loss(model, batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        mean_loss = dist.mean(loss)
        seconds = elapsed + time.perf_counter() - started
        done = step - start_step
        log.append({"step": step, "loss": mean_loss, "lr": scheduler.get_last_lr()[0], "seconds": seconds,
                    "samples_per_s": done * settings.batch_size / max(seconds - elapsed, 1e-9)})
        bar.update(1)
        if step % 10 == 0 or step == settings.steps:
            bar.set_postfix(loss=f"{mean_loss:.4f}", samples_per_s=f"{log[-1]['samples_per_s']:.1f}")
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            if dist.is_main:  # one writer; the others wait until the checkpoint is complete
                save_train_state(out, step, model, optimizer, scheduler, settings, spec, log, spec.keep_last)
                write_logs(out, log)
            dist.barrier()
    bar.close()
    model.eval()
    final, sha = out / "final.pt", ""
    if dist.is_main:
        sha = save_checkpoint(final, model, KINDS[spec.model], model.config, profile=spec.profile,
                              train_settings=dataclasses.asdict(settings), steps=settings.steps,
                              device=str(device), processes=dist.world_size,
                              seconds_per_step=(log[-1]["seconds"] / len(log)) if log else None,
                              final_loss=sum(r["loss"] for r in log[-50:]) / max(len(log[-50:]), 1))
        write_logs(out, log)
        if log:
            plot_loss(out, log, f"{spec.model} ({spec.profile}, {device.type} x {dist.world_size})")
    dist.barrier()
    if dist.owns_group:
        torch.distributed.destroy_process_group()
    return {"final": final, "sha256": sha, "steps": settings.steps, "log": log, "device": str(device), "out": out,
            "processes": dist.world_size}
