"""The CC0 hand asset and the LBS HandModel."""
import numpy as np
import pytest
import torch
import trimesh

from im2hands_lite.hand import JOINT_LIMITS, JOINT_NAMES, AssetError, HandModel, load_hand_asset
from im2hands_lite.hand.asset import DEFAULT_ASSET
from im2hands_lite.hand.joints import BONE_HEADS, BONE_PARENTS, BONE_TAILS, SKELETON_EDGES, WRIST


@pytest.fixture(scope="module")
def model():
    return HandModel()


def random_angles(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 15, 3, generator=g)
    return JOINT_LIMITS[:, :, 0] + u * (JOINT_LIMITS[:, :, 1] - JOINT_LIMITS[:, :, 0])


def test_asset_is_watertight_genus0_and_small():
    asset = load_hand_asset()
    mesh = trimesh.Trimesh(asset.vertices, asset.faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.euler_number == 2  # genus 0: one closed surface
    assert 200e-6 < mesh.volume < 300e-6  # ~247 cm^3, positive = outward winding
    assert DEFAULT_ASSET.stat().st_size < 1_000_000
    assert (DEFAULT_ASSET.parent / "LICENSE-CC0.md").read_text().startswith("# Creative Commons CC0")
    assert (DEFAULT_ASSET.parent / "PROVENANCE.json").is_file()


def test_asset_joint_layout_is_a_right_hand():
    j = load_hand_asset().joints
    assert np.allclose(j[WRIST], 0.0)
    assert j[11, 0] == pytest.approx(0.0, abs=1e-6) and j[11, 1] > 0.08  # middle MCP on +y
    assert j[3, 0] > 0 and j[19, 0] < 0  # thumb on +x, pinky on -x: right-hand chirality
    # hand length wrist -> middle tip ~ 17.7 cm
    assert 0.16 < np.linalg.norm(j[8] - j[20]) < 0.19
    # every bone has positive length and parents precede children
    for b in range(16):
        assert np.linalg.norm(j[BONE_TAILS[b]] - j[BONE_HEADS[b]]) > 0.01
        assert BONE_PARENTS[b] < b
    assert len(SKELETON_EDGES) == 20 and len(JOINT_NAMES) == 21


def test_rest_pose_reproduces_asset(model):
    out = model(torch.zeros(2, 15, 3))
    asset = load_hand_asset()
    assert out.vertices.shape == (2, asset.n_vertices, 3) and out.joints.shape == (2, 21, 3)
    assert torch.allclose(out.vertices[0], torch.from_numpy(asset.vertices), atol=1e-6)
    assert torch.allclose(out.joints[1], torch.from_numpy(asset.joints), atol=1e-6)


def test_posed_meshes_stay_watertight(model):
    scale = torch.linspace(0.85, 1.15, 6)
    out = model(random_angles(6), global_orient=torch.randn(6, 3), transl=torch.randn(6, 3) * 0.1,
                scale=scale, finger_lengths=1 + 0.1 * torch.randn(6, 5))
    for i in range(6):
        mesh = out.mesh(i)
        # LBS loses a little volume at bent joints, never the orientation or closedness
        assert mesh.is_watertight and mesh.volume / scale[i].item() ** 3 > 180e-6


def test_bones_keep_their_lengths_under_pose(model):
    a = model(torch.zeros(1, 15, 3)).joints[0]
    b = model(random_angles(1, seed=3), global_orient=torch.tensor([[0.3, -1.0, 2.0]])).joints[0]
    for head, tail in SKELETON_EDGES:
        if tail % 4 == 0:  # tips are surface vertices, only approximately rigid
            continue
        assert torch.linalg.norm(a[tail] - a[head]) == pytest.approx(
            torch.linalg.norm(b[tail] - b[head]).item(), abs=1e-5)


def test_flexion_curls_towards_the_palm(model):
    angles = torch.zeros(1, 15, 3)
    angles[0, 3:, 0] = 0.4
    j = model(angles).joints[0]
    rest = model(torch.zeros(1, 15, 3)).joints[0]
    for finger in range(1, 5):
        assert j[4 * finger, 2] > rest[4 * finger, 2] + 0.02  # tips move out of the palm side (+z)


def test_left_is_mirror_of_right(model):
    angles = random_angles(2, seed=1)
    orient = torch.tensor([[0.2, 0.5, -0.3], [1.0, 0.0, 0.4]])
    right = model(angles, global_orient=orient, side="right")
    mirrored_orient = orient * torch.tensor([1.0, -1.0, -1.0])  # M R M in axis-angle
    left = model(angles, global_orient=mirrored_orient, side="left")
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    assert torch.allclose(left.vertices, right.vertices * mirror, atol=1e-5)
    assert torch.allclose(left.joints, right.joints * mirror, atol=1e-5)
    assert left.mesh(0).volume > 0  # faces re-wound: outward normals on the left hand too


def test_scale_and_finger_length(model):
    base = model(torch.zeros(1, 15, 3)).joints[0]
    big = model(torch.zeros(1, 15, 3), scale=torch.tensor([1.2])).joints[0]
    assert torch.allclose(big, base * 1.2, atol=1e-6)
    lengths = torch.ones(1, 5)
    lengths[0, 1] = 1.2
    long_index = model(torch.zeros(1, 15, 3), finger_lengths=lengths).joints[0]
    index_len = lambda j: torch.linalg.norm(j[5] - j[7])  # noqa: E731
    assert index_len(long_index) == pytest.approx(1.2 * index_len(base).item(), rel=1e-4)
    assert torch.allclose(long_index[8:], base[8:], atol=1e-6)  # other fingers untouched


def test_limits_are_applied(model):
    wild = torch.full((1, 15, 3), 5.0)
    assert torch.allclose(model(wild).joints, model(JOINT_LIMITS[None, :, :, 1]).joints, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(finger_angles=torch.zeros(2, 16, 3)), "finger_angles must have shape"),
    (dict(finger_angles=torch.zeros(15, 3)), "finger_angles must be a"),
    (dict(finger_angles=torch.full((1, 15, 3), float("nan"))), "NaN"),
    (dict(finger_angles=torch.zeros(1, 15, 3), global_orient=torch.zeros(2, 3)), "global_orient"),
    (dict(finger_angles=torch.zeros(1, 15, 3), scale=torch.zeros(1)), "positive"),
    (dict(finger_angles=torch.zeros(1, 15, 3), side="middle"), "side must be"),
])
def test_bad_input_is_named(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model(**kwargs)


def test_missing_and_corrupt_asset(tmp_path):
    with pytest.raises(AssetError, match="not found"):
        load_hand_asset(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(AssetError, match="corrupt"):
        load_hand_asset(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, vertices=np.zeros((3, 3)))
    with pytest.raises(AssetError, match="lacks"):
        load_hand_asset(partial)
