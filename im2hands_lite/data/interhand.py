"""InterHand2.6M: read the real annotation files and turn interacting-hand frames into the kit's
samples (`TwoHandSample`), cached as shards that `TwoHandDataset` reads like the synthetic data.

InterHand2.6M (https://mks0601.github.io/InterHand2.6M/) and MANO (https://mano.is.tue.mpg.de)
are licensed; the kit ships and downloads neither. Expected tree (`root`):

    annotations/<split>/InterHand2.6M_<split>_data.json         COCO style: images, annotations
    annotations/<split>/InterHand2.6M_<split>_camera.json       capture -> campos/camrot/focal/princpt
    annotations/<split>/InterHand2.6M_<split>_joint_3d.json     capture -> frame -> world_coord (mm)
    annotations/<split>/InterHand2.6M_<split>_MANO_NeuralAnnot.json  capture -> frame -> right/left
    images/<split>/<file_name of data.json>
    mano/MANO_RIGHT.pkl, mano/MANO_LEFT.pkl                    (or pass mano_dir)

A frame is used when its annotation says "interacting" (hand_type_valid), all 42 joints are
valid and both hands have MANO fits. Each is cropped to a square around both hands' projected
keypoints and resized to the generator config's image size (the camera's intrinsics follow the
crop); keypoints, MANO meshes (wrist closed, so inside tests are exact) and the camera go to
metres in InterHand's world frame; masks are rendered from the MANO meshes; occupancy labels use
the same query sampler and winding numbers as the synthetic data.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch
import trimesh
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ..geometry.camera import PinholeCamera
from ..geometry.crop import crop_box, crop_image
from ..geometry.inside import is_watertight, is_winding_consistent, mesh_volume, winding_number
from ..geometry.render import render_meshes
from ..hand.mano import ManoFormatError, ManoLayer, ManoModel, fix_left_shapedirs, load_mano_model
from .dataset import default_cache_root, kit_samples_dir
from .interactions import REAL_DATA_LABEL
from .scene import GeneratorConfig, TwoHandSample, sample_queries
from .shards import shard_is_complete, write_shard

INTERHAND_URL = "https://mks0601.github.io/InterHand2.6M/"
SPLITS = ("train", "val", "test")
ANNOTATIONS = ("data", "camera", "joint_3d", "MANO_NeuralAnnot")
_HOW_TO_GET = (f"InterHand2.6M is licensed (CC BY-NC 4.0, research use) and not shipped or downloaded by the "
               f"kit: download it from {INTERHAND_URL} and point IM2HANDS_DATA_ROOT (or --data-root) at its root")
_MANO_HOW_TO_GET = ("MANO is licensed (non-commercial research) and not shipped: register at https://mano.is.tue.mpg.de, "
                    "download MANO_RIGHT.pkl and MANO_LEFT.pkl into <root>/mano or pass --mano-dir")


class InterHandFormatError(ValueError):
    """An InterHand2.6M annotation file does not have the expected structure."""


@dataclass(frozen=True)
class InterHandConfig:
    """Which InterHand2.6M frames become samples, and how they are cropped."""

    root: str
    split: str = "test"
    mano_dir: str = ""  # default: <root>/mano
    crop_scale: float = 1.4  # crop side = this x the larger side of both hands' 2D keypoint box
    every: int = 1  # keep every n-th selected frame (the dataset's neighbouring frames are near-duplicates)

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"unknown InterHand2.6M split {self.split!r}; choose one of {list(SPLITS)}")
        if self.crop_scale < 1.0 or self.every < 1:
            raise ValueError("crop_scale must be >= 1 and every >= 1")

    @property
    def mano_path(self) -> Path:
        return Path(self.mano_dir) if self.mano_dir else Path(self.root) / "mano"

    def annotation_path(self, name: str) -> Path:
        return Path(self.root) / "annotations" / self.split / f"InterHand2.6M_{self.split}_{name}.json"

    def key(self, generator: GeneratorConfig) -> str:
        """Cache folder name: the data's identity (the resolved root and MANO folder: two InterHand
        copies must not share a cache), the selection and crop settings and the generator's."""
        blob = json.dumps({"root": str(Path(self.root).resolve()), "mano": str(self.mano_path.resolve()),
                           "split": self.split, "crop_scale": self.crop_scale, "every": self.every,
                           "generator": generator.key()}, sort_keys=True).encode()
        return "interhand_" + hashlib.sha256(blob).hexdigest()[:12]


