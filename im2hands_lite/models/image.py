"""Image networks of Im2Hands: a ResNet encoder, a deconvolution decoder and a patch ViT.

Supplementary S.3.1 of the paper:
  * ImgEnc (used by I for PIFu-style features, and by R for the feature cloud and z_I) is
    "a ResNet-50 architecture as an encoder and a CNN composed of four deconvolutional layers
    as a decoder". Here: `ResNetEncoder` -> `DeconvDecoder`, wrapped by `ImageEncoderDecoder`,
    which returns a dense feature map at 1/2 of the input resolution (32 channels: the official
    code samples 32-d features per point) and a global feature (average-pooled C5 = z_I).
  * The query-image attention of I and the keypoint-image attention of K use "features of
    8x8 image patches using an encoder of Vision Transformer". Here: `PatchViT`, which cuts
    the image into grid x grid patches (the official code uses a 4x4 grid; `ViTConfig.grid`).

Where the official code differs (read from it; it builds on IntagHand's modules): ImgEnc is a
pretrained ResNet-50 whose decoder stops at 1/4 (a 64x64, 32-channel map for 256x256 crops;
here `DeconvDecoderConfig(n_layers=3)`), and I's "ViT" patchifies that feature map, not the
RGB image: a 16x16-stride conv to a 4x4 grid of 32-d tokens + learned positions + one
self-attention layer (here `ViTConfig(image_size=64, grid=4, in_channels=32, normalize=False)`).

Everything is written out with plain torch.nn (no torchvision, no pretrained weights). The
ResNet has exactly torchvision's layer shapes (resnet18 / 34 / 50 at width 64 have the same
parameter counts), so a standard checkpoint could be loaded later with a key rename.

Shapes: images are (B, 3, H, W) float in [0, 1]. Stage features C2..C5 are at strides
4, 8, 16, 32. The encoder-decoder needs H and W divisible by 32; the ViT needs a square image
whose side is a multiple of the patch size.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

# ImageNet statistics (RGB). Normalising inside the network means callers always pass plain
# [0, 1] images, and that standard ImageNet weights, which expect exactly this normalisation,
# can be dropped in later without touching any data code.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------- validation

def check_image(image: Tensor, channels: int = 3, *, multiple_of: int = 1, square: bool = False,
                name: str = "image", unit_range: bool = True) -> None:
    """Raise ValueError naming the problem unless `image` is a finite (B, channels, H, W) float,
    with values in [0, 1] when `unit_range` (an image; a feature map may hold any values)."""
    if not isinstance(image, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 4:
        raise ValueError(f"{name} must be 4D (B, C, H, W), got shape {tuple(image.shape)}")
    if image.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels (B, {channels}, H, W), "
                         f"got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(f"{name} must be a float tensor with values in [0, 1], got {image.dtype}")
    h, w = image.shape[-2:]
    if square and h != w:
        raise ValueError(f"{name} must be square (H == W), got H={h}, W={w}")
    if h % multiple_of or w % multiple_of:
        raise ValueError(f"{name} height and width must be multiples of {multiple_of}, "
                         f"got H={h}, W={w}")
    if not torch.isfinite(image).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if unit_range and image.numel():
        # 0-255 floats would otherwise pass unnoticed, as a saturated image
        low, high = image.min().item(), image.max().item()
        if low < 0 or high > 1:
            raise ValueError(f"{name} must hold values in [0, 1], got [{low:.4g}, {high:.4g}] "
                             "(divide 0-255 images by 255)")


class Normalize(nn.Module):
    """(x - mean) / std per channel, with the statistics stored as (non-trained) buffers."""

    def __init__(self, channels: int = 3):
        super().__init__()
        if channels == 3:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        else:  # no standard statistics: centre [0, 1] inputs with an ImageNet-like scale
            mean, std = (0.45,) * channels, (0.225,) * channels
        self.register_buffer("mean", torch.tensor(mean).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


# ----------------------------------------------------------------------------- ResNet

NORMS = ("batch", "group")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm2d, or GroupNorm with groups of 8 channels (at most 32 groups): the same
    weight / bias names, no batch statistics, so it behaves alike at any batch size."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(max(1, min(32, channels // 8)), channels)


@dataclass(frozen=True)
class ResNetConfig:
    depth: int = 50  # 10 | 18 | 34 | 50
    width: int = 64  # channels of the stem and of stage 1's 3x3 convs (torchvision: 64)
    in_channels: int = 3
    norm: str = "batch"  # or "group" (see norm_layer)

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.depth not in RESNET_LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_LAYOUTS)}, "
                             f"got {self.depth}")
        if self.width < 1 or self.in_channels < 1:
            raise ValueError("width and in_channels must be positive")


def _shortcut(in_planes: int, out_planes: int, stride: int, norm: str) -> nn.Module:
    """Identity when shapes match, else a strided 1x1 conv + norm (torchvision's 'option B')."""
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False),
                         norm_layer(norm, out_planes))


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-10/18/34). Output channels = planes."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, norm: str = "batch"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(norm, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(norm, planes)
        self.downsample = _shortcut(in_planes, planes, stride, norm)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.downsample(x))

    def last_bn(self) -> nn.Module:
        return self.bn2


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride, "ResNet v1.5" as torchvision) -> 1x1 expand x4."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, norm: str = "batch"):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = norm_layer(norm, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = norm_layer(norm, planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = norm_layer(norm, out_planes)
        self.downsample = _shortcut(in_planes, out_planes, stride, norm)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.downsample(x))

    def last_bn(self) -> nn.Module:
        return self.bn3


