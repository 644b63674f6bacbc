"""Checkpoint files: atomic writes, the kit's format (`torch.load(weights_only=True)`), and
where the shipped weights live.

The bottom of the package: it imports nothing else from it, so every layer may use it.
Building a model from a checkpoint is the registry's job (`models.registry.load_model`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import typing
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import torch

# The fast-profile weights ship inside the package (package data), so a wheel install finds them.
SHIPPED = Path(__file__).resolve().parent / "weights"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated or of the wrong kind."""


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(handle)` on a temp file and move it to `path` only once it is complete,
    so a killed process leaves either the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes owner-only files; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(path: str | Path, model: torch.nn.Module, kind: str, config, **extra) -> str:
    """Write {kind, config, state_dict, extra} atomically; returns the file's sha256."""
    path = Path(path)
    payload = {"kind": kind, "config": dataclasses.asdict(config),
               "state_dict": model.state_dict(), "extra": json.loads(json.dumps(extra))}
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return sha256_of(path)


def load_checkpoint(path: str | Path, kind: str | tuple[str, ...] | None = None) -> dict:
    """Read a checkpoint written by save_checkpoint (tensors and plain data only); `kind`
    (one name or several accepted names) is checked when given."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a kit checkpoint: {err}") from err
    if not isinstance(payload, dict) or not {"kind", "config", "state_dict"} <= set(payload):
        raise CheckpointError(f"checkpoint {path} lacks kind/config/state_dict")
    accepted = (kind,) if isinstance(kind, str) else kind
    if accepted is not None and payload["kind"] not in accepted:
        raise CheckpointError(f"checkpoint {path} holds a {payload['kind']!r} model, expected {accepted[0]!r}")
    return payload


def config_from_dict(cls, raw: dict):
    """Rebuild a (nested) config dataclass from its `dataclasses.asdict` form. Fields missing
    from `raw` take their defaults; unknown fields raise CheckpointError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise CheckpointError(f"checkpoint config has fields {sorted(unknown)} that {cls.__name__} lacks")
    values = {}
    for name, value in raw.items():
        kind = hints.get(name)
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = config_from_dict(kind, value)
        elif isinstance(value, list):  # JSON-like round trip of tuples
            value = tuple(value)
        values[name] = value
    return cls(**values)


def trained_steps(extra: dict) -> int | None:
    """How many steps a checkpoint was trained for, from its `extra` (the trainer's "steps";
    files from before the one trainer kept it in "train_config")."""
    return extra.get("steps") or extra.get("train_config", {}).get("steps")
