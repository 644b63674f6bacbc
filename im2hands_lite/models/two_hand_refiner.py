"""R: Im2Hands' two-hand occupancy refinement (supplementary S.3.1), built from AIR-Net parts.

    I's iso-surface points of each hand (FPS to n_points)
        + image feature at each point's projection (the "feature cloud") + side label
    ─► PCEnc (shared by both hands): point-transformer vector attention over k neighbours,
       FPS down-sampling n -> n/2 -> n/4, self-attention blocks ─► anchors A_s, latent z_s
    ─► ContextEnc: MLP(z_l, z_r, z_I) ─► z_c  (z_I: ImgEnc's global image feature)
    ─► PCDec, per query x of hand s: [x, I's occupancy at x] attends to its nearest anchors
       of A_s, conditioned on z_c, then residual blocks ─► refined occupancy o_s(x)

Loss (the official code's): MSE(right) + MSE(left) + penetration_weight x the sum over a
sample's queries of o_l(x) o_r(x) (0.001: supplementary S.3.2), averaged over the batch.
Ablation switches (Tables S1-S3): init_occ_cond, feature_cloud, context_latent, n_points.

Coordinates: points and queries enter in the camera frame relative to the two-hand centre
(mean of the input keypoints), scaled by `position_scale`, as in I and K.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..geometry.sampling import farthest_point_sampling, gather_points, knn
from .attention import project_points, sample_pixel_aligned
from .image import (
    RESNET_LAYOUTS,
    DeconvDecoderConfig,
    ImageEncoderDecoder,
    ResNetConfig,
    fast_decoder,
    fast_resnet,
    paper_image_config,
)

ABLATIONS = ("init_occ_cond", "feature_cloud", "context_latent")  # TwoHandRefinerConfig switches (Tables S1-S3)
SIDE_LABELS = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # hand 0 (right): [0, 1]; hand 1 (left): [1, 0]


@dataclass(frozen=True)
class TwoHandRefinerConfig:
    n_points: int = 512  # iso-surface points per hand (Table S3: 256 / 512 / 1024)
    width: int = 64  # PCEnc width (official: 256)
    k_neighbours: int = 16  # vector attention neighbourhood
    down_stages: int = 2  # FPS halvings after the first layer: 512 -> 256 -> 128 anchors
    self_attention_blocks: int = 3
    heads: int = 4
    decoder_width: int = 32  # official: 32
    decoder_blocks: int = 5  # residual blocks (official: 5)
    decoder_neighbours: int = 9  # anchors each query attends to (official: 9)
    init_occ_cond: bool = True  # the query carries I's occupancy at x
    feature_cloud: bool = True  # points carry image features (off: xyz + side label only)
    context_latent: bool = True  # off: each hand decodes with its own z_s instead of z_c
    penetration_weight: float = 0.001  # x the sum over each sample's penetration queries (the paper's)
    position_scale: float = 10.0  # root-relative camera-frame metres -> network units
    # R's own ImgEnc (trained with R): its map gives the feature cloud, its pooled C5 z_I
    resnet: ResNetConfig = field(default_factory=fast_resnet)
    decoder: DeconvDecoderConfig = field(default_factory=fast_decoder)

    def __post_init__(self):
        anchors = self.n_points // 2 ** self.down_stages
        if self.n_points < 16 or anchors < self.decoder_neighbours or anchors < 1:
            raise ValueError(f"n_points = {self.n_points} leaves {anchors} anchors after {self.down_stages} "
                             f"halvings; need at least decoder_neighbours = {self.decoder_neighbours}")
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be divisible by heads ({self.heads})")
        if self.penetration_weight < 0:
            raise ValueError("penetration_weight must be >= 0")

    @classmethod
    def fast(cls, **overrides) -> "TwoHandRefinerConfig":
        """CPU preset: width 64 and the fast image networks (the defaults)."""
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> "TwoHandRefinerConfig":
        """The official widths (PCEnc 256) and the paper's image networks (ResNet-50)."""
        resnet, decoder, _ = paper_image_config()
        return cls(**{"resnet": resnet, "decoder": decoder, "width": 256} | overrides)

    @property
    def n_anchors(self) -> int:
        return self.n_points // 2 ** self.down_stages

    @property
    def image_feature_dim(self) -> int:
        return self.decoder.out_channels

    @property
    def global_image_dim(self) -> int:
        """Width of z_I: the encoder's last stage (ResNet-50: 2048)."""
        return self.resnet.width * 8 * RESNET_LAYOUTS[self.resnet.depth][0].expansion

    @property
    def point_input_dim(self) -> int:
        return 3 + 2 + (self.image_feature_dim if self.feature_cloud else 0)


