"""Photos from the wild, without MediaPipe: joint order, lifting, side assignment, the bundle
builder, clear messages when the extra is missing, and the photo chain with a stand-in detector."""
import json
import sys
import types
import zipfile

import numpy as np
import pytest
import torch

from im2hands_lite import cli
from im2hands_lite.apps import wild
from im2hands_lite.apps.wild import (
    MEDIAPIPE_TO_INTERHAND,
    HandDetection,
    WildError,
    assign_sides,
    build_bundle,
    lift_landmarks,
    photo_camera,
)
from im2hands_lite.cli import main
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.hand.model import HandModel

pytestmark = pytest.mark.usefixtures("one_thread")


def test_joint_order_maps_mediapipe_to_interhand():
    assert sorted(MEDIAPIPE_TO_INTERHAND) == list(range(21))
    assert MEDIAPIPE_TO_INTERHAND[20] == 0  # wrist: MediaPipe 0 -> kit 20
    assert [MEDIAPIPE_TO_INTERHAND[4 * f] for f in range(5)] == [4, 8, 12, 16, 20]  # tips
    assert [MEDIAPIPE_TO_INTERHAND[4 * f + 3] for f in range(5)] == [1, 5, 9, 13, 17]  # thumb CMC, finger MCPs


def _hand_in_camera(seed=0):
    """A posed kit hand 45 cm in front of a camera (camera frame = world frame), and that camera."""
    generator = torch.Generator().manual_seed(seed)
    angles = 0.5 * torch.rand(1, 15, 3, generator=generator) * torch.tensor([1.0, 0.2, 0.0])
    with torch.no_grad():
        joints = HandModel()(angles, global_orient=torch.tensor([[0.3, -0.4, 2.8]]),
                             transl=torch.tensor([[0.03, -0.02, 0.45]])).joints[0].double().numpy()
    return joints, photo_camera(640, 480, 65.0)


def test_lifting_recovers_a_projected_hand():
    joints, camera = _hand_in_camera()
    pixels = camera.project(joints)
    world = joints - joints.mean(axis=0)  # what MediaPipe gives: metric, camera-aligned, centred
    assert np.allclose(lift_landmarks(pixels, world, camera.K), joints, atol=1e-9)
    noisy = pixels + np.random.default_rng(0).normal(0, 1.0, pixels.shape)  # 1 px landmark noise
    error_mm = 1000 * np.linalg.norm(lift_landmarks(noisy, world, camera.K) - joints, axis=1).mean()
    assert error_mm < 10, error_mm  # depth from the hand's size: ~1 px costs a few mm at 45 cm
    with pytest.raises(ValueError, match=r"pixels \(21, 2\)"):
        lift_landmarks(pixels[:20], world, camera.K)
    with pytest.raises(WildError, match="behind the camera"):  # point-reflected landmarks fit a hand behind
        lift_landmarks(pixels, -world, camera.K)


def test_photo_camera_and_side_assignment():
    camera = photo_camera(400, 300, 90.0)
    assert camera.K[0, 0] == pytest.approx(200.0) and camera.K[0, 2] == pytest.approx(199.5)
    with pytest.raises(ValueError, match="fov_deg"):
        photo_camera(400, 300, 200.0)
    a = HandDetection("right", 0.9, np.zeros((21, 2)), np.zeros((21, 3)))
    b = HandDetection("right", 0.6, np.ones((21, 2)), np.ones((21, 3)))
    right, left = assign_sides([b, a])
    assert right is a and left.side == "left" and np.array_equal(left.pixels, b.pixels)
    assert [h.side for h in assign_sides([HandDetection("left", 0.5, b.pixels, b.world), a])] == ["right", "left"]
    with pytest.raises(WildError, match="found 1 hand"):
        assign_sides([a])


def test_bundle_is_built_from_the_wheel_deterministically(tmp_path):
    wheel = tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, path in wild.BUNDLE_MEMBERS.items():
            archive.writestr(path, f"model bytes of {name}")
        archive.writestr("mediapipe/__init__.py", "")
    first = build_bundle(tmp_path / "a" / "hand_landmarker.task", wheel)
    second = build_bundle(tmp_path / "b" / "hand_landmarker.task", wheel)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as bundle:
        assert sorted(bundle.namelist()) == ["hand_detector.tflite", "hand_landmarks_detector.tflite"]
        assert bundle.read("hand_detector.tflite") == b"model bytes of hand_detector.tflite"
    provenance = json.loads((first.parent / "provenance.json").read_text())
    assert provenance["licence"].startswith("Apache-2.0") and wheel.name in provenance["source"]
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(WildError, match="not a MediaPipe 0.10.21 wheel"):
        build_bundle(tmp_path / "c" / "hand_landmarker.task", broken)


