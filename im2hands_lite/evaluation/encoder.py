"""What a pretrained ImgEnc sees, measured on held-out renders.

    scores = evaluate_image_encoder(model, test_set, range(64))
    scores["mean"]   # side IoU per class, part mIoU, heatmap error (px), beta R^2 of the head
    probe = fit_beta_probe(model.image_encoder, train_set, range(512))
    probe.r2(model.image_encoder, test_set, range(64))   # a linear probe: global feature -> beta

Segmentation IoUs are over the whole split (intersections and unions summed), as segmentation
benchmarks report them; the per-sample values are kept for paired comparisons. The heatmap
error is the image-pixel distance between each keypoint's heatmap maximum and the projected
truth, over keypoints inside the crop (occluded ones included: the targets hold them too).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..hand.joints import N_BONES
from ..models.image import ImageEncoderDecoder
from ..models.image_encoder import N_SIDES, ImageEncoderPretrainer, dense_targets

SIDE_NAMES = ("background", "right", "left")


def _batches(dataset, indices, batch_size: int):
    indices = list(indices)
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        yield torch.utils.data.default_collate([dataset[i] for i in chunk])


def _counts(pred: Tensor, truth: Tensor, n_classes: int) -> tuple[Tensor, Tensor]:
    """Per-sample intersections and unions (B, n_classes) of label maps (B, h, w)."""
    classes = torch.arange(n_classes)[None, :, None]
    p, t = pred.flatten(1)[:, None] == classes, truth.flatten(1)[:, None] == classes
    return (p & t).sum(-1).double(), (p | t).sum(-1).double()


def r2_scores(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """R^2 per column: 1 - SSE / SST, SST about the truth's own mean (a constant guess scores 0)."""
    sse = ((pred - truth) ** 2).sum(0)
    sst = ((truth - truth.mean(0)) ** 2).sum(0)
    return 1.0 - sse / np.maximum(sst, 1e-12)


@torch.no_grad()
def evaluate_image_encoder(model: ImageEncoderPretrainer, dataset, indices, batch_size: int = 16,
                           shape_names: tuple[str, ...] = ()) -> dict:
    """Side IoU per class, part IoU (mean over the 16 bones), heatmap error (px) and the beta
    head's R^2 on `dataset[indices]`. Returns {"mean": {...}, "per_sample": {...}}."""
    model.eval()
    config = model.config
    stride = model.image_encoder.output_stride
    side_i, side_u, part_i, part_u, errors, inside_counts, betas_pred, betas_true = [], [], [], [], [], [], [], []
    for batch in _batches(dataset, indices, batch_size):
        out = model.predict(batch)
        targets = dense_targets(batch, stride, config.heatmap_sigma)
        inter, union = _counts(out.side_logits.argmax(1), targets["side"], N_SIDES)
        side_i.append(inter), side_u.append(union)
        inter, union = _counts(out.part_logits.argmax(1), targets["part"], 1 + N_BONES)
        part_i.append(inter), part_u.append(union)
        h, w = out.heatmaps.shape[-2:]
        flat = out.heatmaps.flatten(2).argmax(-1)
        cells = torch.stack([flat % w, flat // w], -1).double()
        predicted = (cells + 0.5) * stride - 0.5  # map cell -> image pixel (pixel-centre convention)
        centres = (targets["keypoint_pixels"] + 0.5) / stride - 0.5
        inside = ((centres > -0.5) & (centres < torch.tensor([w, h]) - 0.5)).all(-1)
        error = (predicted - targets["keypoint_pixels"].double()).norm(dim=-1)
        errors.append(torch.where(inside, error, torch.zeros_like(error)).sum(1))
        inside_counts.append(inside.sum(1))
        betas_pred.append(out.betas.double()), betas_true.append(targets["betas"].double())
    side_i, side_u, part_i, part_u = (torch.cat(x) for x in (side_i, side_u, part_i, part_u))
    inside_counts = torch.cat(inside_counts)
    per_sample_error = (torch.cat(errors) / inside_counts.clamp(min=1)).numpy()
    bones = slice(1, None)
    per_sample = {f"side_iou_{name}": (side_i[:, c] / side_u[:, c].clamp(min=1)).numpy()
                  for c, name in enumerate(SIDE_NAMES)}
    present = (part_u[:, bones] > 0).numpy()  # bones in the truth or the prediction
    part_iou = (part_i / part_u.clamp(min=1))[:, bones].numpy()
    # a render without visible bones, predicted without any, agrees perfectly
    per_sample["part_miou"] = np.where(present.any(1), (part_iou * present).sum(1) / np.maximum(present.sum(1), 1),
                                       1.0)
    per_sample["heatmap_px"] = per_sample_error
    mean = {f"side_iou_{name}": float(side_i[:, c].sum() / side_u[:, c].sum()) for c, name in enumerate(SIDE_NAMES)}
    mean["part_miou"] = float((part_i[:, bones].sum(0) / part_u[:, bones].sum(0).clamp(min=1)).mean())
    mean["heatmap_px"] = float(torch.cat(errors).sum() / inside_counts.sum().clamp(min=1))
    mean["heatmap_px_median"] = float(np.median(per_sample_error))
    if config.n_betas:
        scores = r2_scores(torch.cat(betas_pred).numpy(), torch.cat(betas_true).numpy())
        names = shape_names or tuple(f"beta{k}" for k in range(config.n_betas))
        mean |= {f"betas_r2_{name}": float(s) for name, s in zip(names, scores)}
    return {"mean": mean, "per_sample": per_sample}


@torch.no_grad()
def global_features(encoder: ImageEncoderDecoder, dataset, indices, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(pooled C5 features (N, C), the samples' betas (N, K)) of `dataset[indices]`."""
    encoder.eval()
    features, betas = [], []
    for batch in _batches(dataset, indices, batch_size):
        features.append(encoder(batch["image"]).global_feature.double().numpy())
        betas.append(batch["betas"][:, 0].double().numpy())
    return np.concatenate(features), np.concatenate(betas)


@dataclass
class BetaProbe:
    """A ridge-regularised linear map from the standardised global feature to the betas."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (C + 1, K), the last row the bias

    @classmethod
    def fit(cls, features: np.ndarray, betas: np.ndarray, ridge: float = 1.0) -> BetaProbe:
        """Least squares on (N, C) features -> (N, K) betas with an L2 penalty `ridge` per
        standardised feature (the bias unpenalised)."""
        if len(features) < 2 or len(features) != len(betas):
            raise ValueError(f"a beta probe needs >= 2 samples with one beta row each, got {len(features)} "
                             f"features and {len(betas)} beta rows")
        mean, scale = features.mean(0), features.std(0) + 1e-8
        z = np.concatenate([(features - mean) / scale, np.ones((len(features), 1))], 1)
        penalty = ridge * np.eye(z.shape[1])
        penalty[-1, -1] = 0.0
        return cls(mean, scale, np.linalg.solve(z.T @ z + penalty, z.T @ betas))

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.scale
        return np.concatenate([z, np.ones((len(z), 1))], 1) @ self.weights

    def r2(self, encoder: ImageEncoderDecoder, dataset, indices) -> np.ndarray:
        """R^2 per beta on held-out samples (fit the probe on others)."""
        features, betas = global_features(encoder, dataset, indices)
        return r2_scores(self.predict(features), betas)


def fit_beta_probe(encoder: ImageEncoderDecoder, dataset, indices, ridge: float = 1.0) -> BetaProbe:
    """The probe fit on the global features of `dataset[indices]` (`BetaProbe.fit`)."""
    return BetaProbe.fit(*global_features(encoder, dataset, indices), ridge=ridge)
