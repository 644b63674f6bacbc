"""A chumpy-free MANO loader and a batched, differentiable MANO layer in torch.

MANO (https://mano.is.tue.mpg.de) is licensed and never shipped with or downloaded by the
kit; users who have ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` load them with `load_mano_model`
and pose them with `ManoLayer`. The official files are Python-2 pickles holding chumpy
objects and an old-scipy sparse matrix, so `_ManoUnpickler` swaps chumpy classes for
stand-ins that only keep their pickled state, maps old scipy module paths to today's
classes, and refuses every other global (a pickle can otherwise run arbitrary code).

`write_fixture_mano` writes a synthetic file with the exact MANO layout and random values,
for tests and demos that cannot use the licensed model.
"""
from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch
from torch import Tensor, nn

from ..geometry.rotations import axis_angle_to_matrix
from .model import HandOutput

MANO_URL = "https://mano.is.tue.mpg.de"
N_VERTICES = 778
N_FACES = 1538
N_MANO_JOINTS = 16
N_BETAS = 10
N_HAND_POSE = 45  # 15 finger joints x axis-angle
N_POSE_FEATURES = 135  # 15 finger joints x 9 entries of (R - I)
# MANO's own parent table (joint 0 = wrist is the root)
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# Fingertips are mesh vertices (MANO has no tip joints): thumb, index, middle, ring, pinky.
MANO_TIP_VERTICES: tuple[int, ...] = (745, 317, 444, 556, 673)
# Keypoints in the kit's InterHand2.6M order, as indices into cat(16 MANO joints, 5 tips):
# MANO joints are 0 wrist, 1-3 index (MCP, PIP, DIP), 4-6 middle, 7-9 pinky, 10-12 ring,
# 13-15 thumb (CMC, MCP, IP); 16 + k is tip k of MANO_TIP_VERTICES. The result is, per finger
# thumb, index, middle, ring, pinky: tip, distal -> proximal joints; then the wrist:
# [v745, J15, J14, J13, v317, J3, J2, J1, v444, J6, J5, J4, v556, J12, J11, J10,
#  v673, J9, J8, J7, J0].
MANO_TO_INTERHAND: tuple[int, ...] = (
    16, 15, 14, 13,
    17, 3, 2, 1,
    18, 6, 5, 4,
    19, 12, 11, 10,
    20, 9, 8, 7,
    0,
)

_FIELD_SHAPES: dict[str, tuple[int, ...]] = {
    "v_template": (N_VERTICES, 3),
    "f": (N_FACES, 3),
    "shapedirs": (N_VERTICES, 3, N_BETAS),
    "posedirs": (N_VERTICES, 3, N_POSE_FEATURES),
    "J_regressor": (N_MANO_JOINTS, N_VERTICES),
    "weights": (N_VERTICES, N_MANO_JOINTS),
    "kintree_table": (2, N_MANO_JOINTS),
    "hands_components": (N_HAND_POSE, N_HAND_POSE),
    "hands_mean": (N_HAND_POSE,),
}
_INT_FIELDS = ("f", "kintree_table")
SIDES = ("right", "left")


class ManoFormatError(ValueError):
    """A MANO file is unreadable, or a field is missing or has the wrong shape."""


@dataclass(frozen=True)
class ManoModel:
    """The arrays of one MANO hand (metres), as in the official pickle."""

    side: str  # "right" or "left"
    v_template: np.ndarray  # (778, 3) float64 rest vertices
    f: np.ndarray  # (1538, 3) int64 faces
    shapedirs: np.ndarray  # (778, 3, 10) shape blend shapes
    posedirs: np.ndarray  # (778, 3, 135) pose blend shapes
    J_regressor: np.ndarray  # (16, 778) dense joint regressor
    weights: np.ndarray  # (778, 16) skinning weights
    kintree_table: np.ndarray  # (2, 16) int64; row 0 = parents, root's parent = -1
    hands_components: np.ndarray  # (45, 45) PCA basis of hand poses, one component per row
    hands_mean: np.ndarray  # (45,) mean hand pose (axis-angle)

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.kintree_table[0])


