"""Tests for im2hands_lite.geometry.inside."""

import math

import numpy as np
import pytest
import trimesh

from im2hands_lite.geometry import inside as inside_module
from im2hands_lite.geometry.inside import (
    contains,
    is_watertight,
    is_winding_consistent,
    mesh_volume,
    occupancy_per_mesh,
    winding_number,
)


@pytest.fixture
def cube() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(1.0, 1.0, 1.0))  # [-0.5, 0.5]^3


@pytest.fixture
def sphere() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=3, radius=1.0)


def _points_at_radii(radii: np.ndarray, seed: int = 0) -> np.ndarray:
    directions = np.random.default_rng(seed).normal(size=(len(radii), 3))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True) * radii[:, None]


@pytest.mark.parametrize("method", ["winding", "ray"])
def test_cube_known_answers(cube: trimesh.Trimesh, method: str) -> None:
    points = np.array(
        [[0.0, 0.0, 0.0], [0.45, -0.45, 0.3], [-0.49, 0.0, 0.49],  # inside
         [0.55, 0.0, 0.0], [0.0, -0.6, 0.0], [2.0, 2.0, 2.0], [0.51, 0.51, 0.0]]  # outside
    )
    expected = np.array([True, True, True, False, False, False, False])
    assert np.array_equal(contains(cube.vertices, cube.faces, points, method=method), expected)


@pytest.mark.parametrize("method", ["winding", "ray"])
def test_sphere_known_answers(sphere: trimesh.Trimesh, method: str) -> None:
    # The icosphere is inscribed in the unit sphere (faces reach in to r ≈ 0.99).
    inner = _points_at_radii(np.linspace(0.0, 0.95, 200))
    outer = _points_at_radii(np.linspace(1.01, 3.0, 200), seed=1)
    assert contains(sphere.vertices, sphere.faces, inner, method=method).all()
    assert not contains(sphere.vertices, sphere.faces, outer, method=method).any()


def test_winding_number_values(sphere: trimesh.Trimesh) -> None:
    points = np.array([[0.0, 0.0, 0.0], [0.3, 0.2, -0.1], [5.0, 0.0, 0.0]])
    fast = winding_number(sphere.vertices, sphere.faces, points)
    exact = winding_number(sphere.vertices, sphere.faces, points, exact=True)
    assert np.allclose(exact, [1.0, 1.0, 0.0], atol=1e-9)
    assert np.allclose(fast, exact, atol=1e-2)  # Barnes–Hut approximation


def test_numpy_fallback_matches_libigl(sphere: trimesh.Trimesh, monkeypatch: pytest.MonkeyPatch) -> None:
    points = np.random.default_rng(2).uniform(-1.5, 1.5, size=(300, 3))
    exact = winding_number(sphere.vertices, sphere.faces, points, exact=True)
    monkeypatch.setattr(inside_module, "_igl", None)
    fallback = winding_number(sphere.vertices, sphere.faces, points)
    assert np.allclose(fallback, exact, atol=1e-9)


def test_winding_and_ray_agree_on_convex_mesh(sphere: trimesh.Trimesh) -> None:
    points = np.random.default_rng(3).uniform(-1.3, 1.3, size=(5000, 3))
    # Leave out a thin shell around the surface where the methods may
    # legitimately disagree by round-off.
    radii = np.linalg.norm(points, axis=1)
    points = points[(radii < 0.97) | (radii > 1.01)]
    by_winding = contains(sphere.vertices, sphere.faces, points, method="winding")
    by_ray = contains(sphere.vertices, sphere.faces, points, method="ray")
    assert np.array_equal(by_winding, by_ray)
    assert 0.2 < by_winding.mean() < 0.6


