"""Tests for im2hands_lite.geometry.camera."""

import json
import math

import numpy as np
import pytest
import torch

from im2hands_lite.geometry.camera import (
    PinholeCamera,
    intrinsics_from_fov,
    pixels_to_grid_sample_coords,
)


@pytest.fixture
def camera() -> PinholeCamera:
    return PinholeCamera.looking_at(
        target=(0.02, -0.01, 0.05), distance=0.6, azimuth=35.0, elevation=20.0,
        fov_deg=40.0, width=160, height=120,
    )


def _points_near_target(count: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([0.02, -0.01, 0.05]) + rng.uniform(-0.1, 0.1, size=(count, 3))


def test_intrinsics_from_fov() -> None:
    K = intrinsics_from_fov(90.0, 200, 100)
    assert K[0, 0] == pytest.approx(100.0) and K[1, 1] == pytest.approx(100.0)
    assert K[0, 2] == pytest.approx(99.5) and K[1, 2] == pytest.approx(49.5)
    with pytest.raises(ValueError, match="fov_deg"):
        intrinsics_from_fov(180.0, 10, 10)


def test_point_on_optical_axis_projects_to_principal_point(camera: PinholeCamera) -> None:
    axis_point = camera.camera_center() + 0.37 * camera.R[2]
    uv = camera.project(axis_point[None])
    assert np.allclose(uv[0], camera.K[:2, 2])
    assert np.allclose(uv[0], [(160 - 1) / 2, (120 - 1) / 2])


def test_looking_at_target_on_optical_axis_at_distance(camera: PinholeCamera) -> None:
    target_camera = camera.world_to_camera(np.array([[0.02, -0.01, 0.05]]))[0]
    assert np.allclose(target_camera, [0.0, 0.0, 0.6])
    assert np.linalg.norm(camera.camera_center() - [0.02, -0.01, 0.05]) == pytest.approx(0.6)


def test_looking_at_placement_convention() -> None:
    front = PinholeCamera.looking_at((0, 0, 0), 2.0, 0.0, 0.0, 50.0, 64, 64)
    assert np.allclose(front.camera_center(), [0.0, 0.0, 2.0])
    side = PinholeCamera.looking_at((0, 0, 0), 2.0, 90.0, 0.0, 50.0, 64, 64)
    assert np.allclose(side.camera_center(), [2.0, 0.0, 0.0])
    above = PinholeCamera.looking_at((0, 0, 0), 2.0, 0.0, 60.0, 50.0, 64, 64)
    assert above.camera_center()[1] == pytest.approx(2.0 * math.sin(math.radians(60)))
    # World +y (up) appears towards the top of the image (smaller v).
    uv = front.project(np.array([[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.1, 0.0, 0.0]]))
    assert uv[1, 1] < uv[0, 1] and uv[2, 0] > uv[0, 0]


def test_project_unproject_round_trip(camera: PinholeCamera) -> None:
    points = _points_near_target()
    uv = camera.project(points)
    depth = camera.world_to_camera(points)[:, 2]
    assert np.allclose(camera.unproject(uv, depth), points, atol=1e-12)
    assert np.allclose(camera.camera_to_world(camera.world_to_camera(points)), points)


def test_project_matches_project_torch(camera: PinholeCamera) -> None:
    points = _points_near_target()
    expected = camera.project(points)
    batched = torch.from_numpy(points).reshape(5, 10, 3).requires_grad_()
    projected = camera.project_torch(batched)
    assert projected.shape == (5, 10, 2) and projected.dtype == torch.float64
    assert np.allclose(projected.detach().reshape(-1, 2).numpy(), expected, atol=1e-9)
    projected.sum().backward()
    assert torch.isfinite(batched.grad).all()
    as_float32 = camera.project_torch(torch.from_numpy(points).float())
    assert as_float32.dtype == torch.float32
    assert np.allclose(as_float32.numpy(), expected, atol=1e-3)


def test_resized_scales_projections_consistently(camera: PinholeCamera) -> None:
    points = _points_near_target()
    small = camera.resized(80, 30)
    assert (small.width, small.height) == (80, 30)
    uv, uv_small = camera.project(points), small.project(points)
    # Continuous coordinates map edge-to-edge: u' + 0.5 = (u + 0.5) * scale.
    assert np.allclose(uv_small[:, 0] + 0.5, (uv[:, 0] + 0.5) * 0.5)
    assert np.allclose(uv_small[:, 1] + 0.5, (uv[:, 1] + 0.5) * 0.25)
    # A centred principal point stays centred.
    assert np.allclose(small.K[:2, 2], [(80 - 1) / 2, (30 - 1) / 2])


def test_pixel_rays_reproject_onto_pixel_centres(camera: PinholeCamera) -> None:
    origins, directions = camera.pixel_rays()
    assert origins.shape == directions.shape == (120 * 160, 3)
    assert np.allclose(np.linalg.norm(directions, axis=1), 1.0)
    assert np.allclose(origins, camera.camera_center())
    for u, v in [(0, 0), (159, 0), (0, 119), (37, 91), (80, 60)]:
        index = v * camera.width + u
        point = origins[index] + 0.5 * directions[index]
        assert np.allclose(camera.project(point[None])[0], [u, v], atol=1e-9)


def test_grid_sample_coords_hit_pixel_centres_exactly() -> None:
    height, width = 5, 7
    image = torch.arange(height * width, dtype=torch.float64).reshape(1, 1, height, width)
    pixels = torch.tensor([[0.0, 0.0], [6.0, 4.0], [3.0, 2.0]], dtype=torch.float64)
    grid = pixels_to_grid_sample_coords(pixels, width, height).reshape(1, 1, 3, 2)
    sampled = torch.nn.functional.grid_sample(image, grid, align_corners=False).flatten()
    assert torch.allclose(sampled, torch.tensor([0.0, 34.0, 17.0], dtype=torch.float64))


def test_dict_round_trip_is_json_able(camera: PinholeCamera) -> None:
    data = json.loads(json.dumps(camera.to_dict()))
    restored = PinholeCamera.from_dict(data)
    assert np.array_equal(restored.K, camera.K) and np.array_equal(restored.R, camera.R)
    assert np.array_equal(restored.t, camera.t)
    assert (restored.width, restored.height) == (camera.width, camera.height)
    with pytest.raises(ValueError, match="missing"):
        PinholeCamera.from_dict({"K": data["K"]})


def test_validation_errors() -> None:
    good = dict(K=np.eye(3), R=np.eye(3), t=np.zeros(3), width=4, height=4)
    with pytest.raises(ValueError, match="K must have shape"):
        PinholeCamera(**{**good, "K": np.eye(4)})
    with pytest.raises(ValueError, match="t must have shape"):
        PinholeCamera(**{**good, "t": np.zeros(4)})
    with pytest.raises(ValueError, match="orthonormal"):
        PinholeCamera(**{**good, "R": 2 * np.eye(3)})
    with pytest.raises(ValueError, match="reflection"):
        PinholeCamera(**{**good, "R": np.diag([1.0, 1.0, -1.0])})
    with pytest.raises(ValueError, match="NaN"):
        PinholeCamera(**{**good, "t": [0.0, np.nan, 0.0]})
    with pytest.raises(ValueError, match="width"):
        PinholeCamera(**{**good, "width": 0})
    camera = PinholeCamera(**good)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        camera.project(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        camera.project(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="behind"):
        camera.project(np.array([[0.0, 0.0, -1.0]]))
