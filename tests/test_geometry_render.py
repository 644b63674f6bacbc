"""Tests for im2hands_lite.geometry.render."""

import math

import numpy as np
import pytest
import trimesh

from im2hands_lite.geometry import render as render_module
from im2hands_lite.geometry.camera import PinholeCamera, intrinsics_from_fov
from im2hands_lite.geometry.render import random_background, render_meshes, uint8_image

DISTANCE = 3.0
RADIUS = 0.5
SIZE = 101  # odd, so the centre pixel lies exactly on the optical axis


def _camera_on_z_axis(size: int = SIZE) -> PinholeCamera:
    """At the origin looking down +z (identity extrinsics)."""
    return PinholeCamera(K=intrinsics_from_fov(30.0, size, size), R=np.eye(3), t=np.zeros(3),
                         width=size, height=size)


def _sphere(centre: tuple[float, float, float], radius: float = RADIUS) -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    sphere.apply_translation(centre)
    return sphere


def test_sphere_mask_area_depth_and_background() -> None:
    camera = _camera_on_z_axis()
    result = render_meshes([_sphere((0.0, 0.0, DISTANCE))], camera)
    assert result.image.shape == (SIZE, SIZE, 3) and result.image.dtype == np.float32
    assert result.mask_ids.dtype == np.int16 and result.depth.dtype == np.float32
    assert result.normals is None

    # A sphere on the optical axis projects to a disc of radius f·R/√(d² − R²).
    focal = camera.K[0, 0]
    disc_radius = focal * RADIUS / math.sqrt(DISTANCE**2 - RADIUS**2)
    expected_area = math.pi * disc_radius**2
    measured_area = np.count_nonzero(result.mask_ids == 0)
    assert measured_area == pytest.approx(expected_area, rel=0.03)

    centre = SIZE // 2
    assert result.depth[centre, centre] == pytest.approx(DISTANCE - RADIUS, rel=1e-3)
    background = result.mask_ids == -1
    assert result.mask_ids[0, 0] == -1 and background.any()
    assert np.all(np.isinf(result.depth[background]))
    assert np.all(result.image[background] == 0.0)
    assert set(np.unique(result.mask_ids)) == {-1, 0}


def test_headlight_shading_is_brightest_facing_the_camera() -> None:
    color = (0.8, 0.6, 0.4)
    result = render_meshes([_sphere((0.0, 0.0, DISTANCE))], _camera_on_z_axis(), colors=[color],
                           ambient=0.2, return_normals=True)
    centre = SIZE // 2
    assert np.allclose(result.image[centre, centre], color, atol=2e-3)
    # Normals face the camera (-z here) at the centre and are unit length on the mask.
    assert np.allclose(result.normals[centre, centre], [0.0, 0.0, -1.0], atol=1e-2)
    lengths = np.linalg.norm(result.normals[result.mask_ids == 0], axis=1)
    assert np.allclose(lengths, 1.0, atol=1e-5)
    # Towards the silhouette the surface turns away from the head-light.
    hit_columns = np.nonzero(result.mask_ids[centre] == 0)[0]
    assert result.image[centre, hit_columns[0], 0] < result.image[centre, centre, 0]


def test_two_spheres_ids_and_occlusion() -> None:
    camera = _camera_on_z_axis()
    near = _sphere((-0.25, 0.0, DISTANCE))
    far = _sphere((0.25, 0.0, DISTANCE + 1.0))
    result = render_meshes([near, (far.vertices, far.faces)], camera)
    assert set(np.unique(result.mask_ids)) == {-1, 0, 1}
    centre = SIZE // 2
    # The centre ray passes through both spheres; the nearer one (id 0) wins.
    assert result.mask_ids[centre, centre] == 0
    ids_near, ids_far = result.mask_ids == 0, result.mask_ids == 1
    assert result.depth[ids_near].max() < result.depth[ids_far].min() + 1.0
    # The far sphere is partly hidden: fewer pixels than when rendered alone.
    alone = render_meshes([far], camera)
    assert np.count_nonzero(ids_far) < np.count_nonzero(alone.mask_ids == 0)
    # Swapping the list order swaps the ids but not the picture.
    swapped = render_meshes([far, near], camera, colors=[(0.45, 0.62, 0.90), (0.90, 0.62, 0.45)])
    assert np.array_equal(swapped.mask_ids == 1, ids_near)
    assert np.allclose(swapped.image, result.image, atol=1e-6)


