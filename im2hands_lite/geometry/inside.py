"""Inside/outside tests for closed triangle meshes, one mesh at a time.

Why winding numbers (the default)
---------------------------------
The generalised winding number w(p) = (1/4π) Σ solid angle of each
triangle seen from p is 1 inside and 0 outside a closed, outward-oriented
mesh, and it *adds up* where surfaces overlap: inside a posed hand where a
fingertip pokes into the palm, w = 2, and ``w > 0.5`` still says "inside".
Ray parity (count crossings, odd = inside) sees two surfaces there and
wrongly answers "outside", so the ``"ray"`` method is kept only for
comparison.

Why one mesh at a time
----------------------
Never concatenate two hands into one mesh for occupancy: where the hands
interpenetrate, parity flips back to "outside", and any per-hand label is
lost. :func:`occupancy_per_mesh` tests each mesh separately.

Backends
--------
``igl.fast_winding_number(V, F, Q)`` (libigl ≥ 2.5 python bindings; the
triangle-soup overload) is a Barnes–Hut approximation: ~2e-3 absolute error
away from the surface, so the 0.5 threshold is only ever wrong for points
within ~1e-7 m of the surface. ``exact=True`` uses ``igl.winding_number``
(exact, ~4x slower). Without libigl, an exact numpy solid-angle sum is
used (O(N·F), evaluated in chunks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import trimesh

from .meshes import MeshLike, mesh_arrays

try:
    import igl as _igl
except ImportError:  # pragma: no cover - depends on the environment
    _igl = None

__all__ = [
    "winding_number",
    "contains",
    "occupancy_per_mesh",
    "is_watertight",
    "is_winding_consistent",
    "mesh_volume",
]


# Memory cap for the numpy fallback: chunk_points * faces * 3 * 3 float64s.
_FALLBACK_BYTES_PER_CHUNK = 64 * 2**20


def _validate_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return C-contiguous float64 (V, 3) vertices and int64 (F, 3) faces or raise ValueError."""
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces_array = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {vertices.shape}")
    if faces_array.ndim != 2 or faces_array.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {faces_array.shape}")
    if len(faces_array) == 0:
        raise ValueError("faces is empty")
    if not np.issubdtype(faces_array.dtype, np.integer):
        raise ValueError(f"faces must be integer indices, got dtype {faces_array.dtype}")
    if not np.all(np.isfinite(vertices)):
        raise ValueError("vertices contain NaN or infinite values")
    if faces_array.min() < 0 or faces_array.max() >= len(vertices):
        raise ValueError(f"faces contain indices outside [0, {len(vertices)})")
    return vertices, np.ascontiguousarray(faces_array, dtype=np.int64)


def _validate_points(points: np.ndarray) -> np.ndarray:
    points = np.ascontiguousarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {points.shape}")
    if not np.all(np.isfinite(points)):
        bad_rows = int(np.sum(~np.isfinite(points).all(axis=1)))
        raise ValueError(f"points contain NaN or infinite values ({bad_rows} rows)")
    return points


def _mesh_arrays(mesh: MeshLike, index: int) -> tuple[np.ndarray, np.ndarray]:
    return mesh_arrays(mesh, f"meshes[{index}]")


def _directed_edge_keys(faces: np.ndarray) -> tuple[np.ndarray, int]:
    """Directed edges a→b of every face encoded as one int64 ``a * n + b``
    (1D keys make ``np.unique`` several times faster than row-unique)."""
    n = int(faces.max()) + 1
    edges = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    return edges[:, 0] * n + edges[:, 1], n


