"""Tests for im2hands_lite.data.appearance (data v2's look) and its use in generate_sample."""

import dataclasses

import numpy as np
import pytest
import torch

from im2hands_lite.data import appearance
from im2hands_lite.data.appearance import (
    MONK_SKIN_TONES,
    auto_exposure,
    camera_artefacts,
    cluttered_background,
    face_parts,
    forearm_surface,
    palm_colour,
    palm_weights,
    render_sample_image,
    sample_lights,
    skin_tone,
)
from im2hands_lite.data.interactions import sample_interaction
from im2hands_lite.data.scene import GeneratorConfig, default_model, generate_sample
from im2hands_lite.geometry.camera import PinholeCamera
from im2hands_lite.geometry.render import render_meshes
from im2hands_lite.hand import HandModel

SMALL = GeneratorConfig(image_size=48, n_queries=64)
LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def scene():
    """One posed pair and a camera looking at it (geometry only)."""
    rng = np.random.default_rng(5)
    with torch.no_grad():
        pair = sample_interaction(rng, "fingertips_touching", default_model())
    centre = pair.vertices.reshape(-1, 3).mean(axis=0)
    radius = np.linalg.norm(pair.vertices.reshape(-1, 3) - centre, axis=1).max()
    camera = PinholeCamera.looking_at(
        centre,
        radius / np.sin(np.radians(15)) * 1.1,
        azimuth=30.0,
        elevation=20.0,
        fov_deg=30.0,
        width=64,
        height=64,
    )
    return pair, camera


def test_render_sample_image_is_deterministic_and_typed(scene):
    pair, camera = scene
    config = dataclasses.replace(SMALL, image_size=64)
    image, mask, _ = render_sample_image(7, pair, camera, config)
    again, mask_again, _ = render_sample_image(7, pair, camera, config)
    other, _, _ = render_sample_image(8, pair, camera, config)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (64, 64) and mask.dtype == np.int8
    assert np.array_equal(image, again) and np.array_equal(mask, mask_again)
    assert not np.array_equal(image, other)
    assert image.std() > 10  # not a flat picture


def test_mask_is_hands_only_and_forearms_never_add_hand_pixels(scene):
    pair, camera = scene
    config = dataclasses.replace(SMALL, image_size=64)
    _, mask, _ = render_sample_image(3, pair, camera, config)
    _, bare, _ = render_sample_image(3, pair, camera, dataclasses.replace(config, forearms=False))
    hands = render_meshes([(pair.vertices[h], pair.faces[h]) for h in range(2)], camera)
    assert set(np.unique(mask)) == {-1, 0, 1}  # both hands seen, forearms are background
    assert np.array_equal(bare, hands.mask_ids)  # 0 right, 1 left, -1 background
    hand = mask >= 0
    assert np.array_equal(
        mask[hand], hands.mask_ids[hand]
    )  # a forearm may hide a hand, never add one
    assert hand.sum() <= (hands.mask_ids >= 0).sum()


def test_appearance_has_its_own_random_stream():
    """Changing only the look changes the image, never a label."""
    base = generate_sample(20_000_003, SMALL)
    for change in (dict(background="smooth"), dict(augment=False), dict(forearms=False)):
        other = generate_sample(20_000_003, dataclasses.replace(SMALL, **change))
        for name in ("keypoints", "vertices", "queries", "occupancy", "finger_angles", "transl"):
            assert np.array_equal(getattr(base, name), getattr(other, name)), (change, name)
        assert np.array_equal(base.camera.K, other.camera.K) and np.array_equal(
            base.camera.R, other.camera.R
        )
        assert not np.array_equal(base.image, other.image), change
    # ... and the look is drawn from (seed, 1), so the same seed renders the same image
    assert np.array_equal(generate_sample(20_000_003, SMALL).image, base.image)


def test_generator_config_checks_the_background_and_defaults_to_v2():
    config = GeneratorConfig()
    assert config.forearms and config.augment and config.background == "cluttered"
    with pytest.raises(ValueError, match="background"):
        GeneratorConfig(background="photo")
    assert GeneratorConfig(background="smooth").key() != config.key()