# ----------------------------------------------------------------------------- loading


class _ChumpyObject:
    """Stand-in for any chumpy class: keeps the pickled state instead of running chumpy."""

    chumpy_path = "chumpy"

    def __setstate__(self, state: Any) -> None:
        self.state = state


@cache
def _chumpy_stand_in(module: str, name: str) -> type:
    return type(name, (_ChumpyObject,), {"chumpy_path": f"{module}.{name}"})


# Globals a MANO pickle legitimately needs besides chumpy and scipy.sparse. Python-2 names
# (copy_reg, __builtin__) are mapped to Python-3 ones by the base Unpickler.
_ALLOWED_GLOBALS: dict[str, frozenset[str]] = {
    "numpy": frozenset({"ndarray", "dtype"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    "copy_reg": frozenset({"_reconstructor"}),
    "copyreg": frozenset({"_reconstructor"}),
    "__builtin__": frozenset({"object", "set", "frozenset"}),
    "builtins": frozenset({"object", "set", "frozenset"}),
    "_codecs": frozenset({"encode"}),
}


class _ManoUnpickler(pickle.Unpickler):
    """Loads MANO pickles without chumpy and with only the globals such files need."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_stand_in(module, name)
        if module == "scipy.sparse" or module.startswith("scipy.sparse."):
            # old paths such as scipy.sparse.csc.csc_matrix now live in scipy.sparse._csc
            cls = getattr(scipy.sparse, name, None)
            if isinstance(cls, type) and issubclass(cls, scipy.sparse.spmatrix):
                return cls
        elif name in _ALLOWED_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")


def _to_array(value: Any, field: str, path: str) -> np.ndarray:
    """Turn a numpy / sparse / chumpy stand-in value into a dense numpy array."""
    if isinstance(value, _ChumpyObject):
        state = value.state if isinstance(value.state, dict) else {}
        name = value.chumpy_path.rsplit(".", 1)[-1]
        if name == "Ch" and "x" in state:
            return _to_array(state["x"], field, path)
        if name == "Select" and {"a", "idxs"} <= state.keys():
            flat = _to_array(state["a"], field, path).ravel()[np.asarray(state["idxs"])]
            shape = state.get("preferred_shape")
            return flat.reshape(shape) if shape is not None else flat
        raise ManoFormatError(
            f"MANO file {path}: field {field!r} is a {value.chumpy_path} expression that "
            "cannot be evaluated without chumpy (only Ch values and Select are supported)")
    if hasattr(value, "toarray"):  # a scipy sparse matrix
        return np.asarray(value.toarray())
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ManoFormatError(
            f"MANO file {path}: field {field!r} is not an array ({type(value).__name__})") from err


def _infer_side(path: Path) -> str:
    name = path.name.lower()
    found = [s for s in SIDES if s in name]
    if len(found) != 1:
        raise ValueError(
            f"cannot tell the hand side of {path} from its name; pass side='right' or 'left'")
    return found[0]


def load_mano_model(path: str | Path, side: str | None = None) -> ManoModel:
    """Read and validate an official MANO pickle (no chumpy needed).

    side defaults to the one in the file name (MANO_RIGHT.pkl / MANO_LEFT.pkl). Raises
    FileNotFoundError for a missing file and ManoFormatError for an unreadable file or a
    missing / misshaped field. For a left hand from MANO v1.2 also apply
    `fix_left_shapedirs`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MANO model file not found: {path}. MANO is licensed and not shipped with (or "
            f"downloaded by) im2hands_lite: register at {MANO_URL}, download MANO_RIGHT.pkl "
            "/ MANO_LEFT.pkl under the MANO licence and pass their path.")
    side = _infer_side(path) if side is None else side
    if side not in SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    try:
        data = _ManoUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
            KeyError, TypeError, ValueError) as err:
        raise ManoFormatError(
            f"MANO file {path} is not a readable MANO pickle ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(data, dict):
        raise ManoFormatError(
            f"MANO file {path} holds a {type(data).__name__}, expected a dict of arrays")

    arrays = {}
    for field, shape in _FIELD_SHAPES.items():
        if field not in data:
            raise ManoFormatError(
                f"MANO file {path}: missing field {field!r} (expected shape {shape})")
        array = _to_array(data[field], field, str(path))
        if array.shape != shape:
            raise ManoFormatError(
                f"MANO file {path}: field {field!r} has shape {array.shape}, expected {shape}")
        if not np.issubdtype(array.dtype, np.number):
            raise ManoFormatError(
                f"MANO file {path}: field {field!r} has dtype {array.dtype}, expected numbers")
        if field in _INT_FIELDS:
            arrays[field] = array.astype(np.int64)
        else:
            array = array.astype(np.float64)
            if not np.isfinite(array).all():
                raise ManoFormatError(f"MANO file {path}: field {field!r} contains NaN or inf")
            arrays[field] = array
    _check_topology(arrays, str(path))
    return ManoModel(side=side, **arrays)


def _check_topology(arrays: dict[str, np.ndarray], path: str) -> None:
    """Faces index vertices; the kintree lists parents before children (needed by LBS)."""
    faces = arrays["f"]
    if faces.min() < 0 or faces.max() >= N_VERTICES:
        raise ManoFormatError(f"MANO file {path}: field 'f' indexes outside 0..{N_VERTICES - 1}")
    kintree = arrays["kintree_table"]
    kintree[0, 0] = -1  # the file stores the root's parent as a huge unsigned number
    parents = kintree[0]
    ordered = all(0 <= parents[i] < i for i in range(1, N_MANO_JOINTS))
    if not ordered or not np.array_equal(kintree[1], np.arange(N_MANO_JOINTS)):
        raise ManoFormatError(
            f"MANO file {path}: field 'kintree_table' must list joints 0..15 in row 1 and a "
            "parent with a smaller index for every non-root joint in row 0, got "
            f"{kintree.tolist()}")


def fix_left_shapedirs(left: ManoModel, right: ManoModel) -> ManoModel:
    """Return `left` with the sign of shapedirs[:, 0, :] fixed when it has the MANO v1.2 bug.

    The released MANO_LEFT.pkl (v1.2) copies the x-component of the right hand's shape blend
    shapes instead of mirroring it, so betas bend the left hand the wrong way along x. A
    correct left hand has left.shapedirs[:, 0] ~ -right.shapedirs[:, 0]; when the left one is
    closer to +right than to -right, its sign is flipped (the public fix in smplx and
    manopth-derived code, made scale-free here). A correct file is returned unchanged.
    """
    if left.side != "left" or right.side != "right":
        raise ValueError(f"expected (left, right) models, got ({left.side}, {right.side})")
    lx, rx = left.shapedirs[:, 0, :], right.shapedirs[:, 0, :]
    if np.abs(lx - rx).sum() >= np.abs(lx + rx).sum():
        return left
    shapedirs = left.shapedirs.copy()
    shapedirs[:, 0, :] *= -1.0
    return replace(left, shapedirs=shapedirs)


# ----------------------------------------------------------------------------- fixture


def fixture_mano_arrays(seed: int = 0, side: str = "right",
                        left_shapedirs_quirk: bool = True) -> dict[str, Any]:
    """Random arrays with the exact MANO layout (values meaningless, structure valid).

    J_regressor is a scipy csc matrix whose rows are convex weights over 4 vertices, skinning
    weights rows sum to 1, the kintree is MANO's. side="left" mirrors the right hand of the
    same seed in x (faces rewound, pose PCA mirrored) and, with left_shapedirs_quirk, keeps
    shapedirs[:, 0] unmirrored as in the released MANO v1.2 left file.
    """
    if side not in SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    rng = np.random.default_rng(seed)
    v_template = rng.normal(scale=0.03, size=(N_VERTICES, 3))
    faces = rng.integers(0, N_VERTICES, size=(N_FACES, 3)).astype(np.uint32)
    shapedirs = rng.normal(scale=2e-3, size=(N_VERTICES, 3, N_BETAS))
    posedirs = rng.normal(scale=2e-3, size=(N_VERTICES, 3, N_POSE_FEATURES))
    rows = np.repeat(np.arange(N_MANO_JOINTS), 4)
    cols = np.concatenate([rng.choice(N_VERTICES, 4, replace=False) for _ in range(N_MANO_JOINTS)])
    regressor = rng.dirichlet(np.ones(4), size=N_MANO_JOINTS).ravel()
    weights = rng.dirichlet(np.full(N_MANO_JOINTS, 0.3), size=N_VERTICES)
    kintree = np.stack([np.array(MANO_PARENTS, dtype=np.int64) % 2**32,
                        np.arange(N_MANO_JOINTS)])
    components = np.linalg.qr(rng.normal(size=(N_HAND_POSE, N_HAND_POSE)))[0].T
    hands_mean = rng.normal(scale=0.2, size=N_HAND_POSE)
    if side == "left":
        v_template[:, 0] *= -1
        if not left_shapedirs_quirk:
            shapedirs[:, 0] *= -1
        posedirs[:, 0] *= -1
        faces = faces[:, [0, 2, 1]]
        aa_mirror = np.tile([1.0, -1.0, -1.0], N_HAND_POSE // 3)  # mirroring x flips y, z
        components, hands_mean = components * aa_mirror, hands_mean * aa_mirror
    j_regressor = scipy.sparse.csc_matrix(
        (regressor, (rows, cols)), shape=(N_MANO_JOINTS, N_VERTICES))
    return {
        "v_template": v_template, "f": faces, "shapedirs": shapedirs, "posedirs": posedirs,
        "J_regressor": j_regressor, "weights": weights, "kintree_table": kintree,
        "hands_components": components, "hands_mean": hands_mean,
        # extra entries of the real file, ignored by the loader
        "J": j_regressor @ v_template, "bs_style": "lbs", "bs_type": "lrotmin",
    }


def write_fixture_mano(path: str | Path, seed: int = 0, side: str = "right",
                       left_shapedirs_quirk: bool = True) -> dict[str, Any]:
    """Pickle `fixture_mano_arrays` (protocol 2, like the official files) to path; return them."""
    arrays = fixture_mano_arrays(seed, side, left_shapedirs_quirk)
    with open(path, "wb") as handle:
        pickle.dump(arrays, handle, protocol=2)
    return arrays


# ----------------------------------------------------------------------------- layer


@dataclass(frozen=True)
class ManoConfig:
    """use_pca: hand_pose holds n_pca PCA coefficients instead of 45 axis-angle values.
    flat_hand_mean: a zero hand_pose is the flat hand instead of MANO's mean pose."""

    use_pca: bool = False
    n_pca: int = 45
    flat_hand_mean: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.n_pca <= N_HAND_POSE:
            raise ValueError(f"n_pca must be in 1..{N_HAND_POSE}, got {self.n_pca}")

    @property
    def hand_pose_dim(self) -> int:
        return self.n_pca if self.use_pca else N_HAND_POSE


def _check_input(name: str, value: Any, shape: tuple[int, ...]) -> None:
    expected = "(B, " + ", ".join(str(d) for d in shape[1:]) + ")"
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {expected}, got "
                        f"{type(value).__name__}")
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {expected} with B = {shape[0]}, got "
                         f"{tuple(value.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")


class ManoLayer(nn.Module):
    """Batched, differentiable MANO: shape and pose blend shapes, then linear blend skinning.

    Outputs are in the model file's units (metres); keypoints follow the InterHand2.6M order.
    """

    def __init__(self, model: ManoModel, config: ManoConfig | None = None):
        super().__init__()
        self.config = config if config is not None else ManoConfig()
        self.side = model.side
        self.parents = model.parents
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.register_buffer("v_template", f32(model.v_template), persistent=False)
        self.register_buffer("shapedirs", f32(model.shapedirs), persistent=False)
        self.register_buffer("posedirs", f32(model.posedirs), persistent=False)
        self.register_buffer("J_regressor", f32(model.J_regressor), persistent=False)
        self.register_buffer("weights", f32(model.weights), persistent=False)
        self.register_buffer("hands_components",
                             f32(model.hands_components[: self.config.n_pca]), persistent=False)
        self.register_buffer("hands_mean", f32(model.hands_mean), persistent=False)
        self.register_buffer("faces", torch.as_tensor(model.f, dtype=torch.long),
                             persistent=False)

    def forward(self, global_orient: Tensor, hand_pose: Tensor, betas: Tensor | None = None,
                transl: Tensor | None = None) -> HandOutput:
        """Pose a batch of hands.

        global_orient: (B, 3) axis-angle about the wrist joint. hand_pose: (B, 45) axis-angle
        of the 15 finger joints (MANO order), or (B, n_pca) PCA coefficients with use_pca.
        betas: (B, 10) shape, default zeros. transl: (B, 3) added last, default zeros.
        """
        if not isinstance(global_orient, Tensor) or global_orient.ndim != 2:
            raise ValueError(f"global_orient must have shape (B, 3), got "
                             f"{getattr(global_orient, 'shape', type(global_orient).__name__)}")
        batch = global_orient.shape[0]
        ref = self.v_template
        betas = ref.new_zeros(batch, N_BETAS) if betas is None else betas
        transl = ref.new_zeros(batch, 3) if transl is None else transl
        _check_input("global_orient", global_orient, (batch, 3))
        _check_input("hand_pose", hand_pose, (batch, self.config.hand_pose_dim))
        _check_input("betas", betas, (batch, N_BETAS))
        _check_input("transl", transl, (batch, 3))
        global_orient, hand_pose, betas, transl = (
            t.to(ref) for t in (global_orient, hand_pose, betas, transl))

        if self.config.use_pca:
            hand_pose = hand_pose @ self.hands_components
        if not self.config.flat_hand_mean:
            hand_pose = hand_pose + self.hands_mean
        pose = torch.cat([global_orient, hand_pose], dim=1).reshape(batch, N_MANO_JOINTS, 3)
        rot = axis_angle_to_matrix(pose)  # (B, 16, 3, 3)

        v_shaped = self.v_template + torch.einsum("vdl,bl->bvd", self.shapedirs, betas)
        rest_joints = torch.einsum("jv,bvd->bjd", self.J_regressor, v_shaped)
        eye = torch.eye(3, dtype=ref.dtype, device=ref.device)
        pose_feature = (rot[:, 1:] - eye).reshape(batch, N_POSE_FEATURES)
        v_posed = v_shaped + torch.einsum("vdp,bp->bvd", self.posedirs, pose_feature)

        world_rot, joints = self._forward_kinematics(rot, rest_joints)
        # skinning transforms map rest positions to posed ones: x -> R x + (J_posed - R J_rest)
        skin_trans = joints - (world_rot @ rest_joints.unsqueeze(-1)).squeeze(-1)
        blend_rot = torch.einsum("vj,bjkl->bvkl", self.weights, world_rot)
        blend_trans = torch.einsum("vj,bjk->bvk", self.weights, skin_trans)
        verts = (blend_rot @ v_posed.unsqueeze(-1)).squeeze(-1) + blend_trans

        tips = verts[:, list(MANO_TIP_VERTICES)]
        keypoints = torch.cat([joints, tips], dim=1)[:, list(MANO_TO_INTERHAND)]
        offset = transl[:, None]
        return HandOutput(vertices=verts + offset, joints=keypoints + offset, faces=self.faces)

    def _forward_kinematics(self, rot: Tensor, rest_joints: Tensor) -> tuple[Tensor, Tensor]:
        """World rotation and position of every joint; each rotates its subtree about itself."""
        world_rot, world_pos = [rot[:, 0]], [rest_joints[:, 0]]
        for joint in range(1, N_MANO_JOINTS):
            parent = self.parents[joint]
            offset = (rest_joints[:, joint] - rest_joints[:, parent]).unsqueeze(-1)
            world_pos.append((world_rot[parent] @ offset).squeeze(-1) + world_pos[parent])
            world_rot.append(world_rot[parent] @ rot[:, joint])
        return torch.stack(world_rot, dim=1), torch.stack(world_pos, dim=1)
