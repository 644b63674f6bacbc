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

from ..geometry.inside import winding_number
from ..geometry.rotations import matrix_to_axis_angle
from ..hand.joints import MIDDLE_MCP, WRIST
from ..hand.model import JOINT_LIMITS, HandModel

INTERACTIONS: tuple[str, ...] = (
    "palms_facing", "interlaced", "grip", "crossed", "fingertips_touching", "random")
SIDE_RIGHT, SIDE_LEFT = 0, 1  # InterHand2.6M stacks the right hand first
CLEARANCE_MARGIN = 0.04  # metres; clearances beyond this are not measured exactly


@dataclass
class HandParams:
    """Pose and shape of both hands, stacked (right, left)."""

    finger_angles: np.ndarray  # (2, 15, 3)
    global_orient: np.ndarray  # (2, 3) axis-angle
    transl: np.ndarray  # (2, 3) wrist positions, metres
    scale: float = 1.0  # one person: both hands share the shape
    finger_lengths: np.ndarray = field(default_factory=lambda: np.ones(5))  # (5,)


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
    """One fixed hand surface with its search structures built once (not per query)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self.tree = igl.AABB()
        self.tree.init(self.vertices, self.faces)
        self.mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        self.lo, self.hi = self.vertices.min(0), self.vertices.max(0)

    def distance(self, points: np.ndarray) -> np.ndarray:
        return np.sqrt(self.tree.squared_distance(self.vertices, self.faces, points)[0])

    def inside(self, points: np.ndarray, exact: bool) -> np.ndarray:
        """Winding number (exact) or embree ray parity (fast, used while searching)."""
        near = np.all((points > self.lo) & (points < self.hi), axis=1)  # cheap box reject
        result = np.zeros(len(points), dtype=bool)
        if near.any():
            if exact:
                result[near] = winding_number(self.vertices, self.faces, points[near]) > 0.5
            else:
                result[near] = self.mesh.ray.contains_points(points[near])
        return result


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
        dist = surface.distance(points)
        if inside.any():
            depth = max(depth, float(dist[inside].max()))
        else:
            clearance = min(clearance, float(dist.min()))
    return depth, (0.0 if depth > 0 else clearance)


def penetration_depth(verts_a, faces_a, verts_b, faces_b) -> tuple[float, float]:
    """(max depth of either hand's vertices inside the other, clearance if none are inside).

    Depth is measured on vertices with exact-enough winding numbers and point-to-mesh
    distances; the clearance is the smallest vertex-to-surface distance between the hands.
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
                    side=side)
        verts.append(out.vertices[0].double().numpy())
        joints.append(out.joints[0].double().numpy())
    return np.stack(verts), np.stack(joints)


def sample_interaction(rng: np.random.Generator, interaction: str, model: HandModel,
                       max_penetration: float = 0.002, max_steps: int = 40) -> PosedPair:
    """Sample one two-hand configuration of the given type, settled near contact."""
    check_interaction(interaction)
    t = _template(interaction, rng)
    scale = float(rng.uniform(0.9, 1.1))
    finger_lengths = np.clip(1.0 + rng.normal(0.0, 0.04, 5), 0.9, 1.1)
    rest = model.rest_joints.double().numpy()
    palm_centre_local = 0.5 * (rest[WRIST] + rest[MIDDLE_MCP]) * scale
    mirror = np.array([-1.0, 1.0, 1.0])
    transl = np.stack([t.palm_centres[s] - t.rotations[s] @ (palm_centre_local * (mirror if s else 1))
                       for s in range(2)])
    orient = matrix_to_axis_angle(torch.as_tensor(t.rotations)).numpy()
    params = HandParams(t.angles, orient, transl, scale, finger_lengths)
    faces = (model.faces("right").numpy(), model.faces("left").numpy())

    # pose both hands once; the left hand then moves rigidly along the approach direction
    verts, joints = _pose(model, params)

    right, left = _Surface(verts[0], faces[0]), _Surface(verts[1], faces[1])

    def measure(shift: float, exact: bool = False) -> tuple[float, float]:
        return _depth_and_clearance(right, left, shift * t.approach, exact)

    shift, (depth, clearance) = 0.0, measure(0.0)
    for _ in range(max_steps):  # secant-like: move by the measured depth or clearance
        if depth > max_penetration:
            shift += depth + 0.0005
        elif clearance > 0.001 + t.gap:
            shift -= clearance - t.gap - 0.0002
        else:
            break
        depth, clearance = measure(shift)
    # the search used ray parity; the result is verified with winding numbers
    depth, clearance = measure(shift, exact=True)
    while depth > max_penetration:  # guaranteed exit: far enough apart nothing penetrates
        shift += max(depth, 0.001)
        depth, clearance = measure(shift, exact=True)
    params.transl[SIDE_LEFT] += shift * t.approach
    verts[SIDE_LEFT] += shift * t.approach
    joints[SIDE_LEFT] += shift * t.approach
    return PosedPair(params, verts, joints, faces, interaction, depth, clearance)
