"""One synthetic two-hand sample: interaction, camera, rendered image, masks, occupancy labels.

Everything is deterministic from (seed, GeneratorConfig). The sample is one typed structure,
`TwoHandSample`, the same that the real-data loader produces (hands stacked right, left as in
InterHand2.6M; metres; world coordinates; an OpenCV pinhole camera).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import torch
import trimesh

from ..geometry.camera import PinholeCamera
from ..geometry.inside import closed_winding_number
from ..hand.model import HandModel
from .appearance import BACKGROUNDS, render_sample_image
from .interactions import INTERACTIONS, check_interaction, check_sample_label, sample_interaction


@dataclass(frozen=True)
class GeneratorConfig:
    """What a generated data set looks like; its hash names the cache folder."""

    image_size: int = 256  # square crops like the paper's 256x256
    n_queries: int = 20_000  # labelled query points per hand
    uniform_fraction: float = 0.5  # HALO: half uniform in the box, half near the surface
    surface_sigma: float = 0.004  # metres; HALO's N(0, 0.01) in its 0.4 m normalised units
    box_padding: float = 0.02  # metres added around each hand's bounding box for uniform points
    max_penetration: float = 0.002  # metres, measured after settling the pair
    fov_deg: tuple[float, float] = (25.0, 40.0)
    interactions: tuple[str, ...] = INTERACTIONS
    interaction_weights: tuple[float, ...] = (0.2, 0.15, 0.15, 0.15, 0.15, 0.2)
    # data v2: every hand drawn from the CC0 shape space (finger diameter, finger distance, wrist
    # circumference, palm thickness), which the keypoints do not fix; False gives the mean hand
    # with the same poses (the draws are made either way)
    shape_space: bool = True
    # appearance (image only, never a label; drawn from its own random stream, see
    # data.appearance): a forearm at each wrist (a tapered skin-coloured tube, sometimes in a
    # sleeve; not labelled), the background ("cluttered": textures and shapes; "smooth": v1's
    # gradients), and camera artefacts (exposure, sensor noise, blur, JPEG)
    forearms: bool = True
    background: str = "cluttered"
    augment: bool = True

    def __post_init__(self):
        for name in self.interactions:
            check_interaction(name)
        if len(self.interaction_weights) != len(self.interactions):
            raise ValueError("interaction_weights must have one weight per interaction type")
        if self.image_size < 16 or self.n_queries < 2:
            raise ValueError("image_size must be >= 16 and n_queries >= 2")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {list(BACKGROUNDS)}, "
                             f"got {self.background!r}")

    def key(self) -> str:
        """Short stable hash of every field (cache folder name): data v2 changed every key, and
        a field added later changes it too (`load_config` reads older folders)."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


