"""Reconstruction and keypoint metrics (numpy / trimesh in, floats out).

Meshes are `trimesh.Trimesh` or (vertices (V, 3), faces (F, 3)) pairs in metres (the
library's unit). The low-level functions return values in the input's units; only the
reporting functions `hand_metrics` and `two_hand_metrics` convert, explicitly, to
millimetres / cm³ via `length_unit_mm` (millimetres per input unit, 1000 for metres).

The protocol follows Im2Hands (after Occupancy Networks / HALO). Each predicted hand is
first translated so its middle-finger MCP (joint `MIDDLE_MCP` = 11 of `hand.joints`)
coincides with the ground truth's (`align_by_middle_joint`). IoU is |A ∩ B| / |A ∪ B| over
uniform points in the joint bounding box of the two meshes, inside-ness by generalised
winding number > 0.5 for each mesh separately (robust to slightly open predicted meshes
and to posed meshes that overlap themselves). Chamfer-L1 is ½ (mean NN distance pred→gt +
mean NN distance gt→pred) over area-weighted surface samples on both meshes, with
Euclidean (L2) nearest-neighbour distances; Occupancy Networks call it "Chamfer-L1"
because the distances are not squared. Also reported: the penetration volume of the
predicted pair (Monte Carlo, points inside both meshes) and MPJPE for keypoints.

All Monte Carlo estimates take `rng` (a `numpy.random.Generator` or an int seed); None
means seed 0, so results are deterministic by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..geometry.inside import winding_number
from ..geometry.meshes import MeshLike, mesh_arrays, sample_surface
from ..hand.joints import MIDDLE_MCP, N_JOINTS

__all__ = [
    "MeshLike",
    "M_TO_MM",
    "to_mm",
    "to_cm3",
    "middle_joint_translation",
    "align_by_middle_joint",
    "sample_surface",
    "iou",
    "chamfer_l1",
    "PenetrationRegion",
    "penetration_region",
    "penetration_volume",
    "mpjpe",
    "hand_metrics",
    "two_hand_metrics",
]

RngLike = np.random.Generator | int | None

M_TO_MM = 1000.0
"""Millimetres per metre: the default `length_unit_mm` of the reporting functions."""


# --------------------------------------------------------------------------- conversions


def to_mm(length: float, length_unit_mm: float = M_TO_MM) -> float:
    """A length in input units -> millimetres (`length_unit_mm` mm per unit; metres default)."""
    return float(length) * float(length_unit_mm)


def to_cm3(volume: float, length_unit_mm: float = M_TO_MM) -> float:
    """A volume in cubed input units -> cm³ (1 m³ = 1e6 cm³ by default)."""
    return float(volume) * (float(length_unit_mm) / 10.0) ** 3


# --------------------------------------------------------------------------- validation


def _as_array(value, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _joints(value, name: str) -> np.ndarray:
    array = _as_array(value, name)
    if array.shape != (N_JOINTS, 3):
        raise ValueError(f"{name} must have shape ({N_JOINTS}, 3), got {array.shape}")
    return array


def _rng(rng: RngLike) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def _n_points(n_points: int) -> int:
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 1:
        raise ValueError(f"n_points must be a positive integer, got {n_points!r}")
    return int(n_points)


def _mesh(mesh: MeshLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    """-> (vertices float64 (V, 3), faces int64 (F, 3)); either may have 0 rows (empty)."""
    return mesh_arrays(mesh, name)


def _is_empty(mesh: tuple[np.ndarray, np.ndarray]) -> bool:
    return len(mesh[1]) == 0


def _bounds(mesh: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    used = mesh[0][np.unique(mesh[1])]
    return used.min(axis=0), used.max(axis=0)


def _inside(mesh: tuple[np.ndarray, np.ndarray], points: np.ndarray) -> np.ndarray:
    """Winding number > 0.5, one mesh on its own -> (N,) bool."""
    return winding_number(mesh[0], mesh[1], points) > 0.5


# --------------------------------------------------------------------------- alignment


def middle_joint_translation(pred_joints, gt_joints) -> np.ndarray:
    """Translation (3,) that moves the predicted middle MCP (joint 11) onto the ground truth's.

    `pred_joints` and `gt_joints` are (21, 3), one hand each, in InterHand2.6M order.
    """
    pred = _joints(pred_joints, "pred_joints")
    gt = _joints(gt_joints, "gt_joints")
    return gt[MIDDLE_MCP] - pred[MIDDLE_MCP]


def align_by_middle_joint(pred_vertices, pred_joints, gt_joints) -> np.ndarray:
    """Translate predicted vertices (N, 3) so the middle MCPs coincide -> (N, 3) float64.

    Apply the same translation to the predicted joints (`pred_joints +
    middle_joint_translation(...)`) if they are needed aligned too.
    """
    vertices = _as_array(pred_vertices, "pred_vertices")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"pred_vertices must have shape (N, 3), got {vertices.shape}")
    return vertices + middle_joint_translation(pred_joints, gt_joints)


# --------------------------------------------------------------------------- metrics


def iou(
    pred_mesh: MeshLike,
    gt_mesh: MeshLike,
    n_points: int = 100_000,
    rng: RngLike = None,
    box=None,
) -> float:
    """Volumetric IoU of two meshes by Monte Carlo -> float in [0, 1].

    `n_points` uniform points in `box` ((2, 3): min, max; default the joint bounding box
    of both meshes); each mesh's occupancy by winding number > 0.5 on its own. An empty
    prediction gives 0.0; an empty ground truth raises ValueError. NaN if neither mesh
    encloses any sample (degenerate, flat meshes).
    """
    pred = _mesh(pred_mesh, "pred_mesh")
    gt = _mesh(gt_mesh, "gt_mesh")
    n_points = _n_points(n_points)
    generator = _rng(rng)
    if _is_empty(gt):
        raise ValueError("gt_mesh is empty")
    if _is_empty(pred):
        return 0.0
    if box is None:
        (pred_low, pred_high), (gt_low, gt_high) = _bounds(pred), _bounds(gt)
        low, high = np.minimum(pred_low, gt_low), np.maximum(pred_high, gt_high)
    else:
        box = _as_array(box, "box")
        if box.shape != (2, 3):
            raise ValueError(f"box must have shape (2, 3) (min, max), got {box.shape}")
        low, high = box
        if not np.all(high >= low):
            raise ValueError(f"box max must be >= min on every axis, got {box.tolist()}")
    points = generator.uniform(low, high, size=(n_points, 3))
    inside_pred = _inside(pred, points)
    inside_gt = _inside(gt, points)
    union = np.count_nonzero(inside_pred | inside_gt)
    if union == 0:
        return float("nan")
    return np.count_nonzero(inside_pred & inside_gt) / union


def chamfer_l1(
    pred_mesh: MeshLike, gt_mesh: MeshLike, n_points: int = 100_000, rng: RngLike = None
) -> float:
    """"Chamfer-L1" (Occupancy Networks) in the meshes' units -> float.

    `n_points` area-weighted surface samples on each mesh;
    ½ (mean_{p ∈ pred} min_{q ∈ gt} ‖p − q‖ + mean_{q ∈ gt} min_{p ∈ pred} ‖q − p‖)
    with Euclidean (L2, not squared) nearest-neighbour distances from a k-d tree. The
    sampling gap adds a small positive bias (~0.3× the mean sample spacing). Empty meshes
    raise ValueError (the reporting functions turn an empty prediction into NaN).
    """
    pred = _mesh(pred_mesh, "pred_mesh")
    gt = _mesh(gt_mesh, "gt_mesh")
    n_points = _n_points(n_points)
    generator = _rng(rng)
    for name, mesh in (("pred_mesh", pred), ("gt_mesh", gt)):
        if _is_empty(mesh):
            raise ValueError(f"{name} is empty; Chamfer distance is undefined")
    pred_points = sample_surface(pred, n_points, generator)
    gt_points = sample_surface(gt, n_points, generator)
    accuracy = cKDTree(gt_points).query(pred_points, k=1)[0].mean()  # pred -> gt
    completeness = cKDTree(pred_points).query(gt_points, k=1)[0].mean()  # gt -> pred
    return float(0.5 * (accuracy + completeness))


@dataclass(frozen=True)
class PenetrationRegion:
    """The Monte Carlo points that fall inside both meshes (`points`, (K, 3)), out of `n_points`
    uniform ones in a box of `box_volume` (the intersection of the two bounding boxes)."""

    points: np.ndarray
    n_points: int
    box_volume: float

    @property
    def volume(self) -> float:
        """The volume inside both meshes (cubed input units): the box's share of points inside both."""
        return float(self.box_volume * len(self.points) / self.n_points)


