"""One validator for the meshes the geometry layer and the metrics accept."""
from __future__ import annotations

from typing import Union

import numpy as np
import trimesh

MeshLike = Union[trimesh.Trimesh, tuple[np.ndarray, np.ndarray]]


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
