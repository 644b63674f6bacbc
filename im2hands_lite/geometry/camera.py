"""Pinhole camera in the OpenCV convention.

Coordinate frames
-----------------
* World → camera: ``x_cam = R @ x_world + t`` (rows of R are the camera
  axes expressed in world coordinates).
* Camera frame: +x right, +y down, +z forward (the viewing direction).
  Points in front of the camera have z > 0.

Pixel convention (important for any image sampler)
--------------------------------------------------
A pixel index ``(u, v)`` = (column, row) names the pixel whose **centre is
at the continuous coordinate (u, v)**: the top-left pixel's centre is
(0, 0) and its area covers [-0.5, 0.5]². The whole image spans
[-0.5, W - 0.5] × [-0.5, H - 0.5]. This is the OpenCV convention. A centred
principal point is therefore ``((W - 1) / 2, (H - 1) / 2)``.

To bilinearly sample an image at projected pixel coordinates with
``torch.nn.functional.grid_sample(..., align_corners=False)`` use
``x_norm = (2 u + 1) / W - 1`` and ``y_norm = (2 v + 1) / H - 1``
(see :func:`pixels_to_grid_sample_coords`); with ``align_corners=True``
the matching formula is ``2 u / (W - 1) - 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .rotations import look_at

__all__ = ["PinholeCamera", "intrinsics_from_fov", "pixels_to_grid_sample_coords"]

_ROTATION_TOLERANCE = 1e-5


def _finite_array(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Copy ``value`` into a float64 array of exactly ``shape``, or raise ValueError."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric with shape {shape}") from error
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _points_array(points: Any, name: str = "points") -> np.ndarray:
    """Validate an (N, 3) finite point array and return it as float64."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def intrinsics_from_fov(fov_deg: float, width: int, height: int) -> np.ndarray:
    """K (3, 3) with square pixels, a centred principal point and the given
    **horizontal** field of view (degrees, measured edge to edge across
    ``width`` pixels)."""
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    _check_image_size(width, height)
    focal = 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)
    return np.array(
        [[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]]
    )