def mlp(*sizes: int) -> nn.Sequential:
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no activation after the last layer


class VectorAttention(nn.Module):
    """Point Transformer layer (Zhao et al., 2021): for each point i and its k neighbours j,
    y_i = sum_j softmax_j(gamma(phi(f_i) - psi(f_j) + delta_ij)) * (alpha(f_j) + delta_ij),
    delta_ij = theta(p_i - p_j); the softmax is per channel (vector attention). Residual."""

    def __init__(self, width: int, k: int):
        super().__init__()
        self.k = k
        self.phi, self.psi, self.alpha = (nn.Linear(width, width) for _ in range(3))
        self.theta = mlp(3, width, width)
        self.gamma = mlp(width, width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, positions: Tensor, features: Tensor) -> Tensor:
        """positions (B, N, 3), features (B, N, C) -> (B, N, C)."""
        k = min(self.k, positions.shape[1])
        neighbours = knn(positions, positions, k)  # (B, N, k)
        f = self.norm(features)
        f_j = gather_points(f, neighbours)  # (B, N, k, C)
        delta = self.theta(positions[:, :, None] - gather_points(positions, neighbours))
        logits = self.gamma(self.phi(f)[:, :, None] - self.psi(f_j) + delta)
        weights = logits.softmax(dim=2)
        return features + (weights * (self.alpha(f_j) + delta)).sum(dim=2)