def check_tree(config: InterHandConfig) -> None:
    """Raise FileNotFoundError naming every expected file that is missing, and how to get it."""
    missing = [config.annotation_path(name) for name in ANNOTATIONS if not config.annotation_path(name).is_file()]
    if not (Path(config.root) / "images" / config.split).is_dir():
        missing.append(Path(config.root) / "images" / config.split)
    if missing:
        raise FileNotFoundError("InterHand2.6M files not found: " + ", ".join(map(str, missing)) + ". " + _HOW_TO_GET)
    absent = [config.mano_path / f"MANO_{side}.pkl" for side in ("RIGHT", "LEFT")
              if not (config.mano_path / f"MANO_{side}.pkl").is_file()]
    if absent:
        raise FileNotFoundError("MANO model files not found: " + ", ".join(map(str, absent)) + ". " + _MANO_HOW_TO_GET)


@dataclass
class InterHandFrame:
    """One selected image of InterHand2.6M, in the kit's units (metres, OpenCV camera)."""

    image_id: int
    image_path: Path
    capture: str
    camera_name: str
    frame: str
    camera: PinholeCamera  # full image
    keypoints: np.ndarray  # (42, 3) world, metres, right 0..20, left 21..41
    mano: dict  # {"right": {"pose": (48,), "shape": (10,), "trans": (3,)}, "left": ...}


def _load_json(path: Path) -> dict:
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise InterHandFormatError(f"{path} is not valid JSON ({err})") from err


def _require(mapping, keys, where: str):
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise InterHandFormatError(f"{where} lacks {missing}")


def interhand_camera(camera_params: dict, capture: str, camera_name: str, width: int, height: int,
                     where: str = "camera.json") -> PinholeCamera:
    """InterHand2.6M's camera (campos in mm, camrot world->camera, focal, princpt) in metres:
    x_cam = camrot (x_world - campos), so t = -camrot campos."""
    if capture not in camera_params:
        raise InterHandFormatError(f"{where} has no capture {capture!r}")
    entry = camera_params[capture]
    _require(entry, ("campos", "camrot", "focal", "princpt"), f"{where}[{capture!r}]")
    try:
        position = np.asarray(entry["campos"][camera_name], dtype=np.float64).reshape(3) / 1000.0
        rotation = np.asarray(entry["camrot"][camera_name], dtype=np.float64).reshape(3, 3)
        focal = np.asarray(entry["focal"][camera_name], dtype=np.float64).reshape(2)
        principal = np.asarray(entry["princpt"][camera_name], dtype=np.float64).reshape(2)
    except KeyError as err:
        raise InterHandFormatError(f"{where}[{capture!r}] has no camera {camera_name!r}") from err
    except ValueError as err:
        raise InterHandFormatError(f"{where}[{capture!r}][{camera_name!r}]: wrong array sizes ({err})") from err
    K = np.array([[focal[0], 0.0, principal[0]], [0.0, focal[1], principal[1]], [0.0, 0.0, 1.0]])
    return PinholeCamera(K=K, R=rotation, t=-rotation @ position, width=width, height=height)


def _image_path(config: InterHandConfig, image: dict) -> Path:
    """images/<split>/<file_name>; a file name that is absolute or climbs with '..' would read
    outside that folder, so it is refused (a symlinked images folder still works)."""
    name = str(image["file_name"])
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise InterHandFormatError(f"data.json image {image['id']}: file_name {name!r} leaves images/{config.split}/ "
                                   "(absolute, or with '..'); file names must be relative to it")
    return Path(config.root) / "images" / config.split / name