def test_skin_tones_span_very_light_to_very_dark():
    assert MONK_SKIN_TONES.shape == (10, 3)
    luma = MONK_SKIN_TONES @ LUMA
    assert np.all(np.diff(luma) < 0.01) and luma[0] - luma[-1] > 0.7  # MST-1 light .. MST-10 dark
    rng = np.random.default_rng(0)
    tones = np.array([skin_tone(rng) for _ in range(2000)])
    assert tones.min() >= 0.0 and tones.max() <= 1.0
    tone_luma = tones @ LUMA
    assert tone_luma.min() < 0.2 and tone_luma.max() > 0.75  # the whole range is drawn
    assert np.mean(tone_luma < 0.35) > 0.2 and np.mean(tone_luma > 0.6) > 0.2
    assert np.all(tones[:, 0] >= tones[:, 2])  # skin: more red than blue


def test_lights_keep_a_key_light_on_the_camera_side():
    rng = np.random.default_rng(1)
    to_camera = np.array([0.3, -0.2, 1.0])
    for _ in range(200):
        lights, ambient = sample_lights(rng, to_camera)
        assert 2 <= len(lights) <= 3 and 0.0 < ambient < 0.5
        key, intensity = lights[0]
        assert np.isclose(np.linalg.norm(key), 1.0)
        assert key @ to_camera / np.linalg.norm(to_camera) >= np.cos(np.radians(60)) - 1e-9
        assert np.all(np.asarray(intensity) > 0.3)


def test_cluttered_background_is_textured_deterministic_and_in_range():
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    first = cluttered_background(rng_a, 64, 80)
    assert first.shape == (64, 80, 3) and first.dtype == np.float32
    assert np.array_equal(first, cluttered_background(rng_b, 64, 80))
    images = [cluttered_background(np.random.default_rng(seed), 96, 96) for seed in range(24)]
    for image in images:
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert image.std() > 0.02  # never a flat colour
    # textured or cluttered: most images have sharp edges somewhere (shapes, stripes, checkers)
    sharp = [np.abs(np.diff(image, axis=1)).max() > 0.15 for image in images]
    assert np.mean(sharp) > 0.7
    assert not np.allclose(images[0], images[1])
    with pytest.raises(ValueError, match="Generator"):
        cluttered_background(np.random.RandomState(0), 8, 8)


def test_camera_artefacts_blur_and_jpeg_change_the_image_but_not_its_shape():
    image = cluttered_background(np.random.default_rng(2), 64, 64)
    plain = camera_artefacts(np.random.default_rng(9), image, blur=(0.0, 0, 0), jpeg=(0.0, 0, 0))
    blurred = camera_artefacts(
        np.random.default_rng(9), image, blur=(1.0, 1.0, 1.0), jpeg=(0.0, 0, 0)
    )
    jpeg = camera_artefacts(np.random.default_rng(9), image, blur=(0.0, 0, 0), jpeg=(1.0, 40, 40))
    for out in (plain, blurred, jpeg):
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert not np.array_equal(plain, blurred) and not np.array_equal(plain, jpeg)

    def roughness(x):
        return np.abs(np.diff(x.astype(float), axis=1)).mean()

    assert roughness(blurred) < 0.8 * roughness(plain)  # blur removes the sensor noise
    assert np.abs(jpeg.astype(float) - plain).mean() < 20  # compressed, still the same picture
    # the noise is random per sample, the same for the same stream
    assert np.array_equal(
        plain, camera_artefacts(np.random.default_rng(9), image, blur=(0.0, 0, 0), jpeg=(0.0, 0, 0))
    )


def test_auto_exposure_brightens_dark_subjects_only():
    rng = np.random.default_rng(0)
    subject = np.zeros((8, 8), dtype=bool)
    subject[2:6, 2:6] = True
    dark = np.full((8, 8, 3), 0.05, dtype=np.float32)
    bright = np.full((8, 8, 3), 0.8, dtype=np.float32)
    lifted = auto_exposure(rng, dark, subject)
    assert lifted.mean() > dark.mean() * 1.5 and lifted.max() <= 1.0
    assert np.array_equal(auto_exposure(rng, bright, subject), bright)  # never darker
    assert np.array_equal(auto_exposure(rng, dark, np.zeros((8, 8), bool)), dark)  # no hands