# depth -> (block type, blocks per stage)
RESNET_LAYOUTS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    10: (BasicBlock, (1, 1, 1, 1)),  # not in torchvision: a tiny option for the fast profile
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


class ResNetEncoder(nn.Module):
    """ResNet without its classifier: image (B, C, H, W) in [0, 1] -> [C2, C3, C4, C5].

    C2..C5 have strides 4, 8, 16, 32 and `out_channels[i]` channels
    (width * (1, 2, 4, 8) * block expansion).
    """

    def __init__(self, config: ResNetConfig = ResNetConfig()):
        super().__init__()
        self.config = config
        block, counts = RESNET_LAYOUTS[config.depth]
        w = config.width
        self.normalize = Normalize(config.in_channels)
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, w, 7, 2, 3, bias=False),
            norm_layer(config.norm, w),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, in_planes = [], w
        for i, (n_blocks, stride) in enumerate(zip(counts, (1, 2, 2, 2))):
            planes = w * 2 ** i
            blocks = [block(in_planes, planes, stride, config.norm)]
            in_planes = planes * block.expansion
            blocks += [block(in_planes, planes, norm=config.norm) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.out_channels: tuple[int, ...] = tuple(w * 2 ** i * block.expansion for i in range(4))
        self.strides: tuple[int, ...] = (4, 8, 16, 32)
        self._init_weights()

    def forward(self, image: Tensor) -> list[Tensor]:
        check_image(image, self.config.in_channels)
        x = self.stem(self.normalize(image))
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero the last BN's scale in every residual branch: each block starts as the identity,
        # so the untrained network is effectively shallow and trains faster and more stably
        # (Goyal et al. 2017, "Accurate, large minibatch SGD"; torchvision's zero_init_residual).
        for m in self.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                nn.init.zeros_(m.last_bn().weight)


# ----------------------------------------------------------------------------- decoder

@dataclass(frozen=True)
class DeconvDecoderConfig:
    out_channels: int = 32  # feature width per pixel (official code: 32-d per point)
    hidden: int = 256
    n_layers: int = 4  # each doubles the resolution: 1/32 -> 1/2 with 4 layers (official: 1/4)
    norm: str = "batch"  # or "group" (see norm_layer)
    # add each encoder stage (C4, C3, C2) through a 1x1 conv after the layer that reaches its
    # resolution (a U-Net's skips): the fine stages localise; C5 alone at 4x4 cells does not
    skips: bool = False

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not 1 <= self.n_layers <= 5:
            raise ValueError(f"n_layers must be in 1..5 (1/32 up to at most 1/1), "
                             f"got {self.n_layers}")
        if self.out_channels < 1 or self.hidden < 1:
            raise ValueError("out_channels and hidden must be positive")

    @property
    def output_stride(self) -> int:
        """Input pixels per output pixel: 32 / 2**n_layers (2 for the default 4 layers)."""
        return 32 // 2 ** self.n_layers


class DeconvDecoder(nn.Module):
    """C5 (B, in_channels, H/32, W/32) -> (B, out_channels, H/2, W/2) with 4 default layers.

    Each layer is ConvTranspose2d(kernel 4, stride 2, padding 1) + BN + ReLU, which exactly
    doubles the size; a final 1x1 conv (with bias, no activation) maps to out_channels. With
    `config.skips`, `skip_channels` are the widths of the finer stages, coarsest first (C4, C3,
    C2), and each is added through a 1x1 conv after the layer that reaches its resolution.
    """

    def __init__(self, in_channels: int, config: DeconvDecoderConfig = DeconvDecoderConfig(),
                 skip_channels: tuple[int, ...] = ()):
        super().__init__()
        self.config, self.in_channels = config, in_channels
        if config.skips and not skip_channels:
            raise ValueError("a decoder with skips needs the encoder stages' widths (skip_channels)")
        layers, c = [], in_channels
        for _ in range(config.n_layers):
            layers += [nn.ConvTranspose2d(c, config.hidden, 4, 2, 1, bias=False),
                       norm_layer(config.norm, config.hidden), nn.ReLU(inplace=True)]
            c = config.hidden
        self.layers = nn.Sequential(*layers)  # flat, as checkpoints from before skips hold it
        used = skip_channels[:config.n_layers] if config.skips else ()
        self.laterals = nn.ModuleList(nn.Conv2d(width, config.hidden, 1) for width in used)
        self.head = nn.Conv2d(c, config.out_channels, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for lateral in self.laterals:
            nn.init.zeros_(lateral.bias)
        nn.init.zeros_(self.head.bias)

    def forward(self, c5: Tensor, skips: list[Tensor] | tuple[Tensor, ...] = ()) -> Tensor:
        """c5 and, with skips, the finer stages coarsest first (C4, C3, C2)."""
        if c5.dim() != 4 or c5.shape[1] != self.in_channels:
            raise ValueError(f"decoder input must be (B, {self.in_channels}, h, w), "
                             f"got {tuple(c5.shape)}")
        if len(skips) < len(self.laterals):
            raise ValueError(f"this decoder adds {len(self.laterals)} encoder stages, got {len(skips)}")
        x = c5
        for i in range(self.config.n_layers):
            x = self.layers[3 * i:3 * i + 3](x)  # deconv, norm, ReLU
            if i < len(self.laterals):
                x = x + self.laterals[i](skips[i])
        return self.head(x)


# ----------------------------------------------------------------------------- encoder-decoder

@dataclass
class ImageFeatures:
    feature_map: Tensor  # (B, decoder.out_channels, H / s, W / s), s = decoder output_stride (2)
    global_feature: Tensor  # (B, C5): average-pooled C5, the z_I of the refinement network R


class ImageEncoderDecoder(nn.Module):
    """ImgEnc of Im2Hands: ResNet encoder + deconvolution decoder (+ a global feature)."""

    def __init__(self, resnet: ResNetConfig = ResNetConfig(),
                 decoder: DeconvDecoderConfig = DeconvDecoderConfig()):
        super().__init__()
        self.encoder = ResNetEncoder(resnet)
        self.decoder = DeconvDecoder(self.encoder.out_channels[-1], decoder,
                                     skip_channels=self.encoder.out_channels[-2::-1])
        self.out_channels = decoder.out_channels  # width of feature_map
        self.global_channels = self.encoder.out_channels[-1]  # width of global_feature
        self.output_stride = decoder.output_stride

    def forward(self, image: Tensor) -> ImageFeatures:
        # multiples of 32 so that 1/32 upsampled by 2**n_layers lands exactly on H / stride
        check_image(image, self.encoder.config.in_channels, multiple_of=32)
        stages = self.encoder(image)
        c5 = stages[-1]
        return ImageFeatures(feature_map=self.decoder(c5, stages[-2::-1]), global_feature=c5.mean(dim=(2, 3)))


# ----------------------------------------------------------------------------- ViT

@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 256
    grid: int = 8  # patches per side: the paper says 8x8 patches, the official code a 4x4 grid
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.0
    # The input: an RGB image (3 channels, normalised with ImageNet statistics) by default. The
    # official code instead patchifies ImgEnc's decoder feature map (32 channels, 64x64, a 4x4
    # grid); for that use in_channels=32, normalize=False, image_size=64, grid=4.
    in_channels: int = 3
    normalize: bool = True

    def __post_init__(self):
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {self.in_channels}")
        if self.grid < 1 or self.image_size % self.grid:
            raise ValueError(f"image_size ({self.image_size}) must be divisible by "
                             f"grid ({self.grid})")
        if self.heads < 1 or self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.depth < 0 or self.mlp_ratio <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("need depth >= 0, mlp_ratio > 0 and dropout in [0, 1)")

    @property
    def patch_size(self) -> int:
        return self.image_size // self.grid

    @property
    def n_tokens(self) -> int:
        return self.grid * self.grid


class SelfAttention(nn.Module):
    """Multi-head self-attention: one qkv projection, softmax(q k^T / sqrt(d)) v per head."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        # (B, N, 3D) -> 3 x (B, heads, N, D / heads)
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        y = y.transpose(1, 2).reshape(b, n, d)  # heads side by side again
        return self.proj_drop(self.proj(y))

    def weights(self, x: Tensor) -> Tensor:
        """(B, heads, N, N) softmax(q k^T / sqrt(d)): the attention of every row, for plots."""
        b, n, d = x.shape
        q, k, _ = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return (q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)).softmax(dim=-1)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + MSA(LN(x)), then x + MLP(LN(x)) with a GELU MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def attention_weights(self, x: Tensor) -> Tensor:
        """(B, heads, N, N) attention weights of this block's MSA on input x."""
        return self.attn.weights(self.norm1(x))


class PatchViT(nn.Module):
    """ViT encoder of image patches: image (B, 3, S, S) in [0, 1] -> tokens (B, grid**2, dim).

    (Or of a feature map (B, in_channels, S, S), see ViTConfig.in_channels.)

    Tokens are in row-major patch order (token r * grid + c covers patch row r, column c).
    There is no class token: the consumers (query-image attention in I, keypoint-image
    attention in K) attend to the patch tokens themselves and never need one summary vector.

    Other square sizes: an image whose side S is a multiple of the patch size gives
    (S / patch)**2 tokens; the learned position embeddings are resized bilinearly to that
    grid (as when fine-tuning a ViT at a new resolution). Non-square images raise ValueError.
    """

    def __init__(self, config: ViTConfig = ViTConfig()):
        super().__init__()
        self.config = config
        c = config
        self.normalize = Normalize(c.in_channels) if c.normalize else nn.Identity()
        self.patch_embed = nn.Conv2d(c.in_channels, c.dim, c.patch_size, stride=c.patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, c.n_tokens, c.dim))
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            [TransformerBlock(c.dim, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.depth)])
        self.norm = nn.LayerNorm(c.dim)
        self._init_weights()

    def forward(self, image: Tensor) -> Tensor:
        check_image(image, self.config.in_channels, multiple_of=self.config.patch_size, square=True,
                    unit_range=self.config.normalize)  # normalize=False: it reads a feature map
        x = self.patch_embed(self.normalize(image))  # (B, dim, grid, grid)
        grid = x.shape[-1]
        x = x.flatten(2).transpose(1, 2)  # (B, grid**2, dim), row-major
        x = self.drop(x + self.position_embedding(grid))
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        # the patch embedding is a linear map of flattened patches: init it like a Linear
        w = self.patch_embed.weight
        nn.init.trunc_normal_(w, std=math.sqrt(1.0 / w[0].numel()))
        nn.init.zeros_(self.patch_embed.bias)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def position_embedding(self, grid: int) -> Tensor:
        """(1, grid**2, dim): the learned embeddings, bilinearly resized if grid differs."""
        g = self.config.grid
        if grid == g:
            return self.pos_embed
        pe = self.pos_embed.reshape(1, g, g, -1).permute(0, 3, 1, 2)  # (1, dim, g, g)
        pe = F.interpolate(pe, size=(grid, grid), mode="bilinear", align_corners=False)
        return pe.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)


