"""`im2hands evaluate` and `im2hands reconstruct`: outputs, and clear errors for bad input."""
import json
import re

import numpy as np
import pytest
from PIL import Image

from im2hands_lite.apps.pipeline import (
    ImageError,
    ImagePipeline,
    default_camera,
    load_image,
    overlay_size,
    photo_overlay,
)
from im2hands_lite.cli import main
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.evaluation.reconstruction import ReconstructionConfig
from im2hands_lite.geometry.render import render_meshes


def test_reconstruct_a_kit_sample_and_an_image_file(tmp_path, capsys):
    assert main(["reconstruct", "--sample", "test:0", "--no-refine", "--resolution", "32",
                 "--out", str(tmp_path / "sample")]) == 0
    for name in ("right.ply", "left.ply", "right.obj", "left.obj", "overlay.png", "keypoints.json"):
        assert (tmp_path / "sample" / name).is_file(), name
    import trimesh

    ply, obj = (trimesh.load(tmp_path / "sample" / f"right.{ext}", process=False) for ext in ("ply", "obj"))
    assert len(obj.faces) == len(ply.faces) > 0 and np.allclose(obj.bounds, ply.bounds, atol=1e-5)
    keypoints = json.loads((tmp_path / "sample" / "keypoints.json").read_text())
    assert np.asarray(keypoints["refined"]).shape == (42, 3)
    # an image file (a 200x160 crop of a kit image, upscaled): centre-cropped, resized, assumed camera
    image = TwoHandDataset(kit_samples_dir(), "test").sample(1).image
    Image.fromarray(image).resize((200, 160)).save(tmp_path / "photo.png")
    capsys.readouterr()
    assert main(["reconstruct", str(tmp_path / "photo.png"), "--estimator", "kit", "--resolution", "32",
                 "--out", str(tmp_path / "photo")]) == 0
    assert "trained on synthetic renders only" in capsys.readouterr().err  # chosen, but not for photos
    overlay = np.asarray(Image.open(tmp_path / "photo" / "overlay.png"))
    assert overlay.shape == (160, 200, 3)  # the whole image at its own size, not the networks' 128 px square


def test_overlay_is_the_whole_photo_with_both_hands_capped_in_size():
    sample = TwoHandDataset(kit_samples_dir(), "test").sample(1)
    photo = np.asarray(Image.fromarray(sample.image).resize((256, 256), Image.NEAREST))
    camera = sample.camera.resized(256, 256)
    # where the two meshes project (the sample's own mask hides hands behind forearms)
    mask = render_meshes([sample.mesh(0), sample.mesh(1)], camera).mask_ids
    overlay = photo_overlay(photo, [sample.mesh(0), sample.mesh(1)], camera)
    assert overlay.shape == (256, 256, 3)
    changed = (overlay != photo).any(axis=-1)
    for hand in (0, 1):  # both meshes are drawn where their hand is
        assert changed[mask == hand].mean() > 0.9
    assert changed[mask == -1].mean() < 0.05  # and the photo is left as it is elsewhere
    assert overlay_size(4032, 3024) == (1024, 768) and overlay_size(200, 160) == (200, 160)
    small = photo_overlay(photo, [sample.mesh(0), sample.mesh(1)], sample.camera.resized(256, 256), max_side=100)
    assert small.shape == (100, 100, 3)


def test_pipeline_reads_float_images_in_0_1_like_uint8():
    """A float image in [0, 1] is the same picture as its uint8 0-255 form (not cast to black)."""
    sample = TwoHandDataset(kit_samples_dir(), "test").sample(1)
    pipeline = ImagePipeline(use_two_hand_refiner=False)
    recon = ReconstructionConfig(resolution=24, coarse_resolution=6)
    as_uint8, as_float = (pipeline.reconstruct(image, sample.camera, recon)
                          for image in (sample.image, sample.image / 255.0))
    assert np.array_equal(as_float.keypoints["estimator"], as_uint8.keypoints["estimator"])
    assert np.array_equal(as_float.overlay, as_uint8.overlay)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"not an image at all", "not a readable image")])
def test_reconstruct_rejects_bad_files_and_writes_nothing(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    assert main(["reconstruct", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.png", 128)


def test_reconstruct_argument_errors(tmp_path, capsys):
    assert main(["reconstruct", "--out", str(tmp_path / "o")]) == 2
    assert "either an IMAGE" in capsys.readouterr().err
    assert main(["reconstruct", "--sample", "test", "--out", str(tmp_path / "o")]) == 2
    assert "test:3" in capsys.readouterr().err
    with pytest.raises(ValueError, match="fov_deg"):
        default_camera(128, 1.0)


def test_evaluate_writes_metrics(tmp_path, capsys):
    out = tmp_path / "k.json"
    assert main(["evaluate", "--model", "k", "--samples", "4", "--quiet", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["samples"] == 4
    assert result["mean"]["noisy+K_rr"] < result["mean"]["noisy_rr"]  # K brings noisy keypoints closer
    assert main(["evaluate", "--model", "i", "--variant", "none", "--samples", "1", "--resolution", "32",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "iou" in printed and re.search(r"failed\s+0 of 1 samples", printed)  # empty meshes are counted
    assert main(["evaluate", "--model", "i", "--data-dir", str(tmp_path), "--quiet"]) == 2
    assert main(["evaluate", "--model", "k", "--checkpoint", str(tmp_path / "none.pt"), "--quiet"]) == 2
