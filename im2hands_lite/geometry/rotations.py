"""Batched, differentiable 3D rotations in torch.

Every function works on arbitrary leading batch dimensions ``...`` and on
float32 or float64 tensors, and is safe to differentiate everywhere,
including at the zero rotation (where the naive ``sin(θ)/θ`` has a 0/0).

Conventions
-----------
* Axis-angle vectors ``aa`` have direction = rotation axis and norm = angle
  in radians (right-hand rule).
* Rotation matrices act on column vectors: ``x_rotated = R @ x``.
* ``look_at`` returns a world-to-camera transform in the OpenCV camera
  convention: camera x points right, y points down, z points forward.

Values are not checked for NaN here (that would force a device sync in
training loops); shapes are checked and raise ``ValueError``.
"""

from __future__ import annotations

import torch

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "random_rotation",
    "rotation_about_axis",
    "look_at",
]

# Below this squared angle we switch to Taylor series; the closed forms lose
# precision there in float32 and their gradients are 0/0 at exactly zero.
_SMALL_ANGLE_SQUARED = 1e-6


def _require_last_dims(tensor: torch.Tensor, dims: tuple[int, ...], name: str) -> None:
    if tensor.ndim < len(dims) or tuple(tensor.shape[-len(dims) :]) != dims:
        expected = "(..., " + ", ".join(str(d) for d in dims) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}")