def test_self_overlap_winding_is_right_and_ray_parity_is_wrong() -> None:
    # Two overlapping spheres in ONE mesh: a closed but self-overlapping
    # surface, like a fingertip pushed into the palm.
    first = trimesh.creation.icosphere(3)
    second = first.copy().apply_translation((1.0, 0.0, 0.0))
    vertices = np.concatenate([first.vertices, second.vertices])
    faces = np.concatenate([first.faces, second.faces + len(first.vertices)])
    overlap_point = np.array([[0.5, 0.01, 0.02]])
    assert winding_number(vertices, faces, overlap_point)[0] == pytest.approx(2.0, abs=1e-2)
    assert contains(vertices, faces, overlap_point, method="winding")[0]
    assert not contains(vertices, faces, overlap_point, method="ray")[0]


def test_occupancy_per_mesh_tests_meshes_separately() -> None:
    first = trimesh.creation.icosphere(3)
    second = first.copy().apply_translation((1.0, 0.0, 0.0))
    points = np.array([[0.5, 0.01, 0.02], [-0.5, 0.0, 0.0], [1.5, 0.0, 0.0], [3.0, 0.0, 0.0]])
    occupancy = occupancy_per_mesh([first, (second.vertices, second.faces)], points)
    assert occupancy.shape == (2, 4) and occupancy.dtype == bool
    assert occupancy.tolist() == [[True, True, False, False], [True, False, True, False]]
    assert np.array_equal(occupancy_per_mesh([first, second], points, method="ray"), occupancy)


def test_watertight_orientation_and_volume(cube: trimesh.Trimesh, sphere: trimesh.Trimesh) -> None:
    assert is_watertight(cube.vertices, cube.faces) and is_winding_consistent(cube.vertices, cube.faces)
    assert mesh_volume(cube.vertices, cube.faces) == pytest.approx(1.0)
    assert mesh_volume(sphere.vertices, sphere.faces) == pytest.approx(sphere.volume)
    assert mesh_volume(sphere.vertices, sphere.faces) == pytest.approx(4 / 3 * math.pi, rel=0.03)
    assert mesh_volume(sphere.vertices, sphere.faces[:, ::-1]) < 0
    assert not is_watertight(sphere.vertices, sphere.faces[1:])
    flipped_one = sphere.faces.copy()
    flipped_one[0] = flipped_one[0, ::-1]
    assert is_watertight(sphere.vertices, flipped_one)
    assert not is_winding_consistent(sphere.vertices, flipped_one)


def test_contains_rejects_meshes_without_an_inside(sphere: trimesh.Trimesh) -> None:
    points = np.zeros((1, 3))
    with pytest.raises(ValueError, match="not watertight"):
        contains(sphere.vertices, sphere.faces[1:], points)
    flipped_one = sphere.faces.copy()
    flipped_one[0] = flipped_one[0, ::-1]
    with pytest.raises(ValueError, match="consistently oriented"):
        contains(sphere.vertices, flipped_one, points)
    with pytest.raises(ValueError, match="inside-out"):
        contains(sphere.vertices, sphere.faces[:, ::-1], points)
    with pytest.raises(ValueError, match=r"meshes\[1\].*not watertight"):
        occupancy_per_mesh([sphere, (sphere.vertices, sphere.faces[1:])], points)
    # Opting out still works (e.g. for a nearly closed scan).
    assert contains(sphere.vertices, sphere.faces[1:], points, check_watertight=False)[0]


def test_bad_inputs_raise_value_errors(sphere: trimesh.Trimesh) -> None:
    with pytest.raises(ValueError, match="NaN"):
        contains(sphere.vertices, sphere.faces, np.array([[0.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        winding_number(sphere.vertices, sphere.faces, np.array([[np.inf, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"points must have shape \(N, 3\)"):
        contains(sphere.vertices, sphere.faces, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="faces must have shape"):
        winding_number(sphere.vertices, sphere.faces[:, :2], np.zeros((1, 3)))
    with pytest.raises(ValueError, match="indices outside"):
        winding_number(sphere.vertices[:10], sphere.faces, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="method"):
        contains(sphere.vertices, sphere.faces, np.zeros((1, 3)), method="parity")
    assert contains(sphere.vertices, sphere.faces, np.zeros((0, 3))).shape == (0,)
