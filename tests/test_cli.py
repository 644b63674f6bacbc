"""`im2hands evaluate` and `im2hands reconstruct`: outputs, and clear errors for bad input."""
import json

import numpy as np
import pytest
from PIL import Image

from im2hands_lite.apps.pipeline import ImageError, default_camera, load_image
from im2hands_lite.cli import main
from im2hands_lite.data import TwoHandDataset, kit_samples_dir


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
    assert main(["reconstruct", str(tmp_path / "photo.png"), "--resolution", "32", "--out", str(tmp_path / "photo")]) == 0
    overlay = np.asarray(Image.open(tmp_path / "photo" / "overlay.png"))
    assert overlay.shape == (128, 128, 3)


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
    assert result["samples"] == 4 and result["mean"]["noisy+K_rr"] < result["mean"]["noisy_rr"] + 5
    assert main(["evaluate", "--model", "i", "--variant", "none", "--samples", "1", "--resolution", "32",
                 "--quiet"]) == 0
    assert "iou" in capsys.readouterr().out
    assert main(["evaluate", "--model", "i", "--data-dir", str(tmp_path), "--quiet"]) == 2
    assert main(["evaluate", "--model", "k", "--checkpoint", str(tmp_path / "none.pt"), "--quiet"]) == 2
