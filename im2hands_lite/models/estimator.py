"""A small image -> 3D keypoint estimator: the kit's stand-in for DIGIT.

The paper feeds K with keypoints that DIGIT predicts from the image. DIGIT is not available
here, so the kit trains its own, small estimator on its own data, making the pipeline
image-only: image -> estimator -> K -> I (-> R). It is a plain design, not a competitor:

    image ─► ResNet ─► C2..C5 ─► FPN-style top-down merge ─► feature map (64, H/4, W/4)
          ├► 1x1 conv ─► 42 heatmaps ─► soft-argmax ─► (u, v) per joint, pixels
          ├► 1x1 conv ─► 42 depth maps, read under each heatmap ─► depth relative to the
          │                                                       two-hand centre (metres)
          └► pooled C5 ─► MLP ─► log(z_centre / f): the centre's depth over the focal
                                 length, which the crop's apparent hand size fixes

and with the camera intrinsics K: X_j = z_j K^-1 (u_j, v_j, 1), z_j = z_centre + dz_j.
Integral (soft-argmax) regression keeps everything differentiable (Sun et al., "Integral
Human Pose Regression", ECCV 2018). The top-down merge with lateral 1x1 convolutions (as in
feature pyramid networks) gives the heatmaps the fine stages' resolution; ImgEnc's decoder,
which starts from C5 alone, is a poorer localiser. The crop's focal length enters only
through K, so the network needs no camera input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..hand.joints import N_JOINTS
from .image import ResNetConfig, ResNetEncoder, check_image, fast_resnet, paper_image_config

N_KEYPOINTS = 2 * N_JOINTS
DEPTH_SCALE = 10.0  # network depth units per metre (relative depths of +-0.15 m -> +-1.5)
# Initial log(z_centre / f): a crop framed on two hands puts them ~0.2 m wide at ~100 px, so
# z / f ~ 0.002 (the kit's generator: mean -6.13, std 0.09). Starting there instead of at 0
# spares the first hundred steps of a loss dominated by this one number.
LOG_DEPTH_OVER_FOCAL_INIT = -6.1


def _estimator_resnet() -> ResNetConfig:
    return fast_resnet()  # ImgEnc's ResNet, so that it starts from the pretrained encoder


@dataclass(frozen=True)
class EstimatorConfig:
    resnet: ResNetConfig = field(default_factory=_estimator_resnet)
    width: int = 64  # channels of the merged feature map
    root_hidden: int = 128
    # loss weights, set so that a 1 cm error costs about 0.1 in each term (a 128 px crop
    # shows ~2 mm per pixel; the centre sits ~0.5 m away): (u, v) in image widths, ...
    uv_weight: float = 2.5
    depth_weight: float = 1.0  # ... relative depth in decimetres, ...
    root_weight: float = 5.0  # ... and log(z_centre / f)

    @classmethod
    def fast(cls, **overrides) -> "EstimatorConfig":
        """CPU preset: ImgEnc's fast ResNet (a ResNet-10 at quarter width; the defaults)."""
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> "EstimatorConfig":
        """The paper's backbone (ResNet-50) on 256x256 crops."""
        return cls(**{"resnet": paper_image_config()[0]} | overrides)


@dataclass
class EstimatorOutput:
    keypoints_cam: Tensor  # (B, 42, 3) camera frame, metres
    uv: Tensor  # (B, 42, 2) pixels of the input image
    relative_depth: Tensor  # (B, 42) metres, relative to the two-hand centre's depth
    log_depth_over_focal: Tensor  # (B,) log(z_centre / f_x)
    heatmaps: Tensor  # (B, 42, h, w) softmax-normalised


def soft_argmax(logits: Tensor) -> tuple[Tensor, Tensor]:
    """Heatmap logits (B, J, h, w) -> (expected (x, y) in map pixels (B, J, 2), probabilities)."""
    b, j, h, w = logits.shape
    prob = logits.flatten(2).softmax(dim=-1).view(b, j, h, w)
    xs = torch.arange(w, dtype=prob.dtype, device=prob.device)
    ys = torch.arange(h, dtype=prob.dtype, device=prob.device)
    x = (prob.sum(dim=2) * xs).sum(dim=-1)
    y = (prob.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1), prob


