"""K: Im2Hands' input keypoint refinement network (supplementary S.3.1).

    keypoints (42, 3) ─► KptEnc: [index embedding (42 ids), MLP(xyz)] = node features
                     ─► 4 residual graph-convolution layers on the two-hand skeleton
                     ─► multi-head self-attention over [nodes ; ViT patch tokens of the image]
                     ─► regressor (FC, ReLU, dropout 0.01, FC) ─► refined xyz

Choices (docs/DECISIONS.md):
* Keypoints enter in the image's **camera frame**, relative to the mean of the 42 input
  keypoints and scaled by `position_scale` (the image is tied to the camera, as in I).
* The regressor predicts an **offset** added to the input keypoint (a refinement starts at
  its input; predicting absolute xyz would first have to learn the identity).
* Graph: the 20 bones of each hand; `inter_hand_edges` adds a wrist-wrist edge (the official
  code has none, the default here neither). `graph_conv="chebyshev"` uses Chebyshev
  polynomials T_0 .. T_{cheb_k - 1} of the scaled Laplacian (the official code's K = 2:
  the node itself and its neighbours, with separate weights); `"gcn"` is Kipf & Welling's
  D^-1/2 (A + I) D^-1/2 propagation.
* "Self-attention between node features and patch features": one transformer block over the
  concatenated sequence of the 42 nodes and the T tokens; the node outputs go on.
* The image branch is the same as I's: ImgEnc (ResNet + deconvolution decoder) and a ViT over
  its feature map (K has its own weights, trained with K).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..hand.joints import N_JOINTS, WRIST, check_two_hand_keypoints, two_hand_edges
from .image import (
    DeconvDecoderConfig,
    ImageEncoderDecoder,
    PatchViT,
    ResNetConfig,
    TransformerBlock,
    ViTConfig,
    check_image,
    fast_decoder,
    fast_feature_map_vit,
    fast_resnet,
    paper_image_config,
    vit_on_feature_map,
)

GRAPH_CONVS = ("chebyshev", "gcn")
N_NODES = 2 * N_JOINTS


# ----------------------------------------------------------------------------- the graph

def skeleton_adjacency(inter_hand_edges: bool = False) -> Tensor:
    """(42, 42) symmetric 0/1 adjacency of the two-hand skeleton (no self-loops)."""
    adjacency = torch.zeros(N_NODES, N_NODES)
    for a, b in two_hand_edges(inter_hand_edges):
        adjacency[a, b] = adjacency[b, a] = 1.0
    return adjacency


def normalized_adjacency(adjacency: Tensor) -> Tensor:
    """Kipf & Welling's propagation matrix D^-1/2 (A + I) D^-1/2 (degrees counted with the loop)."""
    a_hat = adjacency + torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
    d = a_hat.sum(1).rsqrt()
    return d[:, None] * a_hat * d[None, :]


def scaled_laplacian(adjacency: Tensor) -> Tensor:
    """L~ = 2 L / lambda_max - I with L = I - D^-1/2 A D^-1/2 and lambda_max taken as 2
    (ChebNet's usual approximation), i.e. L~ = -D^-1/2 A D^-1/2: eigenvalues in [-1, 1]."""
    d = adjacency.sum(1).clamp_min(1e-12).rsqrt()
    return -(d[:, None] * adjacency * d[None, :])


def chebyshev_basis(laplacian: Tensor, x: Tensor, k: int) -> list[Tensor]:
    """[T_0(L~) x, ..., T_{k-1}(L~) x] for node features x (B, V, C), by the recurrence
    T_0 x = x, T_1 x = L~ x, T_i x = 2 L~ T_{i-1} x - T_{i-2} x."""
    terms = [x]
    if k > 1:
        terms.append(laplacian @ x)
    for _ in range(2, k):
        terms.append(2 * (laplacian @ terms[-1]) - terms[-2])
    return terms


class GraphConv(nn.Module):
    """One graph convolution (B, V, C_in) -> (B, V, C_out), Chebyshev or GCN."""

    def __init__(self, adjacency: Tensor, in_dim: int, out_dim: int, kind: str = "chebyshev", cheb_k: int = 2):
        super().__init__()
        if kind not in GRAPH_CONVS:
            raise ValueError(f"graph_conv must be one of {GRAPH_CONVS}, got {kind!r}")
        self.kind, self.cheb_k = kind, cheb_k
        if kind == "chebyshev":
            self.register_buffer("operator", scaled_laplacian(adjacency))
            self.weights = nn.ModuleList(nn.Linear(in_dim, out_dim, bias=(i == 0)) for i in range(cheb_k))
        else:
            self.register_buffer("operator", normalized_adjacency(adjacency))
            self.weights = nn.ModuleList([nn.Linear(in_dim, out_dim)])

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "gcn":
            return self.operator @ self.weights[0](x)
        return sum(w(t) for w, t in zip(self.weights, chebyshev_basis(self.operator, x, self.cheb_k)))


