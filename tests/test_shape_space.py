"""The CC0 hand's shape space (data v2): shapedirs, the joint regressor, HandModel(betas=),
the generator's shape distribution."""
import numpy as np
import pytest
import torch

from im2hands_lite.data.dataset import sample_to_item
from im2hands_lite.data.interactions import SHAPE_RANGES, natural_finger_angles, sample_betas
from im2hands_lite.data.scene import GeneratorConfig, generate_sample
from im2hands_lite.data.shards import read_shard, sample_from_shard, write_shard
from im2hands_lite.geometry.inside import (
    is_watertight,
    is_winding_consistent,
    mesh_volume,
    winding_number,
)
from im2hands_lite.hand import HandModel, load_hand_asset
from im2hands_lite.hand.asset import DEFAULT_ASSET
from im2hands_lite.hand.joints import WRIST
from im2hands_lite.models.registry import build_model


@pytest.fixture(scope="module")
def model():
    return HandModel()


def one_coefficient(model, name, value):
    betas = torch.zeros(1, model.n_betas)
    betas[0, model.shape_names.index(name)] = value
    return betas


def inside_and_overlap(vertices, faces, points):
    w = winding_number(vertices.astype(np.float64), faces, points)
    return w > 0.5, w > 1.5  # inside; where the skin covers itself twice


def test_asset_carries_a_shape_space():
    asset = load_hand_asset()
    assert asset.shape_names == ("finger_diameter", "finger_distance", "wrist_circumference", "palm_thickness")
    assert asset.shapedirs.shape == (4, 2, asset.n_vertices, 3)
    assert asset.joint_regressor.shape == (21, asset.n_vertices)
    # every direction moves the surface by millimetres, not by nothing and not by centimetres
    mean_shift = np.linalg.norm(asset.shapedirs, axis=-1).mean(axis=-1)
    assert np.all(mean_shift > 1e-4) and np.all(mean_shift < 5e-3)
    # the wrist cap's centre vertex follows its loop: every cap face meets it
    cap = int(np.load(DEFAULT_ASSET)["wrist_cap_vertex_id"])
    loop = np.unique(asset.faces[(asset.faces == cap).any(axis=1)])
    loop = loop[loop != cap]
    assert np.allclose(asset.shapedirs[:, :, cap], asset.shapedirs[:, :, loop].mean(axis=2), atol=1e-7)


def test_joint_regressor_reproduces_the_rest_joints():
    asset = load_hand_asset()
    assert np.abs(asset.joint_regressor @ asset.vertices - asset.joints).max() < 1e-6
    tips = asset.fingertip_vertex_ids
    for finger in range(5):  # tips are their fingertip vertex, as in MANO
        row = asset.joint_regressor[4 * finger]
        assert row[tips[finger]] == 1.0 and np.count_nonzero(row) == 1


def test_mean_hand_is_betas_zero_and_none(model):
    angles = torch.randn(3, 15, 3) * 0.3
    plain = model(angles)
    zero = model(angles, betas=torch.zeros(3, model.n_betas))
    assert torch.equal(plain.vertices, zero.vertices) and torch.equal(plain.joints, zero.joints)


def test_makehuman_modifier_rule(model):
    """beta < 0 adds |beta| x the decr target, beta > 0 the incr target; linear on each side."""
    rest = model.rest_vertices
    for k, name in enumerate(model.shape_names):
        for value, direction in ((-1.0, 0), (-0.5, 0), (0.5, 1), (1.0, 1)):
            shaped = model.shaped_vertices(1, one_coefficient(model, name, value))[0]
            expected = rest + abs(value) * model.shapedirs[k, direction]
            assert torch.allclose(shaped, expected, atol=1e-7), (name, value)


def test_thicker_fingers_add_volume_while_joints_stay(model):
    """What the keypoints cannot tell: the surface changes by several IoU points, joints by
    at most 3 mm (finger diameter) or not at all (palm thickness)."""
    rest = torch.zeros(1, 15, 3)
    faces = model.faces("right").numpy()
    mean = model(rest)
    points = np.random.default_rng(0).uniform(mean.vertices[0].min(0).values - 0.01,
                                              mean.vertices[0].max(0).values + 0.01, (60_000, 3))
    inside_mean, _ = inside_and_overlap(mean.vertices[0].numpy(), faces, points)
    base_volume = mesh_volume(mean.vertices[0].numpy(), faces)
    for name, max_joint_shift in (("finger_diameter", 3e-3), ("palm_thickness", 1e-6)):
        volumes = []
        for value in (-1.0, 1.0):
            out = model(rest, betas=one_coefficient(model, name, value))
            verts = out.vertices[0].numpy()
            volumes.append(mesh_volume(verts, faces))
            assert (out.joints - mean.joints).norm(dim=-1).max() <= max_joint_shift
            inside, _ = inside_and_overlap(verts, faces, points)
            iou = (inside & inside_mean).sum() / (inside | inside_mean).sum()
            assert iou < 0.95, (name, value, iou)
        assert volumes[0] < base_volume < volumes[1], name


def test_left_hand_is_the_mirror_with_the_same_betas(model):
    angles = torch.randn(2, 15, 3) * 0.3
    betas = torch.tensor([[0.5, -0.7, 0.2, 1.0], [-1.0, 0.3, -0.4, -0.6]])
    right = model(angles, betas=betas, side="right")
    left = model(angles, betas=betas, side="left")
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    assert torch.allclose(left.vertices, right.vertices * mirror, atol=1e-6)
    assert torch.allclose(left.joints, right.joints * mirror, atol=1e-6)


