"""K (keypoint refinement), the keypoint noise model and the image -> keypoint estimator."""
import dataclasses

import pytest
import torch

from im2hands_lite.checkpoints import CheckpointError, save_checkpoint
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.data.noise import (
    JOINT_LEVEL,
    NO_NOISE,
    KeypointNoiseConfig,
    add_keypoint_noise,
    mpjpe_mm,
    root_relative_mpjpe_mm,
)
from im2hands_lite.evaluation.evaluate import evaluate_keypoints, noisy_keypoints_for
from im2hands_lite.hand.joints import WRIST
from im2hands_lite.models.estimator import (
    EstimatorConfig,
    KeypointEstimator,
    estimator_loss,
    estimator_targets,
    lift_to_camera,
    soft_argmax,
)
from im2hands_lite.models.keypoint_refiner import (
    GRAPH_CONVS,
    KeypointRefiner,
    KeypointRefinerConfig,
    chebyshev_basis,
    keypoint_loss,
    normalized_adjacency,
    scaled_laplacian,
    skeleton_adjacency,
)
from im2hands_lite.models.registry import load_model
from im2hands_lite.training.settings import EstimatorTrainSettings, KeypointRefinerTrainSettings
from im2hands_lite.training.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def dataset():
    return TwoHandDataset(kit_samples_dir(), "train", n_queries=2)


@pytest.fixture(scope="module")
def batch(dataset):
    b = torch.utils.data.default_collate([dataset[i] for i in range(4)])
    b["noisy_keypoints"] = add_keypoint_noise(b["keypoints"], b["R"], generator=torch.Generator().manual_seed(0))
    return b


def small_refiner(**overrides) -> KeypointRefinerConfig:
    return KeypointRefinerConfig(**overrides)


# ----------------------------------------------------------------------------- graph

def components(adjacency):
    seen, count = set(), 0
    for start in range(adjacency.shape[0]):
        if start in seen:
            continue
        count += 1
        stack = [start]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(torch.nonzero(adjacency[node]).flatten().tolist())
    return count


def test_skeleton_graph_edges_symmetry_and_components():
    a = skeleton_adjacency()
    assert a.shape == (42, 42) and torch.equal(a, a.T) and a.diagonal().sum() == 0
    assert a.sum() == 2 * 40  # 20 bones per hand, each counted twice
    assert components(a) == 2  # one per hand: no inter-hand edges (the official graph)
    assert a[:21, 21:].sum() == 0
    degrees = a.sum(1)
    assert degrees[WRIST] == 5 and degrees[WRIST + 21] == 5  # wrist -> five finger bases
    assert degrees[0] == 1  # a fingertip has one neighbour
    linked = skeleton_adjacency(inter_hand_edges=True)
    assert linked.sum() == a.sum() + 2 and linked[WRIST, WRIST + 21] == 1 and components(linked) == 1


def test_normalized_adjacency_and_laplacian():
    a = skeleton_adjacency()
    p = normalized_adjacency(a)
    d = (a + torch.eye(42)).sum(1)
    assert torch.allclose(p[WRIST, WRIST], 1 / d[WRIST]) and torch.allclose(p, p.T)
    assert torch.allclose(p[WRIST, 3], 1 / torch.sqrt(d[WRIST] * d[3]))
    eig = torch.linalg.eigvalsh(scaled_laplacian(a))
    assert eig.min() >= -1 - 1e-5 and eig.max() <= 1 + 1e-5
    x = torch.randn(2, 42, 5)
    lap = scaled_laplacian(a)
    t0, t1, t2 = chebyshev_basis(lap, x, 3)
    assert torch.equal(t0, x) and torch.allclose(t1, lap @ x)
    assert torch.allclose(t2, 2 * lap @ lap @ x - x, atol=1e-5)


# ----------------------------------------------------------------------------- K