def select_frames(config: InterHandConfig) -> list[InterHandFrame]:
    """Every usable interacting-hand frame of the split, in data.json's image order."""
    check_tree(config)
    data = _load_json(config.annotation_path("data"))
    cameras = _load_json(config.annotation_path("camera"))
    joints = _load_json(config.annotation_path("joint_3d"))
    mano = _load_json(config.annotation_path("MANO_NeuralAnnot"))
    _require(data, ("images", "annotations"), str(config.annotation_path("data")))
    images = {}
    for image in data["images"]:
        _require(image, ("id", "file_name", "width", "height", "capture", "camera", "frame_idx"), "data.json image")
        _image_path(config, image)
        images[image["id"]] = image
    frames = []
    for annotation in data["annotations"]:
        _require(annotation, ("image_id", "hand_type", "joint_valid"), "data.json annotation")
        if annotation["hand_type"] != "interacting" or not annotation.get("hand_type_valid", 1):
            continue
        valid = np.asarray(annotation["joint_valid"]).reshape(-1)
        if valid.size != 42 or not np.all(valid > 0):
            continue
        image = images.get(annotation["image_id"])
        if image is None:
            raise InterHandFormatError(f"data.json annotation refers to a missing image id {annotation['image_id']}")
        capture, frame = str(image["capture"]), str(image["frame_idx"])
        fits = mano.get(capture, {}).get(frame) or {}
        if not all(isinstance(fits.get(side), dict) for side in ("right", "left")):
            continue
        entry = joints.get(capture, {}).get(frame)
        if entry is None:
            raise InterHandFormatError(f"joint_3d.json has no capture {capture} frame {frame}")
        world = np.asarray(entry["world_coord"], dtype=np.float64)
        if world.shape != (42, 3):
            raise InterHandFormatError(f"joint_3d.json capture {capture} frame {frame}: world_coord has shape "
                                       f"{world.shape}, expected (42, 3)")
        if not np.all(np.isfinite(world)):
            raise InterHandFormatError(f"joint_3d.json capture {capture} frame {frame}: NaN keypoints")
        for side in ("right", "left"):
            _require(fits[side], ("pose", "shape", "trans"), f"MANO_NeuralAnnot.json[{capture}][{frame}][{side}]")
        camera = interhand_camera(cameras, capture, str(image["camera"]), int(image["width"]), int(image["height"]))
        frames.append(InterHandFrame(
            image_id=int(image["id"]), image_path=_image_path(config, image),
            capture=capture, camera_name=str(image["camera"]), frame=frame, camera=camera,
            keypoints=(world / 1000.0).astype(np.float32),
            mano={side: {k: np.asarray(fits[side][k], dtype=np.float32).reshape(-1) for k in ("pose", "shape", "trans")}
                  for side in ("right", "left")}))
    return frames[::config.every]


def _boundary(faces: np.ndarray) -> np.ndarray:
    """(B, 2) half-edges used by one face only: the rims of the mesh's openings."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return edges[counts[inverse.reshape(-1)] == 1]


def close_wrist(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Close MANO's open wrist with a fan to the boundary's centroid, wound like the mesh, so
    winding-number inside tests and the volume metrics see a closed surface."""
    boundary = _boundary(faces)
    if len(boundary) == 0:
        return vertices, faces
    centre = vertices[np.unique(boundary)].mean(axis=0)
    cap = np.column_stack([boundary[:, 1], boundary[:, 0], np.full(len(boundary), len(vertices))])
    return np.vstack([vertices, centre[None]]), np.vstack([faces, cap]).astype(np.int64)


