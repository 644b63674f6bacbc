"""I: query-image attention, pixel-aligned features and the three image-conditioning variants."""
import dataclasses

import numpy as np
import pytest
import torch

from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.geometry.camera import PinholeCamera
from im2hands_lite.models.attention import (
    QueryAttentionConfig,
    QueryImageAttention,
    project_points,
    sample_pixel_aligned,
)
from im2hands_lite.models.halo import HaloConfig, stack_hands
from im2hands_lite.models.image import paper_image_config
from im2hands_lite.models.initial import IMAGE_CONDITIONS, InitialConfig, InitialOccupancyNet

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def batch():
    dataset = TwoHandDataset(kit_samples_dir(), "train", n_queries=128)
    return torch.utils.data.default_collate([dataset[i] for i in range(2)])


def flat_inputs(batch):
    keypoints, queries, occupancy, is_left = stack_hands(batch["keypoints"], batch["queries"],
                                                         batch["occupancy"])
    samples = batch["image"].shape[0]
    sample_index = torch.arange(samples).repeat_interleave(2)
    root = batch["keypoints"].mean(1)[sample_index]
    return keypoints, queries, occupancy, is_left, sample_index, root


def run(model, batch, return_attention=False, queries=None):
    keypoints, q, _, is_left, sample_index, root = flat_inputs(batch)
    q = q if queries is None else queries
    context = model.encode_image(batch["image"])
    return model(q, keypoints, is_left, context, sample_index, batch["K"], batch["R"], batch["t"],
                 root, return_attention=return_attention)


@pytest.mark.parametrize("cond", IMAGE_CONDITIONS)
def test_shapes_fast(batch, cond):
    torch.manual_seed(0)
    model = InitialOccupancyNet(InitialConfig(image_cond=cond)).eval()
    out = run(model, batch, return_attention=True)
    assert out.occupancy.shape == (4, 128) and out.part_logits.shape == (4, 16, 128)
    assert ((out.occupancy >= 0) & (out.occupancy <= 1)).all()
    if cond == "attention":
        tokens = model.config.vit.n_tokens
        assert out.attention.shape == (4, 2, 128, tokens)
        assert torch.allclose(out.attention.sum(-1), torch.ones(4, 2, 128), atol=1e-5)
    else:
        assert out.attention is None
    context = model.encode_image(batch["image"])
    if cond == "none":
        assert context.feature_map is None and context.tokens is None
    else:
        assert context.feature_map.shape[-2:] == (64, 64)  # half of the 128x128 crop


def test_shapes_paper_size_forward_only():
    model = InitialOccupancyNet(InitialConfig.paper()).eval()
    image = torch.rand(1, 3, 256, 256)
    camera = PinholeCamera.looking_at((0, 0, 0), 0.6, 0, 0, 35, 256, 256)
    K, R, t = (torch.tensor(a, dtype=torch.float32)[None] for a in (camera.K, camera.R, camera.t))
    keypoints = torch.randn(2, 21, 3) * 0.05
    with torch.no_grad():
        context = model.encode_image(image)
        out = model(torch.randn(2, 64, 3) * 0.05, keypoints, torch.tensor([False, True]), context,
                    torch.zeros(2, dtype=torch.long), K, R, t, torch.zeros(2, 3))
    assert context.feature_map.shape == (1, 32, 128, 128) and context.tokens.shape == (1, 64, 128)  # 8x8 grid on the 128x128 map
    assert out.occupancy.shape == (2, 64)


def test_pixel_aligned_sampling_is_exact_at_pixel_centres():
    camera = PinholeCamera.looking_at((0, 0, 0), 0.5, 0, 0, 40, 64, 64)
    feature_map = torch.randn(1, 5, 32, 32)  # half resolution of the 64x64 image
    rows, cols = np.array([3, 10, 31]), np.array([0, 17, 25])
    # the centre of feature pixel (c, r) is image pixel (2c + 0.5, 2r + 0.5)
    pixels = np.stack([2 * cols + 0.5, 2 * rows + 0.5], axis=1)
    world = camera.unproject(pixels, np.array([0.5, 0.45, 0.55]))
    K, R, t = (torch.tensor(a, dtype=torch.float32)[None] for a in (camera.K, camera.R, camera.t))
    uv, _ = project_points(torch.tensor(world, dtype=torch.float32)[None], K, R, t)
    assert torch.allclose(uv[0], torch.tensor(pixels, dtype=torch.float32), atol=1e-3)
    sampled = sample_pixel_aligned(feature_map, uv, (64, 64))[0]
    expected = feature_map[0][:, rows, cols].T
    assert torch.allclose(sampled, expected, atol=1e-3)


def test_attention_is_permutation_equivariant_over_queries():
    torch.manual_seed(0)
    attention = QueryImageAttention(token_dim=24, config=QueryAttentionConfig()).eval()
    points, tokens = torch.randn(2, 50, 3) * 0.1, torch.randn(2, 9, 24)
    perm = torch.randperm(50)
    a = attention(points, tokens, return_weights=True)
    b = attention(points[:, perm], tokens, return_weights=True)
    assert torch.allclose(a.features[:, perm], b.features, atol=1e-6)
    assert torch.allclose(a.weights[:, :, perm], b.weights, atol=1e-6)
    with pytest.raises(ValueError, match="points_cam must be"):
        attention(torch.randn(2, 50, 2), tokens)


