"""CPU ray-casting renderer for a few triangle meshes (e.g. two hands).

One primary ray per pixel centre (see `camera` for the pixel convention), first hit only,
Lambert shading (one or several directional lights plus ambient, optionally a Blinn-Phong
highlight) with smooth (barycentrically interpolated) vertex normals. Intersections
come from embree through trimesh when `embreex` is installed, otherwise from trimesh's
pure-python intersector (much slower; a warning says so once).

Concatenating the meshes into one intersector is fine here: rendering only needs the
nearest hit, and each triangle remembers which mesh it came from. (Inside/outside tests
must never do this; see `inside`.)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy import ndimage

from .camera import PinholeCamera
from .meshes import MeshLike, mesh_arrays

__all__ = ["RenderResult", "render_meshes", "random_background", "uint8_image", "DEFAULT_COLORS"]

try:  # embree is ~100x faster than the pure-python fallback.
    from trimesh.ray.ray_pyembree import RayMeshIntersector as _EmbreeIntersector

    _HAS_EMBREE = True
except ImportError:  # pragma: no cover - depends on the environment
    _EmbreeIntersector = None
    _HAS_EMBREE = False

from trimesh.ray.ray_triangle import RayMeshIntersector as _PythonIntersector

_warned_no_embree = False


# Right hand warm/orange, left hand cool/blue, then a few extras.
DEFAULT_COLORS: tuple[tuple[float, float, float], ...] = (
    (0.90, 0.62, 0.45),
    (0.45, 0.62, 0.90),
    (0.55, 0.85, 0.55),
    (0.85, 0.80, 0.45),
)


@dataclass(eq=False)
class RenderResult:
    """Output of `render_meshes`.

    `image`: (H, W, 3) float32 in [0, 1]. `mask_ids`: (H, W) int16, -1 for background, else
    the index of the mesh whose surface the pixel's ray hits first. `depth`: (H, W) float32
    camera-frame z (metres, OpenCV z forward) of the first hit, `inf` on background.
    `normals`: (H, W, 3) float32 world-space unit shading normals, oriented towards the
    camera (zeros on background), or None if not requested. `face_ids`: (H, W) int32, the
    index of the hit triangle within its own mesh's faces, -1 for background.
    """

    image: np.ndarray
    mask_ids: np.ndarray
    depth: np.ndarray
    normals: np.ndarray | None = None
    face_ids: np.ndarray | None = None


def _mesh_arrays(mesh: MeshLike, index: int) -> tuple[np.ndarray, np.ndarray]:
    return mesh_arrays(mesh, f"meshes[{index}]")


def _unit_vector(value: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite (3,) vector, got {array.shape}")
    norm = np.linalg.norm(array)
    if norm == 0:
        raise ValueError(f"{name} must be non-zero")
    return array / norm


def _make_intersector(mesh: trimesh.Trimesh):
    global _warned_no_embree
    if _HAS_EMBREE:
        return _EmbreeIntersector(mesh)
    if not _warned_no_embree:
        warnings.warn(
            "embreex is not installed; rendering with trimesh's pure-python ray "
            "intersector, which is orders of magnitude slower",
            RuntimeWarning,
            stacklevel=3,
        )
        _warned_no_embree = True
    return _PythonIntersector(mesh)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (K, 3) arrays (a few times faster than np.cross)."""
    return np.stack(
        [
            a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
            a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
            a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
        ],
        axis=1,
    )