def test_forearm_starts_at_the_wrist_and_points_away_from_the_hand(scene):
    pair, _ = scene
    joints, vertices = pair.joints[0], pair.vertices[0]
    points, faces = forearm_surface(joints, vertices, 1.0, np.random.default_rng(0))
    assert faces.min() >= 0 and faces.max() < len(points)
    wrist, middle = joints[20], joints[11]
    along = (wrist - middle) / np.linalg.norm(wrist - middle)
    reach = (points - wrist) @ along
    assert reach.min() < 0.0 and 0.25 < reach.max() < 0.32  # from inside the wrist, ~30 cm long
    assert np.linalg.norm(points - wrist, axis=1).min() < 0.03
    import trimesh

    assert trimesh.Trimesh(points, faces, process=True).is_watertight
    # the sleeve follows the same (seeded) arm from further up, a little wider
    sleeve, sleeve_faces = forearm_surface(
        joints, vertices, 1.0, np.random.default_rng(0), sleeve=0.1
    )
    sleeve_reach = (sleeve - wrist) @ along
    assert sleeve_reach.min() > 0.08 and np.allclose(sleeve[-1], points[-1])  # the same far end
    assert trimesh.Trimesh(sleeve, sleeve_faces, process=True).is_watertight
    arm_radius = np.linalg.norm(np.cross(points - wrist, along), axis=1)
    sleeve_radius = np.linalg.norm(np.cross(sleeve - wrist, along), axis=1)
    assert sleeve_radius.max() > arm_radius.max()


def test_module_names_its_stream():
    assert appearance.APPEARANCE_STREAM == 1 and set(appearance.BACKGROUNDS) == {
        "cluttered",
        "smooth",
    }


def test_palms_are_lighter_than_the_backs_of_dark_hands():
    weights = palm_weights()
    assert weights.shape == (default_model().n_vertices,) and 0.2 < weights.mean() < 0.6
    assert weights.min() == 0.0 and weights.max() == 1.0
    rng = np.random.default_rng(0)
    dark, light = MONK_SKIN_TONES[9], MONK_SKIN_TONES[0]
    dark_palm, light_palm = palm_colour(rng, dark), palm_colour(rng, light)
    assert dark_palm @ LUMA > 1.3 * (dark @ LUMA)  # much lighter palms on dark skin
    assert abs(light_palm @ LUMA - light @ LUMA) < 0.1  # little change on light skin


def test_part_map_names_the_bone_each_hand_pixel_shows(scene):
    """Every hand pixel gets the bone of the triangle its ray hits (the largest skinning weight
    over the triangle's corners); off the hands -1. Checked against a render of each part on its
    own: a pixel labelled bone b shows a triangle of bone b."""
    pair, camera = scene
    config = dataclasses.replace(SMALL, image_size=64)
    weights = HandModel().skin_weights.numpy()
    _, mask, parts = render_sample_image(3, pair, camera, config, part_weights=weights)
    assert parts.shape == mask.shape and parts.dtype == np.int8
    assert np.array_equal(parts >= 0, mask >= 0)
    assert set(np.unique(parts[mask >= 0])) <= set(range(16)) and len(np.unique(parts[mask >= 0])) >= 4
    plain = render_meshes([(pair.vertices[h], pair.faces[h]) for h in range(2)], camera)
    for hand in range(2):
        bones = face_parts(pair.faces[hand], weights)
        seen = (mask == hand) & (plain.mask_ids == hand)
        assert np.array_equal(parts[seen], bones[plain.face_ids[seen]])
    palm_faces = np.flatnonzero(face_parts(pair.faces[0], weights) == 0)
    assert np.all(weights[pair.faces[0][palm_faces]].sum(axis=1).argmax(axis=1) == 0)
    assert render_sample_image(3, pair, camera, config).parts is None