def penetration_region(
    mesh_a: MeshLike, mesh_b: MeshLike, n_points: int = 100_000, rng: RngLike = None
) -> PenetrationRegion:
    """Where two meshes overlap, by Monte Carlo: `n_points` uniform points in the intersection of
    the two bounding boxes, each mesh's occupancy by winding number on its own (never a
    concatenated mesh). No points (volume 0) when the boxes do not overlap or either mesh is empty."""
    a = _mesh(mesh_a, "mesh_a")
    b = _mesh(mesh_b, "mesh_b")
    n_points = _n_points(n_points)
    generator = _rng(rng)
    nothing = PenetrationRegion(np.zeros((0, 3)), n_points, 0.0)
    if _is_empty(a) or _is_empty(b):
        return nothing
    (a_low, a_high), (b_low, b_high) = _bounds(a), _bounds(b)
    low, high = np.maximum(a_low, b_low), np.minimum(a_high, b_high)
    if not np.all(high > low):
        return nothing
    points = generator.uniform(low, high, size=(n_points, 3))
    inside_a = _inside(a, points)
    both = inside_a.copy()
    if inside_a.any():
        both[inside_a] = _inside(b, points[inside_a])
    return PenetrationRegion(points[both], n_points, float(np.prod(high - low)))


def penetration_volume(
    mesh_a: MeshLike, mesh_b: MeshLike, n_points: int = 100_000, rng: RngLike = None
) -> float:
    """Volume inside both meshes (cubed input units, m³ for metres) by Monte Carlo -> float;
    0.0 when the boxes do not overlap or either mesh is empty (see `penetration_region`)."""
    return penetration_region(mesh_a, mesh_b, n_points, rng).volume


