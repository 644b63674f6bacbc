"""Samples on disk: shards of stacked samples in compressed npz files, written atomically."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..checkpoints import atomic_write
from ..geometry.camera import PinholeCamera
from .scene import TwoHandSample, default_faces

SHARD_FORMAT = 1
# per-sample arrays stacked along a new first axis, and their per-sample shapes
ARRAY_FIELDS = ("image", "mask", "keypoints", "vertices", "queries", "occupancy", "finger_angles",
                "global_orient", "transl", "finger_lengths")
SCALAR_FIELDS = ("scale", "seed", "penetration")
FACE_FIELDS = ("faces_0", "faces_1")  # optional: per-shard faces of (right, left) meshes
OPTIONAL_ARRAY_FIELDS = ("betas", "parts")  # stored when every sample of the shard has them


def _shared_faces(samples: list[TwoHandSample]):
    """The samples' (right, left) faces when they are not the kit hand's, else None."""
    first = samples[0].faces
    if first is None:
        return None
    for sample in samples[1:]:
        if sample.faces is None or any(not np.array_equal(a, b) for a, b in zip(sample.faces, first)):
            raise ValueError("all samples of a shard must share their mesh faces")
    kit = default_faces()
    if all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, kit)):
        return None
    return tuple(np.asarray(f, dtype=np.int32) for f in first)


class ShardError(RuntimeError):
    """A cache shard is missing, truncated or malformed."""


def write_shard(path: str | Path, samples: list[TwoHandSample]) -> None:
    """Write samples to `path` atomically (temp file in the same folder, then rename)."""
    if not samples:
        raise ValueError("a shard needs at least one sample")
    for sample in samples:
        sample.validate()
    arrays = {name: np.stack([getattr(s, name) for s in samples]) for name in ARRAY_FIELDS}
    arrays.update({name: np.array([getattr(s, name) for s in samples]) for name in SCALAR_FIELDS})
    for name in OPTIONAL_ARRAY_FIELDS:
        present = [getattr(s, name) is not None for s in samples]
        if any(present) and not all(present):
            raise ValueError(f"all samples of a shard must have {name!r}, or none")
        if all(present):
            arrays[name] = np.stack([np.asarray(getattr(s, name)) for s in samples])
    faces = _shared_faces(samples)
    if faces is not None:  # meshes other than the kit's hand (InterHand2.6M's MANO): stored once per shard
        arrays["faces_0"], arrays["faces_1"] = faces
    arrays["K"] = np.stack([s.camera.K for s in samples])
    arrays["R"] = np.stack([s.camera.R for s in samples])
    arrays["t"] = np.stack([s.camera.t for s in samples])
    meta = {"format": SHARD_FORMAT, "interactions": [s.interaction for s in samples],
            "image_size": [samples[0].camera.width, samples[0].camera.height]}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    atomic_write(path, lambda handle: write_npz(handle, arrays))


def write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but byte-for-byte reproducible: members in sorted order with a
    fixed timestamp (numpy stamps the current time), so regenerating a shard gives the same file."""
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def read_shard(path: str | Path) -> dict:
    """Load a shard into memory; raises ShardError naming the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"cache shard not found: {path}")
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ShardError(f"cache shard {path} is corrupt ({err}); delete it and regenerate") from err
    missing = [k for k in ARRAY_FIELDS + SCALAR_FIELDS + ("K", "R", "t", "meta") if k not in arrays]
    if missing:
        raise ShardError(f"cache shard {path} lacks {missing}; delete it and regenerate")
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    if meta.get("format") != SHARD_FORMAT:
        raise ShardError(f"cache shard {path} has format {meta.get('format')}, expected {SHARD_FORMAT}")
    n = len(arrays["seed"])
    if any(len(v) != n for k, v in arrays.items() if k not in FACE_FIELDS) or len(meta["interactions"]) != n:
        raise ShardError(f"cache shard {path} has arrays of different lengths")
    arrays["interactions"] = meta["interactions"]
    return arrays


def count_samples(path: str | Path) -> int:
    """Samples in a shard file, reading only its small `seed` array (no images, no queries)."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"cache shard not found: {path}")
    try:
        with np.load(path) as data:
            return len(data["seed"])
    except KeyError as err:
        raise ShardError(f"cache shard {path} lacks ['seed']; delete it and regenerate") from err
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ShardError(f"cache shard {path} is corrupt ({err}); delete it and regenerate") from err


def shard_length(shard: dict) -> int:
    return len(shard["seed"])


def samples_in_shard(path: str | Path) -> int:
    """How many samples a readable shard holds; 0 when it is missing or broken."""
    try:
        return shard_length(read_shard(path))
    except ShardError:
        return 0


def shard_is_complete(path: str | Path, n_samples: int) -> bool:
    """True when `path` is a readable shard of `n_samples` samples (resumable writers skip it)."""
    return samples_in_shard(path) == n_samples


def sample_from_shard(shard: dict, index: int) -> TwoHandSample:
    """Rebuild the TwoHandSample stored at `index` of a loaded shard."""
    height, width = shard["image"].shape[1:3]
    camera = PinholeCamera(K=shard["K"][index], R=shard["R"][index], t=shard["t"][index],
                           width=width, height=height)
    fields = {name: shard[name][index] for name in ARRAY_FIELDS}
    fields.update({name: shard[name][index] for name in OPTIONAL_ARRAY_FIELDS if name in shard})
    faces = (shard["faces_0"].astype(np.int64), shard["faces_1"].astype(np.int64)) if "faces_0" in shard else None
    return TwoHandSample(camera=camera, interaction=shard["interactions"][index],
                         scale=float(shard["scale"][index]), seed=int(shard["seed"][index]),
                         penetration=float(shard["penetration"][index]), faces=faces, **fields)
