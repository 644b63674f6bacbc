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
    for term in ("side", "part", "heatmap", "betas"):  # each term, as the trainer logs it per step
        first, last = (np.mean([row[term] for row in rows]) for rows in (log[:5], log[-5:]))
        assert last < 0.8 * first, (term, first, last)


def test_the_pretrained_encoder_fits_i_k_and_r():
    """Its `image_encoder` is the module I, K and R hold: the weights move across unchanged."""
    encoder = build_model("encoder").image_encoder.state_dict()
    for kind, options in (("i", {"image_cond": "attention"}), ("k", {}), ("r", {})):
        target = build_model(kind, **options).image_encoder
        assert {k: v.shape for k, v in target.state_dict().items()} == {k: v.shape for k, v in encoder.items()}, kind
        target.load_state_dict(encoder)
        assert all(np.array_equal(target.state_dict()[k].numpy(), v.numpy()) for k, v in encoder.items())
