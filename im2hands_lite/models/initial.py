"""I: Im2Hands' initial hand occupancy network = HALO + image conditioning.

`image_cond` picks the variant of Tables S1/S2:
- "attention": query-image attention over ViT patch tokens (I, the paper's model);
- "pixel_aligned": PIFu-style bilinear sampling of the decoder feature map at the query's
  projection (I - QueryImageAtt);
- "none": plain HALO (I - ImageCond).
Hands are flattened as in `stack_hands` (row 2i right, 2i+1 left of sample i); each hand
looks up its sample's image features with `sample_index`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .attention import (
    QueryAttentionConfig,
    QueryImageAttention,
    project_points,
    sample_pixel_aligned,
)
from .halo import HaloConfig, HaloModel, HaloOutput, stack_hands
from .image import (
    DeconvDecoderConfig,
    ImageEncoderDecoder,
    PatchViT,
    ResNetConfig,
    ViTConfig,
    check_image,
    fast_decoder,
    fast_feature_map_vit,
    fast_resnet,
    paper_image_config,
    vit_on_feature_map,
)

IMAGE_CONDITIONS = ("attention", "pixel_aligned", "none")
VIT_INPUTS = ("feature_map", "image")
FEATURE_NORMS = ("none", "layer")

@dataclass(frozen=True)
class InitialConfig:
    image_cond: str = "attention"
    halo: HaloConfig = field(default_factory=HaloConfig)
    resnet: ResNetConfig = field(default_factory=fast_resnet)
    decoder: DeconvDecoderConfig = field(default_factory=fast_decoder)
    vit: ViTConfig = field(default_factory=fast_feature_map_vit)
    attention: QueryAttentionConfig = field(default_factory=QueryAttentionConfig)
    # What the attention variant's ViT patchifies: the ImgEnc decoder's feature map (the
    # official code; the image encoder then learns through the attention) or the RGB image.
    vit_input: str = "feature_map"
    # "layer": LayerNorm (no affine) over each query's image feature before HALO, so that the
    # feature enters HALO at unit scale whatever the encoder's output scale (docs/DECISIONS.md)
    feature_norm: str = "layer"

    def __post_init__(self):
        if self.feature_norm not in FEATURE_NORMS:
            raise ValueError(f"feature_norm must be one of {FEATURE_NORMS}, got {self.feature_norm!r}")
        if self.image_cond not in IMAGE_CONDITIONS:
            raise ValueError(f"image_cond must be one of {IMAGE_CONDITIONS}, got {self.image_cond!r}")
        if self.vit_input not in VIT_INPUTS:
            raise ValueError(f"vit_input must be one of {VIT_INPUTS}, got {self.vit_input!r}")
        if self.image_cond == "attention":
            wanted = self.decoder.out_channels if self.vit_input == "feature_map" else 3
            if self.vit.in_channels != wanted:
                hint = (" (build it with image.vit_on_feature_map(vit, decoder, image_size))"
                        if self.vit_input == "feature_map" else "")
                raise ValueError(f"vit_input={self.vit_input!r} needs vit.in_channels == {wanted}, "
                                 f"got {self.vit.in_channels}{hint}")

    @classmethod
    def fast(cls, **overrides) -> "InitialConfig":
        """CPU preset: a ResNet-10 at quarter width on 128x128 crops (the defaults)."""
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> "InitialConfig":
        """The paper's image networks (ResNet-50, 256x256 crops, ViT over the decoder map)."""
        resnet, decoder, vit = paper_image_config()
        vit_input = overrides.get("vit_input", "feature_map")
        if vit_input == "feature_map":
            vit = vit_on_feature_map(vit, decoder, vit.image_size)
        return cls(**{"resnet": resnet, "decoder": decoder, "vit": vit} | overrides)

    @property
    def feature_dim(self) -> int:
        """Width of the per-query image feature that enters HALO."""
        return {"attention": self.attention.feature_dim, "pixel_aligned": self.decoder.out_channels,
                "none": 0}[self.image_cond]


@dataclass
class ImageContext:
    """What one image contributes (computed once per image, shared by both hands)."""

    feature_map: Tensor | None  # (S, C, H/2, W/2) decoder features (pixel-aligned; R later)
    global_feature: Tensor | None  # (S, C5) z_I
    tokens: Tensor | None  # (S, T, D) ViT patch tokens
    image_size: tuple[int, int]


@dataclass
class InitialOutput(HaloOutput):
    attention: Tensor | None = None  # (B, heads, N, T) when requested


