"""Occupancy function -> triangle mesh by coarse-to-fine Marching Cubes.

A grid of resolution `r` over the box [`bounds_min`, `bounds_max`] has `r` cells and
`r + 1` points per axis; point (i, j, k) sits at `bounds_min + (i, j, k) * spacing` with
`spacing = (max - min) / r` (per axis, metres), and `values[i, j, k]` is the occupancy there.

Evaluating a network at all (r + 1)³ points is wasteful: only cells near the surface
produce triangles. `extract_mesh` evaluates the whole grid at `coarse_resolution` c, then
doubles the resolution until it reaches `resolution`, following the surface (a variant of
Occupancy Networks' MISE). At each step the finer grid starts as a trilinear upsampling of
the coarser one (grid-aligned, so shared points keep their values exactly); coarse cells
whose 8 corners straddle `level` are "active", and only fine points in active cells not yet
evaluated are evaluated exactly. Then the surface is followed out of the active region: a
fine cell outside it that crosses `level` (it shares exact corners with the region's border)
activates its coarse cell, whose points are evaluated in turn, until no crossing fine cell
lies outside the active region. MISE dilates the active cells by one cell in every direction
instead, which evaluates about twice the points (`benchmarks/bench_extraction.py`).

Trilinear interpolation never leaves the range of a cell's corner values, so when the
following stops every fine cell that crosses `level` has exact corners: the mesh equals the
dense one unless a piece of surface is not connected, at any level, to a cell the coarser
grid saw crossing (a feature thinner than a coarse cell, away from the rest of the surface).
Choose `coarse_resolution` so the thinnest finger spans a few coarse cells (32 over a padded
hand box gives ~6 mm cells).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from skimage import measure

__all__ = [
    "ExtractionResult",
    "OccupancyFn",
    "ReconstructionConfig",
    "hand_mesh",
    "extract_mesh",
    "extract_mesh_dense",
    "grid_points",
    "keypoint_bounds",
]

OccupancyFn = Callable[[torch.Tensor], torch.Tensor]
"""`fn(points (N, 3) float32, world metres) -> occupancy (N,)` (in [0, 1] for `level=0.5`)."""

ArrayLike = np.ndarray | torch.Tensor | list | tuple

# Value written around the grid when `close_boundary` is set: far below any
# level, so Marching Cubes places the closing cap on the box face itself
# (interpolation weight ~1e-6 of a cell).
_OUTSIDE_PAD = -1.0e6


@dataclass(frozen=True)
class ExtractionResult:
    """Output of `extract_mesh` / `extract_mesh_dense`.

    `mesh`: triangle mesh in world coordinates (metres), faces oriented outwards, built with
    `process=False`; empty (0 vertices, 0 faces) when the grid never crosses `level`.
    `values`: the final grid, float32 (r + 1, r + 1, r + 1), exact near the surface and
    interpolated elsewhere (coarse-to-fine). `n_evaluations`: points `occupancy_fn`
    evaluated in total; `dense_evaluations`: (r + 1)³, what a dense evaluation costs.
    `bounds_min`, `bounds_max`: the box, float64 (3,).
    """

    mesh: trimesh.Trimesh
    values: np.ndarray
    n_evaluations: int
    dense_evaluations: int
    bounds_min: np.ndarray
    bounds_max: np.ndarray

    @property
    def evaluation_ratio(self) -> float:
        """`n_evaluations / dense_evaluations` (1.0 for a dense extraction)."""
        return self.n_evaluations / self.dense_evaluations

    @property
    def resolution(self) -> int:
        return self.values.shape[0] - 1


# --------------------------------------------------------------------------- validation


def _as_numpy(array: ArrayLike, dtype=np.float64) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=dtype)


def _validate_bounds(bounds_min: ArrayLike, bounds_max: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    low = _as_numpy(bounds_min)
    high = _as_numpy(bounds_max)
    for name, value in (("bounds_min", low), ("bounds_max", high)):
        if value.shape != (3,):
            raise ValueError(f"{name} must have shape (3,), got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} contains NaN or infinite values: {value}")
    if not np.all(high > low):
        raise ValueError(f"bounds_max must exceed bounds_min on every axis, got {low} and {high}")
    return low, high


def _validate_resolutions(resolution: int, coarse_resolution: int) -> int:
    """Return the number of doublings k with resolution = coarse_resolution * 2**k."""
    for name, value in (("resolution", resolution), ("coarse_resolution", coarse_resolution)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    ratio, remainder = divmod(int(resolution), int(coarse_resolution))
    if remainder != 0 or ratio < 1 or ratio & (ratio - 1) != 0:
        raise ValueError(
            f"resolution must be coarse_resolution * 2**k (k >= 0), got resolution={resolution} "
            f"and coarse_resolution={coarse_resolution}"
        )
    return ratio.bit_length() - 1


def _validate_batch_points(batch_points: int) -> int:
    if (isinstance(batch_points, bool) or not isinstance(batch_points, (int, np.integer))
            or batch_points < 1):
        raise ValueError(f"batch_points must be a positive integer, got {batch_points!r}")
    return int(batch_points)


# --------------------------------------------------------------------------- grid helpers


def grid_points(bounds_min: ArrayLike, bounds_max: ArrayLike, resolution: int) -> np.ndarray:
    """All points of the grid, float64 ((r + 1)³, 3), in C order of (i, j, k)
    (so `points.reshape(r + 1, r + 1, r + 1, 3)[i, j, k]` is point (i, j, k))."""
    low, high = _validate_bounds(bounds_min, bounds_max)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    axes = [np.linspace(low[d], high[d], resolution + 1) for d in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _index_to_points(
    flat_indices: np.ndarray, n_per_axis: int, low: np.ndarray, spacing: np.ndarray
) -> np.ndarray:
    """Flat C-order indices into an `n_per_axis`³ grid -> world points (M, 3) float64."""
    ijk = np.stack(np.unravel_index(flat_indices, (n_per_axis,) * 3), axis=-1)
    return low + ijk * spacing


def _evaluate(
    occupancy_fn: OccupancyFn, points: np.ndarray, batch_points: int, device: torch.device
) -> np.ndarray:
    """`occupancy_fn` on world points (M, 3) in chunks, under no_grad -> float32 (M,)."""
    out = np.empty(len(points), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(points), batch_points):
            chunk = torch.as_tensor(
                points[start : start + batch_points], dtype=torch.float32, device=device
            )
            values = occupancy_fn(chunk)
            if not isinstance(values, torch.Tensor):
                raise ValueError(f"occupancy_fn must return a torch.Tensor, got {type(values).__name__}")
            values = values.detach()
            if values.dim() == 2 and values.shape[1] == 1:
                values = values[:, 0]
            if values.shape != (len(chunk),):
                raise ValueError(
                    f"occupancy_fn returned shape {tuple(values.shape)} for {len(chunk)} points; "
                    f"expected ({len(chunk)},)"
                )
            values = values.to(device="cpu", dtype=torch.float32).numpy()
            if not np.all(np.isfinite(values)):
                raise ValueError("occupancy_fn returned NaN or infinite values")
            out[start : start + len(chunk)] = values
    return out


def _upsample_linear(values: np.ndarray) -> np.ndarray:
    """Grid (n+1)³ -> (2n+1)³ by trilinear interpolation (separable: one axis at a
    time); even indices copy the coarse values exactly."""
    for axis in range(3):
        coarse = np.moveaxis(values, axis, 0)
        fine = np.empty((2 * coarse.shape[0] - 1,) + coarse.shape[1:], dtype=values.dtype)
        fine[0::2] = coarse
        fine[1::2] = 0.5 * (coarse[:-1] + coarse[1:])
        values = np.moveaxis(fine, 0, axis)
    return np.ascontiguousarray(values)


def _upsample_exact_mask(exact: np.ndarray) -> np.ndarray:
    """Which points of the (2n+1)³ grid are already exact: the even-index copies of exact
    coarse points."""
    n = exact.shape[0]
    fine = np.zeros((2 * n - 1,) * 3, dtype=bool)
    fine[0::2, 0::2, 0::2] = exact
    return fine


def _crossing_cells(values: np.ndarray, level: float) -> np.ndarray:
    """Cells (n, n, n) whose 8 corners straddle `level`: min <= level <= max and
    min < max (a corner exactly at `level` counts, a flat cell does not)."""
    corners = [
        values[a : a + values.shape[0] - 1, b : b + values.shape[1] - 1, c : c + values.shape[2] - 1]
        for a in (0, 1)
        for b in (0, 1)
        for c in (0, 1)
    ]
    low = np.minimum.reduce(corners)
    high = np.maximum.reduce(corners)
    return (low <= level) & (high >= level) & (low < high)


def _fine_points_in_cells(active: np.ndarray) -> np.ndarray:
    """Coarse active cells (n, n, n) -> mask of the (2n+1)³ fine points lying in them
    (corners, edge midpoints, face and cell centres)."""
    fine_cells = active.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)  # (2n)³
    n_fine = fine_cells.shape[0]
    mask = np.zeros((n_fine + 1,) * 3, dtype=bool)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                mask[a : a + n_fine, b : b + n_fine, c : c + n_fine] |= fine_cells
    return mask


def _coarse_cells_of(fine_cells: np.ndarray) -> np.ndarray:
    """Fine cells (2n, 2n, 2n) -> the coarse cells (n, n, n) holding any of them."""
    n = fine_cells.shape[0] // 2
    return fine_cells.reshape(n, 2, n, 2, n, 2).any(axis=(1, 3, 5))


# --------------------------------------------------------------------------- meshing


def _empty_mesh() -> trimesh.Trimesh:
    return trimesh.Trimesh(
        vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64), process=False
    )


def _marching_cubes(
    values: np.ndarray, level: float, low: np.ndarray, spacing: np.ndarray, close_boundary: bool
) -> trimesh.Trimesh:
    """Marching Cubes on the grid -> outward-oriented world mesh (empty if no crossing)."""
    if not (values.min() < level < values.max()):
        return _empty_mesh()
    offset = low
    high = low + spacing * (np.array(values.shape) - 1)
    if close_boundary:
        # One layer of "far outside" around the grid closes surfaces cut by the box.
        values = np.pad(values, 1, mode="constant", constant_values=_OUTSIDE_PAD)
        offset = low - spacing
    vertices, faces, _, _ = measure.marching_cubes(
        values, level=level, spacing=tuple(float(s) for s in spacing), allow_degenerate=False
    )
    if len(faces) == 0:
        return _empty_mesh()
    vertices = vertices.astype(np.float64) + offset
    faces = faces.astype(np.int64)
    if close_boundary:
        # Caps sit within ~1e-6 cell outside the box; snap them onto it.
        vertices = np.clip(vertices, low, high)
    v0, v1, v2 = (vertices[faces[:, k]] - vertices.mean(axis=0) for k in range(3))
    signed_volume = np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() / 6.0
    if signed_volume < 0:
        faces = faces[:, ::-1].copy()
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)


# --------------------------------------------------------------------------- public API


def extract_mesh(
    occupancy_fn: OccupancyFn,
    bounds_min: ArrayLike,
    bounds_max: ArrayLike,
    resolution: int = 128,
    coarse_resolution: int = 32,
    level: float = 0.5,
    batch_points: int = 65536,
    close_boundary: bool = True,
    device: str | torch.device = "cpu",
) -> ExtractionResult:
    """Mesh the `level` iso-surface of `occupancy_fn` coarse-to-fine (see module doc).

    `occupancy_fn`: `fn(points (N, 3) float32 tensor on device, world metres) -> (N,)` (an
    (N, 1) output is accepted too), called under `torch.no_grad` on at most `batch_points`
    points at a time; values should be occupancies in [0, 1] for `level=0.5` (logits with
    `level=0` work too). `bounds_min`, `bounds_max`: (3,) box corners in metres, max > min
    on every axis. `resolution`: final cells per axis, must be `coarse_resolution * 2**k`;
    `coarse_resolution`: cells per axis of the first, dense evaluation. `level`: iso-value.
    `batch_points`: points per `occupancy_fn` call. `close_boundary`: pad the grid with
    "outside" so a surface cut by the box is capped on the box face and the mesh stays
    closed (no effect when the surface is inside). `device`: device of the point tensors
    given to `occupancy_fn`.

    Returns an `ExtractionResult` with the mesh (empty when the grid never crosses `level`,
    e.g. an all-empty or all-full box), the final grid and evaluation counts. Raises
    ValueError for non-finite or inverted bounds, a resolution that is not
    `coarse_resolution * 2**k`, bad `batch_points`, or an `occupancy_fn` that returns a
    wrong shape or NaN.
    """
    low, high = _validate_bounds(bounds_min, bounds_max)
    n_doublings = _validate_resolutions(resolution, coarse_resolution)
    batch_points = _validate_batch_points(batch_points)
    if not np.isfinite(level):
        raise ValueError(f"level must be finite, got {level}")
    device = torch.device(device)

    n = int(coarse_resolution)
    values = _evaluate(occupancy_fn, grid_points(low, high, n), batch_points, device)
    values = values.reshape((n + 1,) * 3)
    exact = np.ones_like(values, dtype=bool)
    n_evaluations = values.size

    for _ in range(n_doublings):
        active = _crossing_cells(values, level)
        values = _upsample_linear(values)
        exact = _upsample_exact_mask(exact)
        spacing = (high - low) / (2 * n)
        new = active
        while new.any():  # follow the surface out of the active region
            todo = np.flatnonzero(_fine_points_in_cells(new) & ~exact)
            if len(todo):
                points = _index_to_points(todo, 2 * n + 1, low, spacing)
                np.put(values, todo, _evaluate(occupancy_fn, points, batch_points, device))
                np.put(exact, todo, True)
                n_evaluations += len(todo)
            new = _coarse_cells_of(_crossing_cells(values, level)) & ~active
            active |= new
        n *= 2

    spacing = (high - low) / n
    mesh = _marching_cubes(values, float(level), low, spacing, close_boundary)
    return ExtractionResult(
        mesh=mesh,
        values=values,
        n_evaluations=int(n_evaluations),
        dense_evaluations=(n + 1) ** 3,
        bounds_min=low,
        bounds_max=high,
    )


def extract_mesh_dense(
    occupancy_fn: OccupancyFn,
    bounds_min: ArrayLike,
    bounds_max: ArrayLike,
    resolution: int = 128,
    level: float = 0.5,
    batch_points: int = 65536,
    close_boundary: bool = True,
    device: str | torch.device = "cpu",
) -> ExtractionResult:
    """Like `extract_mesh` but evaluates all (r + 1)³ grid points (reference for
    tests and benchmarks; any positive `resolution`)."""
    low, high = _validate_bounds(bounds_min, bounds_max)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    batch_points = _validate_batch_points(batch_points)
    if not np.isfinite(level):
        raise ValueError(f"level must be finite, got {level}")
    values = _evaluate(
        occupancy_fn, grid_points(low, high, resolution), batch_points, torch.device(device)
    ).reshape((resolution + 1,) * 3)
    mesh = _marching_cubes(values, float(level), low, (high - low) / resolution, close_boundary)
    return ExtractionResult(
        mesh=mesh,
        values=values,
        n_evaluations=values.size,
        dense_evaluations=values.size,
        bounds_min=low,
        bounds_max=high,
    )


def keypoint_bounds(
    keypoints: ArrayLike, padding: float = 0.03, cubic: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box around keypoints, padded on every side -> (min (3,), max (3,)) float64.

    `keypoints`: (N, 3) metres, e.g. one hand's 21 joints, or any (..., 3) stack (e.g.
    (2, 21, 3) for both hands: one box around all of them). `padding`: margin in metres
    (>= 0); skin extends ~2-3 cm beyond a hand's keypoints. `cubic`: grow the shorter sides
    (about the box centre) to the longest one, so a grid over the box has cubic cells.
    """
    points = _as_numpy(keypoints)
    if points.ndim < 2 or points.shape[-1] != 3 or points.size == 0:
        raise ValueError(f"keypoints must have shape (N, 3) with N >= 1, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("keypoints contain NaN or infinite values")
    if not np.isfinite(padding) or padding < 0:
        raise ValueError(f"padding must be a finite number >= 0, got {padding}")
    points = points.reshape(-1, 3)
    low = points.min(axis=0) - padding
    high = points.max(axis=0) + padding
    if cubic:
        centre, half = 0.5 * (low + high), 0.5 * (high - low).max()
        low, high = centre - half, centre + half
    if not np.all(high > low):
        raise ValueError("keypoint box is flat on some axis; use padding > 0")
    return low, high


@dataclass(frozen=True)
class ReconstructionConfig:
    """How a hand is meshed: the grid around its keypoints, evaluated coarse-to-fine."""

    resolution: int = 128  # marching-cubes grid, evaluated coarse-to-fine
    coarse_resolution: int = 32
    padding: float = 0.03  # metres around the keypoints (skin lies outside the skeleton)
    # small chunks keep HALO's (16 parts x points x 64) activations in cache: measured 3x
    # faster per query at 1,024 than at 65,536 points on this kit's CPU (docs/RESULTS.md)
    batch_points: int = 1024

    @classmethod
    def at(cls, resolution: int) -> "ReconstructionConfig":
        """`resolution`, coarse-to-fine from a grid of about 16 cells (halved while even and above
        16): at 128^3 the same meshes as from 32 with a fifth fewer evaluations (docs/DECISIONS.md)."""
        coarse = int(resolution)
        while coarse > 16 and coarse % 2 == 0:
            coarse //= 2
        return cls(resolution=int(resolution), coarse_resolution=coarse)


def hand_mesh(occupancy: OccupancyFn, keypoints: ArrayLike,
              config: ReconstructionConfig = ReconstructionConfig()) -> ExtractionResult:
    """Mesh of one hand's occupancy function over the box around its (21, 3) keypoints."""
    low, high = keypoint_bounds(keypoints, padding=config.padding)
    return extract_mesh(occupancy, low, high, resolution=config.resolution,
                        coarse_resolution=config.coarse_resolution, batch_points=config.batch_points)
