"""Meshes as the geometry layer and the metrics accept them: one validator, surface sampling."""
from __future__ import annotations

import numpy as np
import trimesh

MeshLike = trimesh.Trimesh | tuple[np.ndarray, np.ndarray]


def mesh_arrays(mesh: MeshLike, name: str = "mesh") -> tuple[np.ndarray, np.ndarray]:
    """A Trimesh or (vertices, faces) pair -> (vertices float64 (V, 3), faces int64 (F, 3)).

    Either array may have 0 rows (an empty mesh). Raises ValueError naming `name` for
    anything else: wrong shapes, non-integer faces, NaN vertices, out-of-range indices.
    """
    if isinstance(mesh, trimesh.Trimesh):
        vertices, faces = mesh.vertices, mesh.faces
    elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        vertices, faces = mesh
    else:
        raise ValueError(f"{name} must be a trimesh.Trimesh or a (vertices, faces) pair")
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.size == 0:  # an empty mesh, however its arrays are shaped
        vertices = vertices.reshape(0, 3)
    if faces.size == 0:
        faces = np.zeros((0, 3), dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{name} vertices must have shape (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{name} faces must have shape (F, 3), got {faces.shape}")
    if not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"{name} faces must be integer indices, got dtype {faces.dtype}")
    if not np.all(np.isfinite(vertices)):
        raise ValueError(f"{name} vertices contain NaN or infinite values")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"{name} faces contain indices outside [0, {len(vertices)})")
    return vertices, faces.astype(np.int64)


def sample_surface(mesh: MeshLike, n_points: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Area-weighted uniform samples on a mesh's surface -> (n_points, 3) float64.

    Faces are drawn with probability proportional to their area, then a uniform point in the
    triangle by the square-root barycentric trick; `rng` None means seed 0. Raises ValueError
    for an empty mesh or one of zero area.
    """
    vertices, faces = mesh_arrays(mesh, "mesh")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 1:
        raise ValueError(f"n_points must be a positive integer, got {n_points!r}")
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        generator = np.random.default_rng(0 if rng is None else int(rng))
    elif isinstance(rng, np.random.Generator):
        generator = rng
    else:
        raise ValueError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")
    if len(faces) == 0:
        raise ValueError("cannot sample the surface of an empty mesh")
    corners = vertices[faces]  # (F, 3, 3)
    areas = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    total = areas.sum()
    if not total > 0:
        raise ValueError("cannot sample the surface of a mesh with zero area")
    face_index = generator.choice(len(faces), size=int(n_points), p=areas / total)
    u, v = generator.random((2, int(n_points)))
    root = np.sqrt(u)
    weights = np.stack([1.0 - root, root * (1.0 - v), root * v], axis=1)  # (n, 3)
    return np.einsum("nk,nkd->nd", weights, corners[face_index])
