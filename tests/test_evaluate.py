"""Reconstruction from a HALO model, evaluation rows, and checkpoint files."""
import numpy as np
import pytest
import torch

from im2hands_lite.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.evaluation.evaluate import evaluate_occupancy
from im2hands_lite.evaluation.reconstruction import (
    ReconstructionConfig,
    reconstruct_hand,
    reconstruct_pair,
)
from im2hands_lite.models.halo import HaloConfig, HaloModel
from im2hands_lite.models.registry import load_model

SMALL = ReconstructionConfig(resolution=32, coarse_resolution=16)


class CapsuleHalo(HaloModel):
    """A HALO whose part logits are analytic capsules around the bones: a known, trained-free
    occupancy that gives hand-shaped meshes, so reconstruction and metrics can be tested."""

    def forward(self, queries, keypoints, is_left, image_features=None, frames=None):
        out = super().forward(queries, keypoints, is_left, frames=frames)
        frames = out.frames
        local = frames.to_bones(frames.normalise(queries))
        d = self.canonical_dirs[None, :, None]
        t = torch.minimum((local * d).sum(-1).clamp_min(0), frames.bone_lengths[..., None])
        dist = (local - t[..., None] * d).norm(dim=-1)
        radius = torch.full((16,), 0.022)
        radius[0] = 0.06
        logits = (radius[None, :, None] - dist) * 400.0
        out.part_logits, out.occupancy = logits, torch.sigmoid(logits).amax(1)
        return out


@pytest.fixture(scope="module")
def sample():
    return TwoHandDataset(kit_samples_dir(), "test").sample(0)


def test_reconstruct_pair_gives_closed_world_meshes(sample):
    results = reconstruct_pair(CapsuleHalo(), sample.keypoints, SMALL)
    for hand, result in enumerate(results):
        mesh = result.mesh
        assert len(mesh.faces) > 100 and mesh.is_watertight and mesh.volume > 0
        # the mesh lies around that hand's own keypoints (world coordinates, mirroring undone)
        centre = sample.keypoints[21 * hand:21 * hand + 21].mean(axis=0)
        assert np.linalg.norm(mesh.vertices.mean(axis=0) - centre) < 0.05
        assert result.n_evaluations < result.dense_evaluations


def test_evaluate_rows_and_means(sample):
    dataset = TwoHandDataset(kit_samples_dir(), "test")
    result = evaluate_occupancy(CapsuleHalo(), dataset, indices=[0, 1], config=SMALL, n_points=4000,
                           progress=False)
    assert [r["index"] for r in result["rows"]] == [0, 1]
    assert 0.2 < result["mean"]["iou"] < 1.0  # capsules are a rough but real hand
    assert 0 < result["mean"]["chamfer_mm"] < 20
    assert result["mean"]["penetration_cm3"] >= 0


def test_bad_keypoints_for_reconstruction():
    with pytest.raises(ValueError, match="two-hand keypoints"):
        reconstruct_hand(HaloModel(), np.zeros((20, 3)), 0)
    with pytest.raises(ValueError, match="hand must be 0"):
        reconstruct_hand(HaloModel(), np.zeros((42, 3)), 2)
    with pytest.raises(ValueError, match="two-hand keypoints"):
        reconstruct_pair(HaloModel(), np.zeros((21, 3)))


def test_checkpoint_round_trip_and_errors(tmp_path):
    model = HaloModel(HaloConfig(hidden=16))
    path = tmp_path / "halo.pt"
    sha = save_checkpoint(path, model, "halo", model.config, steps=3)
    assert len(sha) == 64 and list(tmp_path.iterdir()) == [path]  # no temp file left
    loaded = load_model(path)
    assert loaded.config == model.config
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert load_checkpoint(path)["extra"] == {"steps": 3}
    with pytest.raises(CheckpointError, match="expected 'k'"):
        load_checkpoint(path, kind="k")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(truncated)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_evaluation_counts_failed_samples_and_averages_over_the_same_samples():
    dataset = TwoHandDataset(kit_samples_dir(), "test")
    failing_seed = int(dataset.sample(1).seed)

    class NoLeftHandForOneSample(CapsuleHalo):
        def occupancy_function(self, item, hand):
            if hand == 1 and int(item["seed"]) == failing_seed:
                return lambda points: torch.zeros(len(points))
            return super().occupancy_function(item, hand)

    result = evaluate_occupancy(NoLeftHandForOneSample(), dataset, indices=[0, 1], config=SMALL, n_points=2000,
                                progress=False)
    good, failed = result["rows"]
    assert np.isnan(failed["chamfer_mm"]) and result["failed"] == 1
    assert result["mean"] == pytest.approx({k: good[k] for k in ("iou", "chamfer_mm", "penetration_cm3")})
    assert result["iou_all"] == pytest.approx((good["iou"] + failed["iou"]) / 2)


def test_threshold_metrics_reads_the_field_at_every_level():
    from im2hands_lite.evaluation.evaluate import threshold_metrics
    target = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    pred = np.array([[0.9, 0.45, 0.35, 0.1, 0.3, 0.0, 0.0, 0.0]])  # a field whose 0.5 set is too small
    m = threshold_metrics(pred, target, (0.5, 0.4, 0.25))
    assert m["positive_ratio"] == 0.25  # 1 of the 4 inside points is above 0.5
    assert m["iou@0.5"] == 0.25 and m["iou@0.4"] == 0.5 and m["iou@0.25"] == 3 / 5  # 0.3 outside joins at 0.25
    assert np.isclose(m["mse"], np.mean((pred - target) ** 2))
    assert np.isclose(m["mean_inside"], np.mean([0.9, 0.45, 0.35, 0.1]))
    with pytest.raises(ValueError, match="one shape"):
        threshold_metrics(pred[:, :4], target)
    with pytest.raises(ValueError, match="thresholds"):
        threshold_metrics(pred, target, (0.0,))