class TransitionDown(nn.Module):
    """FPS to half the points; each kept point max-pools an MLP of its k neighbours' features."""

    def __init__(self, width: int, k: int):
        super().__init__()
        self.k = k
        self.mlp = nn.Sequential(nn.Linear(width + 3, width), nn.LayerNorm(width), nn.ReLU())

    def forward(self, positions: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
        keep = farthest_point_sampling(positions, positions.shape[1] // 2)  # deterministic: starts at 0
        centres = gather_points(positions, keep)
        neighbours = knn(centres, positions, min(self.k, positions.shape[1]))
        local = gather_points(positions, neighbours) - centres[:, :, None]
        grouped = torch.cat([local, gather_points(features, neighbours)], dim=-1)
        return centres, self.mlp(grouped).max(dim=2).values


class SelfAttentionBlock(nn.Module):
    """Pre-norm transformer block over all anchors of a hand."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


@dataclass
class EncodedHand:
    anchors: Tensor  # (B, A, 3) anchor positions (network units)
    features: Tensor  # (B, A, C) anchor features A_s
    latent: Tensor  # (B, C) global latent z_s


class PointCloudEncoder(nn.Module):
    """PCEnc: (B, N, 3) points + (B, N, F) per-point inputs -> anchors, features, z_s."""

    def __init__(self, config: TwoHandRefinerConfig):
        super().__init__()
        c = config
        self.embed = mlp(c.point_input_dim, c.width, c.width)
        self.first = VectorAttention(c.width, c.k_neighbours)
        self.down = nn.ModuleList(TransitionDown(c.width, c.k_neighbours) for _ in range(c.down_stages))
        self.local = nn.ModuleList(VectorAttention(c.width, c.k_neighbours) for _ in range(c.down_stages))
        self.blocks = nn.ModuleList(SelfAttentionBlock(c.width, c.heads) for _ in range(c.self_attention_blocks))
        self.norm = nn.LayerNorm(c.width)

    def forward(self, points: Tensor, inputs: Tensor) -> EncodedHand:
        x = self.first(points, self.embed(inputs))
        positions = points
        for down, local in zip(self.down, self.local):
            positions, x = down(positions, x)
            x = local(positions, x)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return EncodedHand(anchors=positions, features=x, latent=x.max(dim=1).values)


class PointCloudDecoder(nn.Module):
    """PCDec: queries attend to their nearest anchors, conditioned on a latent -> occupancy."""

    def __init__(self, config: TwoHandRefinerConfig):
        super().__init__()
        c = config
        d = c.decoder_width
        self.k = c.decoder_neighbours
        self.init_occ_cond = c.init_occ_cond
        # the official code repeats I's occupancy to a 32-d feature; a linear map is the same
        # up to the weights
        self.query_embed = mlp(3 + (1 if c.init_occ_cond else 0), d, d)
        self.key = nn.Linear(c.width, d)
        self.value = nn.Linear(c.width, d)
        self.offset = mlp(3, d, d)  # positional encoding of anchor - query
        self.latent = nn.Linear(c.width, d)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
                                    for _ in range(c.decoder_blocks))
        self.out = nn.Linear(d, 1)

    def forward(self, queries: Tensor, initial_occupancy: Tensor | None, hand: EncodedHand,
                latent: Tensor, return_attention: bool = False) -> tuple[Tensor, Tensor | None]:
        """queries (B, M, 3) network units; initial_occupancy (B, M) or None; latent (B, C)
        -> (occupancy logits (B, M), attention over the k nearest anchors (B, M, k) or None)."""
        inputs = queries if not self.init_occ_cond else torch.cat([queries, initial_occupancy[..., None]], -1)
        q = self.query_embed(inputs)  # (B, M, d)
        nearest = knn(queries, hand.anchors, self.k)  # (B, M, k)
        offsets = self.offset(gather_points(hand.anchors, nearest) - queries[:, :, None])  # (B, M, k, d)
        features = gather_points(hand.features, nearest)
        keys, values = self.key(features) + offsets, self.value(features) + offsets
        weights = ((q[:, :, None] * keys).sum(-1) / keys.shape[-1] ** 0.5).softmax(dim=-1)  # (B, M, k)
        h = q + (weights[..., None] * values).sum(dim=2) + self.latent(latent)[:, None]
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).squeeze(-1), weights if return_attention else None


@dataclass
class TwoHandRefinerOutput:
    occupancy: Tensor  # (S, 2, M) refined occupancy of hand s at its queries
    logits: Tensor  # (S, 2, M)
    encoded: list[EncodedHand]  # [right, left]
    context: Tensor  # (S, C) z_c (or zeros when context_latent is off)
    attention: Tensor | None = None  # (S, 2, M, k) over each query's nearest anchors


class TwoHandRefiner(nn.Module):
    """R: refine both hands' occupancy from I's iso-surface points, the image and each other."""

    def __init__(self, config: TwoHandRefinerConfig = TwoHandRefinerConfig()):
        super().__init__()
        self.config = c = config
        self.register_buffer("side_labels", SIDE_LABELS.clone())
        self.image_encoder = ImageEncoderDecoder(c.resnet, c.decoder)
        self.encoder = PointCloudEncoder(c)
        self.context = nn.Sequential(nn.Linear(2 * c.width + c.global_image_dim, c.width), nn.ReLU(),
                                     nn.Linear(c.width, c.width)) if c.context_latent else None
        self.decoder = PointCloudDecoder(c)

    def forward(self, points: Tensor, point_features: Tensor | None, global_image: Tensor, queries: Tensor,
                initial_occupancy: Tensor | None, return_attention: bool = False) -> TwoHandRefinerOutput:
        """points (S, 2, N, 3), queries (S, 2, M, 3): network units (see `to_network`);
        point_features (S, 2, N, F); global_image (S, global_image_dim); initial_occupancy
        (S, 2, M) of hand s at its own queries (I's output)."""
        c = self.config
        if points.ndim != 4 or points.shape[1:] != (2, c.n_points, 3):
            raise ValueError(f"points must be (S, 2, {c.n_points}, 3), got {tuple(points.shape)}")
        if queries.ndim != 4 or queries.shape[1] != 2 or queries.shape[-1] != 3:
            raise ValueError(f"queries must be (S, 2, M, 3), got {tuple(queries.shape)}")
        if c.init_occ_cond and (initial_occupancy is None or initial_occupancy.shape != queries.shape[:3]):
            raise ValueError(f"init_occ_cond=True needs initial_occupancy {tuple(queries.shape[:3])}")
        encoded = self.encode_hands(points, point_features)
        context = self.context_latent(encoded, global_image)
        logits, attention = [], []
        for hand in (0, 1):
            occ = initial_occupancy[:, hand] if c.init_occ_cond else None
            latent = context if c.context_latent else encoded[hand].latent
            out, weights = self.decoder(queries[:, hand], occ, encoded[hand], latent, return_attention)
            logits.append(out)
            attention.append(weights)
        logits = torch.stack(logits, dim=1)
        return TwoHandRefinerOutput(occupancy=logits.sigmoid(), logits=logits, encoded=encoded, context=context,
                            attention=torch.stack(attention, 1) if return_attention else None)

    def to_network(self, points: Tensor, R: Tensor, t: Tensor, centre_cam: Tensor) -> Tensor:
        """World points (S, ..., 3) -> camera frame minus the two-hand centre, x position_scale."""
        shape = points.shape
        flat = points.reshape(shape[0], -1, 3)
        cam = flat @ R.transpose(1, 2) + t[:, None]
        return ((cam - centre_cam[:, None]) * self.config.position_scale).reshape(shape)

    def prepare(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Network inputs of a data batch: image, K, R, t, keypoints (S, 42, 3) (the input
        keypoints: ground truth or K's), surface_points (S, 2, >= n_points, 3) world (I's
        iso-surface points, FPS-ordered), queries (S, 2, M, 3) world, initial_occupancy (S, 2, M)."""
        c = self.config
        R, t = batch["R"], batch["t"]
        centre_cam = (batch["keypoints"].mean(dim=1)[:, None] @ R.transpose(1, 2))[:, 0] + t
        surface = batch["surface_points"]
        if surface.ndim != 4 or surface.shape[1] != 2 or surface.shape[2] < c.n_points:
            raise ValueError(f"surface_points must be (S, 2, >= {c.n_points}, 3), got {tuple(surface.shape)}")
        surface = surface[:, :, :c.n_points]  # FPS order: a prefix is an FPS sample itself
        image = self.image_encoder(batch["image"])
        point_features = None
        if c.feature_cloud:
            pixels, _ = project_points(surface.flatten(1, 2), batch["K"], R, t)
            size = tuple(batch["image"].shape[-2:])
            point_features = sample_pixel_aligned(image.feature_map, pixels, size).unflatten(1, (2, c.n_points))
        return {"points": self.to_network(surface, R, t, centre_cam), "point_features": point_features,
                "global_image": image.global_feature, "centre_cam": centre_cam,
                "queries": self.to_network(batch["queries"], R, t, centre_cam) if "queries" in batch else None,
                "initial_occupancy": batch.get("initial_occupancy") if c.init_occ_cond else None}

    def predict(self, batch: dict[str, Tensor], return_attention: bool = False) -> TwoHandRefinerOutput:
        """Refined occupancy (S, 2, M) of both hands at their queries, from a data batch."""
        x = self.prepare(batch)
        return self(x["points"], x["point_features"], x["global_image"], x["queries"], x["initial_occupancy"],
                    return_attention=return_attention)

    def encode_hands(self, points: Tensor, point_features: Tensor | None) -> list[EncodedHand]:
        """points (S, 2, N, 3) network units; point_features (S, 2, N, F) or None."""
        s, _, n, _ = points.shape
        encoded = []
        for hand in (0, 1):
            parts = [points[:, hand], self.side_labels[hand].expand(s, n, 2)]
            if self.config.feature_cloud:
                if point_features is None:
                    raise ValueError("feature_cloud=True needs point_features (S, 2, N, F)")
                parts.append(point_features[:, hand])
            encoded.append(self.encoder(points[:, hand], torch.cat(parts, dim=-1)))
        return encoded

    def context_latent(self, encoded: list[EncodedHand], global_image: Tensor) -> Tensor:
        """ContextEnc: z_c = MLP(z_l, z_r, z_I); zeros when context_latent is off."""
        if not self.config.context_latent:
            return torch.zeros_like(encoded[0].latent)
        return self.context(torch.cat([encoded[1].latent, encoded[0].latent, global_image], dim=-1))

    def occupancy_of(self, hand: int, encoded: list[EncodedHand], context: Tensor, queries: Tensor,
                     initial_occupancy: Tensor | None) -> Tensor:
        """Refined occupancy (S, M) of one hand at any queries (S, M, 3), reusing an encoding."""
        latent = context if self.config.context_latent else encoded[hand].latent
        logits, _ = self.decoder(queries, initial_occupancy, encoded[hand], latent)
        return logits.sigmoid()

    def image_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(nothing besides ImgEnc reads only the image; ImgEnc): ImgEnc's own learning rate."""
        return [], list(self.image_encoder.parameters())


def two_hand_refiner_loss(model: TwoHandRefiner, out: TwoHandRefinerOutput, target: Tensor, pen_queries: Tensor | None = None,
                    pen_initial: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """MSE(right) + MSE(left) + penetration_weight x sum over the M points of o_r(x) o_l(x),
    mean over the S samples: the paper's weights (1 and 0.001) on the official code's terms.
    terms: "mse" (the mean of the two MSEs), "penetration" (the sum per sample).

    pen_queries (S, M, 3): points where both hands are evaluated for the penetration term
    (e.g. both hands' queries together); pen_initial (S, 2, M): I's occupancy of each hand there.
    """
    per_hand = torch.nn.functional.mse_loss(out.occupancy, target, reduction="none").mean(dim=(0, 2))
    terms = {"mse": per_hand.mean().item()}
    loss = per_hand.sum()
    weight = model.config.penetration_weight
    if weight > 0 and pen_queries is not None:
        if model.config.init_occ_cond and pen_initial is None:
            raise ValueError("init_occ_cond=True: the penetration term needs pen_initial (S, 2, M)")
        both = [model.occupancy_of(h, out.encoded, out.context, pen_queries,
                                   None if pen_initial is None else pen_initial[:, h]) for h in (0, 1)]
        penetration = (both[0] * both[1]).sum(dim=-1).mean()
        terms["penetration"] = penetration.item()
        loss = loss + weight * penetration
    return loss, terms