def _openings(faces: np.ndarray) -> int:
    """How many separate rims (boundary loops) the faces leave open."""
    boundary = _boundary(faces)
    if len(boundary) == 0:
        return 0
    rims, index = np.unique(boundary, return_inverse=True)
    graph = scipy.sparse.coo_matrix((np.ones(len(boundary)), tuple(index.reshape(-1, 2).T)), shape=(len(rims),) * 2)
    return int(scipy.sparse.csgraph.connected_components(graph, directed=False)[0])


def check_closed_hand(model: ManoModel, path: Path) -> None:
    """Refuse a MANO model whose hand, closed by `close_wrist` as the labels' meshes are, is not
    a watertight, consistently wound, outward surface: its winding-number labels would be wrong.
    `close_wrist` fans every opening to one point, so more than one opening is refused first.
    Faces that repeat a vertex bound nothing and are left out (the fixture pads with them)."""
    problem = ""
    openings = _openings(model.f)
    if openings > 1:
        problem = f"its faces leave {openings} openings (MANO has one, the wrist)"
    else:
        vertices, faces = close_wrist(model.v_template, model.f)
        faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
        if not is_watertight(vertices, faces):
            problem = "some edges do not have exactly two faces"
        elif not is_winding_consistent(vertices, faces):
            problem = "its faces are not consistently oriented"
        elif mesh_volume(vertices, faces) <= 0:
            problem = "it is inside-out (its faces wind inwards)"
    if problem:
        raise ManoFormatError(f"MANO file {path}: the hand with its wrist closed must be watertight and wound outwards "
                              f"for occupancy labels, but {problem}")


