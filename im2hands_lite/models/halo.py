"""HALO: a skeleton-driven occupancy network (Karunratanakul et al., 3DV 2021), as Im2Hands uses it.

Keypoints -> bone frames (see canonical.py). Each of the 16 parts (palm + 15 phalanges) has
its own occupancy MLP that sees the query in its bone's frame, B_k^-1 x (3), the bone's length
(1), an embedding of all 16 bone lengths (16, by 16 -> 40 -> 16) and a linear projection of the
canonical bone translations (-> 8): 28 inputs, widths 28 -> 64 -> 64 -> 64 -> 64 -> 1 with
LeakyReLU and residual connections. Occupancy = max over parts of sigmoid(part logit).

The hook for Im2Hands' image conditioning: a per-query feature of width
`HaloConfig.image_feature_dim` is concatenated to every part's hidden state after its first
layer (width 0 = plain HALO = the "I - ImageCond" ablation). The concatenation is computed as
two layers, joined(h) + image_in(feature): HALO's own layers are then initialised exactly as in
plain HALO (the image layer is drawn after them), so I with a zero image feature *is* HALO, and
with `zero_init_image` an untrained I is HALO (docs/DECISIONS.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..hand.asset import load_hand_asset
from ..hand.joints import N_BONES
from .canonical import HandFrames, hand_frames, straight_hand_directions

PART_INPUT = 3 + 1 + 16 + 8


@dataclass(frozen=True)
class HaloConfig:
    hidden: int = 64
    n_hidden_layers: int = 4  # 28 -> 64 -> 64 -> 64 -> 64 -> 1
    length_embed_hidden: int = 40
    length_embed_dim: int = 16
    translation_dim: int = 8
    image_feature_dim: int = 0  # per-query image feature joined after the first layer
    # True: start the image feature's weights at zero, so that an untrained I is exactly HALO
    # and the image enters only as far as it lowers the loss (docs/DECISIONS.md)
    zero_init_image: bool = True
    # an oracle, not the paper's model: each hand's true shape coefficients (the data's `betas`,
    # this many) join every part's input. HALO with them against HALO without, on data v2, is
    # the headroom an image model can win back (docs/DATA.md)
    shape_dim: int = 0
    negative_slope: float = 0.01  # LeakyReLU
    # bone-local coordinates are multiplied by this before the part MLPs: a phalanx is ~0.05
    # normalised units wide, and O(1) inputs train much faster (docs/DECISIONS.md)
    local_scale: float = 80.0

    def __post_init__(self):
        if self.length_embed_dim + self.translation_dim + 4 != PART_INPUT:
            raise ValueError(f"part inputs must total {PART_INPUT} (3 + 1 + embed + translation)")
        if self.n_hidden_layers < 2 or self.hidden < 1 or self.image_feature_dim < 0 or self.shape_dim < 0:
            raise ValueError("need >= 2 hidden layers, hidden >= 1, image_feature_dim >= 0 and shape_dim >= 0")

    @classmethod
    def fast(cls, **overrides) -> "HaloConfig":
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides) -> "HaloConfig":
        """HALO's part MLPs are the same size in both: the fast profile only trains less."""
        return cls(**overrides)


class PartLinear(nn.Module):
    """One independent linear layer per part, applied to (P, M, in) in one batched matmul."""

    def __init__(self, parts: int, in_features: int, out_features: int, bias: bool = True,
                 fan_in: int | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(parts, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(parts, out_features)) if bias else None
        bound = 1.0 / math.sqrt(fan_in or in_features)  # nn.Linear's default init, per part
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias[:, None], x, self.weight)


@dataclass
class HaloOutput:
    occupancy: Tensor  # (B, N) in [0, 1]
    part_logits: Tensor  # (B, 16, N)
    frames: HandFrames