def _hit_barycentrics(
    origins: np.ndarray, directions: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Möller–Trumbore for rays already known to hit their triangle.

    `origins`, `directions`: (K, 3); `triangles`: (K, 3, 3). Returns (distance along the
    ray (K,), barycentrics (K, 3)). Embree found the hit in float32; recomputing in float64 gives exact
    depths and the weights needed to interpolate vertex normals.
    """
    edge1 = triangles[:, 1] - triangles[:, 0]
    edge2 = triangles[:, 2] - triangles[:, 0]
    p = _cross(directions, edge2)
    determinant = np.einsum("ij,ij->i", edge1, p)
    # Grazing hits have determinant ~0; keep them finite (they are 1-pixel
    # silhouette rays and the exact values do not matter).
    determinant = np.where(np.abs(determinant) < 1e-30, 1e-30, determinant)
    inverse = 1.0 / determinant
    offset = origins - triangles[:, 0]
    b1 = np.einsum("ij,ij->i", offset, p) * inverse
    q = _cross(offset, edge1)
    b2 = np.einsum("ij,ij->i", directions, q) * inverse
    distance = np.einsum("ij,ij->i", edge2, q) * inverse
    barycentrics = np.stack([1.0 - b1 - b2, b1, b2], axis=1)
    barycentrics = np.clip(barycentrics, 0.0, 1.0)
    barycentrics /= barycentrics.sum(axis=1, keepdims=True)
    return distance, barycentrics


def _candidate_pixels(camera: PinholeCamera, vertices: np.ndarray) -> np.ndarray:
    """Flat indices of the pixels whose rays can possibly hit the meshes.

    When every vertex is in front of the camera, the meshes' image is inside
    the bounding box of the projected vertices, so rays outside it are
    skipped (hands cover a fraction of the frame; this roughly halves the
    render time). Otherwise all pixels are candidates.
    """
    width, height = camera.width, camera.height
    camera_z = vertices @ camera.R[2] + camera.t[2]
    if camera_z.min() <= 1e-9:
        return np.arange(width * height)
    homogeneous = (vertices @ camera.R.T + camera.t) @ camera.K.T
    pixels = homogeneous[:, :2] / homogeneous[:, 2:3]
    # One pixel of margin absorbs float32 round-off inside embree.
    u_min, v_min = np.maximum(np.floor(pixels.min(axis=0)) - 1, 0).astype(int)
    u_max = int(min(np.ceil(pixels[:, 0].max()) + 1, width - 1))
    v_max = int(min(np.ceil(pixels[:, 1].max()) + 1, height - 1))
    if u_min > u_max or v_min > v_max:
        return np.zeros(0, dtype=np.int64)
    columns = np.arange(u_min, u_max + 1)
    rows = np.arange(v_min, v_max + 1)
    return (rows[:, None] * width + columns[None, :]).ravel()


def render_meshes(
    meshes: Sequence[MeshLike],
    camera: PinholeCamera,
    colors: Sequence[Sequence[float]] | None = None,
    light_dir: Sequence[float] | np.ndarray | None = None,
    ambient: float = 0.35,
    background: np.ndarray | None = None,
    return_normals: bool = False,
    smooth: bool = True,
    lights: Sequence[tuple[Sequence[float] | np.ndarray | None, float | Sequence[float]]]
    | None = None,
    specular: float = 0.0,
    shininess: float = 32.0,
) -> RenderResult:
    """Ray-cast `meshes` through every pixel centre of `camera` -> `RenderResult`.

    `meshes`: a list of M meshes, `trimesh.Trimesh` or (vertices (V, 3), faces (F, 3))
    pairs, in world coordinates (metres); the image is `camera.height × camera.width`.
    `colors`: M RGB triples in [0, 1], default `DEFAULT_COLORS`; an entry may instead be a
    (V, 3) array, one colour per vertex of its mesh, interpolated across each triangle.
    `light_dir`: (3,) world direction *pointing towards the light*; None means a head-light
    (light at the camera), which lights every visible surface regardless of the viewpoint.
    `ambient`: ambient fraction in [0, 1]; shade = color * (ambient + (1 - ambient) * max(n·l, 0)).
    `background`: (H, W, 3) float image in [0, 1] shown where no mesh is hit; None means
    black. `return_normals` also returns the per-pixel shading normals; `smooth`
    interpolates vertex normals (True) or uses flat face normals.

    Several lights: `lights` = [(direction towards the light or None for a head-light,
    intensity (a float or an RGB triple)), ...] replaces `light_dir`, and then
    shade = color * (ambient + sum_k I_k max(n·l_k, 0)) (the single-light formula above is the
    case lights = [(light_dir, 1 - ambient)]). `specular` > 0 adds a white Blinn-Phong
    highlight, specular * sum_k I_k max(n·h_k, 0)^shininess with h_k the half vector between
    the light and the camera, for the legacy single light too; 0 (the default) adds nothing.

    Shading is two-sided: normals are flipped to face the camera (decided by the geometric
    face normal), so open meshes and back faces are lit like front faces instead of
    rendering black.
    """
    if len(meshes) == 0:
        raise ValueError("meshes must contain at least one mesh")
    if colors is None:
        colors = [DEFAULT_COLORS[i % len(DEFAULT_COLORS)] for i in range(len(meshes))]
    if len(colors) != len(meshes):
        raise ValueError(f"colors must have shape ({len(meshes)}, 3), got {len(colors)} colours")
    color_list = [np.asarray(c, dtype=np.float64) for c in colors]
    per_vertex = any(c.ndim == 2 for c in color_list)
    for c in color_list:
        if c.shape[-1:] != (3,) or c.ndim > 2:
            raise ValueError(
                f"colors must have shape ({len(meshes)}, 3) (or (V, 3) per mesh), got {c.shape}"
            )
        if not np.all((c >= 0) & (c <= 1)):
            raise ValueError("colors must be in [0, 1] (NaN is not allowed)")
    color_array = None if per_vertex else np.stack(color_list)
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f"ambient must be in [0, 1], got {ambient}")
    if not (np.isfinite(specular) and specular >= 0.0 and np.isfinite(shininess)
            and shininess > 0.0):
        raise ValueError(f"specular must be >= 0 and shininess > 0, got {specular} and {shininess}")
    if lights is None:
        light_list = [(None if light_dir is None else _unit_vector(light_dir, "light_dir"),
                       np.full(3, 1.0 - ambient))]
    else:
        if light_dir is not None:
            raise ValueError("give either light_dir or lights, not both")
        light_list = []
        for k, (direction, intensity) in enumerate(lights):
            unit = None if direction is None else _unit_vector(direction, f"lights[{k}] direction")
            rgb = np.broadcast_to(np.asarray(intensity, dtype=np.float64), (3,)).copy()
            if not np.all(np.isfinite(rgb) & (rgb >= 0)):
                raise ValueError(f"lights[{k}] intensity must be finite and >= 0, got {intensity}")
            light_list.append((unit, rgb))
    height, width = camera.height, camera.width
    if background is None:
        image = np.zeros((height * width, 3), dtype=np.float32)
    else:
        background = np.asarray(background, dtype=np.float32)
        if background.shape != (height, width, 3):
            raise ValueError(
                f"background must have shape ({height}, {width}, 3), got {background.shape}"
            )
        if not np.all(np.isfinite(background)):
            raise ValueError("background contains NaN or infinite values")
        image = background.reshape(-1, 3).copy()

    # One combined mesh, plus a triangle -> mesh-id lookup.
    vertex_blocks, face_blocks, face_mesh_ids, local_face_ids = [], [], [], []
    vertex_offset = 0
    vertex_colors = []
    for index, mesh in enumerate(meshes):
        vertices, faces = _mesh_arrays(mesh, index)
        vertex_blocks.append(vertices)
        if per_vertex:
            c = color_list[index]
            if c.ndim == 2 and c.shape[0] != len(vertices):
                raise ValueError(
                    f"colors[{index}] must have one colour per vertex ({len(vertices)}), "
                    f"got {c.shape[0]}"
                )
            vertex_colors.append(np.broadcast_to(c, (len(vertices), 3)))
        face_blocks.append(faces + vertex_offset)
        face_mesh_ids.append(np.full(len(faces), index, dtype=np.int16))
        local_face_ids.append(np.arange(len(faces), dtype=np.int32))
        vertex_offset += len(vertices)
    # process=False: never merge vertices across meshes or drop faces, so
    # triangle indices stay aligned with face_mesh_ids.
    combined = trimesh.Trimesh(
        np.concatenate(vertex_blocks), np.concatenate(face_blocks), process=False
    )
    face_to_mesh = np.concatenate(face_mesh_ids)
    face_to_local = np.concatenate(local_face_ids)

    mask_ids = np.full(height * width, -1, dtype=np.int16)
    face_ids = np.full(height * width, -1, dtype=np.int32)
    depth = np.full(height * width, np.inf, dtype=np.float32)
    normals_out = np.zeros((height * width, 3), dtype=np.float32) if return_normals else None

    candidates = _candidate_pixels(camera, combined.vertices) if len(combined.faces) else []
    if len(candidates):
        columns = candidates % width
        rows = candidates // width
        origins, directions = camera.rays_through_pixels(np.stack([columns, rows], axis=1))
        hit_triangle = np.asarray(_make_intersector(combined).intersects_first(origins, directions))
        hit_local = np.nonzero(hit_triangle >= 0)[0]
        if len(hit_local):
            hit_rays = candidates[hit_local]
            triangles_hit = hit_triangle[hit_local]
            hit_directions = directions[hit_local]
            distance, barycentrics = _hit_barycentrics(
                origins[hit_local], hit_directions, combined.triangles[triangles_hit]
            )
            # Camera z = distance * (ray direction · optical axis).
            depth[hit_rays] = distance * (hit_directions @ camera.R[2])
            mask_ids[hit_rays] = face_to_mesh[triangles_hit]
            face_ids[hit_rays] = face_to_local[triangles_hit]

            face_normals = combined.face_normals[triangles_hit]
            if smooth:
                corner_normals = combined.vertex_normals[combined.faces[triangles_hit]]
                normals = np.einsum("ki,kij->kj", barycentrics, corner_normals)
                lengths = np.linalg.norm(normals, axis=1, keepdims=True)
                # Degenerate interpolations (opposing corner normals) fall back to flat.
                normals = np.where(lengths > 1e-8, normals / np.maximum(lengths, 1e-8), face_normals)
            else:
                normals = face_normals
            # Two-sided: orient by the geometric normal so the flip is
            # consistent across a triangle (interpolated normals can
            # graze the view direction near silhouettes).
            facing_away = np.einsum("ij,ij->i", face_normals, hit_directions) > 0
            normals = np.where(facing_away[:, None], -normals, normals)

            towards_camera = -hit_directions
            shade = np.full((len(hit_rays), 3), ambient)
            highlight = np.zeros((len(hit_rays), 3)) if specular > 0 else None
            for light_unit, intensity in light_list:
                towards_light = towards_camera if light_unit is None else light_unit
                lambert = np.clip(np.sum(normals * towards_light, axis=-1), 0.0, 1.0)
                shade += lambert[:, None] * intensity
                if highlight is not None:
                    half = towards_light + towards_camera
                    half /= np.maximum(np.linalg.norm(half, axis=-1, keepdims=True), 1e-12)
                    n_dot_h = np.clip(np.sum(normals * half, axis=-1), 0.0, 1.0)
                    lit = np.where(lambert > 0, n_dot_h**shininess, 0.0)
                    highlight += lit[:, None] * intensity
            if color_array is not None:
                albedo = color_array[mask_ids[hit_rays]]
            else:  # per-vertex colours, interpolated like the normals
                corner_colors = np.concatenate(vertex_colors)[combined.faces[triangles_hit]]
                albedo = np.einsum("ki,kij->kj", barycentrics, corner_colors)
            image[hit_rays] = albedo * shade
            if highlight is not None:
                image[hit_rays] += specular * highlight
            if normals_out is not None:
                normals_out[hit_rays] = normals

    return RenderResult(
        image=np.clip(image, 0.0, 1.0).reshape(height, width, 3),
        mask_ids=mask_ids.reshape(height, width),
        depth=depth.reshape(height, width),
        normals=None if normals_out is None else normals_out.reshape(height, width, 3),
        face_ids=face_ids.reshape(height, width),
    )


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """(H, W, 3) low-frequency colour noise spanning [0, 1] per channel.

    A (cells + 1)² random grid is upsampled bilinearly to a 32² working
    size and blurred over about half a cell (which removes the grid's
    creases without a cubic spline's overshoot speckles), contrast-stretched
    (blurring shrinks it), then upsampled bilinearly to the output size.
    Blurring at 32² instead of full size keeps this ~1 ms.
    """
    working = 32
    coarse = rng.random((cells + 1, cells + 1, 3))
    scale = working / (cells + 1)
    field = ndimage.zoom(coarse, (scale, scale, 1.0), order=1, mode="nearest", grid_mode=True)
    sigma = 0.5 * working / (cells + 1)
    field = ndimage.gaussian_filter(field, sigma=(sigma, sigma, 0), mode="nearest")
    low, high = field.min(axis=(0, 1)), field.max(axis=(0, 1))
    field = (field - low) / np.maximum(high - low, 1e-6)
    zoom = (height / field.shape[0], width / field.shape[1], 1.0)
    full = ndimage.zoom(field, zoom, order=1, mode="nearest", grid_mode=True)
    return full[:height, :width]


def random_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A varied, smooth synthetic background (H, W, 3) float32 in [0, 1].

    Mixes a random linear colour gradient, low-frequency colour noise and a
    few soft Gaussian blobs, so a network cannot separate hands from the
    background by a constant colour. Deterministic given `rng`; uses no
    external images.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    rows = np.linspace(-1.0, 1.0, height)[:, None]
    columns = np.linspace(-1.0, 1.0, width)[None, :]

    angle = rng.uniform(0.0, 2.0 * np.pi)
    ramp = 0.5 + 0.5 * (np.cos(angle) * columns + np.sin(angle) * rows) / np.sqrt(2.0)
    color_start, color_end = rng.random(3), rng.random(3)
    image = color_start + ramp[..., None] * (color_end - color_start)

    noise = _smooth_noise(rng, height, width, cells=int(rng.integers(2, 6)))
    noise_weight = rng.uniform(0.15, 0.5)
    image = (1.0 - noise_weight) * image + noise_weight * noise

    for _ in range(int(rng.integers(1, 5))):
        centre_row, centre_column = rng.uniform(-1.0, 1.0, size=2)
        radius = rng.uniform(0.1, 0.5)
        falloff = np.exp(
            -((rows - centre_row) ** 2 + (columns - centre_column) ** 2) / (2.0 * radius**2)
        )
        strength = rng.uniform(0.3, 0.8)
        image += strength * falloff[..., None] * (rng.random(3) - image)

    brightness = rng.uniform(0.6, 1.1)
    return np.clip(image * brightness, 0.0, 1.0).astype(np.float32)


def uint8_image(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (any shape) -> uint8 in [0, 255], rounded, clipped."""
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"uint8_image expects a float image in [0, 1], got dtype {image.dtype}")
    if np.isnan(image).any():
        raise ValueError("image contains NaN values")
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
