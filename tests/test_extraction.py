"""Tests for im2hands_lite.geometry.extraction (coarse-to-fine Marching Cubes)."""

import math

import numpy as np
import pytest
import torch

from im2hands_lite.geometry import is_watertight, mesh_volume
from im2hands_lite.geometry.extraction import (
    ExtractionResult,
    extract_mesh,
    extract_mesh_dense,
    grid_points,
    keypoint_bounds,
)

RADIUS = 0.04  # hand-sized, metres
EPS = 0.003
LOW = np.full(3, -0.05)
HIGH = np.full(3, 0.05)


def sphere_occupancy(center=(0.0, 0.0, 0.0), radius: float = RADIUS):
    center_t = torch.tensor(center, dtype=torch.float32)

    def occupancy(points: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((radius - (points - center_t).norm(dim=1)) / EPS)

    return occupancy


@pytest.fixture(scope="module")
def sphere_64() -> ExtractionResult:
    return extract_mesh(sphere_occupancy(), LOW, HIGH, resolution=64, coarse_resolution=16)


def test_sphere_is_closed_outward_and_has_the_right_volume(sphere_64: ExtractionResult) -> None:
    mesh = sphere_64.mesh
    assert len(mesh.faces) > 0
    assert mesh.is_watertight
    assert is_watertight(mesh.vertices, mesh.faces)
    volume = mesh_volume(mesh.vertices, mesh.faces)
    assert volume > 0  # outward faces
    assert volume == pytest.approx(4.0 / 3.0 * math.pi * RADIUS**3, rel=0.02)
    # vertices lie on the 0.5 level set |x| = r, in world coordinates (metres)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radii - RADIUS).max() < 0.1 * (HIGH[0] - LOW[0]) / 64


def test_result_fields(sphere_64: ExtractionResult) -> None:
    assert sphere_64.values.shape == (65, 65, 65)
    assert sphere_64.dense_evaluations == 65**3
    assert sphere_64.resolution == 64
    assert 0 < sphere_64.n_evaluations < sphere_64.dense_evaluations
    assert sphere_64.evaluation_ratio == sphere_64.n_evaluations / 65**3
    # grid value (i, j, k) is the occupancy at grid point (i, j, k) where evaluated exactly
    points = grid_points(LOW, HIGH, 64).reshape(65, 65, 65, 3)
    exact = sphere_occupancy()(torch.as_tensor(points[32, 32, 32 + 26][None], dtype=torch.float32))
    assert sphere_64.values[32, 32, 32 + 26] == pytest.approx(float(exact), abs=1e-6)


def test_coarse_to_fine_equals_dense_with_far_fewer_evaluations() -> None:
    occupancy = sphere_occupancy()
    fine = extract_mesh(occupancy, LOW, HIGH, resolution=128, coarse_resolution=32)
    dense = extract_mesh_dense(occupancy, LOW, HIGH, resolution=128)
    assert dense.n_evaluations == dense.dense_evaluations == 129**3
    assert fine.n_evaluations < 0.3 * dense.n_evaluations
    # identical surface: same cells cross the level with the same exact corner values
    assert fine.mesh.vertices.shape == dense.mesh.vertices.shape
    np.testing.assert_allclose(fine.mesh.vertices, dense.mesh.vertices, atol=1e-9)
    np.testing.assert_array_equal(fine.mesh.faces, dense.mesh.faces)
    assert fine.mesh.volume == pytest.approx(dense.mesh.volume, rel=1e-3)


def test_surface_is_followed_along_a_rod_the_coarse_grid_misses() -> None:
    # a sphere with a thin rod sticking out along x: the rod's axis lies between the coarse grid
    # points (no coarse point inside it) but on fine ones, so only following the surface from
    # the sphere finds it all; one cell of dilation (MISE) would stop a coarse cell past the sphere
    coarse, fine_res = 16, 32
    cell = (HIGH[0] - LOW[0]) / coarse
    axis = LOW[1] + 7.5 * cell  # y = z = midway between coarse points, on a fine point
    sphere_radius, rod_radius = 2.5 * cell, 0.3 * cell
    centre = torch.tensor([LOW[0] + 4 * cell, axis, axis])

    def occupancy(points: torch.Tensor) -> torch.Tensor:
        sphere = sphere_radius - (points - centre).norm(dim=1)
        off_axis = (points[:, 1:] - centre[1:]).norm(dim=1)
        rod = torch.minimum(rod_radius - off_axis, HIGH[0] - 2 * cell - points[:, 0])
        return torch.sigmoid(torch.maximum(sphere, rod) / (0.05 * cell))

    coarse_values = occupancy(torch.as_tensor(grid_points(LOW, HIGH, coarse), dtype=torch.float32))
    rod_only = torch.as_tensor(grid_points(LOW, HIGH, coarse))[:, 0] > LOW[0] + 8 * cell
    assert coarse_values[rod_only].max() < 0.5  # the coarse grid never sees the rod
    followed = extract_mesh(occupancy, LOW, HIGH, resolution=fine_res, coarse_resolution=coarse)
    dense = extract_mesh_dense(occupancy, LOW, HIGH, resolution=fine_res)
    assert dense.mesh.vertices[:, 0].max() > HIGH[0] - 3 * cell  # the rod is in the dense mesh
    assert followed.n_evaluations < 0.5 * dense.n_evaluations
    np.testing.assert_allclose(followed.mesh.vertices, dense.mesh.vertices, atol=1e-9)
    np.testing.assert_array_equal(followed.mesh.faces, dense.mesh.faces)


def test_coarse_equal_to_final_resolution_is_dense() -> None:
    result = extract_mesh(sphere_occupancy(), LOW, HIGH, resolution=16, coarse_resolution=16)
    assert result.n_evaluations == 17**3
    assert result.mesh.is_watertight


def test_two_separated_spheres_give_two_components() -> None:
    first, second = sphere_occupancy((-0.05, 0.0, 0.0)), sphere_occupancy((0.05, 0.0, 0.0))

    def occupancy(points: torch.Tensor) -> torch.Tensor:
        return torch.maximum(first(points), second(points))

    result = extract_mesh(occupancy, (-0.1, -0.05, -0.05), (0.1, 0.05, 0.05), 64, 16)
    components = result.mesh.split(only_watertight=False)
    assert len(components) == 2
    assert all(component.is_watertight for component in components)
    assert result.mesh.volume == pytest.approx(2 * 4.0 / 3.0 * math.pi * RADIUS**3, rel=0.02)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_no_surface_gives_an_empty_mesh(value: float) -> None:
    result = extract_mesh(lambda p: torch.full((len(p),), value), LOW, HIGH, 64, 16)
    assert len(result.mesh.vertices) == 0 and len(result.mesh.faces) == 0
    assert result.n_evaluations == 17**3  # nothing to refine
    assert np.all(result.values == value)


def test_surface_cut_by_the_box_is_closed_on_the_box_face() -> None:
    # the box holds the upper half of the sphere only
    kwargs = dict(bounds_min=(-0.05, -0.05, 0.0), bounds_max=(0.05, 0.05, 0.05), resolution=32,
                  coarse_resolution=16)
    closed = extract_mesh(sphere_occupancy(), **kwargs)
    opened = extract_mesh(sphere_occupancy(), close_boundary=False, **kwargs)
    assert closed.mesh.is_watertight and not opened.mesh.is_watertight
    assert closed.mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)
    assert closed.mesh.volume == pytest.approx(2.0 / 3.0 * math.pi * RADIUS**3, rel=0.02)