@dataclass
class TwoHandSample:
    """A two-hand sample. Hand axis: 0 = right, 1 = left (InterHand2.6M order)."""

    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) int8: -1 background, 0 right hand, 1 left hand
    camera: PinholeCamera
    keypoints: np.ndarray  # (42, 3) float32 world, metres: right 0..20, left 21..41
    vertices: np.ndarray  # (2, V, 3) float32 world, metres
    queries: np.ndarray  # (2, N, 3) float32 world, metres; row h = queries sampled for hand h
    occupancy: np.ndarray  # (2, N) bool: inside hand h
    finger_angles: np.ndarray  # (2, 15, 3)
    global_orient: np.ndarray  # (2, 3)
    transl: np.ndarray  # (2, 3)
    scale: float
    finger_lengths: np.ndarray  # (5,)
    interaction: str
    seed: int
    penetration: float  # metres, measured max depth of one hand inside the other
    faces: tuple[np.ndarray, np.ndarray] = field(default=None, repr=False)  # per side
    # (2, K) each hand's coefficients in the kit hand's shape space (HandModel.shape_names);
    # None where they are unknown (real data: InterHand2.6M's MANO has its own shape space)
    betas: np.ndarray | None = None
    # (H, W) int8: the hand part (bone 0-15, HALO's order) each hand pixel shows, -1 elsewhere;
    # with `mask` (which hand) the dense target of the image encoder's pretraining. None where
    # unknown
    parts: np.ndarray | None = None

    def validate(self) -> "TwoHandSample":
        """Check shapes and finiteness; raises ValueError naming the offending field."""
        h, w = self.camera.height, self.camera.width
        n = self.queries.shape[1] if self.queries.ndim == 3 else -1
        expected = {"image": (h, w, 3), "mask": (h, w), "keypoints": (42, 3),
                    "vertices": (2, self.vertices.shape[1] if self.vertices.ndim == 3 else -1, 3),
                    "queries": (2, n, 3), "occupancy": (2, n), "finger_angles": (2, 15, 3),
                    "global_orient": (2, 3), "transl": (2, 3), "finger_lengths": (5,)}
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name))
            if value.shape != shape or -1 in shape:
                raise ValueError(f"sample field {name!r} must have shape {shape}, got {value.shape}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ValueError(f"sample field {name!r} contains NaN or infinite values")
        if self.parts is not None and np.asarray(self.parts).shape != (h, w):
            raise ValueError(f"sample field 'parts' must have shape {(h, w)}, got {np.asarray(self.parts).shape}")
        if self.betas is not None:
            betas = np.asarray(self.betas)
            if betas.ndim != 2 or betas.shape[0] != 2 or not np.all(np.isfinite(betas)):
                raise ValueError(f"sample field 'betas' must be a finite (2, K) array, got shape {betas.shape}")
        check_sample_label(self.interaction)
        if self.faces is not None:
            for hand, faces in enumerate(self.faces):
                faces = np.asarray(faces)
                if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= self.vertices.shape[1]:
                    raise ValueError(f"sample faces of hand {hand} must be (F, 3) indices into its vertices")
        return self

    def mesh(self, hand: int) -> trimesh.Trimesh:
        faces = self.faces if self.faces is not None else default_faces()
        return trimesh.Trimesh(self.vertices[hand], faces[hand], process=False)

    def keypoints_2d(self) -> np.ndarray:
        """(42, 2) pixel coordinates of the keypoints."""
        return self.camera.project(self.keypoints)


_MODEL: HandModel | None = None


def default_model() -> HandModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = HandModel()
    return _MODEL


def default_faces() -> tuple[np.ndarray, np.ndarray]:
    model = default_model()
    return model.faces("right").numpy(), model.faces("left").numpy()


def sample_queries(rng: np.random.Generator, mesh: trimesh.Trimesh, n: int,
                   config: GeneratorConfig) -> np.ndarray:
    """HALO-style queries: uniform in the padded box + surface samples with Gaussian noise."""
    n_uniform = int(round(n * config.uniform_fraction))
    # trimesh's bounds and area_faces, computed the same way (bit for bit) without its caches
    tri = np.asarray(mesh.vertices).view(np.ndarray)[np.asarray(mesh.faces)]  # (F, 3, 3)
    corners = tri.reshape(-1, 3)
    lo, hi = corners.min(axis=0) - config.box_padding, corners.max(axis=0) + config.box_padding
    uniform = rng.uniform(lo, hi, size=(n_uniform, 3))
    # area-weighted surface samples: the wrist cap has long triangles
    edges = tri[:, 1:, :] - tri[:, :2, :]
    areas = np.sqrt((np.cross(edges[:, 0], edges[:, 1]) ** 2).sum(axis=1)) / 2.0
    face = rng.choice(len(areas), size=n - n_uniform, p=areas / areas.sum())
    r1, r2 = rng.random((2, n - n_uniform))
    flip = r1 + r2 > 1
    r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
    tri = tri[face]
    surface = tri[:, 0] + r1[:, None] * (tri[:, 1] - tri[:, 0]) + r2[:, None] * (tri[:, 2] - tri[:, 0])
    surface += rng.normal(0.0, config.surface_sigma, surface.shape)
    return np.concatenate([uniform, surface]).astype(np.float32)


def generate_sample(seed: int, config: GeneratorConfig = GeneratorConfig(),
                    interaction: str | None = None, model: HandModel | None = None) -> TwoHandSample:
    """Generate the sample of this seed (deterministic)."""
    if interaction is not None:
        check_interaction(interaction)
    model = model if model is not None else default_model()
    rng = np.random.default_rng(seed)
    if interaction is None:
        weights = np.asarray(config.interaction_weights, dtype=float)
        interaction = config.interactions[rng.choice(len(weights), p=weights / weights.sum())]
    with torch.no_grad():
        pair = sample_interaction(rng, interaction, model, config.max_penetration,
                                  shape_space=config.shape_space)

    # camera on a sphere around the pair; far enough that both hands fit in the crop
    centre = pair.vertices.reshape(-1, 3).mean(axis=0)
    radius = np.linalg.norm(pair.vertices.reshape(-1, 3) - centre, axis=1).max()
    fov = rng.uniform(*config.fov_deg)
    distance = radius / np.sin(np.radians(fov) / 2) * rng.uniform(1.0, 1.15)
    roll = np.radians(rng.uniform(-30, 30))
    up = np.array([np.sin(roll), np.cos(roll), 0.0])
    camera = PinholeCamera.looking_at(centre, distance, azimuth=rng.uniform(-180, 180),
                                      elevation=rng.uniform(-60, 60), fov_deg=fov,
                                      width=config.image_size, height=config.image_size, up=up)

    # skin, lights, background, camera artefacts: their own random stream, so the look can
    # change without changing any label
    look = render_sample_image(seed, pair, camera, config, part_weights=model.skin_weights.numpy())

    queries, occupancy = [], []
    for h in range(2):
        mesh = trimesh.Trimesh(pair.vertices[h], pair.faces[h], process=False)
        q = sample_queries(rng, mesh, config.n_queries, config)
        # labels per hand, never on a concatenated mesh (see geometry.inside); exact winding
        # numbers (signed ray crossings of the closed hand mesh, == the solid-angle sum), since
        # LBS folds the skin into itself at bent joints, where ray parity is wrong
        winding = closed_winding_number(pair.vertices[h], pair.faces[h], q.astype(np.float64))
        occupancy.append(winding > 0)  # integers: > 0 is > 0.5
        queries.append(q)

    p = pair.params
    return TwoHandSample(
        image=look.image,
        mask=look.mask,
        parts=look.parts,
        camera=camera,
        keypoints=pair.joints.reshape(42, 3).astype(np.float32),
        vertices=pair.vertices.astype(np.float32),
        queries=np.stack(queries),
        occupancy=np.stack(occupancy),
        finger_angles=p.finger_angles.astype(np.float32),
        global_orient=p.global_orient.astype(np.float32),
        transl=p.transl.astype(np.float32),
        scale=float(p.scale),
        finger_lengths=np.asarray(p.finger_lengths, dtype=np.float32),
        interaction=interaction,
        seed=int(seed),
        penetration=float(pair.penetration),
        faces=pair.faces,
        betas=np.stack([p.betas, p.betas]).astype(np.float32),  # one person: both hands alike
    )
