"""Tests for im2hands_lite.evaluation.metrics against hand-computed cases."""

import numpy as np
import pytest
import torch
import trimesh

from im2hands_lite.evaluation.metrics import (
    align_by_middle_joint,
    chamfer_l1,
    hand_metrics,
    iou,
    middle_joint_translation,
    mpjpe,
    penetration_region,
    penetration_volume,
    sample_surface,
    to_cm3,
    to_mm,
    two_hand_metrics,
)
from im2hands_lite.geometry import mesh_volume
from im2hands_lite.hand.joints import MIDDLE_MCP

N = 50_000  # Monte Carlo points: IoU std ~0.003 here, well inside the 0.01 tolerances


def unit_cube(offset_x: float = 0.0) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(1.0, 1.0, 1.0)).apply_translation((offset_x, 0.0, 0.0))


@pytest.fixture(scope="module")
def spheres() -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
    return (
        trimesh.creation.icosphere(subdivisions=4, radius=1.0),
        trimesh.creation.icosphere(subdivisions=4, radius=1.1),
    )


def random_joints(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=0.05, size=(21, 3))


# --------------------------------------------------------------------------- IoU


def test_iou_of_offset_cubes_is_one_third() -> None:
    # joint box [-0.5, 1] x [-0.5, 0.5]²: union 1.5, intersection 0.5
    assert iou(unit_cube(), unit_cube(0.5), N, rng=0) == pytest.approx(1.0 / 3.0, abs=0.01)


def test_iou_of_identical_meshes_is_exactly_one(spheres) -> None:
    inner, _ = spheres
    assert iou(inner, inner.copy(), N, rng=0) == 1.0
    assert iou((inner.vertices, inner.faces), inner, N, rng=0) == 1.0


def test_iou_of_concentric_spheres(spheres) -> None:
    inner, outer = spheres
    expected = mesh_volume(inner.vertices, inner.faces) / mesh_volume(outer.vertices, outer.faces)
    assert expected == pytest.approx(1.0 / 1.331, rel=1e-9)  # scaled copies
    assert iou(inner, outer, N, rng=0) == pytest.approx(expected, abs=0.01)
    assert iou(outer, inner, N, rng=0) == pytest.approx(expected, abs=0.01)


def test_iou_with_a_given_box_and_disjoint_meshes() -> None:
    box = np.array([[-0.5, -0.5, -0.5], [1.0, 0.5, 0.5]])
    assert iou(unit_cube(), unit_cube(0.5), N, rng=0, box=box) == pytest.approx(1 / 3, abs=0.01)
    assert iou(unit_cube(), unit_cube(3.0), 10_000, rng=0) == 0.0
    with pytest.raises(ValueError, match="box"):
        iou(unit_cube(), unit_cube(), 100, box=np.zeros(3))


def test_iou_is_deterministic_for_a_seed() -> None:
    a = iou(unit_cube(), unit_cube(0.5), 5_000, rng=np.random.default_rng(3))
    b = iou(unit_cube(), unit_cube(0.5), 5_000, rng=3)
    assert a == b


def test_iou_tolerates_an_open_prediction() -> None:
    # a cube with one face (2 triangles) missing: winding numbers still ~1 inside
    cube = unit_cube()
    open_cube = trimesh.Trimesh(cube.vertices, cube.faces[2:], process=False)
    assert not open_cube.is_watertight
    assert iou(open_cube, cube, N, rng=0) > 0.9


def test_empty_prediction() -> None:
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False)
    assert iou(empty, unit_cube(), 100) == 0.0
    assert penetration_volume(empty, unit_cube(), 100) == 0.0
    with pytest.raises(ValueError, match="empty"):
        chamfer_l1(empty, unit_cube(), 100)
    with pytest.raises(ValueError, match="gt_mesh is empty"):
        iou(unit_cube(), empty, 100)
    joints = random_joints(0)
    result = hand_metrics(empty, unit_cube(), joints, joints, 100, rng=0)
    assert result["iou"] == 0.0 and np.isnan(result["chamfer_mm"])


# --------------------------------------------------------------------------- Chamfer


def test_chamfer_of_identical_meshes_is_tiny() -> None:
    cube = unit_cube()
    assert chamfer_l1(cube, cube.copy(), N, rng=0) < 0.01  # edge 1


def test_chamfer_of_concentric_spheres(spheres) -> None:
    inner, outer = spheres
    assert chamfer_l1(inner, outer, N, rng=0) == pytest.approx(0.1, rel=0.05)


def test_chamfer_is_in_the_mesh_units(spheres) -> None:
    inner, outer = spheres
    scale = 0.05  # metres
    small = chamfer_l1(inner.copy().apply_scale(scale), outer.copy().apply_scale(scale), N, rng=0)
    assert small == pytest.approx(scale * chamfer_l1(inner, outer, N, rng=0), rel=1e-9)


