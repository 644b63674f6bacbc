"""HALO canonicalisation and occupancy network."""
import numpy as np
import pytest
import torch

from im2hands_lite.geometry.rotations import axis_angle_to_matrix
from im2hands_lite.hand import HandModel
from im2hands_lite.hand.joints import BONE_TAILS, MIDDLE_MCP, WRIST
from im2hands_lite.models.canonical import HALO_SCALE, minimal_rotation, mirror_x
from im2hands_lite.models.halo import HaloConfig, HaloModel, stack_hands
from im2hands_lite.training.losses import occupancy_loss
from im2hands_lite.training.settings import OccupancyTrainSettings
from im2hands_lite.training.trainer import train


@pytest.fixture(scope="module")
def halo():
    torch.manual_seed(0)
    return HaloModel().eval()


def posed_keypoints(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    angles = torch.rand(n, 15, 3, generator=g) * 0.6 - 0.1
    out = HandModel()(angles, global_orient=torch.randn(n, 3, generator=g),
                      transl=torch.randn(n, 3, generator=g) * 0.2)
    return out.joints, out.vertices


def test_normalised_frame_matches_halo(halo):
    kp, _ = posed_keypoints()
    frames = halo.frames(kp, torch.zeros(3, dtype=torch.bool))
    norm = frames.keypoints
    assert torch.allclose(norm[:, WRIST], torch.zeros(3), atol=1e-6)
    middle = norm[:, MIDDLE_MCP]
    assert torch.allclose(middle[:, [0, 2]], torch.zeros(3, 2), atol=1e-5) and (middle[:, 1] < 0).all()
    # 1/0.4 scaling: wrist -> middle MCP keeps its length times 2.5
    assert torch.allclose(middle.norm(dim=-1), HALO_SCALE * (kp[:, MIDDLE_MCP] - kp[:, WRIST]).norm(dim=-1),
                          atol=1e-5)
    # the palm normal (index MCP x pinky MCP about the wrist) points along +z
    normal = torch.cross(norm[:, 7], norm[:, 19], dim=-1)
    assert torch.allclose(normal[:, 0], torch.zeros(3), atol=1e-6) and (normal[:, 2] > 0).all()
    # bone frames rebuild every bone: head + R_k (length * canonical direction) = tail
    rebuilt = frames.bone_heads + frames.bone_lengths[..., None] * (
        frames.bone_rotations @ halo.canonical_dirs[None, :, :, None]).squeeze(-1)
    assert torch.allclose(rebuilt, norm[:, list(BONE_TAILS)], atol=1e-5)
    rot = frames.bone_rotations
    assert torch.allclose(rot @ rot.transpose(-1, -2), torch.eye(3).expand_as(rot), atol=1e-5)


def test_canonical_coordinates_are_invariant_to_rigid_motion(halo):
    kp, verts = posed_keypoints(2, seed=1)
    is_left = torch.zeros(2, dtype=torch.bool)
    rot = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 0.7], [2.0, 0.1, -0.4]]))
    shift = torch.tensor([[0.1, -0.3, 0.5], [-0.2, 0.0, 0.1]])
    moved_kp = kp @ rot.transpose(1, 2) + shift[:, None]
    queries = verts[:, ::7] + 0.01 * torch.randn_like(verts[:, ::7])
    moved_q = queries @ rot.transpose(1, 2) + shift[:, None]
    a = halo.frames(kp, is_left)
    b = halo.frames(moved_kp, is_left)
    assert torch.allclose(a.to_bones(a.normalise(queries)), b.to_bones(b.normalise(moved_q)), atol=1e-4)
    with torch.no_grad():
        assert torch.allclose(halo(queries, kp, is_left).occupancy,
                              halo(moved_q, moved_kp, is_left).occupancy, atol=1e-4)


def test_left_hand_is_mirrored_right(halo):
    kp, verts = posed_keypoints(2, seed=2)
    queries = verts[:, ::5]
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    with torch.no_grad():
        right = halo(queries, kp, torch.tensor([False, False])).occupancy
        left = halo(queries * mirror, kp * mirror, torch.tensor([True, True])).occupancy
    assert torch.allclose(right, left, atol=1e-5)
    frames = halo.frames(kp * mirror, torch.tensor([True, True]))
    x = torch.randn(2, 10, 3) * 0.1
    assert torch.allclose(frames.denormalise(frames.normalise(x)), x, atol=1e-5)  # round trip
    assert torch.allclose(mirror_x(mirror_x(x, torch.tensor([True, False])), torch.tensor([True, False])), x)