def mpjpe(pred, gt, align_root: int | None = None) -> float:
    """Mean per-joint position error in the input units -> float.

    `pred` and `gt` are (..., J, 3), of equal shape. `align_root`: if given, subtract that
    joint from each skeleton first (root-relative error, e.g. 20 = wrist).
    """
    pred_array = _as_array(pred, "pred")
    gt_array = _as_array(gt, "gt")
    if pred_array.ndim < 2 or pred_array.shape[-1] != 3:
        raise ValueError(f"pred must have shape (..., J, 3), got {pred_array.shape}")
    if pred_array.shape != gt_array.shape:
        raise ValueError(f"pred and gt shapes differ: {pred_array.shape} vs {gt_array.shape}")
    if pred_array.size == 0:
        raise ValueError("pred has no joints")
    if align_root is not None:
        n_joints = pred_array.shape[-2]
        if isinstance(align_root, bool) or not isinstance(align_root, (int, np.integer)) \
                or not 0 <= align_root < n_joints:
            raise ValueError(f"align_root must be a joint index in [0, {n_joints}), got {align_root!r}")
        pred_array = pred_array - pred_array[..., [align_root], :]
        gt_array = gt_array - gt_array[..., [align_root], :]
    return float(np.linalg.norm(pred_array - gt_array, axis=-1).mean())


# --------------------------------------------------------------------------- reporting