class InitialOccupancyNet(nn.Module):
    """I: occupancy of world queries given keypoints, the image and its camera."""

    def __init__(self, config: InitialConfig = InitialConfig()):
        super().__init__()
        self.config = config
        self.halo = HaloModel(dataclasses.replace(config.halo, image_feature_dim=config.feature_dim))
        self.image_encoder = None
        self.vit = None
        self.query_attention = None
        if config.image_cond != "none":
            self.image_encoder = ImageEncoderDecoder(config.resnet, config.decoder)
        if config.image_cond == "attention":
            self.vit = PatchViT(config.vit)
            self.query_attention = QueryImageAttention(config.vit.dim, config.attention)
        self.feature_norm = (nn.LayerNorm(config.feature_dim, elementwise_affine=False)
                             if config.feature_norm == "layer" and config.feature_dim else nn.Identity())

    def forward(self, queries: Tensor, keypoints: Tensor, is_left: Tensor, context: ImageContext,
                sample_index: Tensor, K: Tensor, R: Tensor, t: Tensor, root: Tensor,
                return_attention: bool = False, frames=None) -> InitialOutput:
        """queries (B, N, 3) world; keypoints (B, 21, 3); is_left (B,); sample_index (B,) long into
        the image batch; K, R, t: the images' cameras (S, ...); root (B, 3) world two-hand centre."""
        features, weights = self.image_features(queries, context, sample_index, K, R, t, root,
                                                return_attention)
        out = self.halo(queries, keypoints, is_left, image_features=features, frames=frames)
        return InitialOutput(occupancy=out.occupancy, part_logits=out.part_logits,
                             frames=out.frames, attention=weights)

    def image_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(what I adds to HALO besides the encoder-decoder: ViT, attention, the layer that reads
        the feature; the encoder-decoder): the optimiser may give them their own learning rates."""
        image = [p for module in (self.vit, self.query_attention, self.halo.image_in) if module is not None
                 for p in module.parameters()]
        encoder = list(self.image_encoder.parameters()) if self.image_encoder is not None else []
        return image, encoder

    def encode_image(self, images: Tensor) -> ImageContext:
        """images (S, 3, H, W) in [0, 1]."""
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (S, 3, H, W), got {tuple(getattr(images, 'shape', ()))}")
        if self.image_encoder is not None:  # checked here so errors name the image, not a feature map
            check_image(images, multiple_of=32, square=self.vit is not None, name="images")
        size = (images.shape[-2], images.shape[-1])
        if self.config.image_cond == "none":
            return ImageContext(None, None, None, size)
        features = self.image_encoder(images)
        tokens = None
        if self.vit is not None:
            tokens = self.vit(features.feature_map if self.config.vit_input == "feature_map" else images)
        return ImageContext(features.feature_map, features.global_feature, tokens, size)

    def image_features(self, queries: Tensor, context: ImageContext, sample_index: Tensor,
                       K: Tensor, R: Tensor, t: Tensor, root: Tensor,
                       return_attention: bool = False) -> tuple[Tensor | None, Tensor | None]:
        """Per-query image features (B, N, F) for hands whose image is `sample_index` (B,)."""
        if self.config.image_cond == "none":
            return None, None
        pixels, cam = project_points(queries, K[sample_index], R[sample_index], t[sample_index])
        if self.config.image_cond == "pixel_aligned":
            features = sample_pixel_aligned(context.feature_map[sample_index], pixels, context.image_size)
            return self.feature_norm(features), None
        root_cam = (R[sample_index] @ root[:, :, None]).squeeze(-1) + t[sample_index]
        out = self.query_attention(cam - root_cam[:, None], context.tokens[sample_index],
                                   return_weights=return_attention)
        return self.feature_norm(out.features), out.weights

    def predict(self, batch: dict[str, Tensor], return_attention: bool = False) -> InitialOutput:
        """Both hands of a data batch (image, K, R, t, keypoints (S, 42, 3), queries
        (S, 2, N, 3)) -> rows 2s (right) and 2s + 1 (left), as `stack_hands` orders them."""
        keypoints, queries, is_left = stack_hands(batch["keypoints"], batch["queries"])
        context = self.encode_image(batch["image"])
        if batch["image"].shape[0] != batch["keypoints"].shape[0]:
            raise ValueError(f"batch holds {batch['image'].shape[0]} images but "
                             f"{batch['keypoints'].shape[0]} keypoint sets")
        sample_index = torch.arange(batch["image"].shape[0], device=queries.device).repeat_interleave(2)
        root = batch["keypoints"].mean(dim=1)[sample_index]  # the two-hand centre
        return self(queries, keypoints, is_left, context, sample_index, batch["K"], batch["R"],
                    batch["t"], root, return_attention=return_attention)

    def occupancy_function(self, item: dict[str, Tensor], hand: int):
        """fn(points (N, 3) world) -> (N,) occupancy of one hand (0 right, 1 left) of one
        unbatched data item; the image is encoded and the keypoints canonicalised once."""
        device = next(self.parameters()).device
        one = {key: item[key][None].to(device) for key in ("image", "K", "R", "t", "keypoints")}
        keypoints = one["keypoints"][:, 21 * hand:21 * hand + 21]
        left = torch.tensor([hand == 1], device=device)
        root = one["keypoints"].mean(dim=1)
        context = self.encode_image(one["image"])
        frames = self.halo.frames(keypoints, left)
        index = torch.zeros(1, dtype=torch.long, device=device)

        def occupancy(points: Tensor) -> Tensor:
            return self(points[None].to(device), keypoints, left, context, index, one["K"], one["R"],
                        one["t"], root, frames=frames).occupancy[0]
        return occupancy