class InterHandConverter:
    """Turns `InterHandFrame`s into `TwoHandSample`s (MANO meshes, crop, masks, labels)."""

    def __init__(self, config: InterHandConfig, generator: GeneratorConfig = GeneratorConfig()):
        self.config, self.generator = config, generator
        paths = {side: config.mano_path / f"MANO_{side.upper()}.pkl" for side in ("right", "left")}
        right = load_mano_model(paths["right"], "right")
        left = fix_left_shapedirs(load_mano_model(paths["left"], "left"), right)
        for model in (right, left):  # once per model file: posing changes no face
            check_closed_hand(model, paths[model.side])
        self.layers = {"right": ManoLayer(right), "left": ManoLayer(left)}

    def meshes(self, frame: InterHandFrame) -> list[tuple[np.ndarray, np.ndarray]]:
        """[right, left] closed MANO meshes (world, metres) of the frame's fits."""
        out = []
        with torch.no_grad():
            for side in ("right", "left"):
                fit = {k: torch.from_numpy(v)[None] for k, v in frame.mano[side].items()}
                posed = self.layers[side](fit["pose"][:, :3], fit["pose"][:, 3:], fit["shape"], fit["trans"])
                out.append(close_wrist(posed.vertices[0].double().numpy(), posed.faces.numpy()))
        return out

    def convert(self, frame: InterHandFrame) -> TwoHandSample:
        if not frame.image_path.is_file():
            raise FileNotFoundError(f"InterHand2.6M image not found: {frame.image_path}. " + _HOW_TO_GET)
        try:
            with Image.open(frame.image_path) as handle:
                image = np.asarray(handle.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise InterHandFormatError(f"{frame.image_path} is not a readable image ({err})") from err
        size = self.generator.image_size
        x0, y0, side = crop_box(frame.camera.project(frame.keypoints.astype(np.float64)), self.config.crop_scale)
        camera = frame.camera.cropped(x0, y0, side, size)
        meshes = self.meshes(frame)
        mask = render_meshes(meshes, camera).mask_ids.astype(np.int8)
        rng = np.random.default_rng([frame.image_id, 7])
        queries, occupancy = [], []
        for vertices, faces in meshes:
            q = sample_queries(rng, trimesh.Trimesh(vertices, faces, process=False), self.generator.n_queries,
                               self.generator)
            queries.append(q)
            occupancy.append(winding_number(vertices, faces, q.astype(np.float64)) > 0.5)
        return TwoHandSample(
            image=crop_image(image, x0, y0, side, size), mask=mask, camera=camera, keypoints=frame.keypoints,
            vertices=np.stack([v for v, _ in meshes]).astype(np.float32), queries=np.stack(queries),
            occupancy=np.stack(occupancy),
            # the synthetic generator's own pose parameters do not exist for real frames
            finger_angles=np.zeros((2, 15, 3), np.float32),
            global_orient=np.stack([frame.mano[s]["pose"][:3] for s in ("right", "left")]).astype(np.float32),
            transl=np.stack([frame.mano[s]["trans"] for s in ("right", "left")]).astype(np.float32),
            scale=1.0, finger_lengths=np.ones(5, np.float32), interaction=REAL_DATA_LABEL,
            seed=frame.image_id, penetration=float("nan"), faces=(meshes[0][1], meshes[1][1]))


def prepare_interhand(config: InterHandConfig, out_root: str | Path, n_samples: int | None = None,
                      generator: GeneratorConfig = GeneratorConfig(), shard_size: int = 32,
                      progress: bool = True) -> Path:
    """Convert the first `n_samples` selected frames (all: None) into shards under
    <out_root>/<config.key(generator)>/<split>/ and return that config folder. Complete shards
    are kept, so an interrupted run resumes. The split is written under the kit's split name
    ("val" stays "val"), so `TwoHandDataset(folder, split)` reads it."""
    frames = select_frames(config)
    if not frames:
        raise InterHandFormatError(f"no usable interacting-hand frames in {config.annotation_path('data')} "
                                   "(need hand_type 'interacting', all 42 joints valid and MANO fits of both hands)")
    frames = frames[:n_samples] if n_samples is not None else frames
    converter = InterHandConverter(config, generator)  # refuses bad MANO files before anything is written
    base = Path(out_root) / config.key(generator)
    (base / config.split).mkdir(parents=True, exist_ok=True)
    (base / "config.json").write_text(json.dumps(dataclasses.asdict(generator), indent=2) + "\n")
    (base / "source.json").write_text(json.dumps({"dataset": "InterHand2.6M", "root": str(Path(config.root).resolve()),
                                                  **dataclasses.asdict(config)}, indent=2) + "\n")
    chunks = list(range(0, len(frames), shard_size))
    for k, start in enumerate(tqdm(chunks, desc=f"InterHand2.6M {config.split}", unit="shard", disable=not progress)):
        path = base / config.split / f"shard_{k:05d}.npz"
        chunk = frames[start:start + shard_size]
        if shard_is_complete(path, len(chunk)):
            continue
        write_shard(path, [converter.convert(frame) for frame in chunk])
    return base


DATA_ROOT_ENV = "IM2HANDS_DATA_ROOT"  # the one setting that switches the kit to InterHand2.6M
MANO_DIR_ENV = "IM2HANDS_MANO_DIR"


def configured_data_root(explicit: str | None = None) -> str:
    """The InterHand2.6M root in use: `explicit`, else $IM2HANDS_DATA_ROOT, else "" (kit data)."""
    return explicit if explicit else os.environ.get(DATA_ROOT_ENV, "")


def resolve_data_dir(split: str = "test", data_root: str | None = None, n_samples: int | None = None,
                     generator: GeneratorConfig = GeneratorConfig(image_size=128, n_queries=4096),
                     cache_root: str | Path | None = None, every: int = 1, progress: bool = True) -> Path:
    """The folder `TwoHandDataset(folder, split)` reads: the kit's committed samples, or, when a
    data root is configured, the first `n_samples` usable InterHand2.6M frames of `split`,
    converted once into the cache (default $IM2HANDS_CACHE or ~/.cache/im2hands-lite)."""
    root = configured_data_root(data_root)
    if not root:
        return kit_samples_dir()
    config = InterHandConfig(root=root, split=split, mano_dir=os.environ.get(MANO_DIR_ENV, ""), every=every)
    return prepare_interhand(config, cache_root if cache_root is not None else default_cache_root(), n_samples,
                             generator, progress=progress)
