"""Load and validate the committed CC0 right-hand asset (built by scripts/build_hand_asset.py)."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .joints import N_BONES, N_JOINTS

ASSET_DIR = Path(__file__).resolve().parent / "assets"
DEFAULT_ASSET = ASSET_DIR / "hand_cc0.npz"
_REQUIRED = ("vertices", "faces", "weights", "joints", "fingertip_vertex_ids", "shapedirs",
             "joint_regressor", "shape_names")


class AssetError(RuntimeError):
    """The hand asset is missing or malformed."""


@dataclass(frozen=True)
class HandAsset:
    """A right hand in its canonical frame (metres).

    Frame: wrist at the origin, +y towards the middle-finger MCP, +z out of the palm,
    +x towards the thumb side.
    """

    vertices: np.ndarray  # (V, 3) float32, rest pose
    faces: np.ndarray  # (F, 3) int64, outward winding, watertight
    weights: np.ndarray  # (V, 16) float32 skinning weights over the kit's bones, rows sum to 1
    joints: np.ndarray  # (21, 3) float32, InterHand2.6M order
    fingertip_vertex_ids: np.ndarray  # (5,) vertex ids used as tip keypoints
    # the shape space (like MANO's beta): per coefficient k a `decr` and an `incr` direction;
    # beta_k < 0 adds |beta_k| * shapedirs[k, 0], beta_k > 0 adds beta_k * shapedirs[k, 1]
    shapedirs: np.ndarray  # (K, 2, V, 3) float32, metres
    joint_regressor: np.ndarray  # (21, V) float32: rest joints of the shaped vertices
    shape_names: tuple[str, ...]  # (K,) what each coefficient changes

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def n_betas(self) -> int:
        return len(self.shape_names)


def load_hand_asset(path: str | Path | None = None) -> HandAsset:
    """Read and check the asset; raises AssetError naming what is wrong."""
    path = Path(path) if path is not None else DEFAULT_ASSET
    return _load(str(path.resolve()))


@lru_cache(maxsize=4)
def _load(path: str) -> HandAsset:
    if not Path(path).is_file():
        raise AssetError(
            f"hand asset not found: {path}. It ships with the package; rebuild it with "
            "`python scripts/build_hand_asset.py` if it was deleted."
        )
    try:
        with np.load(path) as data:
            arrays = {key: np.asarray(data[key]) for key in _REQUIRED}
    except KeyError as err:
        raise AssetError(f"hand asset {path} lacks the array {err}") from err
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise AssetError(f"hand asset {path} is corrupt or not an npz file: {err}") from err

    v, f, w, j, tips, dirs, regressor, names = (arrays[k] for k in _REQUIRED)
    checks = [
        (dirs.ndim == 4 and dirs.shape[1:] == (2, len(v), 3),
         f"shapedirs must be (K, 2, {len(v)}, 3), got {dirs.shape}"),
        (regressor.shape == (N_JOINTS, len(v)),
         f"joint_regressor must be ({N_JOINTS}, {len(v)}), got {regressor.shape}"),
        (names.shape == (len(dirs),), f"shape_names must be ({len(dirs)},), got {names.shape}"),
        (v.ndim == 2 and v.shape[1] == 3, f"vertices must be (V, 3), got {v.shape}"),
        (f.ndim == 2 and f.shape[1] == 3, f"faces must be (F, 3), got {f.shape}"),
        (w.shape == (len(v), N_BONES), f"weights must be ({len(v)}, {N_BONES}), got {w.shape}"),
        (j.shape == (N_JOINTS, 3), f"joints must be ({N_JOINTS}, 3), got {j.shape}"),
        (tips.shape == (5,), f"fingertip_vertex_ids must be (5,), got {tips.shape}"),
    ]
    for ok, message in checks:
        if not ok:
            raise AssetError(f"hand asset {path}: {message}")
    if f.min() < 0 or f.max() >= len(v) or tips.max() >= len(v):
        raise AssetError(f"hand asset {path}: face or fingertip index out of range")
    if not np.all(np.isfinite(v)) or not np.allclose(w.sum(axis=1), 1.0, atol=1e-4):
        raise AssetError(f"hand asset {path}: non-finite vertices or weights not summing to 1")
    if not (np.all(np.isfinite(dirs)) and np.all(np.isfinite(regressor))):
        raise AssetError(f"hand asset {path}: non-finite shapedirs or joint_regressor")
    if not np.allclose(regressor.sum(axis=1), 1.0, atol=1e-4):
        raise AssetError(f"hand asset {path}: joint_regressor rows must sum to 1")
    return HandAsset(
        vertices=v.astype(np.float32),
        faces=f.astype(np.int64),
        weights=w.astype(np.float32),
        joints=j.astype(np.float32),
        fingertip_vertex_ids=tips.astype(np.int64),
        shapedirs=dirs.astype(np.float32),
        joint_regressor=regressor.astype(np.float32),
        shape_names=tuple(str(name) for name in names),
    )