def test_sample_surface_is_area_weighted_and_on_the_surface() -> None:
    # a 2x1 rectangle (2 triangles) and a far 1x1 square: 2/3 of samples on the rectangle
    vertices = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0],
                         [0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 1, 5]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    points = sample_surface((vertices, faces), 30_000, rng=0)
    on_rectangle = points[:, 2] == 0.0
    assert on_rectangle.mean() == pytest.approx(2.0 / 3.0, abs=0.01)
    assert np.all((points[:, 0] >= 0) & (points[:, 0] <= 2) & (points[:, 1] >= 0) & (points[:, 1] <= 1))
    # uniform within the rectangle: mean x = 1
    assert points[on_rectangle, 0].mean() == pytest.approx(1.0, abs=0.02)


# --------------------------------------------------------------------------- penetration


def test_penetration_of_offset_cubes() -> None:
    assert penetration_volume(unit_cube(), unit_cube(0.5), N, rng=0) == pytest.approx(0.5, rel=0.02)


def test_penetration_of_separated_or_touching_meshes_is_zero() -> None:
    assert penetration_volume(unit_cube(), unit_cube(2.0), N, rng=0) == 0.0
    assert penetration_volume(unit_cube(), unit_cube(1.0), N, rng=0) == 0.0  # touching faces


def test_penetration_of_a_sphere_in_a_cube() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    expected = mesh_volume(sphere.vertices, sphere.faces)
    assert penetration_volume(unit_cube(), sphere, N, rng=0) == pytest.approx(expected, rel=0.02)


def test_penetration_region_holds_the_points_inside_both_and_gives_the_volume() -> None:
    region = penetration_region(unit_cube(), unit_cube(0.5), N, rng=0)
    # unit_cube(x) spans [x - 0.5, x + 0.5] in x: the overlap is 0 <= x <= 0.5, every y and z of the cube
    assert len(region.points) > 0 and region.n_points == N and region.box_volume == pytest.approx(0.5)
    assert np.all((region.points[:, 0] >= 0.0) & (region.points[:, 0] <= 0.5))
    assert np.all(np.abs(region.points[:, 1:]) <= 0.5)
    assert region.volume == penetration_volume(unit_cube(), unit_cube(0.5), N, rng=0)  # the same draw
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    inside = penetration_region(unit_cube(), sphere, 5_000, rng=1).points
    assert len(inside) > 0 and np.all(np.linalg.norm(inside, axis=1) <= 0.3 + 1e-9)
    apart = penetration_region(unit_cube(), unit_cube(2.0), N, rng=0)
    assert apart.points.shape == (0, 3) and apart.volume == 0.0


# --------------------------------------------------------------------------- MPJPE, alignment


def test_mpjpe_of_a_known_offset() -> None:
    gt = random_joints(0)
    offset = np.array([0.003, -0.004, 0.012])  # norm 0.013
    assert mpjpe(gt + offset, gt) == pytest.approx(0.013, rel=1e-12)
    assert mpjpe(gt + offset, gt, align_root=20) == pytest.approx(0.0, abs=1e-15)
    batch = np.stack([gt, gt])
    assert mpjpe(batch + offset, batch) == pytest.approx(0.013, rel=1e-12)
    assert mpjpe(torch.as_tensor(gt + offset), torch.as_tensor(gt)) == pytest.approx(0.013)


def test_mpjpe_root_alignment_removes_only_the_root_offset() -> None:
    gt = random_joints(0)
    pred = gt.copy()
    pred[5] += (0.0, 0.021, 0.0)  # one joint off by 21 mm
    assert mpjpe(pred, gt) == pytest.approx(0.021 / 21)
    assert mpjpe(pred, gt, align_root=5) == pytest.approx(0.021 * 20 / 21)


