"""The InterHand2.6M path on a miniature tree with the real file layout (written by the tests)."""
import json

import numpy as np
import pytest
import trimesh

from im2hands_lite.cli import main
from im2hands_lite.data import GeneratorConfig, TwoHandDataset
from im2hands_lite.data.interhand import (
    InterHandConfig,
    InterHandFormatError,
    close_wrist,
    crop_box,
    crop_image,
    interhand_camera,
    prepare_interhand,
    resolve_data_dir,
    select_frames,
)
from im2hands_lite.data.interhand_fixture import (
    FIXTURE_CAMERA_DISTANCE_MM,
    FIXTURE_FOCAL,
    FIXTURE_PRINCIPAL,
    expected_frames,
    fixture_cameras,
    write_fixture_interhand,
)

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = GeneratorConfig(image_size=128, n_queries=256)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_fixture_interhand(tmp_path_factory.mktemp("interhand"))


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    return prepare_interhand(InterHandConfig(root=str(tree), split="train"), tmp_path_factory.mktemp("cache"),
                             generator=SMALL, progress=False)


def test_frame_selection_keeps_only_usable_interacting_frames(tree):
    frames = select_frames(InterHandConfig(root=str(tree), split="train"))
    assert len(frames) == expected_frames()
    data = json.loads((tree / "annotations/train/InterHand2.6M_train_data.json").read_text())
    rejected = {a["image_id"] for a in data["annotations"] if a["hand_type"] != "interacting"
                or min(v[0] for v in a["joint_valid"]) == 0}
    assert len(rejected) == 2 and not rejected & {f.image_id for f in frames}
    assert not any(f.capture == "1" and f.frame == "104" for f in frames)  # no left MANO fit
    for frame in frames:
        assert frame.keypoints.shape == (42, 3) and frame.image_path.is_file()
        assert np.all(np.abs(frame.keypoints) < 0.5)  # metres, not millimetres
    every_other = select_frames(InterHandConfig(root=str(tree), split="train", every=2))
    assert [f.image_id for f in every_other] == [f.image_id for f in frames][::2]


def test_camera_transform_projects_a_known_point_to_a_known_pixel():
    cameras = {"0": fixture_cameras(0)}
    camera = interhand_camera(cameras, "0", "400002", 96, 64)
    d = FIXTURE_CAMERA_DISTANCE_MM / 1000
    assert np.allclose(camera.world_to_camera(np.zeros((1, 3))), [[0, 0, d]])
    pixel = camera.project(np.array([[0.1, -0.05, 0.0]]))[0]
    assert np.allclose(pixel, [FIXTURE_PRINCIPAL[0] + FIXTURE_FOCAL[0] * 0.1 / d,
                               FIXTURE_PRINCIPAL[1] - FIXTURE_FOCAL[1] * 0.05 / d])
    turned = interhand_camera(cameras, "0", "400004", 96, 64)
    campos = np.asarray(cameras["0"]["campos"]["400004"]) / 1000
    camrot = np.asarray(cameras["0"]["camrot"]["400004"])
    point = np.array([[0.02, 0.03, -0.01]])
    assert np.allclose(turned.world_to_camera(point), (camrot @ (point[0] - campos))[None])
    with pytest.raises(InterHandFormatError, match="no camera '400009'"):
        interhand_camera(cameras, "0", "400009", 96, 64)


def test_crop_moves_pixels_where_the_cropped_camera_says():
    cameras = {"0": fixture_cameras(0)}
    camera = interhand_camera(cameras, "0", "400002", 96, 64)
    image = np.zeros((64, 96, 3), np.uint8)
    image[20:24, 60:64] = 255  # a bright 4x4 block centred on pixel (61.5, 21.5)
    x0, y0, side = crop_box(np.array([[50.0, 10.0], [70.0, 30.0]]), 1.5)
    assert side == 30 and (x0, y0) == (45, 5)
    crop = crop_image(image, x0, y0, side, 60)
    rows, cols = np.nonzero(crop[..., 0] > 127)
    expected = (np.array([61.5, 21.5]) - [x0, y0] + 0.5) * 60 / side - 0.5
    assert np.allclose([cols.mean(), rows.mean()], expected, atol=0.5)
    cropped = camera.cropped(x0, y0, side, 60)
    point = camera.unproject(np.array([[61.5, 21.5]]), np.array([0.7]))
    assert np.allclose(cropped.project(point)[0], expected)
    # a window reaching outside the image is padded with black
    assert crop_image(image, -10, -10, 20, 20)[:5, :5].max() == 0


