"""R: farthest point sampling, the AIR-Net-style encoder/decoder and the refinement loss."""
import dataclasses

import numpy as np
import pytest
import torch

from im2hands_lite.geometry.sampling import farthest_point_sampling, gather_points, knn
from im2hands_lite.models.two_hand_refiner import (
    TwoHandRefiner,
    TwoHandRefinerConfig,
    two_hand_refiner_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def brute_force_fps(points, n, first):
    chosen = [first]
    distance = ((points - points[first]) ** 2).sum(-1)
    for _ in range(n - 1):
        nxt = int(distance.argmax())
        chosen.append(nxt)
        distance = torch.minimum(distance, ((points - points[nxt]) ** 2).sum(-1))
    return chosen


def test_fps_matches_the_definition_and_is_deterministic():
    g = torch.Generator().manual_seed(0)
    points = torch.rand(3, 200, 3, generator=g)
    indices = farthest_point_sampling(points, 20)
    for b in range(3):
        assert indices[b].tolist() == brute_force_fps(points[b], 20, 0)
        assert len(set(indices[b].tolist())) == 20
    seeded = [farthest_point_sampling(points, 20, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(seeded[0], seeded[1])
    for b in range(3):
        assert seeded[0][b].tolist() == brute_force_fps(points[b], 20, int(seeded[0][b, 0]))


def test_fps_covers_the_cloud_evenly():
    """On a 2-cluster cloud with 95% of the points in one cluster, FPS still visits both."""
    g = torch.Generator().manual_seed(1)
    big = torch.randn(950, 3, generator=g) * 0.01
    small = torch.randn(50, 3, generator=g) * 0.01 + torch.tensor([1.0, 0.0, 0.0])
    cloud = torch.cat([big, small])[None]
    picked = gather_points(cloud, farthest_point_sampling(cloud, 4))[0]
    assert (picked[:, 0] > 0.5).any() and (picked[:, 0] < 0.5).any()


def test_fps_valid_mask_and_errors():
    points = torch.rand(2, 10, 3)
    valid = torch.zeros(2, 10, dtype=torch.bool)
    valid[0, :3] = True
    valid[1, 5:] = True
    indices = farthest_point_sampling(points, 6, valid=valid)
    assert set(indices[0].tolist()) == {0, 1, 2}  # only valid points, repeated once exhausted
    assert all(i >= 5 for i in indices[1].tolist())
    with pytest.raises(ValueError, match="at least one valid"):
        farthest_point_sampling(points, 3, valid=torch.zeros(2, 10, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        farthest_point_sampling(torch.rand(10, 3), 3)


def test_knn_nearest_first():
    points = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [3, 0, 0], [0.5, 0, 0]]])
    assert knn(torch.tensor([[[0.9, 0, 0]]]), points, 3)[0, 0].tolist() == [1, 3, 0]


def inputs(config, samples=2, queries=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(samples, 2, config.n_points, 3, generator=g)
    features = torch.randn(samples, 2, config.n_points, config.image_feature_dim, generator=g)
    global_image = torch.randn(samples, config.global_image_dim, generator=g)
    q = torch.randn(samples, 2, queries, 3, generator=g)
    initial = torch.rand(samples, 2, queries, generator=g)
    return points, features, global_image, q, initial


SMALL = TwoHandRefinerConfig(n_points=64, width=32, k_neighbours=8, self_attention_blocks=1, decoder_neighbours=4)


@pytest.mark.parametrize("switch", [{}, {"init_occ_cond": False}, {"feature_cloud": False},
                                    {"context_latent": False}, {"n_points": 128}])
def test_refiner_shapes_for_every_ablation(switch):
    config = dataclasses.replace(SMALL, **switch)
    torch.manual_seed(0)
    model = TwoHandRefiner(config).eval()
    points, features, global_image, q, initial = inputs(config)
    with torch.no_grad():
        out = model(points, features if config.feature_cloud else None, global_image, q,
                    initial if config.init_occ_cond else None, return_attention=True)
    assert out.occupancy.shape == (2, 2, 64) and ((out.occupancy > 0) & (out.occupancy < 1)).all()
    assert out.attention.shape == (2, 2, 64, config.decoder_neighbours)
    assert torch.allclose(out.attention.sum(-1), torch.ones(2, 2, 64), atol=1e-5)
    assert out.encoded[0].anchors.shape == (2, config.n_anchors, 3)
    assert out.encoded[0].features.shape == (2, config.n_anchors, config.width)


def test_side_label_and_context_couple_the_hands():
    """With the context latent, moving the left hand's points changes the right hand's output;
    without it, the right hand's output is independent of the left hand."""
    for context, should_change in ((True, True), (False, False)):
        config = dataclasses.replace(SMALL, context_latent=context)
        torch.manual_seed(0)
        model = TwoHandRefiner(config).eval()
        points, features, global_image, q, initial = inputs(config)
        moved = points.clone()
        moved[:, 1] += 0.5
        with torch.no_grad():
            a = model(points, features, global_image, q, initial).occupancy[:, 0]
            b = model(moved, features, global_image, q, initial).occupancy[:, 0]
        assert (not torch.allclose(a, b, atol=1e-6)) == should_change, context
    # the same cloud labelled as the right or the left hand encodes differently
    torch.manual_seed(0)
    model = TwoHandRefiner(SMALL).eval()
    points, features, *_ = inputs(SMALL)
    same = torch.stack([points[:, 0], points[:, 0]], 1)
    same_f = torch.stack([features[:, 0], features[:, 0]], 1)
    with torch.no_grad():
        right, left = model.encode_hands(same, same_f)
    assert not torch.allclose(right.latent, left.latent)


def test_refiner_overfits_and_the_penetration_term_pushes_hands_apart():
    torch.manual_seed(0)
    model = TwoHandRefiner(SMALL)
    points, features, global_image, q, initial = inputs(SMALL)
    target = (q.norm(dim=-1) < 1.0).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        out = model(points, features, global_image, q, initial)
        loss, terms = two_hand_refiner_loss(model, out, target)
        first = first if first is not None else terms["mse"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert terms["mse"] < 0.5 * first
    # penetration only: both hands' occupancy at shared points falls
    config = dataclasses.replace(SMALL, penetration_weight=1.0)
    torch.manual_seed(0)
    model = TwoHandRefiner(config)
    shared = q.flatten(1, 2)
    shared_initial = torch.rand(2, 2, shared.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    values = []
    for _ in range(30):
        out = model(points, features, global_image, q, initial)
        loss, terms = two_hand_refiner_loss(model, out, out.occupancy.detach(), shared, shared_initial)
        values.append(terms["penetration"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert values[-1] < 0.5 * values[0]
    with pytest.raises(ValueError, match="pen_initial"):
        two_hand_refiner_loss(model, out, out.occupancy.detach(), shared, None)


def test_refiner_rejects_bad_shapes():
    model = TwoHandRefiner(SMALL)
    points, features, global_image, q, initial = inputs(SMALL)
    with pytest.raises(ValueError, match="points must be"):
        model(points[:, :, :10], features, global_image, q, initial)
    with pytest.raises(ValueError, match="initial_occupancy"):
        model(points, features, global_image, q, None)
    with pytest.raises(ValueError, match="point_features"):
        model(points, None, global_image, q, initial)
    with pytest.raises(ValueError, match="anchors"):
        TwoHandRefinerConfig(n_points=32, decoder_neighbours=9)


# ----------------------------------------------------------------------------- R's inputs from I

@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    from im2hands_lite.checkpoints import SHIPPED
    from im2hands_lite.data import TwoHandDataset, kit_samples_dir
    from im2hands_lite.models.registry import load_model
    from im2hands_lite.models.two_stage import IsoSurfaceConfig
    from im2hands_lite.training.r_inputs import prepare_r_inputs

    initial = load_model(SHIPPED / "i_none_fast.pt")
    base = TwoHandDataset(kit_samples_dir(), "test")
    config = IsoSurfaceConfig(max_points=128, resolution=24, surface_samples=1024)
    directory = tmp_path_factory.mktemp("refine_inputs")
    prepare_r_inputs(initial, base, directory, "test", indices=[0, 1], config=config, progress=False)
    return initial, base, directory, config


def test_refine_inputs_lie_on_the_surface_of_i(tiny_cache):
    import numpy as np

    from im2hands_lite.models.two_stage import initial_occupancy_at
    from im2hands_lite.training.r_inputs import RInputsDataset

    initial, base, directory, config = tiny_cache
    data = RInputsDataset(base, directory, "test", n_queries=64, indices=[0, 1])
    item = data[0]
    assert item["surface_points"].shape == (2, 128, 3) and item["initial_occupancy"].shape == (2, 64)
    assert item["pen_queries"].shape == (128, 3) and item["pen_initial"].shape == (2, 128)
    full = base[0]
    steps = torch.cat([torch.zeros(1, 3), 0.008 * torch.eye(3), -0.008 * torch.eye(3)])  # 0 and +-8 mm per axis
    for hand in (0, 1):
        # near I's 0.5 level set: within 8 mm (a grid cell) of both an inside and an outside point
        around = (item["surface_points"][hand][:, None] + steps).reshape(-1, 3)
        occ = initial_occupancy_at(initial, full, hand, around).reshape(-1, 7)
        straddles = ((occ > 0.5).any(1) & (occ < 0.5).any(1)).mean()
        assert straddles > 0.9, (hand, straddles)
        # the cached I occupancy agrees with I at the drawn queries, for both halves of pen_initial
        fresh = initial_occupancy_at(initial, full, hand, item["pen_queries"])
        assert np.allclose(fresh, item["pen_initial"][hand].numpy(), atol=1e-5)
        assert np.allclose(item["pen_initial"][hand][64 * hand:64 * hand + 64].numpy(),
                           item["initial_occupancy"][hand].numpy())
    # FPS order: the first points are spread over the hand
    first = item["surface_points"][0, :8]
    assert torch.pdist(first).min() > 0.01
    with pytest.raises(FileNotFoundError, match="prepare_r_inputs"):
        RInputsDataset(base, directory, "test", indices=[0, 5])


def test_refiner_trains_on_cached_inputs_and_reconstructs(tiny_cache):
    from im2hands_lite.evaluation.reconstruction import ReconstructionConfig, reconstruct_pair
    from im2hands_lite.models.two_stage import InitialPlusTwoHandRefiner
    from im2hands_lite.training.r_inputs import RInputsDataset
    from im2hands_lite.training.settings import TwoHandRefinerTrainSettings
    from im2hands_lite.training.trainer import train

    initial, base, directory, config = tiny_cache
    data = RInputsDataset(base, directory, "test", n_queries=64, indices=[0, 1])
    r_config = dataclasses.replace(SMALL, n_points=128, decoder_neighbours=4)
    model = TwoHandRefiner(r_config)
    log = train(model, data, TwoHandRefinerTrainSettings(steps=4, batch_size=2), progress=False).log
    assert len(log) == 4 and all(np.isfinite(r["loss"]) and "penetration" in r for r in log)
    pipeline = InitialPlusTwoHandRefiner(initial, model.eval(), config)
    item = base[0]
    meshes = reconstruct_pair(pipeline, item, ReconstructionConfig(resolution=16, coarse_resolution=8))
    assert len(meshes) == 2
    fn = pipeline.occupancy_function(item, 0)
    values = fn(item["queries"][0][:50])
    assert values.shape == (50,) and ((values >= 0) & (values <= 1)).all()


def _r_inputs_folder(root, directory, split: str = "test"):
    from im2hands_lite.checkpoints import SHIPPED
    from im2hands_lite.data import TwoHandDataset
    from im2hands_lite.models.two_stage import IsoSurfaceConfig
    from im2hands_lite.training.r_inputs import r_inputs_dir

    return r_inputs_dir(root, SHIPPED / "i_none_fast.pt", IsoSurfaceConfig(), TwoHandDataset(directory, split))


def test_r_inputs_are_keyed_by_the_data_they_came_from(tmp_path):
    import shutil

    from im2hands_lite.data import TwoHandDataset, kit_samples_dir, write_shard

    kit, copy = kit_samples_dir(), tmp_path / "copy"
    shutil.copytree(kit, copy)
    folder = _r_inputs_folder(tmp_path, kit)
    assert _r_inputs_folder(tmp_path, kit) == folder  # the same data: the cache is found again
    assert _r_inputs_folder(tmp_path, copy) != folder  # another folder: another profile, --data-dir, InterHand
    assert _r_inputs_folder(tmp_path, kit, "train") != folder
    before = _r_inputs_folder(tmp_path, copy)
    write_shard(copy / "test" / "shard_00001.npz", [TwoHandDataset(copy, "test").sample(0)])  # regenerated
    assert _r_inputs_folder(tmp_path, copy) != before


def test_r_training_caches_its_inputs_under_its_data(tmp_path):
    from im2hands_lite.checkpoints import SHIPPED
    from im2hands_lite.data import kit_samples_dir
    from im2hands_lite.training.runs import RunSpec, run_training

    run_training(RunSpec(model="r", out=str(tmp_path / "run"), data_dir=str(kit_samples_dir()), cache_root=str(tmp_path),
                         initial_checkpoint=str(SHIPPED / "i_none_fast.pt"), progress=False, threads=1,
                         overrides=("steps=1", "batch_size=2", "train_samples=2", "n_queries=64", "val_samples=3")))
    from im2hands_lite.training.r_inputs import refined_keypoints_key
    from im2hands_lite.training.runs import R_TRAINING_NOISE, R_TRAINING_NOISE_SEED

    cached = sorted(p.name for p in (tmp_path / "refine_inputs").iterdir())
    k_key = refined_keypoints_key(SHIPPED / 'k_fast.pt', R_TRAINING_NOISE, R_TRAINING_NOISE_SEED)
    expected = {}
    for split, n in (("train", 2), ("val", 3)):  # the training samples, and those of its validation loss
        truth = _r_inputs_folder(tmp_path / "refine_inputs", kit_samples_dir(), split).name
        expected |= {truth: n, f"{truth}-{k_key}": n}  # the truth's inputs and the K-refined ones (the default)
    assert cached == sorted(expected)
    for folder, n in expected.items():
        split = "val" if n == 3 else "train"
        assert len(list((tmp_path / "refine_inputs" / folder / split).glob("*.npz"))) == n


def test_feature_cloud_samples_the_map_at_each_points_projection():
    from im2hands_lite.data import TwoHandDataset, kit_samples_dir
    from im2hands_lite.geometry.camera import PinholeCamera

    item = TwoHandDataset(kit_samples_dir(), "test", n_queries=8)[0]
    sample = TwoHandDataset(kit_samples_dir(), "test").sample(0)
    config = dataclasses.replace(SMALL, n_points=64)
    model = TwoHandRefiner(config).eval()
    surface = torch.from_numpy(np.stack([sample.mesh(h).vertices[:64] for h in (0, 1)])).float()
    batch = {key: item[key][None] for key in ("image", "K", "R", "t", "keypoints", "queries")}
    batch["surface_points"] = surface[None]
    with torch.no_grad():
        x = model.prepare(batch)
        fmap = model.image_encoder(batch["image"]).feature_map[0]  # (32, 64, 64), half resolution
    camera: PinholeCamera = sample.camera
    pixels = camera.project(surface[0].double().numpy())  # (64, 2) full-image pixels
    # by hand: map pixel = (u + 0.5) / 2 - 0.5, bilinear with border clamping
    u, v = (pixels[:, 0] + 0.5) / 2 - 0.5, (pixels[:, 1] + 0.5) / 2 - 0.5
    x0, y0 = np.floor(u).astype(int), np.floor(v).astype(int)
    ax, ay = torch.tensor(u - x0).float(), torch.tensor(v - y0).float()

    def at(r, c):
        return fmap[:, np.clip(r, 0, 63), np.clip(c, 0, 63)].T

    manual = ((1 - ax)[:, None] * (1 - ay)[:, None] * at(y0, x0) + ax[:, None] * (1 - ay)[:, None] * at(y0, x0 + 1)
              + (1 - ax)[:, None] * ay[:, None] * at(y0 + 1, x0) + (ax * ay)[:, None] * at(y0 + 1, x0 + 1))
    assert torch.allclose(x["point_features"][0, 0], manual, atol=1e-4)
    # and the points enter relative to the two-hand centre in the camera frame, x position_scale
    cam = surface[0] @ batch["R"][0].T + batch["t"][0]
    centre = batch["keypoints"][0].mean(0) @ batch["R"][0].T + batch["t"][0]
    assert torch.allclose(x["points"][0, 0], (cam - centre) * config.position_scale, atol=1e-4)


def test_penetration_term_is_zero_apart_and_positive_when_overlapping():
    torch.manual_seed(0)
    model = TwoHandRefiner(dataclasses.replace(SMALL, penetration_weight=1.0)).eval()
    points, features, global_image, q, initial = inputs(SMALL)
    with torch.no_grad():
        out = model(points, features, global_image, q, initial)
    shared = q.flatten(1, 2)
    # stand-in decoders: the right hand occupies x < 0, the left hand x > 0 (apart) or x > -1 (overlap)
    def terms_with(left_edge):
        def occupancy_of(hand, encoded, context, queries, initial_occupancy):
            x = queries[..., 0]
            return (x < 0).float() if hand == 0 else (x > left_edge).float()
        model.occupancy_of = occupancy_of
        return two_hand_refiner_loss(model, out, out.occupancy.detach(), shared, torch.rand(2, 2, shared.shape[1]))[1]
    assert terms_with(0.0)["penetration"] == 0.0
    overlap = terms_with(-1.0)["penetration"]
    expected = ((shared[..., 0] < 0) & (shared[..., 0] > -1)).float().sum(-1).mean().item()  # sum over points
    assert overlap == pytest.approx(expected) and overlap > 0


@pytest.mark.parametrize("switch", ["init_occ_cond", "feature_cloud", "context_latent"])
def test_each_ablation_switch_changes_the_computation(switch):
    points, features, global_image, q, initial = inputs(SMALL)
    torch.manual_seed(0)
    full = TwoHandRefiner(SMALL).eval()
    torch.manual_seed(0)
    ablated = TwoHandRefiner(dataclasses.replace(SMALL, **{switch: False})).eval()
    # the ablated model ignores the input it switched off ...
    changed = {"init_occ_cond": (features, global_image, torch.rand_like(initial)),
               "feature_cloud": (torch.randn_like(features), global_image, initial),
               "context_latent": (features, torch.randn_like(global_image), initial)}[switch]
    with torch.no_grad():
        a = ablated(points, features, global_image, q, initial).occupancy
        b = ablated(points, changed[0], changed[1], q, changed[2]).occupancy
        c = full(points, features, global_image, q, initial).occupancy
        d = full(points, changed[0], changed[1], q, changed[2]).occupancy
    assert torch.allclose(a, b)
    # ... which the full model does use
    assert not torch.allclose(c, d, atol=1e-6)


def test_the_step_loss_draws_n_queries_per_step_keeping_the_penetration_inputs_aligned(tiny_cache):
    from im2hands_lite.training.losses import subsample_r_queries
    from im2hands_lite.training.r_inputs import RInputsDataset

    initial, base, directory, config = tiny_cache
    data = RInputsDataset(base, directory, "test", n_queries=None, indices=[0, 1])
    batch = torch.utils.data.default_collate([data[0], data[1]])
    total = batch["queries"].shape[2]
    small = subsample_r_queries(batch, 64, torch.Generator().manual_seed(0))
    assert small["queries"].shape == (2, 2, 64, 3) and small["initial_occupancy"].shape == (2, 2, 64)
    assert small["pen_queries"].shape == (2, 128, 3) and small["pen_initial"].shape == (2, 2, 128)
    # the penetration points are both hands' kept queries, and I's occupancy there is the cached one
    assert torch.equal(small["pen_queries"], small["queries"].reshape(2, 128, 3))
    assert torch.equal(small["pen_initial"][:, 0, :64], small["initial_occupancy"][:, 0])
    assert torch.equal(small["pen_initial"][:, 1, 64:], small["initial_occupancy"][:, 1])
    # half uniform, half near-surface: the two halves of every item's labelled queries
    kept = [int((batch["queries"][0, 0] == q).all(-1).nonzero()[0]) for q in small["queries"][0, 0]]
    assert sum(k < total // 2 for k in kept) == 32
    other = subsample_r_queries(batch, 64, torch.Generator().manual_seed(1))
    assert not torch.equal(other["queries"], small["queries"])  # a fresh draw per step
    assert subsample_r_queries(batch, total, torch.Generator()) is batch


def test_refined_inputs_are_what_i_reads_from_k_refined_noisy_keypoints(tiny_cache, tmp_path):
    """R's "refined" inputs: I's surface from K's refinement of a noise draw, and those keypoints
    replace the truth as R's input (the labels stay the truth)."""
    from im2hands_lite.checkpoints import SHIPPED
    from im2hands_lite.data.noise import KeypointNoiseConfig, noisy_keypoints_of
    from im2hands_lite.models.registry import load_model
    from im2hands_lite.models.two_stage import iso_surface_points
    from im2hands_lite.training.r_inputs import (
        RInputsDataset,
        prepare_r_inputs,
        refined_keypoints_key,
        refined_noisy_keypoints,
    )

    initial, base, truth_dir, config = tiny_cache
    keypoint_refiner = load_model(SHIPPED / "k_fast.pt", "k")
    refine = refined_noisy_keypoints(keypoint_refiner, KeypointNoiseConfig(), seed=1)
    prepare_r_inputs(initial, base, tmp_path, "test", indices=[0], config=config, progress=False,
                     input_keypoints=refine)
    refined, truth = RInputsDataset(base, tmp_path, "test", n_queries=64, indices=[0])[0], base[0]
    noisy = noisy_keypoints_of(truth, 0, KeypointNoiseConfig(), seed=1)
    expected = keypoint_refiner.refine_item(truth, noisy)
    assert torch.allclose(refined["keypoints"], expected, atol=1e-6)
    moved = (refined["keypoints"] - truth["keypoints"]).norm(dim=-1).mean()
    assert 0.003 < moved < 0.05, moved  # millimetres to centimetres off the truth, as K's errors are
    assert torch.equal(refined["occupancy"], RInputsDataset(base, truth_dir, "test", n_queries=64,
                                                            indices=[0])[0]["occupancy"])  # the same labels
    # the surface is I's at the refined keypoints, not at the truth
    as_read = dict(truth, keypoints=expected)
    points, _ = iso_surface_points(initial, as_read, 0, config, seed=int(truth["seed"]))
    assert np.allclose(points, refined["surface_points"][0].numpy(), atol=1e-5)
    from_truth = RInputsDataset(base, truth_dir, "test", n_queries=64, indices=[0])[0]
    assert torch.equal(from_truth["keypoints"], truth["keypoints"])
    assert not torch.allclose(from_truth["surface_points"], refined["surface_points"])
    # the cache key names K, the noise and the seed
    key = refined_keypoints_key(SHIPPED / "k_fast.pt", KeypointNoiseConfig(), 1)
    assert key != refined_keypoints_key(SHIPPED / "k_fast.pt", KeypointNoiseConfig(), 2)
    assert key != refined_keypoints_key(SHIPPED / "estimator_fast.pt", KeypointNoiseConfig(), 1)


@pytest.mark.parametrize("text", ["", "truth,truth", "gt", "truth,refined,noisy"])
def test_unknown_keypoint_inputs_are_refused(text):
    from im2hands_lite.training.settings import TwoHandRefinerTrainSettings

    with pytest.raises(ValueError, match="keypoint_inputs"):
        TwoHandRefinerTrainSettings(keypoint_inputs=text)
    assert TwoHandRefinerTrainSettings().keypoint_sources() == ("truth", "refined")
    assert TwoHandRefinerTrainSettings(keypoint_inputs=" refined ").keypoint_sources() == ("refined",)
