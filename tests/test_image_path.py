"""I's image path starts as HALO: with a zero image feature I trains as HALO step for step, and
an untrained I predicts as HALO (docs/RESULTS.md, "I: the image path's optimisation defect").
The fitting property itself (I's final training loss <= HALO's) is measured with paired
intervals by scripts/image_path_experiments.py; on an 8-sample set it does not hold yet at every
budget (docs/RESULTS.md), so it is not a test here yet."""
import pytest
import torch

from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.models.halo import HaloConfig, HaloModel
from im2hands_lite.models.registry import build_model
from im2hands_lite.training.settings import OccupancyTrainSettings
from im2hands_lite.training.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

IMAGE_VARIANTS = ("attention", "pixel_aligned")
FIT_SAMPLES = 8
SHORT = OccupancyTrainSettings(steps=20, n_queries=256, train_samples=FIT_SAMPLES)


@pytest.fixture(scope="module")
def fit_set():
    return torch.utils.data.Subset(TwoHandDataset(kit_samples_dir(), "train"), range(FIT_SAMPLES))


def fitted(kind: str, dataset, settings: OccupancyTrainSettings, zero_feature: bool = False, **options):
    """(the model trained from seed 0 with the kit's trainer, its per-step losses)."""
    torch.manual_seed(settings.seed)
    model = build_model(kind, **options)
    if zero_feature:  # I's per-query image feature replaced by zeros of its shape
        width = model.config.feature_dim
        model.image_features = lambda queries, *args, **kwargs: (queries.new_zeros(*queries.shape[:2], width), None)
    log = train(model, dataset, settings, progress=False).log
    return model, [row["loss"] for row in log]


@pytest.mark.parametrize("cond", IMAGE_VARIANTS)
def test_i_with_a_zero_image_feature_is_halo_step_for_step(fit_set, cond):
    """HALO's layers start exactly as in plain HALO and the image layer adds nothing for a zero
    feature, so I's curve is HALO's to the bit (checked over the first 20 steps)."""
    _, halo_curve = fitted("halo", fit_set, SHORT)
    _, curve = fitted("i", fit_set, SHORT, zero_feature=True, image_cond=cond)
    assert curve == halo_curve


@pytest.mark.parametrize("cond", IMAGE_VARIANTS)
def test_untrained_i_predicts_as_halo(fit_set, cond):
    batch = torch.utils.data.default_collate([fit_set[i] for i in range(2)])
    torch.manual_seed(0)
    halo = build_model("halo").eval()
    torch.manual_seed(0)
    initial = build_model("i", image_cond=cond).eval()
    with torch.no_grad():
        assert torch.equal(initial.predict(batch).occupancy, halo.predict(batch).occupancy)


def test_old_checkpoints_with_one_joined_weight_still_load():
    """Files from before the split hold joined.weight over [hidden; feature]: it is split on load."""
    torch.manual_seed(0)
    model = HaloModel(HaloConfig(image_feature_dim=5, zero_init_image=False))
    state = model.state_dict()
    old = {k: v for k, v in state.items() if k != "image_in.weight"}
    old["joined.weight"] = torch.cat([state["joined.weight"], state["image_in.weight"]], dim=1)
    loaded = HaloModel(HaloConfig(image_feature_dim=5))
    loaded.load_state_dict(old)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())
