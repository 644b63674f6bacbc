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

Closed meshes, exact and fast: :func:`closed_winding_number` / :class:`ClosedMeshIndex`
count *signed* ray crossings, which for a closed, consistently oriented mesh is exactly the
winding number (the same integer as the solid-angle sum, 2 inside a fold; not parity). On a
posed 3,286-face hand it labels ~1.0-1.5 M points/s (40k HALO queries, its ~1.6 ms build
included), vs ~0.3-0.4 M points/s for the fast winding number and ~0.1 M points/s for the exact
one. The data generator's labels and its penetration checks use it (issue 21).
"""

from __future__ import annotations

import copy
import math
import threading
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
    "closed_winding_number",
    "closed_mesh_index",
    "ClosedMeshIndex",
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


# ------------------------------------------------------------------ exact, fast: closed meshes
# Pairs (point, candidate triangle) handled per numpy pass; bounds the memory of one query.
_CROSSING_PAIRS_PER_CHUNK = 1 << 20
_GRID_MAX_CELLS_PER_SIDE = 256
_CLOSED_CHECKS: dict[int, bool] = {}  # faces' topology hash -> closed and consistently oriented
_INDEX_CACHE: dict[tuple[int, int], "ClosedMeshIndex"] = {}  # (vertices, faces) hash -> index
_INDEX_CACHE_SIZE = 4
_INDEX_CACHE_LOCK = threading.Lock()


def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated integer ranges [starts[i], starts[i] + counts[i]) -> (owner i, index)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return owner, np.arange(len(owner)) + offsets


class ClosedMeshIndex:
    """Exact winding numbers of ONE closed, consistently oriented triangle mesh.

    For a closed oriented surface (every undirected edge used once in each direction; self-
    intersections and overlapping folds allowed) the winding number of a point off the surface
    equals the *signed* number of times any ray from it crosses the surface: +1 leaving through
    a face (outward normal along the ray), -1 entering. This is the same integer as the solid-
    angle sum (1/4π) Σ Ω_f, not ray parity: inside a fold it is 2, and ``w > 0.5`` says "inside".

    Rays run along the coordinate axis whose columns hold the fewest triangles, up or down per
    point, whichever meets fewer. Triangles are binned on a 2D grid across the ray axis and,
    per cell, sorted by their extent along it, so each point tests only the triangles of its
    cell on its side. Robustness: the 2D edge test of an edge shared by two faces is evaluated
    once per edge (same vertices in the same order, the same floating-point result for both
    faces), and exact ties (a ray through a projected edge or vertex: exactly 0) are broken by
    simulation of simplicity, so such a ray is counted exactly once (twice with opposite signs
    at a silhouette). Only points within floating-point round-off of the surface (~1e-15 of
    the mesh's size), or whose ray passes within round-off of a projected vertex without
    hitting it exactly, can be miscounted: where the solid-angle sum is ill-conditioned too.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, check: bool = True,
                 axis: int | None = None):
        vertices, faces = _validate_mesh(vertices, faces)
        if check and not _is_closed_oriented(faces):
            raise ValueError("ClosedMeshIndex needs a closed, consistently oriented mesh "
                             "(every edge once in each direction); use winding_number instead")
        self.vertices, self.faces = vertices.copy(), faces.copy()  # for the cache's equality test
        self.lo, self.hi = vertices.min(axis=0), vertices.max(axis=0)
        relative = vertices - self.lo  # everything is stored relative to lo
        corners = relative[faces]  # (F, 3 corners, 3)
        c0, c1, c2 = corners[:, 0], corners[:, 1], corners[:, 2]  # (faster than min(axis=1))
        tri_lo = np.minimum(np.minimum(c0, c1), c2)
        tri_hi = np.maximum(np.maximum(c0, c1), c2)
        extent = np.maximum(self.hi - self.lo, 1e-300)
        size = tri_hi - tri_lo
        # ray axis: fewest triangles per column (projected bounding-box area over the mesh's)
        cost = [float((size[:, (k + 1) % 3] * size[:, (k + 2) % 3]).sum()
                      / (extent[(k + 1) % 3] * extent[(k + 2) % 3])) for k in range(3)]
        axis = int(np.argmin(cost)) if axis is None else int(axis)  # or the one asked for
        if axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
        u, v = (axis + 1) % 3, (axis + 2) % 3  # right-handed (u, v, axis): orientation is kept
        self.axis, self.u, self.v = axis, u, v
        cell = float(np.median(np.maximum(size[:, u], size[:, v])))
        cell = cell if cell > 0 else float(max(extent[u], extent[v]))
        self.grid = tuple(int(min(_GRID_MAX_CELLS_PER_SIDE, max(1, np.ceil(extent[k] / cell))))
                          for k in (u, v))
        self.cell_size = np.array([extent[u] / self.grid[0], extent[v] / self.grid[1]])
        cu0, cv0 = self._cells(tri_lo[:, u], tri_lo[:, v])
        cu1, cv1 = self._cells(tri_hi[:, u], tri_hi[:, v])
        width = cu1 - cu0 + 1
        tri, local = _ranges(np.zeros(len(faces), dtype=np.int64), width * (cv1 - cv0 + 1))
        cell_of = (cv0[tri] + local // width[tri]) * self.grid[0] + cu0[tri] + local % width[tri]
        n_cells = self.grid[0] * self.grid[1]
        self.cell_start = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell_of, minlength=n_cells), out=self.cell_start[1:])
        # per cell, triangles sorted by top (for rays up) and by bottom (for rays down): one
        # sorted key "cell + height in [0, 1)" each
        self.depth = float(extent[axis]) * (1 + 1e-9)
        key_top = cell_of + tri_hi[tri, axis] / self.depth
        key_bottom = cell_of + tri_lo[tri, axis] / self.depth
        order_top, order_bottom = np.argsort(key_top), np.argsort(key_bottom)
        self.key_top, self.key_bottom = key_top[order_top], key_bottom[order_bottom]
        self.tris = np.concatenate([tri[order_top], tri[order_bottom]])  # both orders, stacked
        # 2D edge functions, one canonical direction per undirected edge (low -> high index);
        # edge k of a face runs from corner k+1 to corner k+2 (opposite corner k)
        start, end = faces[:, [1, 2, 0]], faces[:, [2, 0, 1]]
        projected = relative[:, [u, v]]
        a, b = projected[np.minimum(start, end)], projected[np.maximum(start, end)]  # (F, 3, 2)
        du, dv = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
        orient = np.where(start > end, -1.0, 1.0)  # (F, 3): the face runs the edge backwards
        # the face's edge function du (pv - ay) - dv (pu - ax), > 0 on the inner side of a face
        # seen counter-clockwise; with the sign folded into du, dv it is exactly -1 times the
        # neighbour's (a negation rounds the same), so both faces agree where the ray lies
        self.ax, self.ay = np.ascontiguousarray(a[..., 0]), np.ascontiguousarray(a[..., 1])
        self.du, self.dv = du * orient, dv * orient
        # ties (a ray through an edge or a vertex in projection): simulation of simplicity, the
        # point moved by (e, e^2) in (u, v), so the edge function's sign becomes that of -dv,
        # else of du; a projected edge of length 0 gives 0 (its face has no area: no hit)
        self.tie = np.where(dv != 0, np.sign(-dv), np.sign(du)) * orient
        self.heights = np.ascontiguousarray(corners[..., axis])  # (F, 3)

    def _cells(self, pu: np.ndarray, pv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cu = np.clip((pu / self.cell_size[0]).astype(np.int64), 0, self.grid[0] - 1)
        cv = np.clip((pv / self.cell_size[1]).astype(np.int64), 0, self.grid[1] - 1)
        return cu, cv

    def winding_numbers(self, points: np.ndarray) -> np.ndarray:
        """Exact integer winding numbers (N,) int64 of ``points`` (N, 3)."""
        points = _validate_points(points)
        result = np.zeros(len(points), dtype=np.int64)
        keep = np.flatnonzero(np.all((points >= self.lo) & (points <= self.hi), axis=1))
        if len(keep) == 0:  # outside the bounding box: outside the convex hull, w = 0
            return result
        p = points[keep] - self.lo
        cu, cv = self._cells(p[:, self.u], p[:, self.v])
        cell = cv * self.grid[0] + cu
        first, last = self.cell_start[cell], self.cell_start[cell + 1]
        height = p[:, self.axis] / self.depth
        slack = 1e-9  # the searches may only take extra triangles (the crossing test is exact)
        up_first = np.maximum(np.searchsorted(self.key_top, cell + height - slack), first)
        down_last = np.minimum(np.searchsorted(self.key_bottom, cell + height + slack), last)
        n_up, n_down = last - up_first, down_last - first
        up = n_up <= n_down
        starts = np.where(up, up_first, first + len(self.key_top))  # into the stacked orders
        counts = np.where(up, n_up, n_down)
        total = int(counts.sum())
        if total <= _CROSSING_PAIRS_PER_CHUNK:
            result[keep] = self._crossings(p, starts, counts, up)
            return result
        w = np.zeros(len(p), dtype=np.int64)
        limits = np.arange(1, total // _CROSSING_PAIRS_PER_CHUNK + 1) * _CROSSING_PAIRS_PER_CHUNK
        cuts = np.searchsorted(np.cumsum(counts), limits)
        for chunk in np.split(np.arange(len(p)), np.unique(cuts)):
            if len(chunk):
                w[chunk] = self._crossings(p[chunk], starts[chunk], counts[chunk], up[chunk])
        result[keep] = w
        return result

    def _crossings(self, p: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                   up: np.ndarray) -> np.ndarray:
        """Signed crossings of the ray from each point of p (relative to lo) along ±axis."""
        owner, index = _ranges(starts, counts)
        tri = self.tris[index]
        pu, pv = p[owner, self.u][:, None], p[owner, self.v][:, None]
        # (P, 3) the faces' edge functions (2 x area x barycentric coordinates)
        side = self.du[tri] * (pv - self.ay[tri]) - self.dv[tri] * (pu - self.ax[tri])
        sign = np.sign(side)
        rows, cols = np.nonzero(sign == 0)
        sign[rows, cols] = self.tie[tri[rows], cols]
        total = sign[:, 0] + sign[:, 1] + sign[:, 2]
        hit = np.flatnonzero(np.abs(total) == 3)  # all > 0: seen counter-clockwise; all < 0
        if len(hit) == 0:
            return np.zeros(len(p), dtype=np.int64)
        owner = owner[hit]
        t = np.einsum("ij,ij->i", side[hit], self.heights[tri[hit]] - p[owner, self.axis][:, None])
        ccw, pair_up = total[hit] > 0, up[owner]
        # crossing above p: t has the face's orientation sign; ccw faces point along +axis
        above, below = np.where(ccw, t > 0, t < 0), np.where(ccw, t < 0, t > 0)
        sign = np.where(ccw, 1, -1)
        count = np.where(pair_up, sign * above, -sign * below)
        return np.bincount(owner, weights=count, minlength=len(p)).astype(np.int64)

    def moved(self, offset: np.ndarray, vertices: np.ndarray | None = None) -> "ClosedMeshIndex":
        """This index for the mesh translated by ``offset`` (3,), sharing the arrays."""
        offset = np.asarray(offset, dtype=np.float64)
        index = copy.copy(self)  # the grid, keys and edges are relative to lo: move lo and hi
        index.lo, index.hi = self.lo + offset, self.hi + offset
        index.vertices = (self.vertices + offset if vertices is None
                          else np.array(vertices, dtype=np.float64))
        return index

    def contains(self, points: np.ndarray) -> np.ndarray:
        """``winding_numbers(points) > 0.5`` -> (N,) bool (inside, also where folds overlap)."""
        return self.winding_numbers(points) > 0


def _is_closed_oriented(faces: np.ndarray) -> bool:
    """Every undirected edge occurs once in each direction (cached per topology)."""
    key = hash(faces.tobytes())
    if key not in _CLOSED_CHECKS:
        if len(_CLOSED_CHECKS) >= 64:
            _CLOSED_CHECKS.clear()
        keys, n = _directed_edge_keys(faces)
        source, target = np.divmod(keys, n)
        _, counts = np.unique(keys, return_counts=True)
        reverse = np.isin(target * n + source, keys)
        _CLOSED_CHECKS[key] = bool(np.all(counts == 1) and reverse.all())
    return _CLOSED_CHECKS[key]


def closed_mesh_index(vertices: np.ndarray, faces: np.ndarray) -> ClosedMeshIndex:
    """A :class:`ClosedMeshIndex`, reused while the same mesh is asked about again.

    A rigidly translated copy of a cached mesh (same faces, every vertex moved by the same
    vector to within 1e-12 of the mesh's size, e.g. a hand moved into contact) reuses that
    index, moved: its answers are exact for the mesh moved by that vector."""
    vertices, faces = _validate_mesh(vertices, faces)
    key = (hash(vertices.tobytes()), hash(faces.tobytes()))
    with _INDEX_CACHE_LOCK:
        index = _INDEX_CACHE.pop(key, None)
        cached_indexes = list(_INDEX_CACHE.values())
    if index is None or not (np.array_equal(index.vertices, vertices)
                             and np.array_equal(index.faces, faces)):
        index = None
        for cached in reversed(cached_indexes):
            if cached.vertices.shape == vertices.shape and np.array_equal(cached.faces, faces):
                shift = vertices - cached.vertices
                size = float(np.abs(cached.hi - cached.lo).max())
                if np.abs(shift - shift[0]).max() <= 1e-12 * max(size, 1e-300):
                    index = cached.moved(shift[0], vertices)
                    break
        if index is None:
            index = ClosedMeshIndex(vertices, faces)
    with _INDEX_CACHE_LOCK:
        _INDEX_CACHE.pop(key, None)
        _INDEX_CACHE[key] = index  # most recent last
        while len(_INDEX_CACHE) > _INDEX_CACHE_SIZE:
            del _INDEX_CACHE[next(iter(_INDEX_CACHE))]
    return index


def closed_winding_number(vertices: np.ndarray, faces: np.ndarray,
                          points: np.ndarray) -> np.ndarray:
    """Exact integer winding numbers (N,) int64 of ``points`` (N, 3) w.r.t. one CLOSED mesh.

    The mesh must be closed and consistently oriented (ValueError otherwise; self-overlapping
    folds are fine). Equal to ``round(winding_number(..., exact=True))`` off the surface, and
    ~3.5x faster than libigl's approximate fast winding number (~12x than its exact one) on a
    posed hand. See :class:`ClosedMeshIndex`.
    """
    return closed_mesh_index(vertices, faces).winding_numbers(points)