def lift_to_camera(uv: Tensor, relative_depth: Tensor, log_depth_over_focal: Tensor, K: Tensor) -> Tensor:
    """Camera-frame points (B, J, 3) from pixels (B, J, 2), depths relative to the centre (B, J)
    and log(z_centre / f_x) (B,): z_j = z_centre + dz_j, X_j = z_j K^-1 (u_j, v_j, 1)."""
    z = (log_depth_over_focal.exp() * K[:, 0, 0])[:, None] + relative_depth
    xy = (uv - K[:, None, :2, 2]) / torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None]
    return torch.cat([xy * z[..., None], z[..., None]], dim=-1)


class KeypointEstimator(nn.Module):
    """Image (B, 3, H, W) + intrinsics K (B, 3, 3) -> 42 camera-frame keypoints."""

    def __init__(self, config: EstimatorConfig = EstimatorConfig()):
        super().__init__()
        self.config = config
        self.backbone = ResNetEncoder(config.resnet)
        stages, w = self.backbone.out_channels, config.width
        self.lateral = nn.ModuleList(nn.Conv2d(c, w, 1) for c in stages)
        self.smooth = nn.Sequential(nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.heatmap_head = nn.Conv2d(w, N_KEYPOINTS, 1)
        self.depth_head = nn.Conv2d(w, N_KEYPOINTS, 1)
        self.root_head = nn.Sequential(nn.Linear(stages[-1], config.root_hidden), nn.ReLU(),
                                       nn.Linear(config.root_hidden, 1))
        nn.init.constant_(self.root_head[-1].bias, LOG_DEPTH_OVER_FOCAL_INIT)

    def forward(self, image: Tensor, K: Tensor) -> EstimatorOutput:
        check_image(image, multiple_of=32)
        if K.shape != (image.shape[0], 3, 3):
            raise ValueError(f"K must be (B, 3, 3) with B = {image.shape[0]}, got {tuple(K.shape)}")
        stages = self.backbone(image)  # C2..C5 at strides 4..32
        fmap = self.lateral[-1](stages[-1])
        for lateral, stage in zip(self.lateral[-2::-1], stages[-2::-1]):  # top-down: C4, C3, C2
            fmap = F.interpolate(fmap, size=stage.shape[-2:], mode="nearest") + lateral(stage)
        fmap = self.smooth(fmap)  # (B, width, H/4, W/4)
        xy_map, prob = soft_argmax(self.heatmap_head(fmap))
        stride = image.shape[-1] / fmap.shape[-1]
        uv = (xy_map + 0.5) * stride - 0.5  # pixel-centre convention of the camera module
        relative_depth = (prob * self.depth_head(fmap)).sum(dim=(2, 3)) / DEPTH_SCALE
        log_ratio = self.root_head(stages[-1].mean(dim=(2, 3))).squeeze(-1)
        cam = lift_to_camera(uv, relative_depth, log_ratio, K)
        return EstimatorOutput(cam, uv, relative_depth, log_ratio, prob)

    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """World keypoints (B, 42, 3) of a data batch (image, K, R, t)."""
        out = self(batch["image"], batch["K"])
        return (out.keypoints_cam - batch["t"][:, None]) @ batch["R"]

    def image_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(none besides the backbone; the ResNet backbone): a pretrained one fine-tunes slower."""
        return [], list(self.backbone.parameters())


def estimator_targets(keypoints: Tensor, K: Tensor, R: Tensor, t: Tensor) -> dict[str, Tensor]:
    """What the estimator regresses, from world keypoints (B, 42, 3) and the camera."""
    cam = keypoints @ R.transpose(1, 2) + t[:, None]
    z = cam[..., 2]
    centre = z.mean(dim=1)
    uv = cam[..., :2] / z[..., None] * torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None] + K[:, None, :2, 2]
    return {"uv": uv, "relative_depth": z - centre[:, None],
            "log_depth_over_focal": torch.log(centre / K[:, 0, 0])}


def estimator_loss(out: EstimatorOutput, targets: dict[str, Tensor], image_width: int,
                   config: EstimatorConfig = EstimatorConfig()) -> Tensor:
    """L1 losses on (u, v) / W, relative depth in decimetres and log(z / f)."""
    uv = F.l1_loss(out.uv / image_width, targets["uv"] / image_width)
    depth = F.l1_loss(out.relative_depth * DEPTH_SCALE, targets["relative_depth"] * DEPTH_SCALE)
    root = F.l1_loss(out.log_depth_over_focal, targets["log_depth_over_focal"])
    return config.uv_weight * uv + config.depth_weight * depth + config.root_weight * root

