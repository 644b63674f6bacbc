"""ImgEnc pretraining: the encoder-decoder every image model uses, taught to see hands first.

The official code never trains ImgEnc from scratch: I, K and R start from IntagHand's ResNet
encoder-decoder pretrained on InterHand2.6M. The kit cannot download weights but makes exact
labels, so it pretrains the same `ImageEncoderDecoder` (the attribute `image_encoder` of I, K
and R) on dense targets of its own renders:

- side: per pixel background / right hand / left hand (the sample's `mask`);
- part: per pixel background or one of the 16 bones (the sample's `parts`, data v2);
- heatmaps: a Gaussian at each of the 42 projected keypoints;
- betas: the hand's shape coefficients, from the global feature (what keypoints do not show).

All four heads read the decoder's map (stride 2) or the pooled C5 feature; they are dropped when
the encoder moves into I, K or R.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..hand.joints import N_BONES
from .attention import project_points
from .image import (
    DeconvDecoderConfig,
    ImageEncoderDecoder,
    ResNetConfig,
    ResNetEncoder,
    fast_decoder,
    fast_resnet,
    paper_image_config,
)

N_SIDES = 3  # background, right hand, left hand
N_KEYPOINTS = 42


@dataclass(frozen=True)
class ImageEncoderConfig:
    resnet: ResNetConfig = field(default_factory=fast_resnet)
    decoder: DeconvDecoderConfig = field(default_factory=fast_decoder)
    n_betas: int = 4  # the data's shape coefficients (HandModel.shape_names)
    heatmap_sigma: float = 1.5  # Gaussian width in feature-map pixels (stride 2: 3 image pixels)
    # "mse": 100 x MSE to the Gaussians; "softmax": cross-entropy of each map's spatial softmax
    # against its normalised Gaussian (the estimator's soft-argmax reads heatmaps that way)
    heatmap_loss: str = "softmax"
    side_weight: float = 1.0
    part_weight: float = 1.0
    heatmap_weight: float = 0.5
    betas_weight: float = 1.0

    def __post_init__(self):
        if self.heatmap_loss not in ("mse", "softmax"):
            raise ValueError(f"heatmap_loss must be 'mse' or 'softmax', got {self.heatmap_loss!r}")
        if self.n_betas < 0 or self.heatmap_sigma <= 0:
            raise ValueError("n_betas must be >= 0 and heatmap_sigma > 0")
        if min(self.side_weight, self.part_weight, self.heatmap_weight, self.betas_weight) < 0:
            raise ValueError("loss weights must be >= 0")

    @classmethod
    def fast(cls, **overrides) -> ImageEncoderConfig:
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> ImageEncoderConfig:
        resnet, decoder, _ = paper_image_config()
        return cls(**{"resnet": resnet, "decoder": decoder, **overrides})


@dataclass
class ImageEncoderOutput:
    side_logits: Tensor  # (B, 3, h, w)
    part_logits: Tensor  # (B, 17, h, w): background, then the 16 bones
    heatmaps: Tensor  # (B, 42, h, w)
    betas: Tensor  # (B, n_betas)


class ImageEncoderPretrainer(nn.Module):
    """`image_encoder` (the ImgEnc that I, K and R hold) with the pretraining heads."""

    def __init__(self, config: ImageEncoderConfig = ImageEncoderConfig()):
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoderDecoder(config.resnet, config.decoder)
        width = self.image_encoder.out_channels
        self.side_head = nn.Conv2d(width, N_SIDES, 1)
        self.part_head = nn.Conv2d(width, 1 + N_BONES, 1)
        self.heatmap_head = nn.Conv2d(width, N_KEYPOINTS, 1)
        self.betas_head = nn.Linear(self.image_encoder.global_channels, config.n_betas)

    def forward(self, images: Tensor) -> ImageEncoderOutput:
        """images (B, 3, H, W) in [0, 1], H and W multiples of 32."""
        features = self.image_encoder(images)
        fmap = features.feature_map
        return ImageEncoderOutput(side_logits=self.side_head(fmap), part_logits=self.part_head(fmap),
                                  heatmaps=self.heatmap_head(fmap), betas=self.betas_head(features.global_feature))

    def predict(self, batch: dict[str, Tensor]) -> ImageEncoderOutput:
        return self(batch["image"])


def dense_targets(batch: dict[str, Tensor], stride: int, sigma: float) -> dict[str, Tensor]:
    """The pretraining targets of a data batch at the decoder's resolution (stride 2).

    side (B, h, w) long: 0 background, 1 right, 2 left; part (B, h, w) long: 0 background, else
    1 + bone; heatmaps (B, 42, h, w) in [0, 1]; betas (B, K) of the right hand (both hands of a
    kit sample share them); keypoint_pixels (B, 42, 2), the projected keypoints in image pixels. Labels are read at the centre pixel of each stride x stride cell."""
    missing = [key for key in ("mask", "parts", "betas") if key not in batch]
    if missing:
        raise ValueError(f"pretraining needs the batch's {missing}: only the kit's data v2 has them "
                         "(regenerate older caches)")
    mask, parts = batch["mask"], batch["parts"]
    height, width = mask.shape[-2:]
    if height % stride or width % stride:
        raise ValueError(f"image size {height}x{width} is not a multiple of the stride {stride}")
    centre = stride // 2
    mask_small = mask[:, centre::stride, centre::stride]
    parts_small = parts[:, centre::stride, centre::stride]
    side = torch.where(mask_small >= 0, mask_small + 1, torch.zeros_like(mask_small))
    part = torch.where((mask_small >= 0) & (parts_small >= 0), parts_small + 1, torch.zeros_like(parts_small))
    pixels, _ = project_points(batch["keypoints"], batch["K"], batch["R"], batch["t"])  # (B, 42, 2)
    centres = (pixels + 0.5) / stride - 0.5  # the same pixel-centre convention on the small map
    h, w = height // stride, width // stride
    ys = torch.arange(h, dtype=pixels.dtype, device=pixels.device)
    xs = torch.arange(w, dtype=pixels.dtype, device=pixels.device)
    dx = xs[None, None, None, :] - centres[..., 0, None, None]
    dy = ys[None, None, :, None] - centres[..., 1, None, None]
    heatmaps = torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma ** 2))
    return {"side": side.long(), "part": part.long(), "heatmaps": heatmaps, "betas": batch["betas"][:, 0],
            "keypoint_pixels": pixels}


def heatmap_loss(predicted: Tensor, target: Tensor, kind: str = "mse") -> Tensor:
    """predicted (B, J, h, w) maps (logits for "softmax") against target Gaussians in [0, 1]."""
    if kind == "mse":
        return 100.0 * F.mse_loss(predicted, target)
    flat_target = target.flatten(2)
    flat_target = flat_target / flat_target.sum(-1, keepdim=True).clamp(min=1e-6)  # keypoints off the crop: 0
    return -(flat_target * predicted.flatten(2).log_softmax(-1)).sum(-1).mean()


def image_encoder_loss(out: ImageEncoderOutput, targets: dict[str, Tensor],
                       config: ImageEncoderConfig) -> tuple[Tensor, dict[str, float]]:
    """Weighted sum of cross-entropy (side, part), the heatmap term (`heatmap_loss`; MSE x 100:
    peaks of 1 on a mostly empty map) and beta MSE; returns it and each term."""
    terms = {
        "side": F.cross_entropy(out.side_logits, targets["side"]),
        "part": F.cross_entropy(out.part_logits, targets["part"]),
        "heatmap": heatmap_loss(out.heatmaps, targets["heatmaps"], config.heatmap_loss),
        "betas": F.mse_loss(out.betas, targets["betas"]) if config.n_betas else out.betas.sum() * 0.0,
    }
    weights = {"side": config.side_weight, "part": config.part_weight, "heatmap": config.heatmap_weight,
               "betas": config.betas_weight}
    total = sum(weights[k] * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def pretrainable_encoder(model: nn.Module) -> nn.Module | None:
    """The module of `model` that starts from a pretrained ImgEnc: I's, K's and R's
    `image_encoder` (the whole encoder-decoder), the estimator's `backbone` (its ResNet); None for
    models without one (HALO, I without an image, K without image_cond)."""
    encoder = getattr(model, "image_encoder", None)
    if isinstance(model, ImageEncoderPretrainer):
        return None  # it is the pretraining itself
    if isinstance(encoder, ImageEncoderDecoder):
        return encoder
    backbone = getattr(model, "backbone", None)
    return backbone if isinstance(backbone, ResNetEncoder) else None


def load_pretrained_encoder(model: nn.Module, pretrained: ImageEncoderPretrainer, source: str = "") -> nn.Module:
    """Copy the pretrained ImgEnc weights into `model`'s encoder (`pretrainable_encoder`): all of
    the encoder-decoder for I, K and R, the ResNet for the estimator. The architectures must match
    exactly; returns the module that was loaded."""
    target = pretrainable_encoder(model)
    if target is None:
        raise ValueError(f"{type(model).__name__} has no image encoder to start from a pretrained one")
    encoder = pretrained.image_encoder
    if isinstance(target, ResNetEncoder):
        wanted, have = (target.config,), (encoder.encoder.config,)
        state = encoder.encoder.state_dict()
    else:
        wanted, have = (target.encoder.config, target.decoder.config), (encoder.encoder.config, encoder.decoder.config)
        state = encoder.state_dict()
    if wanted != have:
        raise ValueError(f"the pretrained encoder {source or ''} is {have}, the model needs {wanted}: pretrain one "
                         f"for this backbone (im2hands train --model encoder --profile ...) and pass "
                         f"--set encoder_checkpoint=<its final.pt>, or train from scratch with "
                         f"--set encoder_init=scratch".replace("  ", " "))
    target.load_state_dict(state)
    return target
