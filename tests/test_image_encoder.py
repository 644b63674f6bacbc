"""ImgEnc pretraining: dense targets of the kit's renders, the heads, one trainer."""
import numpy as np
import pytest
import torch

from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.models.attention import project_points
from im2hands_lite.models.image_encoder import dense_targets
from im2hands_lite.models.registry import build_model
from im2hands_lite.training.settings import ImageEncoderTrainSettings
from im2hands_lite.training.trainer import train


@pytest.fixture(scope="module")
def batch():
    data = TwoHandDataset(kit_samples_dir(), "train", n_queries=2)
    return torch.utils.data.default_collate([data[i] for i in range(4)])


def test_targets_follow_the_mask_parts_and_keypoints(batch):
    stride, sigma = 2, 1.5
    targets = dense_targets(batch, stride, sigma)
    size = batch["image"].shape[-1] // stride
    assert targets["side"].shape == targets["part"].shape == (4, size, size)
    assert targets["heatmaps"].shape == (4, 42, size, size) and targets["betas"].shape == (4, 4)
    # side: 0 background, 1 right, 2 left, read at each cell's centre pixel
    assert torch.equal(targets["side"], batch["mask"][:, 1::2, 1::2] + 1)
    hand = targets["side"] > 0
    assert torch.equal(targets["part"][hand], batch["parts"][:, 1::2, 1::2][hand] + 1)
    assert (targets["part"][~hand] == 0).all() and targets["part"].max() <= 16
    # each heatmap peaks at its keypoint's cell (keypoints inside the crop)
    pixels, _ = project_points(batch["keypoints"], batch["K"], batch["R"], batch["t"])
    cells = ((pixels + 0.5) / stride - 0.5).round().long()
    inside = ((cells >= 0) & (cells < size)).all(-1)
    flat = targets["heatmaps"].flatten(2).argmax(-1)
    assert inside.float().mean() > 0.9
    assert torch.equal(flat[inside], (cells[..., 1] * size + cells[..., 0])[inside])
    assert torch.equal(targets["betas"], batch["betas"][:, 0])


def test_targets_refuse_data_without_part_maps(batch):
    without = {k: v for k, v in batch.items() if k != "parts"}
    with pytest.raises(ValueError, match=r"\['parts'\].*data v2"):
        dense_targets(without, 2, 1.5)


def test_heads_and_a_short_pretraining_lower_every_term(batch):
    torch.manual_seed(0)
    model = build_model("encoder")
    out = model.predict(batch)
    size = batch["image"].shape[-1] // 2
    assert out.side_logits.shape == (4, 3, size, size) and out.part_logits.shape == (4, 17, size, size)
    assert out.heatmaps.shape == (4, 42, size, size) and out.betas.shape == (4, 4)
    data = torch.utils.data.Subset(TwoHandDataset(kit_samples_dir(), "train", n_queries=2), range(4))
    settings = ImageEncoderTrainSettings(steps=60, batch_size=4, train_samples=4, lr=1e-3)
    log = train(model, data, settings, progress=False, device="cpu").log
    # the heatmaps' cross-entropy cannot go below the entropy of the target Gaussians
    target = dense_targets(batch, 2, model.config.heatmap_sigma)["heatmaps"].flatten(2)
    target = target / target.sum(-1, keepdim=True).clamp(min=1e-6)
    floors = {"heatmap": float(-(target * target.clamp(min=1e-12).log()).sum(-1).mean())}
    for term in ("side", "part", "heatmap", "betas"):  # each term, as the trainer logs it per step
        first, last = (np.mean([row[term] for row in rows]) for rows in (log[:5], log[-5:]))
        floor = floors.get(term, 0.0)
        assert last - floor < 0.8 * (first - floor), (term, first, last, floor)


def test_the_pretrained_encoder_fits_i_k_and_r():
    """Its `image_encoder` is the module I, K and R hold: the weights move across unchanged."""
    encoder = build_model("encoder").image_encoder.state_dict()
    for kind, options in (("i", {"image_cond": "attention"}), ("k", {}), ("r", {})):
        target = build_model(kind, **options).image_encoder
        assert {k: v.shape for k, v in target.state_dict().items()} == {k: v.shape for k, v in encoder.items()}, kind
        target.load_state_dict(encoder)
        assert all(np.array_equal(target.state_dict()[k].numpy(), v.numpy()) for k, v in encoder.items())