def _as_float_tensor(value: torch.Tensor | object, name: str) -> torch.Tensor:
    """Accept tensors as they are; turn array-likes into float64 tensors."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            value = value.to(torch.get_default_dtype())
        return value
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a tensor or array-like of numbers") from error


def _skew(vectors: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrices: skew(a) @ b == a × b."""
    x, y, z = vectors.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (
        torch.stack([zero, -z, y], dim=-1),
        torch.stack([z, zero, -x], dim=-1),
        torch.stack([-y, x, zero], dim=-1),
    )
    return torch.stack(rows, dim=-2)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: axis-angle (..., 3) -> rotation matrices (..., 3, 3).

    Uses ``R = I + A K + B K²`` with ``K = skew(aa)`` (unnormalised), ``A =
    sin θ / θ`` and ``B = (1 - cos θ) / θ² = 2 sin²(θ/2) / θ²``. Both
    coefficients depend only on θ², so near zero we evaluate their Taylor
    series in θ², which keeps values and gradients exact at θ = 0.
    """
    axis_angle = _as_float_tensor(axis_angle, "axis_angle")
    _require_last_dims(axis_angle, (3,), "axis_angle")
    theta_squared = (axis_angle * axis_angle).sum(-1)
    small = theta_squared < _SMALL_ANGLE_SQUARED
    # Double-where trick: feed a harmless value into sqrt on the small branch
    # so its (unused) gradient does not turn into NaN.
    safe_theta_squared = torch.where(small, torch.ones_like(theta_squared), theta_squared)
    theta = safe_theta_squared.sqrt()
    half_sin = torch.sin(0.5 * theta)
    a_closed = torch.sin(theta) / theta
    b_closed = 2.0 * half_sin * half_sin / safe_theta_squared
    a_taylor = 1.0 - theta_squared / 6.0 + theta_squared * theta_squared / 120.0
    b_taylor = 0.5 - theta_squared / 24.0 + theta_squared * theta_squared / 720.0
    a = torch.where(small, a_taylor, a_closed)[..., None, None]
    b = torch.where(small, b_taylor, b_closed)[..., None, None]
    k = _skew(axis_angle)
    identity = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return identity + a * k + b * (k @ k)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """Quaternions (..., 4) in (w, x, y, z) order -> rotation matrices (..., 3, 3).

    The quaternion need not be unit length; it is normalised first.
    """
    quaternion = _as_float_tensor(quaternion, "quaternion")
    _require_last_dims(quaternion, (4,), "quaternion")
    w, x, y, z = quaternion.unbind(-1)
    two_over_norm_sq = 2.0 / (quaternion * quaternion).sum(-1)
    entries = (
        1 - two_over_norm_sq * (y * y + z * z),
        two_over_norm_sq * (x * y - z * w),
        two_over_norm_sq * (x * z + y * w),
        two_over_norm_sq * (x * y + z * w),
        1 - two_over_norm_sq * (x * x + z * z),
        two_over_norm_sq * (y * z - x * w),
        two_over_norm_sq * (x * z - y * w),
        two_over_norm_sq * (y * z + x * w),
        1 - two_over_norm_sq * (x * x + y * y),
    )
    return torch.stack(entries, dim=-1).reshape(quaternion.shape[:-1] + (3, 3))


def _sqrt_of_positive_part(values: torch.Tensor) -> torch.Tensor:
    """sqrt(max(x, 0)) with a zero (not infinite) gradient at x <= 0."""
    positive = values > 0
    safe = torch.where(positive, values, torch.ones_like(values))
    return torch.where(positive, safe.sqrt(), torch.zeros_like(values))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4), (w, x, y, z), w >= 0.

    Builds the four candidate quaternions (each divides by a different
    diagonal combination) and keeps the best-conditioned one per matrix, so
    it is accurate for every angle, including 180°.
    """
    matrix = _as_float_tensor(matrix, "matrix")
    _require_last_dims(matrix, (3, 3), "matrix")
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 * |q_i|^2 for i in (w, x, y, z).
    four_q_abs_squared = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
        dim=-1,
    )
    q_abs = _sqrt_of_positive_part(four_q_abs_squared) * 0.5
    m21_minus_m12 = m[..., 2, 1] - m[..., 1, 2]
    m02_minus_m20 = m[..., 0, 2] - m[..., 2, 0]
    m10_minus_m01 = m[..., 1, 0] - m[..., 0, 1]
    m10_plus_m01 = m[..., 1, 0] + m[..., 0, 1]
    m02_plus_m20 = m[..., 0, 2] + m[..., 2, 0]
    m21_plus_m12 = m[..., 2, 1] + m[..., 1, 2]
    # Row i is 4 * q_i * q; dividing by 4 * q_i recovers q.
    candidates_times_4qi = torch.stack(
        [
            torch.stack([four_q_abs_squared[..., 0], m21_minus_m12, m02_minus_m20, m10_minus_m01], -1),
            torch.stack([m21_minus_m12, four_q_abs_squared[..., 1], m10_plus_m01, m02_plus_m20], -1),
            torch.stack([m02_minus_m20, m10_plus_m01, four_q_abs_squared[..., 2], m21_plus_m12], -1),
            torch.stack([m10_minus_m01, m02_plus_m20, m21_plus_m12, four_q_abs_squared[..., 3]], -1),
        ],
        dim=-2,
    )
    # The floor only guards rows that are never selected (argmax picks a row
    # whose |q_i| >= 1/2).
    denominator = 2.0 * q_abs.clamp(min=0.1)
    candidates = candidates_times_4qi / denominator[..., None]
    best = q_abs.argmax(dim=-1)
    index = best[..., None, None].expand(best.shape + (1, 4))
    quaternion = torch.gather(candidates, -2, index).squeeze(-2)
    quaternion = quaternion / quaternion.norm(dim=-1, keepdim=True)
    # q and -q are the same rotation; pick w >= 0 so the angle is in [0, π].
    return torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)