@pytest.mark.parametrize("kind", GRAPH_CONVS)
def test_refiner_shapes_and_identity_at_init(batch, kind):
    torch.manual_seed(0)
    model = KeypointRefiner(small_refiner(graph_conv=kind)).eval()
    with torch.no_grad():
        out = model.predict(batch, return_attention=True)
    assert out.keypoints.shape == (4, 42, 3) and out.keypoints_cam.shape == (4, 42, 3)
    tokens = model.config.vit.n_tokens
    assert out.attention.shape == (4, 4, 42, 42 + tokens)
    assert torch.allclose(out.attention.sum(-1), torch.ones(4, 4, 42), atol=1e-5)
    # the last regressor layer starts at zero: K starts as the identity
    assert torch.allclose(out.keypoints, batch["noisy_keypoints"], atol=1e-5)


def test_graph_only_refiner_needs_no_image(batch):
    model = KeypointRefiner(small_refiner(image_cond=False)).eval()
    assert model.vit is None and model.image_encoder is None
    with torch.no_grad():
        out = model(batch["noisy_keypoints"], None, batch["R"], batch["t"])
    assert out.keypoints.shape == (4, 42, 3) and out.attention is None
    with pytest.raises(ValueError, match="pass the image"):
        KeypointRefiner(small_refiner()).eval()(batch["noisy_keypoints"], None, batch["R"], batch["t"])


def test_index_embedding_distinguishes_left_and_right(batch):
    """The same xyz at a right-hand and a left-hand index gives different node features."""
    torch.manual_seed(0)
    model = KeypointRefiner(small_refiner()).eval()
    x = torch.zeros(1, 42, 3)
    with torch.no_grad():
        nodes = model.node_features(x)
    for j in range(21):
        assert not torch.allclose(nodes[0, j], nodes[0, j + 21])
    assert torch.allclose(nodes[0, :, 32:], nodes[0, :1, 32:].expand(42, -1))  # coordinates alone agree


def test_refiner_rejects_bad_keypoints(batch):
    model = KeypointRefiner(small_refiner()).eval()
    bad = batch["noisy_keypoints"].clone()
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.predict(batch, keypoints=bad)
    with pytest.raises(ValueError, match=r"\(B, 42, 3\)"):
        model.predict(batch, keypoints=batch["noisy_keypoints"][:, :21])


def test_keypoint_loss_is_root_relative_plus_roots():
    gt = torch.randn(2, 42, 3) * 0.05
    shifted = gt.clone()
    shifted[:, :21] += torch.tensor([0.01, 0.0, 0.0])  # move the whole right hand by 1 cm
    assert keypoint_loss(shifted, gt, root_weight=0.0).item() == pytest.approx(0.0, abs=1e-6)
    assert keypoint_loss(shifted, gt, root_weight=1.0).item() == pytest.approx(0.5, rel=1e-4)  # (1 cm)^2 on 1 of 2 roots


