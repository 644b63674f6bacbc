"""This process's place in a `torchrun` job, and the device a run uses."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


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
class Distributed:
    """One process of a `torchrun` job (a plain run: rank 0 of 1, nothing initialised)."""

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

    def close(self) -> None:
        if self.owns_group:
            torch.distributed.destroy_process_group()


def init_distributed(device: str = "auto") -> Distributed:
    """Join the process group that `torchrun` describes in the environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR/PORT): NCCL on CUDA, gloo on CPU. A plain run returns rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    owns = not torch.distributed.is_initialized()
    if owns:
        use_nccl = torch.cuda.is_available() and device in ("auto", "cuda")
        torch.distributed.init_process_group("nccl" if use_nccl else "gloo")
    return Distributed(rank, world, local, owns)


class StepModule(torch.nn.Module):
    """The model and its step loss as one module, so DistributedDataParallel sees the forward
    pass (the step losses call `predict`/`prepare`, not `forward`) and synchronises gradients."""

    def __init__(self, model: torch.nn.Module, step_loss):
        super().__init__()
        self.model, self.step_loss = model, step_loss

    def forward(self, batch, generator):
        return self.step_loss(self.model, batch, generator)