def is_watertight(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """True when every edge is shared by exactly two faces (closed 2-manifold
    edges, no boundary).

    Topological check on vertex *indices*: adjacent faces must share vertex
    indices (welded), as in MANO-style meshes; duplicated seam vertices count
    as holes. Shapes: vertices (V, 3), faces (F, 3).
    """
    _, faces = _validate_mesh(vertices, faces)
    keys, n = _directed_edge_keys(faces)
    source, target = np.divmod(keys, n)
    undirected = np.minimum(source, target) * n + np.maximum(source, target)
    _, counts = np.unique(undirected, return_counts=True)
    return bool(np.all(counts == 2))


def is_winding_consistent(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """True when neighbouring faces are oriented consistently: no directed
    edge a→b occurs twice (in a closed mesh it appears once, its reverse once)."""
    _, faces = _validate_mesh(vertices, faces)
    keys, _ = _directed_edge_keys(faces)
    _, counts = np.unique(keys, return_counts=True)
    return bool(np.all(counts == 1))


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume (m³) by the divergence theorem: Σ v0·(v1×v2) / 6.

    Positive for a closed mesh with outward normals (counter-clockwise faces
    seen from outside), negative if it is inside-out. Meaningless for open
    meshes. Computed relative to the centroid to limit cancellation.
    """
    vertices, faces = _validate_mesh(vertices, faces)
    centred = vertices - vertices.mean(axis=0)
    v0, v1, v2 = (centred[faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() / 6.0)


def _solid_angle_winding_number(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Exact winding numbers (N,) in numpy (Van Oosterom & Strackee 1983).

    For a triangle (a, b, c) relative to p, the signed solid angle is
    Ω = 2 atan2(a·(b×c), |a||b||c| + (a·b)|c| + (b·c)|a| + (c·a)|b|).
    """
    corners = vertices[faces]  # (F, 3, 3)
    chunk = max(1, _FALLBACK_BYTES_PER_CHUNK // (len(faces) * 9 * 8))
    result = np.empty(len(points))
    for start in range(0, len(points), chunk):
        relative = corners[None, :, :, :] - points[start : start + chunk, None, None, :]
        a, b, c = relative[:, :, 0], relative[:, :, 1], relative[:, :, 2]
        length_a, length_b, length_c = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        numerator = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
        denominator = (
            length_a * length_b * length_c
            + np.einsum("pfi,pfi->pf", a, b) * length_c
            + np.einsum("pfi,pfi->pf", b, c) * length_a
            + np.einsum("pfi,pfi->pf", c, a) * length_b
        )
        solid_angle = 2.0 * np.arctan2(numerator, denominator)
        result[start : start + chunk] = solid_angle.sum(axis=1) / (4.0 * math.pi)
    return result


def winding_number(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, exact: bool = False
) -> np.ndarray:
    """Generalised winding number of ``points`` (N, 3) w.r.t. one mesh -> (N,) float64.

    Shapes: vertices (V, 3), faces (F, 3) int. Defined for any triangle
    soup (no watertightness needed); for a closed outward mesh it is ~1
    inside, ~0 outside, ~k where k surface layers overlap. ``exact=False``
    uses libigl's fast (Barnes–Hut) evaluation; see the module docstring
    for its accuracy.
    """
    vertices, faces = _validate_mesh(vertices, faces)
    points = _validate_points(points)
    if len(points) == 0:
        return np.zeros(0)
    if _igl is None:
        return _solid_angle_winding_number(vertices, faces, points)
    if exact:
        return np.asarray(_igl.winding_number(vertices, faces, points), dtype=np.float64)
    return np.asarray(_igl.fast_winding_number(vertices, faces, points), dtype=np.float64)


def _require_closed_outward(vertices: np.ndarray, faces: np.ndarray) -> None:
    if not is_watertight(vertices, faces):
        raise ValueError(
            "mesh is not watertight (some edges do not have exactly two faces); "
            "inside/outside is undefined — close the holes first (e.g. cap the MANO wrist)"
        )
    if not is_winding_consistent(vertices, faces):
        raise ValueError("mesh faces are not consistently oriented (a directed edge repeats)")
    if mesh_volume(vertices, faces) <= 0:
        raise ValueError("mesh is inside-out (non-positive signed volume); flip its faces")


def contains(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    method: Literal["winding", "ray"] = "winding",
    check_watertight: bool = True,
) -> np.ndarray:
    """Which ``points`` (N, 3) are inside ONE closed mesh -> (N,) bool.

    method:
        "winding" (default): ``winding_number > 0.5``; correct inside
            self-overlapping regions (posed hands).
        "ray": trimesh's ``Trimesh.contains`` (embree ray parity); mislabels
            points inside self-overlapping regions as outside. For
            comparison only.

    Raises ValueError for bad shapes, NaN points, and — unless
    ``check_watertight=False`` — meshes that are not watertight, not
    consistently oriented, or inside-out, since "inside" is then undefined.
    """
    vertices, faces = _validate_mesh(vertices, faces)
    points = _validate_points(points)
    if method not in ("winding", "ray"):
        raise ValueError(f"method must be 'winding' or 'ray', got {method!r}")
    if check_watertight:
        _require_closed_outward(vertices, faces)
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    if method == "winding":
        return winding_number(vertices, faces, points) > 0.5
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    return np.asarray(mesh.contains(points), dtype=bool)


def occupancy_per_mesh(
    meshes: Sequence[MeshLike],
    points: np.ndarray,
    method: Literal["winding", "ray"] = "winding",
) -> np.ndarray:
    """Occupancy of ``points`` (N, 3) in each mesh separately -> (M, N) bool.

    ``meshes`` is a list of M (vertices (V, 3), faces (F, 3)) pairs or
    ``trimesh.Trimesh`` objects, e.g. [left hand, right hand]. Each mesh is
    tested on its own and never concatenated: in a concatenated mesh the
    winding number is 2 (and ray parity even, i.e. "outside") where the two
    hands interpenetrate, and which hand a point belongs to is lost.
    Every mesh must be watertight (see :func:`contains`).
    """
    if len(meshes) == 0:
        raise ValueError("meshes must contain at least one mesh")
    points = _validate_points(points)
    occupancy = np.zeros((len(meshes), len(points)), dtype=bool)
    for index, mesh in enumerate(meshes):
        vertices, faces = _mesh_arrays(mesh, index)
        try:
            occupancy[index] = contains(vertices, faces, points, method=method)
        except ValueError as error:
            raise ValueError(f"meshes[{index}]: {error}") from error
    return occupancy