# ----------------------------------------------------------------------------- presets

def fast_image_config() -> tuple[ResNetConfig, DeconvDecoderConfig, ViTConfig]:
    """CPU profile: a ResNet-10 at quarter width, a narrow decoder, 128x128 images, a small ViT.

    ~0.6 M image parameters (a 2.5 MB checkpoint); forward+backward of 4 images in ~0.1 s on
    one core (ResNet-18 at half width: 3.3 M, ~0.16 s).
    """
    return (ResNetConfig(depth=10, width=16),
            DeconvDecoderConfig(out_channels=32, hidden=32, skips=True),
            ViTConfig(image_size=128, grid=8, dim=64, depth=2, heads=4))


def vit_on_feature_map(vit: ViTConfig, decoder: DeconvDecoderConfig, image_size: int) -> ViTConfig:
    """The same ViT, re-targeted to read the decoder's feature map of an image_size crop (the
    official I: tokens from ImgEnc's map, so the attention trains the image encoder too)."""
    if image_size % decoder.output_stride:
        raise ValueError(f"image_size {image_size} is not a multiple of the decoder's output "
                         f"stride {decoder.output_stride}")
    return dataclasses.replace(vit, image_size=image_size // decoder.output_stride,
                               in_channels=decoder.out_channels, normalize=False)


def fast_resnet() -> ResNetConfig:
    """The fast preset's ResNet (a dataclass default_factory for the model configs)."""
    return fast_image_config()[0]


def fast_decoder() -> DeconvDecoderConfig:
    """The fast preset's deconvolution decoder."""
    return fast_image_config()[1]


def fast_feature_map_vit() -> ViTConfig:
    """The fast preset's ViT, reading the decoder's map of a 128x128 crop (I and K)."""
    _, decoder, vit = fast_image_config()
    return vit_on_feature_map(vit, decoder, vit.image_size)


def paper_image_config() -> tuple[ResNetConfig, DeconvDecoderConfig, ViTConfig]:
    """The paper's image networks: ResNet-50, a 4-layer deconv decoder to 32-d, 256x256 crops.

    The ViT's width/depth/heads are our choice: the paper only says "an encoder of Vision
    Transformer" on 8x8 patches. The decoder's 256 hidden channels are also ours.
    """
    return (ResNetConfig(depth=50, width=64),
            DeconvDecoderConfig(out_channels=32, hidden=256, n_layers=4),
            ViTConfig(image_size=256, grid=8, dim=128, depth=4, heads=4))