def _quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4) with w >= 0 -> axis-angle (..., 3)."""
    vector = quaternion[..., 1:]
    sin_half_squared = (vector * vector).sum(-1)
    small = sin_half_squared < _SMALL_ANGLE_SQUARED
    safe = torch.where(small, torch.ones_like(sin_half_squared), sin_half_squared)
    sin_half = safe.sqrt()
    half_angle = torch.atan2(sin_half, quaternion[..., 0])
    # angle / s with s = sin(half): since half = asin(s), the series
    # 2 asin(s)/s = 2 + s²/3 + 3s⁴/20 + ... is exact to float precision here.
    scale_closed = 2.0 * half_angle / sin_half
    scale_taylor = 2.0 + sin_half_squared / 3.0 + 0.15 * sin_half_squared * sin_half_squared
    scale = torch.where(small, scale_taylor, scale_closed)
    return vector * scale[..., None]


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3) with angle in [0, π].

    At exactly 180° the axis sign is ambiguous (both signs are the same
    rotation); either may be returned.
    """
    return _quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def random_rotation(
    generator: torch.Generator | None,
    n: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` rotations drawn uniformly from SO(3) (Haar measure) -> (n, 3, 3).

    A 4D standard normal sample, normalised, is uniform on the unit
    3-sphere, and the unit quaternions map 2-to-1 and uniformly onto SO(3).
    The same ``generator`` state gives the same rotations. Samples are drawn
    in float64 so the result does not depend on ``dtype``.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if generator is not None:
        device = device if device is not None else generator.device
    quaternion = torch.randn(n, 4, generator=generator, dtype=torch.float64, device=device)
    return quaternion_to_matrix(quaternion).to(dtype)


def rotation_about_axis(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by ``angle`` (...,) radians about ``axis`` (..., 3) -> (..., 3, 3).

    ``axis`` need not be unit length but must not be zero. ``axis`` and
    ``angle`` broadcast against each other, e.g. one axis with many angles.
    """
    axis = _as_float_tensor(axis, "axis")
    angle = _as_float_tensor(angle, "angle").to(axis.dtype)
    _require_last_dims(axis, (3,), "axis")
    axis_norm = axis.norm(dim=-1, keepdim=True)
    if bool((axis_norm == 0).any()):
        raise ValueError("axis must be non-zero to define a rotation")
    return axis_angle_to_matrix(axis / axis_norm * angle[..., None])


def look_at(
    eye: torch.Tensor,
    target: torch.Tensor,
    up: torch.Tensor | tuple[float, float, float] = (0.0, 1.0, 0.0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """World-to-camera (R, t) for a camera at ``eye`` looking at ``target``.

    Shapes: eye, target, up (..., 3) (broadcast) -> R (..., 3, 3), t (..., 3),
    with ``x_camera = R @ x_world + t``. OpenCV convention: camera z is the
    viewing direction, camera y points "down" (opposite to ``up`` projected
    onto the image plane), camera x points right. Array-likes become
    float64 tensors.

    Raises ValueError when eye == target or the view direction is parallel
    to ``up`` (the roll is then undefined).
    """
    eye = _as_float_tensor(eye, "eye")
    target = _as_float_tensor(target, "target").to(eye.dtype)
    up = _as_float_tensor(up, "up").to(eye.dtype)
    for name, value in (("eye", eye), ("target", target), ("up", up)):
        _require_last_dims(value, (3,), name)
    eye, target, up = torch.broadcast_tensors(eye, target, up)
    forward = target - eye
    forward_norm = forward.norm(dim=-1, keepdim=True)
    if bool((forward_norm <= 1e-12).any()):
        raise ValueError("look_at: eye and target coincide; the view direction is undefined")
    z_axis = forward / forward_norm
    right = torch.linalg.cross(z_axis, up, dim=-1)
    right_norm = right.norm(dim=-1, keepdim=True)
    up_norm = up.norm(dim=-1, keepdim=True)
    if bool((right_norm <= 1e-9 * up_norm).any()):
        raise ValueError("look_at: view direction is parallel to `up` (or up is zero); choose another up")
    x_axis = right / right_norm
    y_axis = torch.linalg.cross(z_axis, x_axis, dim=-1)
    rotation = torch.stack([x_axis, y_axis, z_axis], dim=-2)
    translation = -(rotation @ eye[..., None])[..., 0]
    return rotation, translation

