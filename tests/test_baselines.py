"""The IK-template baseline: similarity alignment, fitting the template to keypoints, bad inputs."""
import numpy as np
import pytest
import torch

from im2hands_lite.evaluation.baselines import (
    TemplateIKBaseline,
    TemplateIKConfig,
    fit_template,
    similarity_alignment,
)
from im2hands_lite.geometry.rotations import axis_angle_to_matrix
from im2hands_lite.hand.model import HandModel

pytestmark = pytest.mark.usefixtures("one_thread")


def test_similarity_alignment_recovers_a_known_transform():
    generator = torch.Generator().manual_seed(3)
    source = torch.randn(2, 6, 3, generator=generator)
    rotation = axis_angle_to_matrix(torch.tensor([[0.3, -1.0, 0.5], [2.0, 0.1, 0.0]]))
    scale, shift = torch.tensor([1.3, 0.7]), torch.tensor([[0.1, 0.2, 0.3], [-1.0, 0.0, 2.0]])
    target = scale[:, None, None] * source @ rotation.transpose(1, 2) + shift[:, None]
    r, s, t = similarity_alignment(source, target)
    assert torch.allclose(r, rotation, atol=1e-5) and torch.allclose(s, scale, atol=1e-5)
    assert torch.allclose(t, shift, atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_fit_recovers_a_posed_template(side):
    model = HandModel()
    generator = torch.Generator().manual_seed(1)
    angles = 0.4 * torch.rand(2, 15, 3, generator=generator) * torch.tensor([1.0, 0.3, 0.0])  # bent, no twist
    truth = model(angles, global_orient=torch.tensor([[0.2, 1.0, -0.4], [-2.0, 0.3, 0.1]]),
                  transl=torch.tensor([[0.05, -0.02, 0.6], [0.0, 0.1, 0.5]]), scale=torch.tensor([1.05, 0.93]),
                  finger_lengths=torch.tensor([[1.04, 0.96, 1.0, 1.02, 0.95]] * 2), side=side)
    fit = fit_template(truth.joints, side, TemplateIKConfig(steps=300), model)
    assert fit.output.vertices.shape == truth.vertices.shape
    assert (fit.joint_error_mm < 1.5).all(), fit.joint_error_mm
    vertex_error_mm = 1000 * (fit.output.vertices - truth.vertices).norm(dim=-1).mean(-1)
    assert (vertex_error_mm < 3.0).all(), vertex_error_mm
    # the fitted parameters stay inside their ranges
    assert ((fit.params["scale"] >= 0.8) & (fit.params["scale"] <= 1.2)).all()


def test_fit_rejects_bad_keypoints():
    with pytest.raises(ValueError, match=r"\(B, 21, 3\)"):
        fit_template(torch.zeros(1, 20, 3), "right")
    bad = torch.zeros(1, 21, 3)
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit_template(bad, "right")
    with pytest.raises(ValueError, match="side"):
        fit_template(torch.zeros(1, 21, 3), "middle")
    with pytest.raises(ValueError, match=r"\(42, 3\)"):
        TemplateIKBaseline().meshes({"keypoints": torch.zeros(21, 3)})


def test_baseline_meshes_both_hands_of_a_kit_sample():
    from im2hands_lite.data import TwoHandDataset, kit_samples_dir
    from im2hands_lite.evaluation.metrics import two_hand_metrics

    data = TwoHandDataset(kit_samples_dir(), "test")
    sample = data.sample(1)
    baseline = TemplateIKBaseline(TemplateIKConfig(steps=150))
    meshes = baseline.meshes(data[1])
    assert len(meshes) == 2 and all(m.is_watertight for m in meshes)
    assert max(baseline.last_joint_error_mm) < 3.0
    metrics = two_hand_metrics(meshes, [sample.mesh(0), sample.mesh(1)], sample.keypoints, sample.keypoints,
                               n_points=5000, rng=np.random.default_rng(0))
    assert metrics["iou"] > 0.85  # the kit's data is posed from this template: near exact on true keypoints
