"""One step loss per model kind: `step_loss(model, batch, generator) -> (loss, terms)`.

`batch` is already on the model's device; `generator` is the step's own (query subsets,
keypoint noise), so a run resumes exactly; `terms` are extra floats the trainer logs.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from ..data.noise import add_keypoint_noise
from ..models.estimator import estimator_loss, estimator_targets
from ..models.image_encoder import dense_targets, image_encoder_loss
from ..models.keypoint_refiner import keypoint_loss
from ..models.two_hand_refiner import two_hand_refiner_loss
from .settings import (
    SETTINGS_CLASSES,
    EstimatorTrainSettings,
    ImageEncoderTrainSettings,
    KeypointRefinerTrainSettings,
    OccupancyTrainSettings,
    TrainSettings,
    TwoHandRefinerTrainSettings,
)

StepLoss = Callable[[torch.nn.Module, dict, torch.Generator], tuple[torch.Tensor, dict]]


def occupancy_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    if kind == "mse":
        return F.mse_loss(pred, target)
    return F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target)


def occupancy_step_loss(settings: OccupancyTrainSettings) -> StepLoss:
    """HALO / I: occupancy MSE (or BCE) at n_queries random queries per hand."""
    def step_loss(model, batch, generator):
        available = batch["queries"].shape[2]
        if available > settings.n_queries:  # the items carry more queries than a step uses
            keep = torch.randperm(available, generator=generator)[:settings.n_queries].to(batch["queries"].device)
            batch["queries"] = batch["queries"][:, :, keep]
            batch["occupancy"] = batch["occupancy"][:, :, keep]
        pred = model.predict(batch).occupancy
        target = batch["occupancy"].flatten(0, 1)  # (S, 2, N) -> rows 2s right, 2s + 1 left
        return occupancy_loss(pred, target, settings.loss), {}
    return step_loss


def keypoint_refiner_step_loss(settings: KeypointRefinerTrainSettings) -> StepLoss:
    """K: fresh noise-model inputs, loss against the true keypoints."""
    def step_loss(model, batch, generator):
        noisy = add_keypoint_noise(batch["keypoints"], batch["R"], settings.noise, generator)
        refined = model.predict(batch, keypoints=noisy).keypoints
        return keypoint_loss(refined, batch["keypoints"], settings.root_weight), {}
    return step_loss


def estimator_step_loss(settings: EstimatorTrainSettings) -> StepLoss:
    """The keypoint estimator: heatmap / depth / log(z / f) losses."""
    def step_loss(model, batch, generator):
        out = model(batch["image"], batch["K"])
        targets = estimator_targets(batch["keypoints"], batch["K"], batch["R"], batch["t"])
        return estimator_loss(out, targets, batch["image"].shape[-1], model.config), {}
    return step_loss


def subsample_r_queries(batch: dict, n_queries: int, generator: torch.Generator) -> dict:
    """An `RInputsDataset` batch with n_queries of its Q queries per hand, drawn half from the
    uniform and half from the near-surface labels (the two halves of every item's queries);
    the penetration inputs (both hands' queries, I's occupancy there) follow the same draw."""
    total = batch["queries"].shape[2]
    if total <= n_queries:
        return batch
    half = total // 2
    keep = torch.cat([torch.randperm(half, generator=generator)[:n_queries // 2],
                      half + torch.randperm(total - half, generator=generator)[:n_queries - n_queries // 2]])
    keep = keep.to(batch["queries"].device)
    both = torch.cat([keep, total + keep])  # pen_* hold the right hand's queries, then the left's
    return dict(batch, queries=batch["queries"][:, :, keep], occupancy=batch["occupancy"][:, :, keep],
                initial_occupancy=batch["initial_occupancy"][:, :, keep], pen_queries=batch["pen_queries"][:, both],
                pen_initial=batch["pen_initial"][:, :, both])


def two_hand_refiner_step_loss(settings: TwoHandRefinerTrainSettings) -> StepLoss:
    """R: occupancy MSE of both hands + penetration at both hands' queries, on n_queries
    queries per hand drawn from an `RInputsDataset` batch each step."""
    def step_loss(model, batch, generator):
        batch = subsample_r_queries(batch, settings.n_queries, generator)
        x = model.prepare(batch)
        out = model(x["points"], x["point_features"], x["global_image"], x["queries"], x["initial_occupancy"])
        x_pen = model.to_network(batch["pen_queries"], batch["R"], batch["t"], x["centre_cam"])
        pen_initial = batch["pen_initial"] if model.config.init_occ_cond else None
        return two_hand_refiner_loss(model, out, batch["occupancy"], x_pen, pen_initial)
    return step_loss


def image_encoder_step_loss(settings: ImageEncoderTrainSettings) -> StepLoss:
    """ImgEnc pretraining: side / part cross-entropy, keypoint heatmaps, betas (models/image_encoder.py)."""
    def step_loss(model, batch, generator):
        out = model.predict(batch)
        targets = dense_targets(batch, model.image_encoder.output_stride, model.config.heatmap_sigma)
        loss, terms = image_encoder_loss(out, targets, model.config)
        return loss, terms
    return step_loss


STEP_LOSSES: dict[str, Callable[..., StepLoss]] = {
    "halo": occupancy_step_loss, "i": occupancy_step_loss, "k": keypoint_refiner_step_loss,
    "estimator": estimator_step_loss, "r": two_hand_refiner_step_loss, "encoder": image_encoder_step_loss,
}


def step_loss_for(kind: str, settings: TrainSettings) -> StepLoss:
    """The step loss of a model kind, built from that kind's settings class."""
    if kind not in STEP_LOSSES:
        raise ValueError(f"no step loss for model kind {kind!r}; choose one of {list(STEP_LOSSES)}")
    wanted = SETTINGS_CLASSES[kind]
    if not isinstance(settings, wanted):
        raise TypeError(f"{kind!r} trains with {wanted.__name__}, got {type(settings).__name__}")
    return STEP_LOSSES[kind](settings)