def test_background_is_kept_where_nothing_is_hit() -> None:
    camera = _camera_on_z_axis(48)
    background = random_background(np.random.default_rng(3), 48, 48)
    result = render_meshes([_sphere((0.0, 0.0, DISTANCE))], camera, background=background,
                           light_dir=(0.0, -1.0, -1.0))
    empty = result.mask_ids == -1
    assert np.array_equal(result.image[empty], background[empty])
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0


def test_mesh_behind_or_outside_the_view_renders_nothing() -> None:
    camera = _camera_on_z_axis(32)
    behind = render_meshes([_sphere((0.0, 0.0, -DISTANCE))], camera)
    aside = render_meshes([_sphere((50.0, 0.0, DISTANCE))], camera)
    for result in (behind, aside):
        assert np.all(result.mask_ids == -1) and np.all(np.isinf(result.depth))


def test_camera_inside_bounding_box_still_renders() -> None:
    # A vertex behind the camera disables the bounding-box shortcut.
    camera = _camera_on_z_axis(32)
    big = trimesh.creation.box(extents=(4.0, 4.0, 4.0))
    result = render_meshes([big], camera)
    assert np.all(result.mask_ids == 0)
    assert result.depth[16, 16] == pytest.approx(2.0, rel=1e-4)


def test_python_fallback_matches_embree(monkeypatch: pytest.MonkeyPatch) -> None:
    camera = _camera_on_z_axis(24)
    meshes = [trimesh.creation.icosphere(2, radius=RADIUS).apply_translation((0.1, 0.0, DISTANCE))]
    embree_result = render_meshes(meshes, camera)
    monkeypatch.setattr(render_module, "_HAS_EMBREE", False)
    monkeypatch.setattr(render_module, "_warned_no_embree", False)
    with pytest.warns(RuntimeWarning, match="embreex"):
        python_result = render_meshes(meshes, camera)
    assert np.mean(python_result.mask_ids != embree_result.mask_ids) < 0.01


def test_render_validation_errors() -> None:
    camera = _camera_on_z_axis(16)
    sphere = _sphere((0.0, 0.0, DISTANCE))
    with pytest.raises(ValueError, match="at least one"):
        render_meshes([], camera)
    with pytest.raises(ValueError, match="colors"):
        render_meshes([sphere], camera, colors=[(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)])
    with pytest.raises(ValueError, match="background"):
        render_meshes([sphere], camera, background=np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="NaN"):
        bad = sphere.vertices.copy()
        bad[0, 0] = np.nan
        render_meshes([(bad, sphere.faces)], camera)
    with pytest.raises(ValueError, match="light_dir"):
        render_meshes([sphere], camera, light_dir=(0.0, 0.0, 0.0))


def test_random_background_is_deterministic_varied_and_smooth() -> None:
    first = random_background(np.random.default_rng(11), 64, 80)
    again = random_background(np.random.default_rng(11), 64, 80)
    other = random_background(np.random.default_rng(12), 64, 80)
    assert first.shape == (64, 80, 3) and first.dtype == np.float32
    assert np.array_equal(first, again) and not np.allclose(first, other)
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert first.std() > 0.02  # not a flat colour
    neighbour_step = np.abs(np.diff(first, axis=1)).mean()
    assert neighbour_step < 0.02  # smooth: neighbouring pixels are close
    with pytest.raises(ValueError, match="Generator"):
        random_background(np.random.RandomState(0), 8, 8)


def test_uint8_image() -> None:
    image = np.array([[[0.0, 0.5, 1.0], [-0.2, 1.3, 0.999]]], dtype=np.float32)
    assert uint8_image(image).tolist() == [[[0, 128, 255], [0, 255, 255]]]
    with pytest.raises(ValueError, match="NaN"):
        uint8_image(np.full((2, 2, 3), np.nan))