def test_minimal_rotation_handles_parallel_and_opposite():
    a = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    rot = minimal_rotation(a, b)
    assert torch.allclose((rot @ a[..., None]).squeeze(-1), b, atol=1e-6)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(3), atol=1e-6)


def test_output_shapes_range_and_parts(halo):
    kp, verts = posed_keypoints(3)
    out = halo(verts[:, :100], kp, torch.tensor([False, True, False]))
    assert out.occupancy.shape == (3, 100) and out.part_logits.shape == (3, 16, 100)
    assert (out.occupancy >= 0).all() and (out.occupancy <= 1).all()
    assert torch.allclose(out.occupancy, torch.sigmoid(out.part_logits).amax(1))


def test_image_feature_hook():
    model = HaloModel(HaloConfig(image_feature_dim=5, zero_init_image=False))
    kp, verts = posed_keypoints(2)
    feats = torch.randn(2, 50, 5)
    a = model(verts[:, :50], kp, torch.zeros(2, dtype=torch.bool), image_features=feats).occupancy
    b = model(verts[:, :50], kp, torch.zeros(2, dtype=torch.bool), image_features=feats * 3).occupancy
    assert not torch.allclose(a, b)  # the feature changes the prediction
    with pytest.raises(ValueError, match="image_features must be"):
        model(verts[:, :50], kp, torch.zeros(2, dtype=torch.bool))
    # zero_init_image: an untrained I predicts exactly as HALO, and the image weights still
    # get a gradient
    zero = HaloModel(HaloConfig(image_feature_dim=5, zero_init_image=True))
    left = torch.zeros(2, dtype=torch.bool)
    out = zero(verts[:, :50], kp, left, image_features=feats).occupancy
    assert torch.equal(out, zero(verts[:, :50], kp, left, image_features=torch.zeros_like(feats)).occupancy)
    out.sum().backward()
    assert zero.image_in.weight.grad.abs().sum() > 0
    # HALO's own layers start as in plain HALO, drawn from the same seed
    torch.manual_seed(0)
    plain = HaloModel()
    torch.manual_seed(0)
    conditioned = HaloModel(HaloConfig(image_feature_dim=5))
    assert all(torch.equal(v, conditioned.state_dict()[k]) for k, v in plain.state_dict().items())
    with pytest.raises(ValueError, match="image_feature_dim = 0"):
        HaloModel()(verts[:, :50], kp, torch.zeros(2, dtype=torch.bool), image_features=feats)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 20, 3), "keypoints must be"),
    (torch.full((2, 21, 3), float("nan")), "NaN"),
])
def test_bad_keypoints(halo, bad, message):
    with pytest.raises(ValueError, match=message):
        halo(torch.zeros(2, 5, 3), bad, torch.zeros(2, dtype=torch.bool))


def test_bad_queries(halo):
    kp, _ = posed_keypoints(2)
    with pytest.raises(ValueError, match="queries must be"):
        halo(torch.zeros(2, 5, 2), kp, torch.zeros(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="queries contain NaN"):
        halo(torch.full((2, 5, 3), float("nan")), kp, torch.zeros(2, dtype=torch.bool))


def test_stack_hands_order():
    kp = torch.arange(2 * 42 * 3, dtype=torch.float32).reshape(2, 42, 3)
    q = torch.randn(2, 2, 7, 3)
    flat_kp, flat_q, is_left = stack_hands(kp, q)
    assert flat_kp.shape == (4, 21, 3) and flat_q.shape == (4, 7, 3)
    assert torch.equal(flat_kp[1], kp[0, 21:]) and torch.equal(flat_q[2], q[1, 0])
    assert is_left.tolist() == [False, True, False, True]


def test_tiny_overfit_loss_falls():
    from im2hands_lite.data import TwoHandDataset, kit_samples_dir

    # the item carries all 4,096 queries per hand; the step draws config.n_queries of them
    dataset = torch.utils.data.Subset(TwoHandDataset(kit_samples_dir(), "train"), [0])
    torch.manual_seed(0)
    model = HaloModel()
    seen = []
    original = model.predict
    model.predict = lambda batch: seen.append(batch["queries"].shape) or original(batch)
    log = train(model, dataset, OccupancyTrainSettings(steps=60, batch_size=1, lr=3e-3, n_queries=256),
                progress=False).log
    assert seen[0] == (1, 2, 256, 3)
    first, last = np.mean([r["loss"] for r in log[:5]]), np.mean([r["loss"] for r in log[-5:]])
    assert last < 0.6 * first, (first, last)
    assert occupancy_loss(torch.tensor([0.5]), torch.tensor([1.0])).item() == pytest.approx(0.25)