def _check_image_size(width: Any, height: Any) -> None:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def pixels_to_grid_sample_coords(pixels: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Pixel coordinates (..., 2) -> ``grid_sample`` coordinates in [-1, 1] (..., 2)
    for ``align_corners=False``, consistent with this module's pixel-centre
    convention (pixel (u, v) has its centre at integer (u, v))."""
    _check_image_size(width, height)
    if pixels.shape[-1] != 2:
        raise ValueError(f"pixels must have shape (..., 2), got {tuple(pixels.shape)}")
    size = torch.tensor([width, height], dtype=pixels.dtype, device=pixels.device)
    return (2.0 * pixels + 1.0) / size - 1.0


@dataclass(eq=False)
class PinholeCamera:
    """Pinhole camera: intrinsics K, world→camera (R, t), image size.

    Attributes (stored as float64 numpy arrays after validation):
        K: (3, 3) intrinsics ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` in pixels.
        R: (3, 3) world→camera rotation (orthonormal, det +1).
        t: (3,) world→camera translation, ``x_cam = R x_world + t``.
        width, height: image size in pixels.

    See the module docstring for the pixel-centre convention.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        self.K = _finite_array(self.K, (3, 3), "K")
        self.R = _finite_array(self.R, (3, 3), "R")
        self.t = _finite_array(self.t, (3,), "t")
        _check_image_size(self.width, self.height)
        self.width, self.height = int(self.width), int(self.height)
        if not np.allclose(self.K[2], [0.0, 0.0, 1.0]):
            raise ValueError(f"K's last row must be [0, 0, 1], got {self.K[2].tolist()}")
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0 or self.K[1, 0] != 0:
            raise ValueError("K must be upper triangular with positive focal lengths fx, fy")
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=_ROTATION_TOLERANCE):
            raise ValueError("R must be orthonormal (R @ R.T == I)")
        if np.linalg.det(self.R) <= 0:
            raise ValueError("R must be a proper rotation (det(R) == +1), got a reflection")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def looking_at(
        cls,
        target: Sequence[float] | np.ndarray,
        distance: float,
        azimuth: float,
        elevation: float,
        fov_deg: float,
        width: int,
        height: int,
        up: Sequence[float] | np.ndarray = (0.0, 1.0, 0.0),
    ) -> "PinholeCamera":
        """A camera on a sphere of radius ``distance`` (metres) around ``target``,
        looking at it, image "up" aligned with ``up``.

        ``azimuth`` and ``elevation`` are in **degrees**. With ``up = +y``,
        azimuth 0 / elevation 0 puts the camera on the +z side of the target;
        positive azimuth turns it about ``up`` (right-hand rule, so 90° is the
        +x side); positive elevation lifts it towards ``up``. ``fov_deg`` is
        the horizontal field of view (see :func:`intrinsics_from_fov`).
        Elevation must stay strictly within (-90, 90) so the roll is defined.
        """
        target_array = _finite_array(target, (3,), "target")
        up_array = _finite_array(up, (3,), "up")
        if not distance > 0:
            raise ValueError(f"distance must be positive, got {distance}")
        if not -90.0 < elevation < 90.0:
            raise ValueError(f"elevation must be in (-90, 90) degrees, got {elevation}")
        up_norm = np.linalg.norm(up_array)
        if up_norm == 0:
            raise ValueError("up must be non-zero")
        up_unit = up_array / up_norm
        # Reference "front" direction: world +z made orthogonal to up (world +x
        # if up is along z), so up=+y gives the conventional +z front.
        reference = np.array([0.0, 0.0, 1.0])
        if abs(up_unit @ reference) > 0.99:
            reference = np.array([1.0, 0.0, 0.0])
        front = reference - (reference @ up_unit) * up_unit
        front /= np.linalg.norm(front)
        side = np.cross(up_unit, front)
        azimuth_rad, elevation_rad = math.radians(azimuth), math.radians(elevation)
        direction = math.cos(elevation_rad) * (
            math.cos(azimuth_rad) * front + math.sin(azimuth_rad) * side
        ) + math.sin(elevation_rad) * up_unit
        eye = target_array + distance * direction
        rotation, translation = look_at(
            torch.from_numpy(eye), torch.from_numpy(target_array), torch.from_numpy(up_unit)
        )
        return cls(
            K=intrinsics_from_fov(fov_deg, width, height),
            R=rotation.numpy(),
            t=translation.numpy(),
            width=width,
            height=height,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PinholeCamera":
        """Inverse of :meth:`to_dict`."""
        missing = {"K", "R", "t", "width", "height"} - set(data)
        if missing:
            raise ValueError(f"camera dict is missing keys: {sorted(missing)}")
        return cls(K=data["K"], R=data["R"], t=data["t"], width=data["width"], height=data["height"])

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict (nested lists and ints)."""
        return {
            "K": self.K.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "width": self.width,
            "height": self.height,
        }

    def resized(self, width: int, height: int) -> "PinholeCamera":
        """Same camera for an image resampled to ``width × height``.

        With pixel centres at integers, continuous coordinates map as
        ``u' = (u + 0.5) * width / W - 0.5`` (image edges map onto edges), so
        fx, skew, cx scale with the x ratio (cx with the half-pixel shift)
        and fy, cy with the y ratio.
        """
        _check_image_size(width, height)
        scale_x, scale_y = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= scale_x
        K[0, 1] *= scale_x
        K[0, 2] = (K[0, 2] + 0.5) * scale_x - 0.5
        K[1, 1] *= scale_y
        K[1, 2] = (K[1, 2] + 0.5) * scale_y - 0.5
        return PinholeCamera(K=K, R=self.R.copy(), t=self.t.copy(), width=width, height=height)

    def cropped(self, x0: int, y0: int, side: int, size: int) -> "PinholeCamera":
        """Same camera for the square window of ``side`` pixels whose top-left pixel is
        (x0, y0) (it may reach outside the image), resampled to ``size × size``:
        ``u' = (u - x0 + 0.5) * size / side - 0.5`` (edges onto edges, as in :meth:`resized`)."""
        _check_image_size(size, size)
        if side < 1:
            raise ValueError(f"crop side must be >= 1 pixel, got {side}")
        scale = size / side
        K = self.K.copy()
        K[0, :] *= scale
        K[1, :] *= scale
        K[0, 2] = (self.K[0, 2] - x0 + 0.5) * scale - 0.5
        K[1, 2] = (self.K[1, 2] - y0 + 0.5) * scale - 0.5
        K[2] = (0.0, 0.0, 1.0)
        return PinholeCamera(K=K, R=self.R.copy(), t=self.t.copy(), width=size, height=size)

    # ------------------------------------------------------------------ geometry
    def camera_center(self) -> np.ndarray:
        """Camera centre in world coordinates, (3,): ``-Rᵀ t``."""
        return -self.R.T @ self.t

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> camera-frame points (N, 3)."""
        points = _points_array(points)
        return points @ self.R.T + self.t

    def camera_to_world(self, points: np.ndarray) -> np.ndarray:
        """Camera-frame points (N, 3) -> world points (N, 3)."""
        points = _points_array(points)
        return (points - self.t) @ self.R

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> pixel coordinates (N, 2) as (u, v) = (column, row).

        Points must be in front of the camera (camera z > 0); a ValueError
        is raised otherwise, because their projection is meaningless.
        """
        camera_points = self.world_to_camera(points)
        depth = camera_points[:, 2]
        if np.any(depth <= 0):
            raise ValueError(
                f"{int(np.sum(depth <= 0))} point(s) are at or behind the camera plane (z <= 0)"
            )
        homogeneous = camera_points @ self.K.T
        return homogeneous[:, :2] / homogeneous[:, 2:3]

    def unproject(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) with camera-frame depth z (N,) -> world points (N, 3).

        ``depth`` is the camera z coordinate (what :func:`render_meshes`
        stores), not the distance along the ray.
        """
        pixels = np.asarray(pixels, dtype=np.float64)
        depth = np.asarray(depth, dtype=np.float64)
        if pixels.ndim != 2 or pixels.shape[1] != 2:
            raise ValueError(f"pixels must have shape (N, 2), got {pixels.shape}")
        if depth.shape != (pixels.shape[0],):
            raise ValueError(f"depth must have shape ({pixels.shape[0]},), got {depth.shape}")
        if not (np.all(np.isfinite(pixels)) and np.all(np.isfinite(depth))):
            raise ValueError("pixels/depth contain NaN or infinite values")
        homogeneous = np.concatenate([pixels, np.ones((len(pixels), 1))], axis=1)
        rays = homogeneous @ np.linalg.inv(self.K).T  # camera-frame points at z = 1
        return self.camera_to_world(rays * depth[:, None])

    def project_torch(self, points: torch.Tensor) -> torch.Tensor:
        """Differentiable, batched projection: world points (..., 3) -> pixels (..., 2).

        Uses the dtype/device of ``points``. Unlike :meth:`project` it does
        not check for points behind the camera (that would break batching
        and graphs); callers must keep z > 0.
        """
        if not isinstance(points, torch.Tensor):
            raise ValueError("project_torch expects a torch.Tensor")
        if points.shape[-1] != 3:
            raise ValueError(f"points must have shape (..., 3), got {tuple(points.shape)}")
        options = {"dtype": points.dtype, "device": points.device}
        rotation = torch.as_tensor(self.R, **options)
        translation = torch.as_tensor(self.t, **options)
        intrinsics = torch.as_tensor(self.K, **options)
        homogeneous = (points @ rotation.T + translation) @ intrinsics.T
        return homogeneous[..., :2] / homogeneous[..., 2:3]

    def rays_through_pixels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World-space rays through continuous pixel coordinates (N, 2) (u, v).

        Returns origins (N, 3) (the camera centre) and unit directions (N, 3).
        """
        pixels = np.asarray(pixels, dtype=np.float64)
        if pixels.ndim != 2 or pixels.shape[1] != 2:
            raise ValueError(f"pixels must have shape (N, 2), got {pixels.shape}")
        if not np.all(np.isfinite(pixels)):
            raise ValueError("pixels contain NaN or infinite values")
        # Camera-frame direction K⁻¹ [u, v, 1] for upper-triangular K, written
        # out so it costs a few vector ops instead of a matrix inverse.
        fx, skew, cx = self.K[0]
        fy, cy = self.K[1, 1], self.K[1, 2]
        y = (pixels[:, 1] - cy) / fy
        x = (pixels[:, 0] - cx - skew * y) / fx
        camera_directions = np.stack([x, y, np.ones_like(x)], axis=1)
        world_directions = camera_directions @ self.R  # Rᵀ d for each row
        world_directions /= np.linalg.norm(world_directions, axis=1, keepdims=True)
        origins = np.broadcast_to(self.camera_center(), world_directions.shape).copy()
        return origins, world_directions

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """World-space rays through every pixel centre.

        Returns:
            origins: (H*W, 3) — all equal to the camera centre.
            directions: (H*W, 3) unit vectors, row-major pixel order:
                ray ``v * W + u`` passes through pixel (u, v), whose centre
                is the integer coordinate (u, v).
        """
        rows, columns = np.divmod(np.arange(self.width * self.height), self.width)
        return self.rays_through_pixels(np.stack([columns, rows], axis=1))

    def __repr__(self) -> str:
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        centre = np.array2string(self.camera_center(), precision=3)
        return (
            f"PinholeCamera({self.width}x{self.height}, fx={fx:.1f}, fy={fy:.1f}, "
            f"cx={cx:.1f}, cy={cy:.1f}, centre={centre})"
        )
