"""Im2Hands' query-image attention, and the PIFu-style pixel-aligned alternative.

Query-image attention (Eq. 3 of the paper): each 3D query x is embedded by PosEnc, a shared
per-point MLP (3 -> 32 -> 16, ReLU, dropout 0.01; Conv1d in the official code), and attends
with multi-head attention (2 heads) to the image's patch tokens (ViT). The result is the
query's image feature, which HALO concatenates after the first layer of every part MLP.

Pixel-aligned features (the "I - QueryImageAtt" ablation): project x with the camera and
bilinearly sample the decoder's feature map there, as PIFu does.

Queries enter both in the camera frame (never mirrored): the image is not mirrored for left
hands, so the image feature of a point is the same whichever hand asks (docs/DECISIONS.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn import functional as F

from ..geometry.camera import pixels_to_grid_sample_coords

# Root-relative camera-frame metres -> PosEnc input. Hands reach about +-0.15 m from the
# two-hand centre; x20 spreads that over +-3, where a ReLU MLP at default init separates
# points (at HALO's 1/0.4 every query looked alike to PosEnc, docs/DECISIONS.md).
POSITION_SCALE = 20.0


@dataclass(frozen=True)
class QueryAttentionConfig:
    pos_hidden: int = 32
    pos_dim: int = 16
    heads: int = 2
    dropout: float = 0.01
    feature_dim: int = 16  # width of the per-query image feature handed to HALO
    position_scale: float = POSITION_SCALE  # metres -> PosEnc input units

    def __post_init__(self):
        if not self.position_scale > 0:
            raise ValueError(f"position_scale must be positive, got {self.position_scale}")
        if self.feature_dim % self.heads:
            raise ValueError(f"feature_dim ({self.feature_dim}) must be divisible by heads ({self.heads})")


class PosEnc(nn.Module):
    """Shared per-point MLP: (B, N, 3) -> (B, N, pos_dim), two FC + ReLU + dropout."""

    def __init__(self, config: QueryAttentionConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3, config.pos_hidden), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.pos_hidden, config.pos_dim), nn.ReLU(), nn.Dropout(config.dropout))

    def forward(self, points: Tensor) -> Tensor:
        return self.net(points)


@dataclass
class AttentionOutput:
    features: Tensor  # (B, N, feature_dim)
    weights: Tensor | None  # (B, heads, N, tokens) when asked for


class QueryImageAttention(nn.Module):
    """Per-query image features by multi-head attention from PosEnc(x) to patch tokens."""

    def __init__(self, token_dim: int, config: QueryAttentionConfig = QueryAttentionConfig()):
        super().__init__()
        self.config = config
        self.pos_enc = PosEnc(config)
        self.query_proj = nn.Linear(config.pos_dim, config.feature_dim)
        self.attention = nn.MultiheadAttention(config.feature_dim, config.heads, kdim=token_dim,
                                               vdim=token_dim, batch_first=True)

    def forward(self, points_cam: Tensor, tokens: Tensor, return_weights: bool = False) -> AttentionOutput:
        """points_cam (B, N, 3) root-relative camera-frame queries (metres); tokens (B, T, D)."""
        if points_cam.ndim != 3 or points_cam.shape[-1] != 3:
            raise ValueError(f"points_cam must be (B, N, 3), got {tuple(points_cam.shape)}")
        if tokens.ndim != 3 or tokens.shape[0] != points_cam.shape[0]:
            raise ValueError(f"tokens must be (B, T, D) with B = {points_cam.shape[0]}, "
                             f"got {tuple(tokens.shape)}")
        query = self.query_proj(self.pos_enc(points_cam * self.config.position_scale))
        features, weights = self.attention(query, tokens, tokens, need_weights=return_weights,
                                           average_attn_weights=False)
        return AttentionOutput(features=features, weights=weights if return_weights else None)


def project_points(points: Tensor, K: Tensor, R: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """World points (B, N, 3) -> (pixels (B, N, 2), camera-frame points (B, N, 3)).

    K, R, t: (B, 3, 3), (B, 3, 3), (B, 3); OpenCV convention, pixel centres at integers.
    """
    cam = points @ R.transpose(1, 2) + t[:, None]
    z = cam[..., 2:].clamp_min(1e-6)
    uv = (cam[..., :2] / z) @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
    return uv, cam


def sample_pixel_aligned(feature_map: Tensor, pixels: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Bilinearly sample (B, C, h, w) features at (B, N, 2) pixel coordinates of the full
    (H, W) image -> (B, N, C). The map may be smaller than the image (e.g. h = H / 2):
    pixel coordinates are rescaled with the same pixel-centre convention as the camera."""
    height, width = image_size
    h, w = feature_map.shape[-2:]
    scale = pixels.new_tensor([w / width, h / height])
    pixels_small = (pixels + 0.5) * scale - 0.5
    grid = pixels_to_grid_sample_coords(pixels_small, w, h)  # (B, N, 2) in [-1, 1]
    sampled = F.grid_sample(feature_map, grid[:, :, None], mode="bilinear",
                            padding_mode="border", align_corners=False)  # (B, C, N, 1)
    return sampled[..., 0].transpose(1, 2)
