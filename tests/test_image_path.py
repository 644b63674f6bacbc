"""I's image path starts as HALO and does not hinder fitting: with a zero image feature I trains
as HALO step for step, an untrained I predicts as HALO, and a trained I fits a small training set
at least as well as HALO with the same steps, batches and queries (docs/RESULTS.md, "I: the image
path's optimisation defect")."""
import pytest
import torch

from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.evaluation.evaluate import evaluate_queries
from im2hands_lite.models.halo import HaloConfig, HaloModel
from im2hands_lite.models.registry import build_model
from im2hands_lite.training.settings import OccupancyTrainSettings
from im2hands_lite.training.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

IMAGE_VARIANTS = ("attention", "pixel_aligned")
FIT_SAMPLES = 8
SHORT = OccupancyTrainSettings(steps=20, n_queries=256, train_samples=FIT_SAMPLES)
FIT = OccupancyTrainSettings(steps=300, n_queries=256, train_samples=FIT_SAMPLES)  # the kit's image lr scales


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


def training_mse(model, dataset) -> float:
    """Eval-mode occupancy MSE at every labelled query of every sample of the training set."""
    rows = evaluate_queries(model, dataset, progress=False)["rows"]
    return sum(row["mse"] for row in rows) / len(rows)


@pytest.fixture(scope="module")
def halo_fit_mse(fit_set):
    return training_mse(fitted("halo", fit_set, FIT)[0], fit_set)


@pytest.mark.parametrize("cond", IMAGE_VARIANTS)
def test_more_input_fits_its_training_set_no_worse(fit_set, halo_fit_mse, cond):
    """I sees everything HALO sees and the image besides: after the same 300 steps, batches and
    queries from the same seed, it fits the 8 training samples at least as well as HALO. Before
    the fix attention I ended at 1.7x HALO's error after 120 steps; with the image path at
    lr x 0.01 pixel-aligned I ended above HALO here (docs/RESULTS.md)."""
    model, _ = fitted("i", fit_set, FIT, image_cond=cond)
    assert training_mse(model, fit_set) <= halo_fit_mse


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