def test_missing_extra_or_bundle_gives_clear_messages(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "mediapipe.tasks", None)
    monkeypatch.setitem(sys.modules, "mediapipe.tasks.python", None)
    with pytest.raises(WildError, match=r'pip install -e "\.\[wild\]"'):
        wild.detect_hands(np.zeros((64, 64, 3), np.uint8))
    image = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(image)
    assert main(["reconstruct", str(image), "--estimator", "mediapipe", "--out", str(tmp_path / "out")]) == 2
    assert "MediaPipe is not installed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["reconstruct", "--sample", "test:0", "--estimator", "mediapipe", "--out", str(tmp_path / "o")]) == 2
    assert "needs an IMAGE file" in capsys.readouterr().err


def test_photo_chain_with_a_stand_in_detector(tmp_path, monkeypatch):
    """reconstruct_photo end to end, with the detector replaced by the truth of a kit sample
    (pixels and centred camera-frame joints, as MediaPipe would give them at best)."""
    from PIL import Image

    sample = TwoHandDataset(kit_samples_dir(), "test").sample(1)
    big = 256
    photo = np.asarray(Image.fromarray(sample.image).resize((big, big), Image.BILINEAR))
    Image.fromarray(photo).save(tmp_path / "photo.png")
    camera = sample.camera.resized(big, big)
    joints = camera.world_to_camera(sample.keypoints).reshape(2, 21, 3)
    pixels = camera.project(sample.keypoints).reshape(2, 21, 2)
    detections = [HandDetection(side, 0.9, pixels[h], joints[h] - joints[h].mean(0))
                  for h, side in enumerate(("right", "left"))]
    monkeypatch.setattr(wild, "detect_hands", lambda image, bundle=None, mirrored=False: detections)
    fov = float(np.degrees(2 * np.arctan(0.5 * big / camera.K[0, 0])))  # the sample's own camera
    from im2hands_lite.evaluation.reconstruction import ReconstructionConfig

    result = wild.reconstruct_photo(tmp_path / "photo.png", fov_deg=fov,
                                    config=ReconstructionConfig(resolution=32, coarse_resolution=8))
    # with the true landmarks, the lifted keypoints are the true camera-frame joints
    assert np.allclose(result.keypoints["estimator"], joints.reshape(42, 3), atol=1e-4)
    assert all(len(mesh.faces) > 100 for mesh in result.meshes)
    assert result.overlay.shape == (big, big, 3)  # the whole photo, not the 128 px crop


def test_photos_go_through_mediapipe_by_default(tmp_path, monkeypatch):
    """With the [wild] extra, `im2hands reconstruct PHOTO` uses MediaPipe without being asked."""
    from PIL import Image

    sample = TwoHandDataset(kit_samples_dir(), "test").sample(1)
    Image.fromarray(sample.image).save(tmp_path / "photo.png")
    joints = sample.camera.world_to_camera(sample.keypoints).reshape(2, 21, 3)
    pixels = sample.camera.project(sample.keypoints).reshape(2, 21, 2)
    detections = [HandDetection(side, 0.9, pixels[h], joints[h] - joints[h].mean(0))
                  for h, side in enumerate(("right", "left"))]
    monkeypatch.setattr(cli, "mediapipe_available", lambda: True)
    monkeypatch.setattr(wild, "detect_hands", lambda image, bundle=None, mirrored=False: detections)
    fov = float(np.degrees(2 * np.arctan(0.5 * 128 / sample.camera.K[0, 0])))
    assert main(["reconstruct", str(tmp_path / "photo.png"), "--fov", str(fov), "--no-refine", "--resolution", "24",
                 "--out", str(tmp_path / "out")]) == 0
    keypoints = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert np.allclose(keypoints["estimator"], joints.reshape(42, 3), atol=1e-4)  # MediaPipe's, lifted


def test_landmarker_reads_float_images_in_0_1_like_uint8(monkeypatch):
    """The landmarker is handed the uint8 picture of a float [0, 1] image (not a cast to black)."""
    seen = []
    fake = types.ModuleType("mediapipe")  # stands in for the extra: records what MediaPipe would see
    fake.ImageFormat = types.SimpleNamespace(SRGB="srgb")
    fake.Image = lambda image_format, data: seen.append(data) or data
    monkeypatch.setitem(sys.modules, "mediapipe", fake)
    landmarker = object.__new__(wild.HandLandmarker)
    landmarker._landmarker = types.SimpleNamespace(detect=lambda image: types.SimpleNamespace(
        hand_landmarks=[], hand_world_landmarks=[], handedness=[]))
    photo = np.random.default_rng(0).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    assert landmarker.detect(photo / 255.0) == []
    assert seen[0].dtype == np.uint8 and np.array_equal(seen[0], photo)
