"""Sample interacting two-hand configurations like InterHand2.6M's, free of deep penetration.

Each interaction type is a template: a natural finger pose per hand, the hands' orientations
and a relative placement near contact, plus an *approach direction* along which the left hand
is then moved until the pair is in contact but the measured penetration depth is below
`max_penetration` (2 mm by default). Penetration is measured, never assumed: the depth of every
vertex of one hand inside the other (winding number), in both directions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import igl
import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from ..geometry.inside import closed_mesh_index
from ..geometry.rotations import matrix_to_axis_angle
from ..hand.joints import MIDDLE_MCP, WRIST
from ..hand.model import JOINT_LIMITS, HandModel

INTERACTIONS: tuple[str, ...] = (
    "palms_facing", "interlaced", "grip", "crossed", "fingertips_touching", "random")
SIDE_RIGHT, SIDE_LEFT = 0, 1  # InterHand2.6M stacks the right hand first
CLEARANCE_MARGIN = 0.04  # metres; clearances beyond this are not measured exactly
# The generator's shape distribution, beta_k ~ U(low, high) per coefficient of the hand's shape
# space (HandModel.shape_names). Everything the targets allow, except thick fingers beyond +0.5:
# thicker fingers fold further into themselves at bent joints (benchmarks/bench_shape_space.py;
# docs/DATA.md), so the range stops where the added self-overlap stays below 1 % of the volume.
SHAPE_RANGES: dict[str, tuple[float, float]] = {
    "finger_diameter": (-1.0, 0.5),
    "finger_distance": (-1.0, 1.0),
    "wrist_circumference": (-1.0, 1.0),
    "palm_thickness": (-1.0, 1.0),
}


@dataclass
class HandParams:
    """Pose and shape of both hands, stacked (right, left)."""

    finger_angles: np.ndarray  # (2, 15, 3)
    global_orient: np.ndarray  # (2, 3) axis-angle
    transl: np.ndarray  # (2, 3) wrist positions, metres
    scale: float = 1.0  # one person: both hands share the shape
    finger_lengths: np.ndarray = field(default_factory=lambda: np.ones(5))  # (5,)
    betas: np.ndarray | None = None  # (K,) the shape space's coefficients, shared; None: mean hand


@dataclass
class PosedPair:
    params: HandParams
    vertices: np.ndarray  # (2, V, 3) float64, right then left
    joints: np.ndarray  # (2, 21, 3)
    faces: tuple[np.ndarray, np.ndarray]  # per side
    interaction: str
    penetration: float  # metres, max depth of either hand inside the other
    clearance: float  # metres, smallest distance between the hands when not penetrating


def check_interaction(name: str) -> str:
    if name not in INTERACTIONS:
        raise ValueError(f"unknown interaction type {name!r}; choose one of {list(INTERACTIONS)}")
    return name


REAL_DATA_LABEL = "interhand"  # the "interaction" of a real (InterHand2.6M) frame
SAMPLE_LABELS: tuple[str, ...] = INTERACTIONS + (REAL_DATA_LABEL,)  # what a stored sample may carry


def check_sample_label(name: str) -> str:
    if name not in SAMPLE_LABELS:
        raise ValueError(f"unknown sample interaction {name!r}; expected one of {list(SAMPLE_LABELS)}")
    return name


# ---------------------------------------------------------------------------------- poses
def natural_finger_angles(rng: np.random.Generator, curl: tuple[float, float] = (0.0, 0.6),
                          spread: float = 0.2) -> np.ndarray:
    """(15, 3) finger angles: coupled flexion per finger (PIP/DIP follow MCP), mild spread.

    Curl is a fraction of each joint's flexion limit; staying below ~0.65 keeps fingertips
    out of the palm (LBS self-overlap starts around 60-70% of a full fist).
    """
    lo, hi = JOINT_LIMITS[..., 0].numpy(), JOINT_LIMITS[..., 1].numpy()
    angles = np.zeros((15, 3))
    for finger in range(1, 5):
        c = rng.uniform(*curl)
        rows = slice(3 * finger, 3 * finger + 3)
        angles[rows, 0] = c * hi[rows, 0] * rng.uniform(0.8, 1.1, 3)
        angles[3 * finger, 1] = rng.uniform(-spread, spread)
    angles[0] = [rng.uniform(-0.3, 0.7), rng.uniform(-0.4, 0.5), rng.uniform(-0.2, 0.2)]
    angles[1, 0], angles[2, 0] = rng.uniform(0.0, 0.7), rng.uniform(0.0, 0.9)
    angles[..., 2] += rng.normal(0.0, 0.02, 15)
    return np.clip(angles, lo, hi)


def frame_rotation(finger_dir: np.ndarray, palm_normal: np.ndarray) -> np.ndarray:
    """Rotation taking the hand's canonical frame (+y fingers, +z palm) to the given axes."""
    f = finger_dir / np.linalg.norm(finger_dir)
    n = palm_normal - (palm_normal @ f) * f
    n /= np.linalg.norm(n)
    return np.stack([np.cross(f, n), f, n], axis=1)