def hand_metrics(
    pred_mesh: MeshLike,
    gt_mesh: MeshLike,
    pred_joints,
    gt_joints,
    n_points: int = 100_000,
    rng: RngLike = None,
    length_unit_mm: float = M_TO_MM,
) -> dict[str, float]:
    """Paper metrics of one hand -> `{"iou": [0, 1], "chamfer_mm": mm}`.

    The predicted mesh is first translated so its middle MCP (joint 11 of `pred_joints`,
    (21, 3)) coincides with the ground truth's (`gt_joints`). Meshes and joints share one
    unit, `length_unit_mm` millimetres each (1000: metres). An empty prediction gives
    `iou = 0.0` and `chamfer_mm = nan`. IoU and Chamfer use `n_points` each, drawn from one
    generator in that order.
    """
    generator = _rng(rng)
    pred_vertices, pred_faces = _mesh(pred_mesh, "pred_mesh")
    gt = _mesh(gt_mesh, "gt_mesh")
    aligned = (align_by_middle_joint(pred_vertices, pred_joints, gt_joints), pred_faces)
    if _is_empty(aligned):
        if _is_empty(gt):
            raise ValueError("gt_mesh is empty")
        return {"iou": 0.0, "chamfer_mm": float("nan")}
    return {
        "iou": float(iou(aligned, gt, n_points, generator)),
        "chamfer_mm": to_mm(chamfer_l1(aligned, gt, n_points, generator), length_unit_mm),
    }


def _two_hand_joints(value, name: str) -> np.ndarray:
    array = _as_array(value, name)
    if array.shape == (2 * N_JOINTS, 3):
        array = array.reshape(2, N_JOINTS, 3)
    if array.shape != (2, N_JOINTS, 3):
        raise ValueError(f"{name} must have shape (42, 3) or (2, 21, 3) (right, left), got {array.shape}")
    return array


def two_hand_metrics(
    pred_meshes: Sequence[MeshLike],
    gt_meshes: Sequence[MeshLike],
    pred_joints,
    gt_joints,
    n_points: int = 100_000,
    rng: RngLike = None,
    length_unit_mm: float = M_TO_MM,
) -> dict[str, float]:
    """Metrics of a two-hand prediction, hands in InterHand2.6M order (right, left).

    `pred_meshes`, `gt_meshes`: [right, left] meshes. `pred_joints`, `gt_joints`: (42, 3)
    (right 0..20, left 21..41) or (2, 21, 3). `n_points`: Monte Carlo / surface samples per
    metric. `rng`: generator or seed (None = seed 0), consumed right, left, then penetration.
    `length_unit_mm`: millimetres per input unit (1000: metres).

    Returns a dict with `iou` and `chamfer_mm` (means of the two hands, each middle-joint
    aligned), `iou_right`, `iou_left`, `chamfer_mm_right`, `chamfer_mm_left`, and
    `penetration_cm3`: the volume inside both *predicted* hands in their predicted
    (unaligned) positions.
    """
    for name, meshes in (("pred_meshes", pred_meshes), ("gt_meshes", gt_meshes)):
        if len(meshes) != 2:
            raise ValueError(f"{name} must hold 2 meshes (right, left), got {len(meshes)}")
    pred_j = _two_hand_joints(pred_joints, "pred_joints")
    gt_j = _two_hand_joints(gt_joints, "gt_joints")
    generator = _rng(rng)
    result: dict[str, float] = {}
    for index, side in enumerate(("right", "left")):
        hand = hand_metrics(
            pred_meshes[index], gt_meshes[index], pred_j[index], gt_j[index],
            n_points, generator, length_unit_mm,
        )
        result[f"iou_{side}"] = hand["iou"]
        result[f"chamfer_mm_{side}"] = hand["chamfer_mm"]
    result["iou"] = 0.5 * (result["iou_right"] + result["iou_left"])
    result["chamfer_mm"] = 0.5 * (result["chamfer_mm_right"] + result["chamfer_mm_left"])
    volume = penetration_volume(pred_meshes[0], pred_meshes[1], n_points, generator)
    result["penetration_cm3"] = to_cm3(volume, length_unit_mm)
    return result