def test_close_wrist_makes_an_open_mesh_watertight():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    keep = ~np.any(np.isin(sphere.faces, [0]), axis=1)  # cut a hole around vertex 0
    vertices, faces = close_wrist(np.asarray(sphere.vertices), np.asarray(sphere.faces)[keep])
    closed = trimesh.Trimesh(vertices, faces, process=False)
    assert not trimesh.Trimesh(sphere.vertices, sphere.faces[keep], process=False).is_watertight
    assert closed.is_watertight and closed.is_winding_consistent
    assert closed.volume == pytest.approx(sphere.volume, rel=0.02)


def test_prepared_frames_read_like_synthetic_samples(prepared):
    data = TwoHandDataset(prepared, "train")
    assert len(data) == expected_frames()
    item, sample = data[0], data.sample(0)
    assert item["image"].shape == (3, 128, 128) and item["keypoints"].shape == (42, 3)
    assert item["vertices"].shape == (2, 779, 3) and item["queries"].shape == (2, 256, 3)
    assert sample.interaction == "interhand" and set(np.unique(sample.mask)) == {-1, 0, 1}
    assert sample.faces[0].shape[0] > 1538  # MANO's faces + the wrist cap, stored with the shard
    pixels = sample.keypoints_2d()
    assert pixels.min() > 0 and pixels.max() < 128  # the crop holds both hands
    side = 128 / (pixels.max(0) - pixels.min(0)).max()
    assert 1.3 < side < 1.5  # crop_scale 1.4 around the keypoints' box
    assert 0.0 < sample.occupancy.mean() < 1.0
    mesh = sample.mesh(0)
    mesh.update_faces(mesh.nondegenerate_faces())  # the fixture pads MANO's face count with degenerate ones
    assert mesh.is_watertight and mesh.volume > 0  # the wrist is closed and the winding outwards
    inside = mesh.contains(sample.queries[0].astype(np.float64))
    assert np.mean(inside == sample.occupancy[0]) > 0.99  # labels agree with an independent inside test
    # resumable: a second call keeps the complete shards
    shard = prepared / "train" / "shard_00000.npz"
    before = shard.stat().st_mtime_ns
    config = json.loads((prepared / "source.json").read_text())
    prepare_interhand(InterHandConfig(root=config["root"], split="train"), prepared.parent, generator=SMALL,
                      progress=False)
    assert shard.stat().st_mtime_ns == before


def test_one_training_step_on_prepared_frames(prepared, tmp_path):
    import torch

    from im2hands_lite.checkpoints import load_checkpoint
    from im2hands_lite.models.registry import load_model
    from im2hands_lite.training.runs import RunSpec, run_training

    result = run_training(RunSpec(model="i", out=str(tmp_path / "run"), data_dir=str(prepared), progress=False,
                                  overrides=("steps=1", "batch_size=2", "train_samples=4", "n_queries=128"),
                                  threads=1))
    assert result.steps == 1 and np.isfinite(result.log[0]["loss"])
    extra = load_checkpoint(result.final, kind="i")["extra"]
    assert extra["steps"] == 1 and extra["data_dir"] == str(prepared)
    item = TwoHandDataset(prepared, "train")[0]
    with torch.no_grad():
        occupancy = load_model(result.final).occupancy_function(item, 0)(item["queries"][0])
    assert occupancy.shape == (256,) and bool(((occupancy >= 0) & (occupancy <= 1)).all())