@pytest.mark.parametrize("cond", ["attention", "pixel_aligned"])
def test_image_feature_of_a_point_ignores_which_hand_asks(batch, cond):
    torch.manual_seed(0)
    model = InitialOccupancyNet(InitialConfig(image_cond=cond)).eval()
    keypoints, queries, _, is_left, sample_index, root = flat_inputs(batch)
    context = model.encode_image(batch["image"])
    same = queries[0:1].expand(2, -1, -1)  # the same points asked by sample 0's right and left hand
    feats, _ = model.image_features(same, context, sample_index[:2], batch["K"], batch["R"],
                                    batch["t"], root[:2])
    assert torch.allclose(feats[0], feats[1], atol=1e-6)


def test_image_changes_the_prediction(batch):
    torch.manual_seed(0)  # random image weights: a zero start would make the untrained I exactly HALO
    config = InitialConfig(image_cond="attention", halo=HaloConfig(zero_init_image=False))
    model = InitialOccupancyNet(config).eval()
    a = run(model, batch).occupancy
    other = dict(batch, image=batch["image"].flip(0))
    b = run(model, other).occupancy
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("cond", IMAGE_CONDITIONS)
def test_each_variant_overfits_one_batch(batch, cond):
    torch.manual_seed(0)
    model = InitialOccupancyNet(InitialConfig(image_cond=cond))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    _, _, occupancy, _, _, _ = flat_inputs(batch)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.mse_loss(run(model, batch).occupancy, occupancy)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="image_cond must be one of"):
        InitialConfig(image_cond="pifu")
    assert dataclasses.replace(InitialConfig(), image_cond="none").feature_dim == 0


def test_checkpoint_round_trip_and_reconstruction(tmp_path):
    from im2hands_lite.checkpoints import CheckpointError, save_checkpoint
    from im2hands_lite.evaluation.reconstruction import ReconstructionConfig, reconstruct_pair
    from im2hands_lite.models.registry import load_model

    torch.manual_seed(0)
    model = InitialOccupancyNet(InitialConfig(image_cond="pixel_aligned")).eval()
    path = tmp_path / "i.pt"
    save_checkpoint(path, model, "i", model.config)
    loaded = load_model(path, "i")
    assert loaded.config == model.config
    sample = TwoHandDataset(kit_samples_dir(), "test").sample(0)
    a = reconstruct_pair(model, sample, ReconstructionConfig(resolution=32, coarse_resolution=16))
    b = reconstruct_pair(loaded, sample, ReconstructionConfig(resolution=32, coarse_resolution=16))
    assert [r.n_evaluations for r in a] == [r.n_evaluations for r in b] and a[0].n_evaluations > 0
    assert np.array_equal(a[0].values, b[0].values)  # the same image-conditioned occupancy
    with pytest.raises(CheckpointError, match="expected 'halo'"):
        load_model(path, "halo")


def test_attention_variant_trains_the_image_encoder_through_the_vit(batch):
    """Official layout: the ViT patchifies ImgEnc's decoder map, so I's loss reaches ImgEnc."""
    torch.manual_seed(0)
    model = InitialOccupancyNet(InitialConfig(image_cond="attention"))
    assert model.vit.config.in_channels == model.config.decoder.out_channels
    # (one step first, so that the test also holds with HaloConfig(zero_init_image=True))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    run(model, batch).occupancy.mean().backward()
    optimizer.step()
    optimizer.zero_grad()
    run(model, batch).occupancy.mean().backward()
    encoder_grads = [p.grad for p in model.image_encoder.parameters()]
    assert all(g is not None for g in encoder_grads) and sum(g.abs().sum() for g in encoder_grads) > 0


def test_vit_on_rgb_image_stays_available(batch):
    torch.manual_seed(0)
    resnet, decoder, vit = paper_image_config()
    config = InitialConfig(vit_input="image", vit=dataclasses.replace(vit, image_size=128, dim=32))
    model = InitialOccupancyNet(config).eval()
    with torch.no_grad():
        out = run(model, batch, return_attention=True)
    assert out.attention.shape == (4, 2, 128, 64)


def test_vit_input_must_match_the_vit_channels():
    resnet, decoder, vit = paper_image_config()
    with pytest.raises(ValueError, match="vit_on_feature_map"):
        InitialConfig(vit=vit)  # an RGB ViT cannot read the 32-channel decoder map
    with pytest.raises(ValueError, match="vit_input"):
        InitialConfig(vit_input="patches")
    InitialConfig(image_cond="none", vit=vit)  # no ViT is built: nothing to check


def test_pos_enc_separates_queries_at_default_init():
    """PosEnc sees root-relative metres x position_scale: at init, points a hand apart must give
    clearly different attention queries (at HALO's 1/0.4 scale they were almost identical)."""
    torch.manual_seed(0)
    attention = QueryImageAttention(token_dim=24).eval()
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, -0.1, 0.05]]])
    with torch.no_grad():
        queries = attention.query_proj(attention.pos_enc(points * attention.config.position_scale))
    spread = torch.cdist(queries[0], queries[0]).max()
    assert spread > 0.1 * queries[0].norm(dim=-1).mean()
    with pytest.raises(ValueError, match="position_scale"):
        QueryAttentionConfig(position_scale=0.0)