def test_shaped_joints_are_regressed_from_the_shaped_vertices(model):
    betas = torch.tensor([[0.5, -1.0, 0.7, 0.3]])
    out = model(torch.zeros(1, 15, 3), betas=betas)
    regressed = model.joint_regressor @ model.shaped_vertices(1, betas)[0]
    assert torch.allclose(out.joints[0], regressed, atol=1e-6)
    assert torch.allclose(out.joints[0, WRIST], regressed[WRIST], atol=1e-7)


@pytest.mark.parametrize("betas, message", [
    (torch.full((1, 4), 1.5), r"\[-1, 1\]"),
    (torch.zeros(1, 3), "betas must have shape"),
    (torch.full((1, 4), float("nan")), "NaN"),
])
def test_bad_betas_are_named(model, betas, message):
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(1, 15, 3), betas=betas)


def test_shape_distribution_keeps_hands_closed_and_adds_no_overlap(model):
    """Over many draws of the generator's distribution and natural poses: every hand stays
    watertight and consistently wound, the rest pose never covers itself at any extreme of the
    ranges, and the shape adds less self-overlap (skin folding into itself at bent joints)
    than 1 % of the hand's volume over what the mean hand has in the same pose."""
    faces = model.faces("right").numpy()
    rng = np.random.default_rng(0)
    for name, (low, high) in SHAPE_RANGES.items():
        for value in (low, high):
            out = model(torch.zeros(1, 15, 3), betas=one_coefficient(model, name, value))
            verts = out.vertices[0].numpy()
            points = rng.uniform(verts.min(0) - 0.005, verts.max(0) + 0.005, (30_000, 3))
            assert not inside_and_overlap(verts, faces, points)[1].any(), (name, value)
    added = []
    for _ in range(24):
        angles = torch.as_tensor(natural_finger_angles(rng)[None], dtype=torch.float32)
        betas = torch.as_tensor(sample_betas(rng, model.shape_names)[None], dtype=torch.float32)
        shaped, mean = model(angles, betas=betas).vertices[0].numpy(), model(angles).vertices[0].numpy()
        assert is_watertight(shaped, faces) and is_winding_consistent(shaped, faces)
        both = np.concatenate([shaped, mean])
        lo, hi = both.min(0) - 0.005, both.max(0) + 0.005
        points = rng.uniform(lo, hi, (30_000, 3))
        box = float(np.prod(hi - lo))
        overlap = inside_and_overlap(shaped, faces, points)[1].mean() - inside_and_overlap(mean, faces, points)[1].mean()
        added.append(overlap * box / mesh_volume(shaped, faces))
    assert max(added) < 0.01 and np.mean(added) < 0.002


def test_generator_draws_one_shape_per_person():
    names = HandModel().shape_names
    sample = generate_sample(11, GeneratorConfig(image_size=32, n_queries=16))
    assert sample.betas.shape == (2, len(names))
    assert np.array_equal(sample.betas[0], sample.betas[1])  # both hands of a sample: one person
    low, high = np.array([SHAPE_RANGES[n] for n in names]).T
    assert np.all(sample.betas[0] >= low) and np.all(sample.betas[0] <= high)
    assert np.abs(sample.betas).max() > 0.05  # drawn, not the mean hand
    # the shaped hand is what the sample's vertices are: re-posing with the betas reproduces them
    again = generate_sample(11, GeneratorConfig(image_size=32, n_queries=16))
    assert np.array_equal(again.betas, sample.betas) and np.array_equal(again.vertices, sample.vertices)


def test_mean_hand_switch_keeps_the_poses():
    on = generate_sample(12, GeneratorConfig(image_size=32, n_queries=16))
    off = generate_sample(12, GeneratorConfig(image_size=32, n_queries=16, shape_space=False))
    assert np.array_equal(off.betas, np.zeros_like(off.betas))
    assert np.array_equal(on.finger_angles, off.finger_angles) and on.interaction == off.interaction
    assert not np.allclose(on.vertices, off.vertices, atol=1e-4)


def test_sample_betas_refuses_an_unknown_coefficient():
    with pytest.raises(ValueError, match="no shape range"):
        sample_betas(np.random.default_rng(0), ("finger_diameter", "ear_size"))


def test_betas_survive_a_shard_and_reach_the_items(tmp_path):
    samples = [generate_sample(seed, GeneratorConfig(image_size=32, n_queries=16)) for seed in (1, 2)]
    write_shard(tmp_path / "shard.npz", samples)
    shard = read_shard(tmp_path / "shard.npz")
    for i, sample in enumerate(samples):
        assert np.array_equal(sample_from_shard(shard, i).betas, sample.betas)
        assert torch.equal(sample_to_item(sample)["betas"], torch.from_numpy(sample.betas))
    samples[1].betas = None  # real data has no kit betas: a shard holds them for all samples or none
    with pytest.raises(ValueError, match="'betas', or none"):
        write_shard(tmp_path / "mixed.npz", samples)


def test_shape_oracle_reads_the_betas_and_refuses_data_without_them():
    items = [sample_to_item(generate_sample(seed, GeneratorConfig(image_size=32, n_queries=64))) for seed in (3, 4)]
    batch = torch.utils.data.default_collate(items)
    oracle = build_model("halo", shape_dim=4)
    torch.manual_seed(0)
    with torch.no_grad():
        one = oracle.predict(batch).occupancy
        batch_other = dict(batch, betas=-batch["betas"])
        other = oracle.predict(batch_other).occupancy
    assert one.shape == (4, 64) and not torch.allclose(one, other)  # the betas change the prediction
    del batch["betas"]
    with pytest.raises(ValueError, match="needs the batch's 'betas'"):
        oracle.predict(batch)
    with pytest.raises(ValueError, match="shape_dim = 0 but betas"):
        build_model("halo")(batch["queries"][:, 0], batch["keypoints"][:, :21], torch.tensor([False, False]),
                            betas=torch.zeros(2, 4))