def test_lights_list_matches_the_single_light_and_adds_up() -> None:
    camera = _camera_on_z_axis(48)
    sphere = _sphere((0.0, 0.0, DISTANCE))
    light = np.array([0.3, -0.5, -1.0])
    single = render_meshes([sphere], camera, colors=[(0.8, 0.6, 0.4)], light_dir=light, ambient=0.3)
    listed = render_meshes([sphere], camera, colors=[(0.8, 0.6, 0.4)], lights=[(light, 0.7)],
                           ambient=0.3)
    assert np.allclose(single.image, listed.image, atol=1e-6)
    # two lights: each one's Lambert term adds (an RGB intensity per light works too)
    left, right = (-1.0, 0.0, -1.0), (1.0, 0.0, -1.0)
    grey = [(0.5, 0.5, 0.5)]
    bluish = (right, (0.2, 0.3, 0.4))
    both = render_meshes([sphere], camera, colors=grey, lights=[(left, 0.4), bluish], ambient=0.1)
    one = render_meshes([sphere], camera, colors=grey, lights=[(left, 0.4)], ambient=0.1)
    other = render_meshes([sphere], camera, colors=grey, lights=[bluish], ambient=0.1)
    hit = both.mask_ids == 0
    ambient_only = 0.5 * 0.1
    assert np.allclose(both.image[hit], one.image[hit] + other.image[hit] - ambient_only, atol=1e-5)
    centre = 24
    assert both.image[centre, 10, 0] > both.image[centre, 38, 0]  # the left light is the stronger
    # a head-light in the list (direction None) lights the centre fully
    head = render_meshes([sphere], camera, colors=grey, lights=[(None, 0.9)], ambient=0.1)
    assert np.allclose(head.image[centre, centre], 0.5, atol=3e-3)


def test_specular_adds_a_highlight_where_the_half_vector_meets_the_normal() -> None:
    camera = _camera_on_z_axis(49)
    sphere = _sphere((0.0, 0.0, DISTANCE))
    matte = render_meshes([sphere], camera, colors=[(0.4, 0.3, 0.2)], lights=[((0, 0, -1), 0.6)])
    shiny = render_meshes([sphere], camera, colors=[(0.4, 0.3, 0.2)], lights=[((0, 0, -1), 0.6)],
                          specular=0.3, shininess=20.0)
    gain = (shiny.image - matte.image).sum(axis=-1)
    assert np.all(gain >= -1e-6) and gain[24, 24] > 0.5  # white, facing the light and camera
    hit_columns = np.nonzero(matte.mask_ids[24] == 0)[0]
    assert gain[24, hit_columns[0]] < 0.1 * gain[24, 24]  # and little of it towards the silhouette
    assert np.array_equal(shiny.mask_ids, matte.mask_ids)
    assert shiny.image.max() <= 1.0


def test_lights_validation_errors() -> None:
    camera = _camera_on_z_axis(16)
    sphere = _sphere((0.0, 0.0, DISTANCE))
    with pytest.raises(ValueError, match="either light_dir or lights"):
        render_meshes([sphere], camera, light_dir=(0, 0, -1), lights=[((0, 0, -1), 1.0)])
    with pytest.raises(ValueError, match=r"lights\[0\] intensity"):
        render_meshes([sphere], camera, lights=[((0, 0, -1), -0.5)])
    with pytest.raises(ValueError, match=r"lights\[1\] direction"):
        render_meshes([sphere], camera, lights=[((0, 0, -1), 0.5), ((0, 0, 0), 0.5)])
    with pytest.raises(ValueError, match="specular"):
        render_meshes([sphere], camera, specular=-0.1)


def test_per_vertex_colours_are_interpolated() -> None:
    camera = _camera_on_z_axis(48)
    sphere = _sphere((0.0, 0.0, DISTANCE))
    flat = render_meshes([sphere], camera, colors=[(0.6, 0.4, 0.2)], lights=[(None, 0.8)])
    tiled = np.tile((0.6, 0.4, 0.2), (len(sphere.vertices), 1))
    same = render_meshes([sphere], camera, colors=[tiled], lights=[(None, 0.8)])
    assert np.allclose(flat.image, same.image, atol=1e-6)
    # red on the left half of the sphere, blue on the right: the picture follows
    left = sphere.vertices[:, 0] < 0
    colours = np.where(left[:, None], [0.9, 0.1, 0.1], [0.1, 0.1, 0.9])
    split = render_meshes([sphere, _sphere((5.0, 0.0, DISTANCE))], camera,
                          colors=[colours, (0.5, 0.5, 0.5)], lights=[(None, 0.8)])
    assert split.image[24, 14, 0] > split.image[24, 14, 2]
    assert split.image[24, 34, 2] > split.image[24, 34, 0]
    with pytest.raises(ValueError, match="one colour per vertex"):
        render_meshes([sphere], camera, colors=[colours[:10]])