def test_batching_and_column_output_do_not_change_the_result(sphere_64: ExtractionResult) -> None:
    occupancy = sphere_occupancy()
    result = extract_mesh(lambda p: occupancy(p)[:, None], LOW, HIGH, 64, 16, batch_points=1000)
    # float32 kernels may round differently for other chunk sizes (1 ulp)
    np.testing.assert_allclose(result.values, sphere_64.values, atol=1e-6)
    assert result.n_evaluations == sphere_64.n_evaluations


def test_occupancy_fn_is_called_without_grad_in_chunks() -> None:
    calls = []

    def occupancy(points: torch.Tensor) -> torch.Tensor:
        calls.append((len(points), torch.is_grad_enabled(), points.dtype))
        return sphere_occupancy()(points)

    extract_mesh(occupancy, LOW, HIGH, 32, 16, batch_points=2048)
    assert all(n <= 2048 and not grad and dtype == torch.float32 for n, grad, dtype in calls)


@pytest.mark.parametrize("resolution, coarse", [(100, 32), (48, 32), (16, 32), (0, 32), (64, 0)])
def test_bad_resolution_raises(resolution: int, coarse: int) -> None:
    with pytest.raises(ValueError, match="resolution"):
        extract_mesh(sphere_occupancy(), LOW, HIGH, resolution, coarse)