@pytest.mark.parametrize(
    "pred, gt, kwargs, message",
    [
        (np.zeros((21, 3)), np.zeros((20, 3)), {}, "differ"),
        (np.zeros((21, 2)), np.zeros((21, 2)), {}, "shape"),
        (np.zeros(3), np.zeros(3), {}, "shape"),
        (np.full((21, 3), np.nan), np.zeros((21, 3)), {}, "pred contains NaN"),
        (np.zeros((21, 3)), np.full((21, 3), np.inf), {}, "gt contains NaN"),
        (np.zeros((21, 3)), np.zeros((21, 3)), {"align_root": 21}, "align_root"),
    ],
)
def test_mpjpe_bad_input_raises(pred, gt, kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mpjpe(pred, gt, **kwargs)


def test_middle_joint_alignment_makes_joint_11_coincide() -> None:
    pred_joints, gt_joints = random_joints(1), random_joints(2)
    translation = middle_joint_translation(pred_joints, gt_joints)
    np.testing.assert_allclose(pred_joints[MIDDLE_MCP] + translation, gt_joints[MIDDLE_MCP])
    aligned = align_by_middle_joint(pred_joints, pred_joints, gt_joints)  # joints as vertices
    np.testing.assert_allclose(aligned[MIDDLE_MCP], gt_joints[MIDDLE_MCP], atol=1e-15)
    np.testing.assert_allclose(aligned - pred_joints, np.broadcast_to(translation, (21, 3)))


@pytest.mark.parametrize(
    "vertices, pred_joints, gt_joints, message",
    [
        (np.zeros((5, 2)), np.zeros((21, 3)), np.zeros((21, 3)), "pred_vertices"),
        (np.zeros((5, 3)), np.zeros((20, 3)), np.zeros((21, 3)), "pred_joints"),
        (np.zeros((5, 3)), np.zeros((21, 3)), np.full((21, 3), np.nan), "gt_joints contains NaN"),
        (np.full((5, 3), np.nan), np.zeros((21, 3)), np.zeros((21, 3)), "pred_vertices contains NaN"),
    ],
)
def test_alignment_bad_input_raises(vertices, pred_joints, gt_joints, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        align_by_middle_joint(vertices, pred_joints, gt_joints)


def test_bad_meshes_and_arguments_raise() -> None:
    cube = unit_cube()
    nan_vertices = cube.vertices.copy()
    nan_vertices[0, 0] = np.nan
    with pytest.raises(ValueError, match="pred_mesh vertices contain NaN"):
        iou((nan_vertices, cube.faces), cube, 100)
    with pytest.raises(ValueError, match="gt_mesh faces contain indices"):
        chamfer_l1(cube, (cube.vertices, cube.faces + 100), 100)
    with pytest.raises(ValueError, match="trimesh.Trimesh or a"):
        penetration_volume(cube, "cube", 100)
    with pytest.raises(ValueError, match="n_points"):
        iou(cube, cube, 0)
    with pytest.raises(ValueError, match="rng"):
        iou(cube, cube, 100, rng="seed")


# --------------------------------------------------------------------------- reporting


def test_unit_conversions() -> None:
    assert to_mm(0.0023) == pytest.approx(2.3)
    assert to_mm(2.3, length_unit_mm=1.0) == 2.3
    assert to_cm3(1e-6) == pytest.approx(1.0)


def test_hand_metrics_aligns_by_the_middle_joint_first() -> None:
    # a 10 cm "hand" (cube) predicted 2 cm off: after middle-joint alignment it is perfect
    gt_mesh = unit_cube().apply_scale(0.1)
    gt_joints = random_joints(0)
    shift = np.array([0.02, -0.01, 0.0])
    pred_mesh = gt_mesh.copy().apply_translation(shift)
    result = hand_metrics(pred_mesh, gt_mesh, gt_joints + shift, gt_joints, 20_000, rng=0)
    assert set(result) == {"iou", "chamfer_mm"}
    assert result["iou"] == pytest.approx(1.0, abs=1e-9)
    assert result["chamfer_mm"] < 1.0  # sampling gap only; edge 100 mm
    unaligned = iou(pred_mesh, gt_mesh, 20_000, rng=0)
    assert unaligned < 0.75


def test_hand_metrics_reports_millimetres(spheres) -> None:
    inner, outer = (mesh.copy().apply_scale(0.05) for mesh in spheres)  # radii 5 / 5.5 cm
    joints = random_joints(0)
    result = hand_metrics(inner, outer, joints, joints, 20_000, rng=0)
    assert result["chamfer_mm"] == pytest.approx(5.0, rel=0.05)  # 0.1 x 50 mm
    assert result["iou"] == pytest.approx(1 / 1.331, abs=0.015)


def test_two_hand_metrics() -> None:
    right_gt = unit_cube().apply_scale(0.1)
    left_gt = unit_cube(0.5).apply_scale(0.1)  # overlaps right by 5 x 10 x 10 cm = 500 cm³
    joints = np.concatenate([random_joints(0), random_joints(1)])  # (42, 3)
    result = two_hand_metrics([right_gt, left_gt], [right_gt, left_gt], joints, joints, 20_000, rng=0)
    assert set(result) == {"iou", "chamfer_mm", "iou_right", "iou_left", "chamfer_mm_right",
                           "chamfer_mm_left", "penetration_cm3"}
    assert result["iou"] == result["iou_right"] == result["iou_left"] == 1.0
    assert result["chamfer_mm"] == pytest.approx(
        0.5 * (result["chamfer_mm_right"] + result["chamfer_mm_left"]))
    assert result["penetration_cm3"] == pytest.approx(500.0, rel=0.02)
    # joints as (2, 21, 3) give the same numbers
    again = two_hand_metrics([right_gt, left_gt], [right_gt, left_gt], joints.reshape(2, 21, 3),
                             joints.reshape(2, 21, 3), 20_000, rng=0)
    assert again == result
    with pytest.raises(ValueError, match=r"\(42, 3\) or \(2, 21, 3\)"):
        two_hand_metrics([right_gt, left_gt], [right_gt, left_gt], joints[:21], joints, 100)
    with pytest.raises(ValueError, match="2 meshes"):
        two_hand_metrics([right_gt], [right_gt, left_gt], joints, joints, 100)