@pytest.mark.parametrize("kind", GRAPH_CONVS)
def test_refiner_reduces_mpjpe_on_a_tiny_overfit(batch, kind):
    """Four fixed noisy inputs: K learns to map them to the truth (capacity and gradients)."""
    torch.manual_seed(0)
    model = KeypointRefiner(small_refiner(graph_conv=kind))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(100):
        loss = keypoint_loss(model.predict(batch).keypoints, batch["keypoints"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        refined = model.predict(batch).keypoints
    before = root_relative_mpjpe_mm(batch["noisy_keypoints"], batch["keypoints"]).mean()
    after = root_relative_mpjpe_mm(refined, batch["keypoints"]).mean()
    assert after < 0.5 * before, (before, after)
    assert mpjpe_mm(refined, batch["keypoints"]).mean() < 0.5 * mpjpe_mm(batch["noisy_keypoints"], batch["keypoints"]).mean()


def test_train_refiner_draws_fresh_noise_deterministically(dataset):
    few = torch.utils.data.Subset(dataset, range(4))
    config = KeypointRefinerTrainSettings(steps=6, batch_size=2)
    logs = []
    for _ in range(2):
        torch.manual_seed(123)  # the loop reseeds itself: the outer state must not matter
        logs.append(train(KeypointRefiner(small_refiner(image_cond=False)), few, config, progress=False).log)
    assert [r["loss"] for r in logs[0]] == [r["loss"] for r in logs[1]]
    assert len({round(r["loss"], 6) for r in logs[0]}) == 6 and all(r["loss"] > 0 for r in logs[0])
    result = evaluate_keypoints(few, keypoint_refiner=KeypointRefiner(small_refiner(image_cond=False)), progress=False)
    assert set(result["mean"]) == {"noisy_rr", "noisy_abs", "noisy+K_rr", "noisy+K_abs"}
    assert result["mean"]["noisy+K_rr"] == pytest.approx(result["mean"]["noisy_rr"], abs=1e-3)  # identity at init


def test_refiner_checkpoint_round_trip(tmp_path, batch):
    torch.manual_seed(1)
    model = KeypointRefiner(small_refiner(graph_conv="gcn", inter_hand_edges=True)).eval()
    save_checkpoint(tmp_path / "k.pt", model, "k", model.config)
    loaded = load_model(tmp_path / "k.pt", "k")
    assert loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded.predict(batch).keypoints, model.predict(batch).keypoints)
    with pytest.raises(CheckpointError, match="expected 'estimator'"):
        load_model(tmp_path / "k.pt", "estimator")


# ----------------------------------------------------------------------------- noise

def test_noise_statistics_match_the_parameters():
    """Per-joint camera-frame std = the configured sigmas; hand offsets and swap rate too."""
    n = 4000
    keypoints = torch.zeros(n, 42, 3)
    angle = torch.rand(n, generator=torch.Generator().manual_seed(1)) * 6.28
    R = torch.zeros(n, 3, 3)  # rotations about y: world and camera axes differ
    R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = angle.cos(), angle.sin(), 1, -angle.sin(), angle.cos()
    jitter_only = dataclasses.replace(KeypointNoiseConfig(), hand_offset_mm=0.0, hand_depth_mm=0.0, finger_swap_prob=0.0)
    noisy = add_keypoint_noise(keypoints, R, jitter_only, torch.Generator().manual_seed(0))
    cam = noisy @ R.transpose(1, 2) * 1000.0  # mm, camera frame
    std = cam.unflatten(1, (2, 21)).std(dim=(0, 1))  # (21, 3)
    assert torch.allclose(std, jitter_only.joint_sigmas_mm(), rtol=0.06)
    assert std[0, 0] / std[WRIST, 0] == pytest.approx(1 + 4 * jitter_only.tip_growth, rel=0.08)  # tips 2x wrist
    assert JOINT_LEVEL[WRIST] == 0 and JOINT_LEVEL[0] == 4 and JOINT_LEVEL[3] == 1

    offsets_only = dataclasses.replace(NO_NOISE, hand_offset_mm=8.0, hand_depth_mm=20.0)
    cam = add_keypoint_noise(keypoints, R, offsets_only, torch.Generator().manual_seed(0)) @ R.transpose(1, 2) * 1000
    hands = cam.unflatten(1, (2, 21))
    assert torch.allclose(hands.std(dim=2), torch.zeros(n, 2, 3), atol=1e-3)  # one rigid offset per hand
    assert torch.allclose(hands[:, :, 0].std(dim=(0, 1)), torch.tensor([8.0, 8.0, 20.0]), rtol=0.06)

    swaps = dataclasses.replace(NO_NOISE, finger_swap_prob=0.25)
    apart = torch.zeros(n, 42, 3)
    apart[:, 21:, 0] = 1.0  # left hand 1 m to the side
    swapped = add_keypoint_noise(apart, R, swaps, torch.Generator().manual_seed(0))
    moved = (swapped - apart).norm(dim=-1) > 0.5  # (n, 42)
    per_sample = moved.sum(1)
    assert set(per_sample.unique().tolist()) <= {0, 8}  # 4 joints of one finger, on both hands
    assert (per_sample > 0).float().mean().item() == pytest.approx(0.25, abs=0.03)
    assert not moved[:, WRIST].any()


def test_default_noise_gives_a_digit_like_mpjpe(dataset):
    items = [dataset[i] for i in range(len(dataset))]
    kp = torch.stack([it["keypoints"] for it in items]).repeat(20, 1, 1)
    R = torch.stack([it["R"] for it in items]).repeat(20, 1, 1)
    noisy = add_keypoint_noise(kp, R, generator=torch.Generator().manual_seed(0))
    rr = root_relative_mpjpe_mm(noisy, kp).mean().item()
    assert 12.0 < rr < 16.0, rr  # DIGIT 14.27 mm, InterNet 16.00 mm (docs/DECISIONS.md)
    assert mpjpe_mm(noisy, kp).mean().item() > rr  # whole-hand offsets add to the absolute error
    assert torch.equal(add_keypoint_noise(kp[:3], R[:3], NO_NOISE), kp[:3])


def test_noise_is_deterministic_and_rejects_bad_input(dataset):
    a = noisy_keypoints_for(dataset, [0, 1], seed=3)
    b = noisy_keypoints_for(dataset, [0, 1], seed=3)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], a[1])
    kp = torch.zeros(2, 42, 3)
    with pytest.raises(ValueError, match="NaN"):
        add_keypoint_noise(kp.clone().fill_(float("nan")), torch.eye(3).expand(2, 3, 3))
    with pytest.raises(ValueError, match="R must be"):
        add_keypoint_noise(kp, torch.eye(3))
    with pytest.raises(ValueError, match="finger_swap_prob"):
        KeypointNoiseConfig(finger_swap_prob=1.5)