def test_decoder_skips_keep_the_shapes_and_older_checkpoints_keys():
    """Skips add lateral 1x1 convs after the layers at strides 16, 8, 4; the decoder's own layers
    keep the flat keys of checkpoints from before skips existed."""
    from im2hands_lite.models.image import DeconvDecoderConfig, ImageEncoderDecoder, ResNetConfig
    resnet = ResNetConfig(depth=10, width=8)
    plain = ImageEncoderDecoder(resnet, DeconvDecoderConfig(hidden=16, skips=False))
    skips = ImageEncoderDecoder(resnet, DeconvDecoderConfig(hidden=16, skips=True))
    assert len(skips.decoder.laterals) == 3 and len(plain.decoder.laterals) == 0
    assert set(plain.state_dict()) == set(skips.state_dict()) - {k for k in skips.state_dict() if ".laterals." in k}
    assert "decoder.layers.3.weight" in plain.state_dict()  # flat: deconv, norm, ReLU, deconv, ...
    image = torch.rand(2, 3, 64, 64)
    assert plain(image).feature_map.shape == skips(image).feature_map.shape == (2, 32, 32, 32)
    # with skips a change confined to a few pixels stays local in the map; from C5 alone it spreads
    torch.manual_seed(0)
    skips.eval(), plain.eval()
    changed = image.clone()
    changed[:, :, :4, :4] = 1 - changed[:, :, :4, :4]
    far = (slice(None), slice(None), slice(24, None), slice(24, None))
    for model in (plain, skips):
        delta = (model(changed).feature_map - model(image).feature_map).abs()
        near = delta[:, :, :4, :4].mean()
        assert near > 0
        if model is skips:
            assert delta[far].mean() < near
    with pytest.raises(ValueError, match="skip_channels"):
        from im2hands_lite.models.image import DeconvDecoder
        DeconvDecoder(64, DeconvDecoderConfig(skips=True))


def test_pretrained_weights_move_into_every_image_model():
    from im2hands_lite.models.image_encoder import load_pretrained_encoder, pretrainable_encoder
    torch.manual_seed(0)
    pretrained = build_model("encoder")
    reference = pretrained.image_encoder.state_dict()
    for kind, options in (("i", {"image_cond": "attention"}), ("i", {"image_cond": "pixel_aligned"}), ("k", {}),
                          ("r", {})):
        model = build_model(kind, **options)
        loaded = load_pretrained_encoder(model, pretrained)
        assert loaded is model.image_encoder
        assert all(torch.equal(model.image_encoder.state_dict()[k], v) for k, v in reference.items()), kind
    estimator = build_model("estimator")
    load_pretrained_encoder(estimator, pretrained)
    resnet = pretrained.image_encoder.encoder.state_dict()
    assert all(torch.equal(estimator.backbone.state_dict()[k], v) for k, v in resnet.items())
    for kind, options in (("halo", {}), ("i", {"image_cond": "none"}), ("k", {"image_cond": False})):
        assert pretrainable_encoder(build_model(kind, **options)) is None
        with pytest.raises(ValueError, match="no image encoder"):
            load_pretrained_encoder(build_model(kind, **options), pretrained)
    with pytest.raises(ValueError, match="encoder_init=scratch"):  # another backbone: named, not forced
        load_pretrained_encoder(build_model("i", "paper"), pretrained)


def _saved_encoder(tmp_path):
    from im2hands_lite.checkpoints import save_checkpoint
    torch.manual_seed(1)
    pretrained = build_model("encoder")
    path = tmp_path / "encoder.pt"
    save_checkpoint(path, pretrained, "encoder", pretrained.config)
    return pretrained, path


def test_the_trainer_starts_image_models_from_the_pretrained_encoder(tmp_path):
    from im2hands_lite.training.settings import KeypointRefinerTrainSettings
    pretrained, path = _saved_encoder(tmp_path)
    data = torch.utils.data.Subset(TwoHandDataset(kit_samples_dir(), "train", n_queries=2), range(2))
    reference = pretrained.image_encoder.state_dict()
    for init in ("pretrained", "scratch"):
        torch.manual_seed(0)
        model = build_model("k")
        settings = KeypointRefinerTrainSettings(steps=1, batch_size=2, train_samples=2, lr=1e-12, encoder_init=init,
                                                encoder_checkpoint=str(path))
        result = train(model, data, settings, progress=False, device="cpu", out=tmp_path / init)
        same = all(torch.equal(model.image_encoder.state_dict()[k], v) for k, v in reference.items()
                   if not k.endswith("num_batches_tracked") and "running" not in k)
        assert same == (init == "pretrained"), init
        from im2hands_lite.checkpoints import load_checkpoint, sha256_of
        extra = load_checkpoint(result.final)["extra"]
        assert (extra.get("encoder_start", {}).get("sha256") == sha256_of(path)) == (init == "pretrained"), extra
    missing = KeypointRefinerTrainSettings(steps=1, batch_size=2, encoder_checkpoint=str(tmp_path / "nothing.pt"))
    with pytest.raises(FileNotFoundError, match="encoder_init=scratch"):
        train(build_model("k"), data, missing, progress=False, device="cpu")