def test_two_interhand_copies_do_not_share_a_cache_folder(tree, tmp_path):
    """The cache is keyed by the data's identity: another root (or MANO folder) with the same
    settings converts into its own folder instead of reading the first copy's frames."""
    first = InterHandConfig(root=str(tree), split="train")
    other = InterHandConfig(root=str(tmp_path / "another_copy"), split="train")
    assert first.key(SMALL) != other.key(SMALL)
    assert first.key(SMALL) != InterHandConfig(root=str(tree), split="train", mano_dir=str(tmp_path)).key(SMALL)
    assert first.key(SMALL) == InterHandConfig(root=str(tree / "images" / ".."), split="train").key(SMALL)


def test_missing_and_broken_files_say_what_was_expected(tree, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"InterHand2.6M_test_data.json.*licensed"):
        select_frames(InterHandConfig(root=str(tmp_path / "nothing"), split="test"))
    broken = write_fixture_interhand(tmp_path / "broken", splits=("test",), frames=2)
    (broken / "mano" / "MANO_LEFT.pkl").unlink()
    with pytest.raises(FileNotFoundError, match=r"MANO_LEFT.pkl.*mano.is.tue.mpg.de"):
        select_frames(InterHandConfig(root=str(broken), split="test"))
    write_fixture_interhand(broken, splits=("test",), frames=2)
    joints = broken / "annotations/test/InterHand2.6M_test_joint_3d.json"
    content = json.loads(joints.read_text())
    content["0"]["100"]["world_coord"] = content["0"]["100"]["world_coord"][:21]
    joints.write_text(json.dumps(content))
    with pytest.raises(InterHandFormatError, match=r"world_coord has shape \(21, 3\)"):
        select_frames(InterHandConfig(root=str(broken), split="test"))
    joints.write_text("{not json")
    with pytest.raises(InterHandFormatError, match="not valid JSON"):
        select_frames(InterHandConfig(root=str(broken), split="test"))
    with pytest.raises(ValueError, match="unknown InterHand2.6M split"):
        InterHandConfig(root=str(tree), split="dev")


def test_data_root_switches_the_cli_and_the_resolver(tree, tmp_path, monkeypatch, capsys):
    from im2hands_lite.data import kit_samples_dir

    monkeypatch.delenv("IM2HANDS_DATA_ROOT", raising=False)
    assert resolve_data_dir("test") == kit_samples_dir()
    monkeypatch.setenv("IM2HANDS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("IM2HANDS_DATA_ROOT", str(tree))
    folder = resolve_data_dir("test", n_samples=2, generator=SMALL, progress=False)
    assert folder.parent == tmp_path / "cache" and len(TwoHandDataset(folder, "test")) == 2
    assert main(["evaluate", "--model", "i", "--split", "test", "--samples", "2", "--resolution", "16",
                 "--quiet"]) == 0
    assert "interhand_" in capsys.readouterr().out
    assert main(["prepare-interhand", "--root", str(tmp_path / "missing"), "--quiet"]) == 2  # the old --root still works
    assert "InterHand2.6M files not found" in capsys.readouterr().err


@pytest.mark.parametrize("notebook, parameters", [
    ("01_data.ipynb", {}),
    ("07_evaluation.ipynb", {"N_TABLE": 1, "N_FAILURES": 1, "RESOLUTION": 16, "TABLES": ["S1"]}),
])
def test_notebooks_accept_an_interhand_data_root(notebook, parameters, tree, tmp_path, monkeypatch):
    """Notebooks 01 and 07 run end to end with DATA_ROOT pointing at an InterHand2.6M tree."""
    from pathlib import Path

    import papermill

    from im2hands_lite.apps.explorer import HEADLESS

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    monkeypatch.setenv("IM2HANDS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("IM2HANDS_OUTPUTS", str(tmp_path / "outputs"))
    # as `make run`: papermill's nbclient can wait for ever on widget messages under load (apps/explorer.py);
    # this test hung so once, with another pytest beside it. A hang left anyway fails after 10 minutes.
    monkeypatch.setenv(HEADLESS, "1")
    papermill.execute_notebook(str(notebooks / notebook), str(tmp_path / notebook), kernel_name="python3",
                               parameters={"DATA_ROOT": str(tree), **parameters}, cwd=str(notebooks),
                               progress_bar=False, execution_timeout=600)
    assert any(p.name.startswith("interhand_") for p in (tmp_path / "cache").iterdir())