# ----------------------------------------------------------------------------- estimator

def test_soft_argmax_finds_a_peak():
    logits = torch.full((1, 2, 16, 16), -50.0)
    logits[0, 0, 3, 7] = 50.0
    logits[0, 1, 10, 2] = logits[0, 1, 10, 3] = 50.0  # two equal peaks: their mean
    xy, prob = soft_argmax(logits)
    assert torch.allclose(xy[0, 0], torch.tensor([7.0, 3.0]), atol=1e-4)
    assert torch.allclose(xy[0, 1], torch.tensor([2.5, 10.0]), atol=1e-4)
    assert torch.allclose(prob.sum(dim=(2, 3)), torch.ones(1, 2))


def test_estimator_targets_invert_to_the_keypoints(batch):
    """Perfect (u, v), relative depth and log(z / f) reproduce the world keypoints exactly."""
    targets = estimator_targets(batch["keypoints"], batch["K"], batch["R"], batch["t"])
    cam = lift_to_camera(targets["uv"], targets["relative_depth"], targets["log_depth_over_focal"], batch["K"])
    world = (cam - batch["t"][:, None]) @ batch["R"]
    assert torch.allclose(world, batch["keypoints"], atol=1e-5)


def test_estimator_shapes_overfit_and_checkpoint(dataset, tmp_path):
    few = torch.utils.data.Subset(dataset, range(4))
    torch.manual_seed(0)
    model = KeypointEstimator(EstimatorConfig())
    b = torch.utils.data.default_collate([few[i] for i in range(4)])
    with torch.no_grad():
        out = model(b["image"], b["K"])
    assert out.keypoints_cam.shape == (4, 42, 3) and out.uv.shape == (4, 42, 2)
    assert out.heatmaps.shape == (4, 42, 32, 32)  # quarter resolution
    first = estimator_loss(out, estimator_targets(b["keypoints"], b["K"], b["R"], b["t"]), 128).item()
    log = train(model, few, EstimatorTrainSettings(steps=80, batch_size=4), progress=False).log
    assert log[-1]["loss"] < 0.5 * first
    save_checkpoint(tmp_path / "e.pt", model, "estimator", model.config)
    loaded = load_model(tmp_path / "e.pt")
    with torch.no_grad():
        assert torch.equal(loaded.predict(b), model.predict(b))
    with pytest.raises(ValueError, match="channels"):
        model(b["image"][:, :1], b["K"])
    with pytest.raises(ValueError, match="K must be"):
        model(b["image"], b["K"][0])
