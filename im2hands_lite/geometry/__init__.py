"""Geometry layer: rotations, pinhole cameras, CPU ray-cast rendering and
inside/outside tests. Bottom layer — imports nothing else from im2hands_lite.

Units are metres; cameras follow OpenCV (x right, y down, z forward, pixel
(u, v) centred at integer coordinates).
"""

from .camera import (
    PinholeCamera,
    intrinsics_from_fov,
    pixels_to_grid_sample_coords,
)
from .inside import (
    ClosedMeshIndex,
    closed_mesh_index,
    closed_winding_number,
    contains,
    is_watertight,
    is_winding_consistent,
    mesh_volume,
    occupancy_per_mesh,
    winding_number,
)
from .render import (
    DEFAULT_COLORS,
    RenderResult,
    random_background,
    render_meshes,
    uint8_image,
)
from .rotations import (
    axis_angle_to_matrix,
    look_at,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_matrix,
    random_rotation,
    rotation_about_axis,
)

__all__ = [
    "ClosedMeshIndex",
    "closed_mesh_index",
    "closed_winding_number",
    "PinholeCamera",
    "intrinsics_from_fov",
    "pixels_to_grid_sample_coords",
    "contains",
    "is_watertight",
    "is_winding_consistent",
    "mesh_volume",
    "occupancy_per_mesh",
    "winding_number",
    "DEFAULT_COLORS",
    "RenderResult",
    "random_background",
    "render_meshes",
    "uint8_image",
    "axis_angle_to_matrix",
    "look_at",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "random_rotation",
    "rotation_about_axis",
]

# Occupancy -> mesh (coarse-to-fine Marching Cubes).
from .extraction import (  # noqa: E402
    ExtractionResult,
    extract_mesh,
    extract_mesh_dense,
    grid_points,
    keypoint_bounds,
)

__all__ += [
    "ExtractionResult",
    "extract_mesh",
    "extract_mesh_dense",
    "grid_points",
    "keypoint_bounds",
]