class ResidualGraphLayer(nn.Module):
    """x + dropout(ReLU(GraphConv(LayerNorm(x)))): a pre-norm residual graph layer."""

    def __init__(self, adjacency: Tensor, dim: int, kind: str, cheb_k: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = GraphConv(adjacency, dim, dim, kind, cheb_k)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop(torch.relu(self.conv(self.norm(x))))


# ----------------------------------------------------------------------------- K




@dataclass(frozen=True)
class KeypointRefinerConfig:
    index_dim: int = 32  # learned embedding of the keypoint's index (0..41)
    coord_hidden: int = 64
    coord_dim: int = 32  # node width = index_dim + coord_dim
    graph_conv: str = "chebyshev"  # or "gcn"
    cheb_k: int = 2  # Chebyshev terms T_0 .. T_{k-1} (official: 2)
    gcn_layers: int = 4
    inter_hand_edges: bool = False  # official: none
    image_cond: bool = True  # False: K without the image (graph only)
    heads: int = 4  # official: 4
    regressor_hidden: int = 128
    dropout: float = 0.01
    position_scale: float = 10.0  # root-relative camera-frame metres -> network units
    resnet: ResNetConfig = field(default_factory=fast_resnet)
    decoder: DeconvDecoderConfig = field(default_factory=fast_decoder)
    vit: ViTConfig = field(default_factory=fast_feature_map_vit)

    def __post_init__(self):
        if self.graph_conv not in GRAPH_CONVS:
            raise ValueError(f"graph_conv must be one of {GRAPH_CONVS}, got {self.graph_conv!r}")
        if self.cheb_k < 1 or self.gcn_layers < 1:
            raise ValueError("cheb_k and gcn_layers must be >= 1")
        if self.node_dim % self.heads:
            raise ValueError(f"node width {self.node_dim} must be divisible by heads ({self.heads})")
        if self.image_cond and self.vit.in_channels != self.decoder.out_channels:
            raise ValueError(f"K's ViT reads the decoder map: vit.in_channels must be "
                             f"{self.decoder.out_channels}, got {self.vit.in_channels}")
        if not self.position_scale > 0:
            raise ValueError(f"position_scale must be positive, got {self.position_scale}")

    @classmethod
    def fast(cls, **overrides) -> "KeypointRefinerConfig":
        """CPU preset: the fast image networks on 128x128 crops (the defaults)."""
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> "KeypointRefinerConfig":
        """The paper's image networks (ResNet-50 on 256x256 crops), ViT over the decoder map."""
        resnet, decoder, vit = paper_image_config()
        return cls(**{"resnet": resnet, "decoder": decoder,
                      "vit": vit_on_feature_map(vit, decoder, vit.image_size)} | overrides)

    @property
    def node_dim(self) -> int:
        return self.index_dim + self.coord_dim


@dataclass
class KeypointRefinerOutput:
    keypoints: Tensor  # (B, 42, 3) refined, world frame
    keypoints_cam: Tensor  # (B, 42, 3) refined, camera frame
    attention: Tensor | None = None  # (B, heads, 42, 42 + T): node rows of the self-attention


class KeypointRefiner(nn.Module):
    """K: (noisy) world keypoints + image + camera -> refined world keypoints."""

    def __init__(self, config: KeypointRefinerConfig = KeypointRefinerConfig()):
        super().__init__()
        self.config = c = config
        self.index_embedding = nn.Embedding(N_NODES, c.index_dim)
        self.coord_mlp = nn.Sequential(nn.Linear(3, c.coord_hidden), nn.ReLU(),
                                       nn.Linear(c.coord_hidden, c.coord_dim))
        adjacency = skeleton_adjacency(c.inter_hand_edges)
        self.graph_layers = nn.ModuleList(ResidualGraphLayer(adjacency, c.node_dim, c.graph_conv, c.cheb_k,
                                                             c.dropout) for _ in range(c.gcn_layers))
        self.image_encoder = self.vit = self.token_proj = self.image_attention = None
        if c.image_cond:
            self.image_encoder = ImageEncoderDecoder(c.resnet, c.decoder)
            self.vit = PatchViT(c.vit)
            self.token_proj = nn.Linear(c.vit.dim, c.node_dim) if c.vit.dim != c.node_dim else nn.Identity()
            self.image_attention = TransformerBlock(c.node_dim, c.heads, 2.0, c.dropout)
        self.regressor = nn.Sequential(nn.Linear(c.node_dim, c.regressor_hidden), nn.ReLU(), nn.Dropout(c.dropout),
                                       nn.Linear(c.regressor_hidden, 3))
        nn.init.zeros_(self.regressor[-1].weight)  # start as the identity: refined = input
        nn.init.zeros_(self.regressor[-1].bias)

    def forward(self, keypoints: Tensor, image: Tensor | None, R: Tensor, t: Tensor,
                return_attention: bool = False) -> KeypointRefinerOutput:
        """keypoints (B, 42, 3) world, metres; image (B, 3, H, W) in [0, 1] (or None when
        image_cond is off); R (B, 3, 3), t (B, 3) world -> camera."""
        check_two_hand_keypoints(keypoints)
        batch = keypoints.shape[0]
        if tuple(R.shape) != (batch, 3, 3) or tuple(t.shape) != (batch, 3):
            raise ValueError(f"R must be ({batch}, 3, 3) and t ({batch}, 3), got {tuple(R.shape)} and {tuple(t.shape)}")
        cam = keypoints @ R.transpose(1, 2) + t[:, None]
        centre = cam.mean(dim=1, keepdim=True)
        h = self.node_features((cam - centre) * self.config.position_scale)
        for layer in self.graph_layers:
            h = layer(h)
        weights = None
        if self.config.image_cond:
            if image is None:
                raise ValueError("this K conditions on the image (image_cond=True): pass the image")
            # checked here so errors name the image, not the feature map the ViT reads
            check_image(image, multiple_of=32, square=True)
            if image.shape[0] != batch:
                raise ValueError(f"got {image.shape[0]} images for {batch} keypoint sets")
            tokens = self.image_tokens(image)
            sequence = torch.cat([h, tokens], dim=1)
            if return_attention:
                weights = self.image_attention.attention_weights(sequence)[:, :, :N_NODES]
            h = self.image_attention(sequence)[:, :N_NODES]
        refined_cam = cam + self.regressor(h) / self.config.position_scale
        world = (refined_cam - t[:, None]) @ R
        return KeypointRefinerOutput(keypoints=world, keypoints_cam=refined_cam, attention=weights)

    def node_features(self, x: Tensor) -> Tensor:
        """KptEnc: (B, 42, 3) normalised keypoints -> (B, 42, node_dim)."""
        index = self.index_embedding.weight.expand(x.shape[0], -1, -1)
        return torch.cat([index, self.coord_mlp(x)], dim=-1)

    def image_tokens(self, image: Tensor) -> Tensor:
        return self.token_proj(self.vit(self.image_encoder(image).feature_map))

    def predict(self, batch: dict[str, Tensor], keypoints: Tensor | None = None,
                return_attention: bool = False) -> KeypointRefinerOutput:
        """Refine `keypoints` (default: batch["noisy_keypoints"]) of a data batch."""
        keypoints = batch["noisy_keypoints"] if keypoints is None else keypoints
        image = batch["image"] if self.config.image_cond else None
        return self(keypoints, image, batch["R"], batch["t"], return_attention=return_attention)

    def refine_item(self, item: dict[str, Tensor], keypoints: Tensor) -> Tensor:
        """K's refinement (42, 3) of one data item's input `keypoints` (42, 3), in eval mode
        without gradients: what the tables and R's training inputs feed I with."""
        self.eval()
        device = next(self.parameters()).device
        batch = {k: item[k][None].to(device) for k in ("image", "R", "t")}
        with torch.no_grad():
            return self.predict(batch, keypoints=keypoints[None].to(device)).keypoints[0].cpu()

    def image_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(the image branch besides ImgEnc: ViT, token projection, attention; ImgEnc): the
        optimiser gives ImgEnc its own learning rate (a pretrained encoder fine-tunes slower)."""
        image = [p for module in (self.vit, self.token_proj, self.image_attention) if module is not None
                 for p in module.parameters()]
        return image, list(self.image_encoder.parameters()) if self.image_encoder is not None else []


def keypoint_loss(pred: Tensor, target: Tensor, root_weight: float = 1.0) -> Tensor:
    """K's loss, in cm^2: MSE of each hand's keypoints after re-centring the hand on its wrist
    (the paper's loss), + root_weight x MSE of the two wrists (the kit's addition, so that
    whole-hand offsets are corrected too: the official code used ground-truth roots at test
    time instead; docs/DECISIONS.md)."""
    p, g = 100.0 * pred.unflatten(1, (2, N_JOINTS)), 100.0 * target.unflatten(1, (2, N_JOINTS))
    p_root, g_root = p[:, :, WRIST:WRIST + 1], g[:, :, WRIST:WRIST + 1]
    relative = ((p - p_root) - (g - g_root)).pow(2).sum(-1).mean()
    if root_weight == 0:
        return relative
    return relative + root_weight * (p_root - g_root).pow(2).sum(-1).mean()
