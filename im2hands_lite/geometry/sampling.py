"""Point sampling in torch: farthest point sampling (FPS) and k nearest neighbours.

FPS picks n points of a cloud one at a time, each the point farthest from those already
picked: an even cover of the shape, which is why PointNet++ and AIR-Net down-sample with it.
Batched over clouds, deterministic: the first point is drawn from a seeded generator (or is
point 0), every later pick is an argmax (ties resolve to the lowest index).
"""
from __future__ import annotations

import torch
from torch import Tensor


def farthest_point_sampling(points: Tensor, n: int, generator: torch.Generator | None = None,
                            valid: Tensor | None = None) -> Tensor:
    """Indices (B, n) of n farthest points of each cloud in points (B, N, 3).

    generator: draws the first index per cloud (None: start at the first valid point).
    valid: optional (B, N) bool mask of usable points (padding excluded); every cloud needs at
    least one; if a cloud has fewer than n valid points, indices repeat after they run out.
    """
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (B, N, 3), got {tuple(points.shape)}")
    batch, total, _ = points.shape
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if total == 0:
        raise ValueError("cannot sample from an empty cloud")
    if valid is None:
        valid = torch.ones(batch, total, dtype=torch.bool, device=points.device)
    elif valid.shape != (batch, total):
        raise ValueError(f"valid must be (B, N) = {(batch, total)}, got {tuple(valid.shape)}")
    if not valid.any(dim=1).all():
        raise ValueError("every cloud needs at least one valid point")
    if generator is None:
        first = valid.float().argmax(dim=1)  # the first valid point
    else:
        counts = valid.sum(dim=1)
        pick = (torch.rand(batch, generator=generator) * counts.cpu()).long().clamp_max(counts.cpu() - 1)
        first = torch.stack([torch.nonzero(valid[b]).flatten()[pick[b]] for b in range(batch)])
    indices = torch.empty(batch, n, dtype=torch.long, device=points.device)
    distance = torch.full((batch, total), float("inf"), device=points.device, dtype=points.dtype)
    distance[~valid] = -1.0  # never picked while a valid point remains
    rows = torch.arange(batch, device=points.device)
    current = first.to(points.device)
    for i in range(n):
        indices[:, i] = current
        step = (points - points[rows, current][:, None]).pow(2).sum(-1)
        distance = torch.where(valid, torch.minimum(distance, step), distance)
        current = distance.argmax(dim=1)
    return indices


def gather_points(values: Tensor, indices: Tensor) -> Tensor:
    """values (B, N, C), indices (B, ...) -> (B, ..., C)."""
    batch = values.shape[0]
    flat = indices.reshape(batch, -1)
    out = torch.gather(values, 1, flat[..., None].expand(-1, -1, values.shape[-1]))
    return out.reshape(*indices.shape, values.shape[-1])


def knn(queries: Tensor, points: Tensor, k: int) -> Tensor:
    """Indices (B, M, k) of the k nearest `points` (B, N, 3) of each query (B, M, 3), nearest first."""
    if k > points.shape[1]:
        raise ValueError(f"k = {k} exceeds the {points.shape[1]} points")
    return torch.cdist(queries, points).topk(k, dim=-1, largest=False).indices