def _rot(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _jitter(rng, degrees: float) -> np.ndarray:
    return _rot(rng.normal(size=3), np.radians(rng.uniform(0, degrees)))


# ---------------------------------------------------------------------------------- templates
@dataclass
class _Template:
    angles: np.ndarray  # (2, 15, 3)
    rotations: np.ndarray  # (2, 3, 3)
    palm_centres: np.ndarray  # (2, 3) where each palm centre should go
    approach: np.ndarray  # (3,) unit direction moving the LEFT hand away from the right
    gap: float = 0.0  # clearance to leave after contact


def _template(name: str, rng: np.random.Generator) -> _Template:
    up, x, z = np.array([0, 1.0, 0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    right = natural_finger_angles(rng)
    left = natural_finger_angles(rng)
    if name == "palms_facing":
        rots = [frame_rotation(up, -x) @ _jitter(rng, 15), frame_rotation(up, x) @ _jitter(rng, 15)]
        centres = [0.04 * x, -0.04 * x + rng.normal(0, 0.01, 3)]
        approach = -x
    elif name == "fingertips_touching":
        tilt = np.radians(rng.uniform(15, 35))
        right = natural_finger_angles(rng, curl=(0.0, 0.25), spread=0.3)
        left = natural_finger_angles(rng, curl=(0.0, 0.25), spread=0.3)
        rots = [frame_rotation(_rot(z, tilt) @ up, -x), frame_rotation(_rot(z, -tilt) @ up, x)]
        centres = [0.07 * x, -0.07 * x]
        approach = -x
    elif name == "interlaced":
        right = natural_finger_angles(rng, curl=(0.35, 0.6), spread=0.35)
        left = natural_finger_angles(rng, curl=(0.35, 0.6), spread=0.35)
        rots = [frame_rotation(_rot(z, 0.3) @ up, -x) @ _jitter(rng, 10),
                frame_rotation(_rot(z, -0.3) @ up, x) @ _jitter(rng, 10)]
        centres = [0.02 * x, -0.02 * x + np.array([0, 0, 0.01])]
        approach = -x
    elif name == "grip":
        # the right hand wraps around the left hand's fingers (swapped half of the time below)
        right = natural_finger_angles(rng, curl=(0.5, 0.65), spread=0.1)
        left = natural_finger_angles(rng, curl=(0.0, 0.2), spread=0.1)
        rots = [frame_rotation(-z, -up) @ _jitter(rng, 10), frame_rotation(x, -up) @ _jitter(rng, 10)]
        centres = [np.array([0.10, 0.03, 0.0]), np.zeros(3)]
        approach = -up
    elif name == "crossed":
        tilt = np.radians(rng.uniform(25, 50))
        normal = z if rng.random() < 0.5 else -z
        rots = [frame_rotation(_rot(z, tilt) @ up, normal), frame_rotation(_rot(z, -tilt) @ up, normal)]
        centres = [np.zeros(3), np.array([0.0, 0.0, 0.03])]
        approach = z
    elif name == "random":
        rots = [_rot(rng.normal(size=3), rng.uniform(0, np.pi)) for _ in range(2)]
        approach = rng.normal(size=3)
        approach /= np.linalg.norm(approach)
        centres = [np.zeros(3), 0.08 * approach]
        gap = rng.uniform(0.0, 0.03) if rng.random() < 0.5 else 0.0
        return _Template(np.stack([right, left]), np.stack(rots), np.stack(centres), approach, gap)
    else:
        raise ValueError(check_interaction(name))
    angles = np.stack([right, left])
    rots, centres = np.stack(rots), np.stack(centres)
    if name == "grip" and rng.random() < 0.5:  # the left hand grips instead: mirror the scene
        mirror = np.diag([-1.0, 1.0, 1.0])
        angles = angles[::-1].copy()
        rots = np.stack([mirror @ rots[1] @ mirror, mirror @ rots[0] @ mirror])
        centres = (centres @ mirror)[::-1].copy()
        approach = -approach
    return _Template(angles, rots, centres, approach)


# ---------------------------------------------------------------------------------- contact
class _Surface:
    """One fixed hand surface with its search structures, each built on first use (not per
    query): the exact inside test (signed ray crossings, geometry.inside.ClosedMeshIndex), the
    exact point-to-mesh distance (libigl AABB) and, for comparison only, embree.

    Extremes of many distances: a k-d tree over surface samples (the vertices, plus points on
    the long faces) within `COVER` of every surface point bounds each distance to [d - COVER,
    d] (d: to the nearest sample); only the points whose bounds reach the extreme get the exact
    distance, and the extreme is the same as from exact distances of all the points.
    """

    COVER = 0.005  # metres: the samples' covering radius
    FEW = 128  # points: fewer get exact distances directly

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self.lo, self.hi = self.vertices.min(0), self.vertices.max(0)
        self._tree = None
        self._mesh = None
        self._index = None
        self._samples = None

    @property
    def mesh(self) -> trimesh.Trimesh:
        if self._mesh is None:
            self._mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        return self._mesh

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Exact point-to-mesh distances (N,)."""
        if self._tree is None:
            self._tree = igl.AABB()
            self._tree.init(self.vertices, self.faces)
        return np.sqrt(self._tree.squared_distance(self.vertices, self.faces, points)[0])

    def _nearest_sample(self, points: np.ndarray, reach: float = np.inf) -> np.ndarray:
        """Distance to the nearest surface sample (an upper bound of the exact distance, at
        most COVER above it); inf beyond `reach` (far k-d queries are the slow ones)."""
        if self._samples is None:
            self._samples = cKDTree(_cover_samples(self.vertices, self.faces, self.COVER),
                                    balanced_tree=False)  # builds 2x faster, queries as fast
        return self._samples.query(points, distance_upper_bound=reach)[0]

    def max_distance(self, points: np.ndarray) -> float:
        """max(distance(points)), exact."""
        if len(points) > self.FEW:
            upper = self._nearest_sample(points)
            points = points[upper >= (upper - self.COVER).max() - 1e-9]
        return float(self.distance(points).max())

    def min_distance(self, points: np.ndarray) -> float:
        """min(distance(points)), exact."""
        if len(points) > self.FEW:
            reach = 3 * self.COVER  # enough when a point is that close: the others are farther
            upper = self._nearest_sample(points, reach)
            if not upper.min() + self.COVER <= reach:
                upper = self._nearest_sample(points)
            points = points[upper - self.COVER <= upper.min() + 1e-9]
        return float(self.distance(points).min())

    def inside(self, points: np.ndarray, exact: bool = True) -> np.ndarray:
        """Exact winding number > 0.5 (signed ray crossings of the closed hand mesh; the index
        is cached, so the fixed right hand's is reused for its labels), or embree ray parity
        (wrong inside folds; kept for comparison)."""
        near = np.all((points > self.lo) & (points < self.hi), axis=1)  # cheap box reject
        result = np.zeros(len(points), dtype=bool)
        if near.any():
            if exact:
                if self._index is None:
                    self._index = closed_mesh_index(self.vertices, self.faces)
                result[near] = self._index.contains(points[near])
            else:
                result[near] = self.mesh.ray.contains_points(points[near])
        return result


def _cover_samples(vertices: np.ndarray, faces: np.ndarray, cover: float) -> np.ndarray:
    """The vertices plus, on each face whose longest edge L exceeds sqrt(3) * cover, a
    barycentric grid of m = ceil(L / (sqrt(3) cover)) steps per edge: its m^2 sub-triangles
    have edges <= L / m, and a triangle is covered by its corners within (longest edge)/sqrt(3)
    (circumradius when acute, half the longest edge otherwise)."""
    corners = vertices[faces]
    longest = np.linalg.norm(corners - corners[:, [1, 2, 0]], axis=2).max(axis=1)
    steps = np.ceil(longest / (np.sqrt(3.0) * cover)).astype(np.int64)
    out = [vertices]
    for m in np.unique(steps[steps > 1]):
        i, j = np.meshgrid(np.arange(m + 1), np.arange(m + 1), indexing="ij")
        grid = np.stack([i.ravel(), j.ravel()], axis=1)
        grid = grid[grid.sum(axis=1) <= m] / m  # (k, 2) barycentric (b1, b2)
        tri = corners[steps == m]
        out.append((tri[:, None, 0] + grid[None, :, :1] * (tri[:, None, 1] - tri[:, None, 0])
                    + grid[None, :, 1:] * (tri[:, None, 2] - tri[:, None, 0])).reshape(-1, 3))
    return np.concatenate(out)


def _depth_and_clearance(a: _Surface, b: _Surface, offset_b: np.ndarray,
                         exact: bool) -> tuple[float, float]:
    """Penetration depth and clearance of hand b (translated by offset_b) against hand a."""
    depth, clearance = 0.0, np.inf
    # b's vertices in a, and a's vertices in b (moved into b's fixed frame instead of moving b)
    for points, surface in ((b.vertices + offset_b, a), (a.vertices - offset_b, b)):
        # only points near the other hand's box can touch it; beyond that the clearance
        # is reported as the box margin (a lower bound, enough to steer the search)
        near = np.all((points > surface.lo - CLEARANCE_MARGIN)
                      & (points < surface.hi + CLEARANCE_MARGIN), axis=1)
        if not near.any():
            clearance = min(clearance, CLEARANCE_MARGIN)
            continue
        points = points[near]
        inside = surface.inside(points, exact)
        if inside.any():
            depth = max(depth, surface.max_distance(points[inside]))
        else:
            clearance = min(clearance, surface.min_distance(points))
    return depth, (0.0 if depth > 0 else clearance)


def penetration_depth(verts_a, faces_a, verts_b, faces_b) -> tuple[float, float]:
    """(max depth of either hand's vertices inside the other, clearance if none are inside).

    Depth is measured on vertices with exact winding numbers (signed ray crossings of the
    closed meshes) and exact point-to-mesh distances; the clearance is the smallest
    vertex-to-surface distance between the hands.
    """
    return _depth_and_clearance(_Surface(verts_a, faces_a), _Surface(verts_b, faces_b),
                                np.zeros(3), exact=True)


def _pose(model: HandModel, params: HandParams) -> tuple[np.ndarray, np.ndarray]:
    verts, joints = [], []
    for side_index, side in enumerate(("right", "left")):
        out = model(torch.as_tensor(params.finger_angles[side_index:side_index + 1], dtype=torch.float32),
                    global_orient=torch.as_tensor(params.global_orient[side_index:side_index + 1], dtype=torch.float32),
                    transl=torch.as_tensor(params.transl[side_index:side_index + 1], dtype=torch.float32),
                    scale=torch.tensor([params.scale], dtype=torch.float32),
                    finger_lengths=torch.as_tensor(params.finger_lengths[None], dtype=torch.float32),
                    betas=None if params.betas is None else torch.as_tensor(params.betas[None], dtype=torch.float32),
                    side=side)
        verts.append(out.vertices[0].double().numpy())
        joints.append(out.joints[0].double().numpy())
    return np.stack(verts), np.stack(joints)


def sample_betas(rng: np.random.Generator, names: tuple[str, ...]) -> np.ndarray:
    """(K,) shape coefficients drawn from SHAPE_RANGES, in the order of `names`."""
    unknown = [name for name in names if name not in SHAPE_RANGES]
    if unknown:
        raise ValueError(f"no shape range for the hand's coefficients {unknown}")
    low, high = np.array([SHAPE_RANGES[name] for name in names]).T
    return rng.uniform(low, high)


def sample_interaction(rng: np.random.Generator, interaction: str, model: HandModel,
                       max_penetration: float = 0.002, max_steps: int = 40,
                       shape_space: bool = True) -> PosedPair:
    """Sample one two-hand configuration of the given type, settled near contact.

    Both hands are one person's: they share scale, finger lengths and betas. With
    `shape_space=False` the betas are drawn all the same and then zeroed (the mean hand), so
    the other draws, poses included, stay those of the same seed."""
    check_interaction(interaction)
    t = _template(interaction, rng)
    scale = float(rng.uniform(0.9, 1.1))
    finger_lengths = np.clip(1.0 + rng.normal(0.0, 0.04, 5), 0.9, 1.1)
    betas = sample_betas(rng, model.shape_names)
    if not shape_space:
        betas = np.zeros_like(betas)
    rest = model.rest_joints.double().numpy()
    palm_centre_local = 0.5 * (rest[WRIST] + rest[MIDDLE_MCP]) * scale
    mirror = np.array([-1.0, 1.0, 1.0])
    transl = np.stack([t.palm_centres[s] - t.rotations[s] @ (palm_centre_local * (mirror if s else 1))
                       for s in range(2)])
    orient = matrix_to_axis_angle(torch.as_tensor(t.rotations)).numpy()
    params = HandParams(t.angles, orient, transl, scale, finger_lengths, betas)
    faces = (model.faces("right").numpy(), model.faces("left").numpy())

    # pose both hands once; the left hand then moves rigidly along the approach direction
    verts, joints = _pose(model, params)

    right, left = _Surface(verts[0], faces[0]), _Surface(verts[1], faces[1])

    def measure(shift: float) -> tuple[float, float]:  # exact winding numbers and distances
        return _depth_and_clearance(right, left, shift * t.approach, exact=True)

    shift, (depth, clearance) = 0.0, measure(0.0)
    for _ in range(max_steps):  # secant-like: move by the measured depth or clearance
        if depth > max_penetration:
            shift += depth + 0.0005
        elif clearance > 0.001 + t.gap:
            shift -= clearance - t.gap - 0.0002
        else:
            break
        depth, clearance = measure(shift)
    # every measurement is exact, so (depth, clearance) is that of the final shift: no re-check
    while depth > max_penetration:  # guaranteed exit: far enough apart nothing penetrates
        shift += max(depth, 0.001)
        depth, clearance = measure(shift)
    params.transl[SIDE_LEFT] += shift * t.approach
    verts[SIDE_LEFT] += shift * t.approach
    joints[SIDE_LEFT] += shift * t.approach
    return PosedPair(params, verts, joints, faces, interaction, depth, clearance)