def test_a_pretrained_encoder_fine_tunes_at_a_tenth():
    from im2hands_lite.training.settings import EstimatorTrainSettings, KeypointRefinerTrainSettings
    from im2hands_lite.training.trainer import make_optimizer
    for kind, settings in (("k", KeypointRefinerTrainSettings(lr=1e-3)), ("estimator", EstimatorTrainSettings(lr=1e-3))):
        model = build_model(kind)
        optimizer, _ = make_optimizer(model, settings)
        encoder = model.image_encoder if kind == "k" else model.backbone
        ids = {id(p) for p in encoder.parameters()}
        for group in optimizer.param_groups:
            inside = {id(p) in ids for p in group["params"]}
            assert len(inside) == 1, "a group mixes the encoder with the rest"
            assert group["lr"] == pytest.approx(1e-4 if inside == {True} else 1e-3), kind


class _Oracle(torch.nn.Module):
    """Outputs the targets themselves (or, shifted, a wrong but well-shaped answer)."""

    def __init__(self, shift: int = 0):
        super().__init__()
        self.config = build_model("encoder").config
        self.image_encoder = build_model("encoder").image_encoder
        self.shift = shift

    def predict(self, batch):
        from im2hands_lite.models.image_encoder import ImageEncoderOutput
        t = dense_targets(batch, 2, self.config.heatmap_sigma)

        def roll(x):
            return torch.roll(x, self.shift, dims=-1)

        side = torch.nn.functional.one_hot(roll(t["side"]), 3).permute(0, 3, 1, 2).float() * 10
        part = torch.nn.functional.one_hot(roll(t["part"]), 17).permute(0, 3, 1, 2).float() * 10
        betas = t["betas"] if not self.shift else torch.zeros_like(t["betas"])
        return ImageEncoderOutput(side, part, roll(t["heatmaps"]), betas)

    def eval(self):
        return self


def test_encoder_scores_are_perfect_on_the_truth_and_drop_on_a_shifted_answer(batch):
    from im2hands_lite.evaluation.encoder import evaluate_image_encoder
    data = TwoHandDataset(kit_samples_dir(), "train", n_queries=2)
    perfect = evaluate_image_encoder(_Oracle(), data, range(6), batch_size=4)["mean"]
    assert all(perfect[f"side_iou_{name}"] == 1.0 for name in ("background", "right", "left"))
    assert perfect["part_miou"] == 1.0 and perfect["betas_r2_beta0"] == pytest.approx(1.0)
    assert perfect["heatmap_px"] <= 2 ** 0.5 / 2 * 2  # at most half a cell's diagonal (stride 2)
    shifted = evaluate_image_encoder(_Oracle(shift=4), data, range(6), batch_size=4)["mean"]
    assert shifted["side_iou_right"] < 0.9 and shifted["part_miou"] < 0.8
    assert 7 < shifted["heatmap_px"] < 9  # 4 cells = 8 px (keypoints near the edge wrap around)
    assert shifted["betas_r2_beta0"] <= 0.0


def test_the_beta_probe_recovers_a_linear_code_and_not_noise():
    from im2hands_lite.evaluation.encoder import BetaProbe, r2_scores
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 20))
    betas = features[:, :4] @ rng.normal(size=(4, 4)) + 0.01 * rng.normal(size=(300, 4))
    probe = BetaProbe.fit(features[:200], betas[:200])
    assert (r2_scores(probe.predict(features[200:]), betas[200:]) > 0.99).all()
    noise = BetaProbe.fit(rng.normal(size=(200, 20)), betas[:200])
    assert (r2_scores(noise.predict(rng.normal(size=(100, 20))), betas[200:]) < 0.2).all()
    assert r2_scores(np.repeat(betas[200:].mean(0, keepdims=True), 100, 0), betas[200:]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="2 samples"):
        BetaProbe.fit(features[:1], betas[:1])