def stack_hands(keypoints: Tensor, *per_hand: Tensor) -> tuple[Tensor, ...]:
    """(B, 42, 3) two-hand keypoints and (B, 2, ...) per-hand tensors -> (2B, ...) single hands.

    Row 2i is sample i's right hand, row 2i+1 its left (InterHand2.6M order); also returns the
    (2B,) is_left flags.
    """
    if keypoints.ndim != 3 or keypoints.shape[1:] != (42, 3):
        raise ValueError(f"two-hand keypoints must be (B, 42, 3), got {tuple(keypoints.shape)}")
    batch = keypoints.shape[0]
    is_left = torch.tensor([False, True], device=keypoints.device).repeat(batch)
    flat = [keypoints.reshape(batch * 2, 21, 3)]
    for tensor in per_hand:
        if tensor.shape[:2] != (batch, 2):
            raise ValueError(f"per-hand tensors must start with ({batch}, 2), got {tuple(tensor.shape)}")
        flat.append(tensor.reshape(batch * 2, *tensor.shape[2:]))
    return (*flat, is_left)


class HaloModel(nn.Module):
    """Occupancy of world-space queries (B, N, 3) given world keypoints (B, 21, 3) of B hands."""

    def __init__(self, config: HaloConfig = HaloConfig()):
        super().__init__()
        self.config = config
        rest = torch.as_tensor(load_hand_asset().joints, dtype=torch.float32)
        self.register_buffer("canonical_dirs", straight_hand_directions(rest))
        c = config
        self.length_embed = nn.Sequential(
            nn.Linear(N_BONES, c.length_embed_hidden), nn.LeakyReLU(c.negative_slope),
            nn.Linear(c.length_embed_hidden, c.length_embed_dim))
        self.translation_proj = nn.Linear(N_BONES * 3, c.translation_dim)
        self.first = PartLinear(N_BONES, PART_INPUT + c.shape_dim, c.hidden)
        self.joined = PartLinear(N_BONES, c.hidden, c.hidden)
        self.hidden_layers = nn.ModuleList(
            PartLinear(N_BONES, c.hidden, c.hidden) for _ in range(c.n_hidden_layers - 2))
        self.out = PartLinear(N_BONES, c.hidden, 1)
        self.image_in = None  # drawn last, so HALO's own layers start as in plain HALO
        if c.image_feature_dim:
            # the random start is that of one layer over [hidden; feature], as a concatenation has
            self.image_in = PartLinear(N_BONES, c.image_feature_dim, c.hidden, bias=False,
                                       fan_in=c.hidden + c.image_feature_dim)
            if c.zero_init_image:
                nn.init.zeros_(self.image_in.weight)
        self._register_load_state_dict_pre_hook(self._split_joined_weight)

    def forward(self, queries: Tensor, keypoints: Tensor, is_left: Tensor,
                image_features: Tensor | None = None, frames: HandFrames | None = None,
                betas: Tensor | None = None) -> HaloOutput:
        """queries (B, N, 3) world; keypoints (B, 21, 3) world; is_left (B,) bool;
        image_features (B, N, image_feature_dim) or None (only when image_feature_dim is 0);
        betas (B, shape_dim), only for the shape oracle (shape_dim > 0)."""
        if queries.ndim != 3 or queries.shape[-1] != 3 or queries.shape[0] != keypoints.shape[0]:
            raise ValueError(f"queries must be (B, N, 3) with B = {keypoints.shape[0]}, "
                             f"got {tuple(queries.shape)}")
        if not torch.isfinite(queries).all():
            raise ValueError("queries contain NaN or infinite values")
        frames = frames if frames is not None else self.frames(keypoints, is_left)
        local = frames.to_bones(frames.normalise(queries)) * self.config.local_scale  # (B, 16, N, 3)
        batch, parts, n, _ = local.shape
        lengths = frames.bone_lengths
        shape_code = torch.cat([self.length_embed(lengths),
                                self.translation_proj(frames.canonical_heads.flatten(1)),
                                *self._oracle_betas(betas, batch)], dim=-1)
        x = torch.cat([local, lengths[:, :, None, None].expand(batch, parts, n, 1),
                       shape_code[:, None, None].expand(batch, parts, n, shape_code.shape[-1])], -1)
        # parts first: (16, B * N, features), so every layer is one batched matmul
        x = x.transpose(0, 1).reshape(parts, batch * n, PART_INPUT + self.config.shape_dim)
        act = lambda t: F.leaky_relu(t, self.config.negative_slope)  # noqa: E731
        h = act(self.first(x))
        width = self.config.image_feature_dim
        if width:
            if image_features is None or image_features.shape != (batch, n, width):
                raise ValueError(f"image_features must be ({batch}, {n}, {width}), got "
                                 f"{None if image_features is None else tuple(image_features.shape)}")
            image = self.image_in(image_features.reshape(1, batch * n, width).expand(parts, -1, -1))
            h = act(self.joined(h) + image)
        elif image_features is not None:
            raise ValueError("this HALO has image_feature_dim = 0 but image_features were given")
        else:
            h = act(self.joined(h))
        for layer in self.hidden_layers:
            h = h + act(layer(h))  # residual
        logits = self.out(h).reshape(parts, batch, n).transpose(0, 1)  # (B, 16, N)
        occupancy = torch.sigmoid(logits).amax(dim=1)
        return HaloOutput(occupancy=occupancy, part_logits=logits, frames=frames)

    def _oracle_betas(self, betas: Tensor | None, batch: int) -> list[Tensor]:
        width = self.config.shape_dim
        if not width:
            if betas is not None:
                raise ValueError("this HALO has shape_dim = 0 but betas were given")
            return []
        if betas is None or betas.shape != (batch, width):
            raise ValueError(f"the shape oracle needs betas of shape ({batch}, {width}), got "
                             f"{None if betas is None else tuple(betas.shape)}; only the kit's own data has them")
        return [betas]

    def _split_joined_weight(self, state_dict, prefix, *args) -> None:
        """Checkpoints from before the split hold one `joined` weight over [hidden; feature]."""
        weight = state_dict.get(prefix + "joined.weight")
        hidden = self.config.hidden
        if weight is not None and weight.shape[1] > hidden and prefix + "image_in.weight" not in state_dict:
            state_dict[prefix + "joined.weight"] = weight[:, :hidden].clone()
            state_dict[prefix + "image_in.weight"] = weight[:, hidden:].clone()

    def frames(self, keypoints: Tensor, is_left: Tensor) -> HandFrames:
        return hand_frames(keypoints, is_left, self.canonical_dirs)

    def predict(self, batch: dict[str, Tensor]) -> HaloOutput:
        """Both hands of a data batch (keypoints (S, 42, 3), queries (S, 2, N, 3)) -> rows
        2s (right) and 2s + 1 (left), as `stack_hands` orders them."""
        if not self.config.shape_dim:
            keypoints, queries, is_left = stack_hands(batch["keypoints"], batch["queries"])
            return self(queries, keypoints, is_left)
        if "betas" not in batch:
            raise ValueError("the shape oracle needs the batch's 'betas'; only the kit's own data has them")
        keypoints, queries, betas, is_left = stack_hands(batch["keypoints"], batch["queries"], batch["betas"])
        return self(queries, keypoints, is_left, betas=betas)

    def occupancy_function(self, item: dict[str, Tensor], hand: int):
        """fn(points (N, 3) world) -> (N,) occupancy of one hand (0 right, 1 left) of one
        unbatched data item; the keypoints are canonicalised once, not per call."""
        device = self.canonical_dirs.device
        keypoints = item["keypoints"][21 * hand:21 * hand + 21][None].to(device)
        left = torch.tensor([hand == 1], device=device)
        frames = self.frames(keypoints, left)
        oracle = {"betas": item["betas"][hand][None].to(device)} if self.config.shape_dim else {}
        return lambda points: self(points[None].to(device), keypoints, left, frames=frames,
                                   **oracle).occupancy[0]