@pytest.mark.parametrize(
    "low, high, message",
    [
        ((np.nan, 0.0, 0.0), (1.0, 1.0, 1.0), "bounds_min.*NaN"),
        ((0.0, 0.0, 0.0), (1.0, np.inf, 1.0), "bounds_max.*NaN or infinite"),
        ((0.0, 0.0), (1.0, 1.0, 1.0), r"bounds_min must have shape \(3,\)"),
        ((0.0, 0.0, 0.0), (1.0, 0.0, 1.0), "exceed"),
    ],
)
def test_bad_bounds_raise(low, high, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        extract_mesh(sphere_occupancy(), low, high, 32, 16)
    with pytest.raises(ValueError, match=message):
        extract_mesh_dense(sphere_occupancy(), low, high, 16)


def test_bad_occupancy_outputs_raise() -> None:
    with pytest.raises(ValueError, match="NaN"):
        extract_mesh(lambda p: torch.full((len(p),), float("nan")), LOW, HIGH, 32, 16)
    with pytest.raises(ValueError, match="shape"):
        extract_mesh(lambda p: torch.zeros(len(p), 2), LOW, HIGH, 32, 16)


def test_keypoint_bounds() -> None:
    keypoints = np.random.default_rng(0).uniform(-0.08, 0.08, size=(21, 3))
    low, high = keypoint_bounds(keypoints, padding=0.03)
    np.testing.assert_allclose(low, keypoints.min(axis=0) - 0.03)
    np.testing.assert_allclose(high, keypoints.max(axis=0) + 0.03)
    both_low, both_high = keypoint_bounds(np.stack([keypoints, keypoints + 0.1]))
    np.testing.assert_allclose(both_high, keypoints.max(axis=0) + 0.13)
    np.testing.assert_allclose(both_low, low)
    stretched = keypoints * (1.0, 1.0, 3.0)  # z is the longest side
    cube_low, cube_high = keypoint_bounds(stretched, padding=0.01, cubic=True)
    np.testing.assert_allclose(cube_high - cube_low, np.ptp(stretched[:, 2]) + 0.02)
    np.testing.assert_allclose(0.5 * (cube_low + cube_high),
                               0.5 * (stretched.min(axis=0) + stretched.max(axis=0)))
    torch_low, _ = keypoint_bounds(torch.as_tensor(keypoints))
    np.testing.assert_allclose(torch_low, low)
    with pytest.raises(ValueError, match="NaN"):
        keypoint_bounds(np.full((21, 3), np.nan))
    with pytest.raises(ValueError, match="shape"):
        keypoint_bounds(np.zeros((21, 2)))
    with pytest.raises(ValueError, match="padding"):
        keypoint_bounds(keypoints, padding=-0.01)


def test_reconstruction_config_at_starts_from_about_16_cells() -> None:
    from im2hands_lite.geometry.extraction import ReconstructionConfig

    assert [(c.resolution, c.coarse_resolution) for c in map(ReconstructionConfig.at, (16, 32, 64, 128, 256, 96, 12))] \
        == [(16, 16), (32, 16), (64, 16), (128, 16), (256, 16), (96, 12), (12, 12)]
