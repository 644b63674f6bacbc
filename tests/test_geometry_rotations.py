"""Tests for im2hands_lite.geometry.rotations."""

import math

import pytest
import torch

from im2hands_lite.geometry.rotations import (
    axis_angle_to_matrix,
    look_at,
    matrix_to_axis_angle,
    quaternion_to_matrix,
    random_rotation,
    rotation_about_axis,
)


def _random_axis_angles(n: int, max_angle: float, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    axes = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    axes = axes / axes.norm(dim=-1, keepdim=True)
    angles = torch.rand(n, 1, generator=generator, dtype=torch.float64) * max_angle
    return axes * angles


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_axis_angle_round_trip(dtype: torch.dtype, tolerance: float) -> None:
    axis_angle = _random_axis_angles(500, math.pi - 1e-3).to(dtype)
    recovered = matrix_to_axis_angle(axis_angle_to_matrix(axis_angle))
    assert recovered.dtype == dtype
    assert torch.allclose(recovered, axis_angle, atol=tolerance * 10)


def test_round_trip_tiny_and_zero_angles() -> None:
    axis_angle = torch.cat([_random_axis_angles(50, 1e-5), torch.zeros(1, 3, dtype=torch.float64)])
    recovered = matrix_to_axis_angle(axis_angle_to_matrix(axis_angle))
    assert torch.allclose(recovered, axis_angle, atol=1e-14)


def test_matrix_to_axis_angle_near_pi() -> None:
    axis_angle = _random_axis_angles(100, 1.0)
    axis_angle = axis_angle / axis_angle.norm(dim=-1, keepdim=True) * (math.pi - 1e-7)
    matrices = axis_angle_to_matrix(axis_angle)
    assert torch.allclose(axis_angle_to_matrix(matrix_to_axis_angle(matrices)), matrices, atol=1e-9)


def test_matrices_are_rotations_and_batched() -> None:
    axis_angle = _random_axis_angles(24, 3.0).reshape(2, 3, 4, 3)
    matrices = axis_angle_to_matrix(axis_angle)
    assert matrices.shape == (2, 3, 4, 3, 3)
    identity = torch.eye(3, dtype=torch.float64).expand_as(matrices)
    assert torch.allclose(matrices @ matrices.transpose(-1, -2), identity, atol=1e-12)
    assert torch.allclose(torch.linalg.det(matrices), torch.ones(2, 3, 4, dtype=torch.float64))


def test_known_rotation_about_z() -> None:
    matrix = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    rotated_x = matrix @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert torch.allclose(rotated_x, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), atol=1e-12)


def test_gradient_is_finite_at_zero_angle() -> None:
    axis_angle = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (axis_angle_to_matrix(axis_angle) * weights).sum().backward()
    assert torch.isfinite(axis_angle.grad).all()
    # dR/d(aa) at 0 is the skew generator, so the gradient is nonzero in general.
    assert axis_angle.grad.abs().sum() > 0
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (zero,))
    small = (torch.ones(1, 3, dtype=torch.float64) * 1e-4).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (small,))


def test_matrix_to_axis_angle_gradient_finite_at_identity() -> None:
    matrices = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1).requires_grad_()
    matrix_to_axis_angle(matrices).sum().backward()
    assert torch.isfinite(matrices.grad).all()


def test_random_rotation_is_deterministic_and_valid() -> None:
    first = random_rotation(torch.Generator().manual_seed(7), 64)
    second = random_rotation(torch.Generator().manual_seed(7), 64)
    other = random_rotation(torch.Generator().manual_seed(8), 64)
    assert first.shape == (64, 3, 3) and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert not torch.allclose(first, other)
    identity = torch.eye(3).expand_as(first)
    assert torch.allclose(first @ first.transpose(-1, -2), identity, atol=1e-5)
    assert torch.allclose(torch.linalg.det(first), torch.ones(64), atol=1e-5)


def test_random_rotation_is_roughly_uniform() -> None:
    # For Haar-uniform rotations E[R] = 0 and the angle has density (1 - cos θ)/π,
    # whose mean is π/2 + 2/π.
    rotations = random_rotation(torch.Generator().manual_seed(0), 20000, dtype=torch.float64)
    assert rotations.mean(dim=0).abs().max() < 0.03
    angles = matrix_to_axis_angle(rotations).norm(dim=-1)
    assert abs(angles.mean().item() - (math.pi / 2 + 2 / math.pi)) < 0.03


def test_rotation_about_axis_matches_axis_angle_and_broadcasts() -> None:
    axis = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    angles = torch.linspace(-3.0, 3.0, 7, dtype=torch.float64)
    matrices = rotation_about_axis(axis, angles)
    assert matrices.shape == (7, 3, 3)
    expected = axis_angle_to_matrix(axis / 3.0 * angles[:, None])
    assert torch.allclose(matrices, expected)
    # The axis itself is fixed by the rotation.
    assert torch.allclose(matrices @ axis, axis.expand(7, 3), atol=1e-12)


def test_rotation_about_zero_axis_raises() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        rotation_about_axis(torch.zeros(3), torch.tensor(1.0))


def test_quaternion_to_matrix_identity() -> None:
    assert torch.allclose(quaternion_to_matrix(torch.tensor([2.0, 0.0, 0.0, 0.0])), torch.eye(3))


def test_look_at_puts_target_on_optical_axis() -> None:
    eye = torch.tensor([0.3, -0.2, 0.9], dtype=torch.float64)
    target = torch.tensor([0.01, 0.02, -0.05], dtype=torch.float64)
    rotation, translation = look_at(eye, target, up=(0.0, 1.0, 0.0))
    target_camera = rotation @ target + translation
    assert torch.allclose(target_camera[:2], torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert target_camera[2] == pytest.approx((target - eye).norm().item())
    assert torch.allclose(rotation @ eye + translation, torch.zeros(3, dtype=torch.float64), atol=1e-12)
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0)


def test_look_at_opencv_axes() -> None:
    # Camera on +z looking at the origin with y up: image right is world +x,
    # image down is world -y.
    rotation, _ = look_at((0.0, 0.0, 2.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    assert torch.allclose(rotation, expected)


def test_look_at_rejects_degenerate_inputs() -> None:
    with pytest.raises(ValueError, match="parallel"):
        look_at((0.0, 2.0, 0.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    with pytest.raises(ValueError, match="coincide"):
        look_at((1.0, 1.0, 1.0), (1.0, 1.0, 1.0))


def test_shape_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="axis_angle"):
        axis_angle_to_matrix(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="matrix"):
        matrix_to_axis_angle(torch.zeros(3, 4))


def test_look_at_is_batched_with_shared_up() -> None:
    eyes = torch.tensor([[0.0, 0.0, 2.0], [1.0, 0.5, -1.0], [-2.0, 1.0, 0.3]], dtype=torch.float64)
    rotations, translations = look_at(eyes, torch.zeros(3, dtype=torch.float64))
    assert rotations.shape == (3, 3, 3) and translations.shape == (3, 3)
    origin_in_camera = translations  # R @ 0 + t
    assert torch.allclose(origin_in_camera[:, :2], torch.zeros(3, 2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(origin_in_camera[:, 2], eyes.norm(dim=-1))
