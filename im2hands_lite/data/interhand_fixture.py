"""A miniature InterHand2.6M tree with the real file layout and synthetic content, for tests and
for trying the real-data path without the licensed data. Nothing here comes from InterHand2.6M
or MANO: the "MANO" pickles hold a hand-sized closed blob in MANO's exact layout (`blob_mano_arrays`),
the images are noise.

    write_fixture_interhand(root)  ->  root/annotations/<split>/InterHand2.6M_<split>_*.json,
                                       root/images/<split>/Capture<c>/<seq>/cam<id>/image<frame>.jpg,
                                       root/mano/MANO_RIGHT.pkl, MANO_LEFT.pkl

Per split: two captures, two cameras each, `frames` frames per capture. Most frames are
interacting with both MANO fits; a few are there to be rejected: a single right hand, an
interacting frame with one invalid joint, one without a left MANO fit.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..hand.mano import (
    N_FACES,
    N_VERTICES,
    ManoLayer,
    fix_left_shapedirs,
    fixture_mano_arrays,
    load_mano_model,
)

FIXTURE_IMAGE_SIZE = (96, 64)  # width, height of the fixture's images
FIXTURE_FOCAL = (120.0, 118.0)
FIXTURE_PRINCIPAL = (47.5, 31.5)
FIXTURE_CAMERA_DISTANCE_MM = 700.0


def fixture_cameras(capture: int) -> dict:
    """camera.json entry of a capture: camera "400002" on the -z axis looking at the origin
    (camrot = identity), camera "400004" rotated 20 degrees about y, both 0.7 m away."""
    angle = np.radians(20.0 + 5 * capture)
    turn = np.array([[np.cos(angle), 0, -np.sin(angle)], [0, 1, 0], [np.sin(angle), 0, np.cos(angle)]])
    rotations = {"400002": np.eye(3), "400004": turn}
    # x_cam = R (x - campos) puts the origin at depth d: campos = -d R^T e_z
    positions = {name: -FIXTURE_CAMERA_DISTANCE_MM * r.T @ np.array([0, 0, 1.0]) for name, r in rotations.items()}
    return {"campos": {k: v.tolist() for k, v in positions.items()},
            "camrot": {k: v.tolist() for k, v in rotations.items()},
            "focal": {k: list(FIXTURE_FOCAL) for k in rotations},
            "princpt": {k: list(FIXTURE_PRINCIPAL) for k in rotations}}


def blob_mano_arrays(seed: int = 0, side: str = "right", ring: int = 16, rings: int = 47) -> dict:
    """MANO-layout arrays whose template is a closed-topped ellipsoidal tube (10 x 8 x 4 cm) open at
    the "wrist" like MANO, skinned rigidly to the wrist joint, so meshes are hand-sized and
    well-formed (fast, meaningful inside tests) while every field has MANO's exact shape.
    Faces beyond the tube's are degenerate (zero area); vertices beyond its rings are unused."""
    arrays = fixture_mano_arrays(seed, side)
    theta = np.radians(np.linspace(-75.0, 80.0, rings))  # bottom ring open, top ring closed by a polygon
    phi = np.linspace(0.0, 2 * np.pi, ring, endpoint=False)
    radius, height = np.cos(theta)[:, None], np.sin(theta)[:, None]
    tube = np.stack([0.04 * radius * np.cos(phi), 0.05 * np.broadcast_to(height, (rings, ring)),
                     0.02 * radius * np.sin(phi)], axis=-1).reshape(-1, 3)
    vertices = np.vstack([tube, np.repeat(tube[:1], N_VERTICES - len(tube), axis=0)])
    faces = []
    for k in range(rings - 1):
        for i in range(ring):
            a, b = k * ring + i, k * ring + (i + 1) % ring
            faces += [(a, b + ring, b), (a, a + ring, b + ring)]  # outward for this parametrisation
    top = (rings - 1) * ring
    faces += [(top, top + i + 1, top + i) for i in range(1, ring - 1)]
    faces += [(0, 0, 0)] * (N_FACES - len(faces))
    faces = np.asarray(faces, dtype=np.int64)
    regressor = arrays["J_regressor"].tocsr()  # keep the sparse type, point it at tube vertices
    regressor.indices = regressor.indices % len(tube)
    if side == "left":
        vertices[:, 0] *= -1
        faces = faces[:, [0, 2, 1]]
    weights = np.zeros((N_VERTICES, 16))
    weights[:, 0] = 1.0
    return dict(arrays, v_template=vertices, f=faces.astype(np.uint32), J_regressor=regressor.tocsc(),
                weights=weights, posedirs=np.zeros_like(arrays["posedirs"]))


def write_fixture_interhand(root: str | Path, splits=("train", "test"), frames: int = 3, seed: int = 0) -> Path:
    """Write the miniature tree under `root` and return it."""
    root = Path(root)
    (root / "mano").mkdir(parents=True, exist_ok=True)
    for side in ("right", "left"):
        with open(root / "mano" / f"MANO_{side.upper()}.pkl", "wb") as handle:
            pickle.dump(blob_mano_arrays(seed, side), handle, protocol=2)
    right = load_mano_model(root / "mano" / "MANO_RIGHT.pkl")
    layers = {"right": ManoLayer(right),
              "left": ManoLayer(fix_left_shapedirs(load_mano_model(root / "mano" / "MANO_LEFT.pkl"), right))}
    rng = np.random.default_rng(seed)
    width, height = FIXTURE_IMAGE_SIZE
    for split_number, split in enumerate(splits):
        images, annotations, cameras, joints, mano = [], [], {}, {}, {}
        for capture in range(2):
            cameras[str(capture)] = fixture_cameras(capture)
            joints[str(capture)], mano[str(capture)] = {}, {}
            for f in range(frames):
                frame = str(100 + 2 * f)
                fits, world = {}, []
                for side, x in (("right", 0.04), ("left", -0.04)):
                    fit = {"pose": rng.normal(0, 0.2, 48), "shape": rng.normal(0, 0.5, 10),
                           "trans": np.array([x, rng.normal(0, 0.01), rng.normal(0, 0.01)])}
                    with torch.no_grad():
                        posed = layers[side](torch.tensor(fit["pose"][None, :3], dtype=torch.float32),
                                             torch.tensor(fit["pose"][None, 3:], dtype=torch.float32),
                                             torch.tensor(fit["shape"][None], dtype=torch.float32),
                                             torch.tensor(fit["trans"][None], dtype=torch.float32))
                    world.append(1000.0 * posed.joints[0].double().numpy())
                    fits[side] = {k: v.tolist() for k, v in fit.items()}
                if capture == 1 and f == frames - 1:
                    fits["left"] = None  # no left fit: rejected
                mano[str(capture)][frame] = fits
                joints[str(capture)][frame] = {"world_coord": np.concatenate(world).tolist(),
                                               "joint_valid": [[1]] * 42, "hand_type": "interacting",
                                               "hand_type_valid": 1}
                for camera in cameras[str(capture)]["campos"]:
                    image_id = len(images) + 1000 * split_number
                    file_name = f"Capture{capture}/0001_two_hands/cam{camera}/image{frame}.jpg"
                    path = root / "images" / split / file_name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
                    images.append({"id": image_id, "file_name": file_name, "width": width, "height": height,
                                   "capture": capture, "camera": camera, "frame_idx": int(frame),
                                   "seq_name": "0001_two_hands"})
                    valid = [[1]] * 42
                    hand_type = "interacting"
                    if capture == 0 and f == 0 and camera == "400004":
                        hand_type = "right"  # a single-hand annotation: rejected
                    if capture == 0 and f == 1 and camera == "400004":
                        valid = [[1]] * 41 + [[0]]  # an invalid joint: rejected
                    annotations.append({"id": image_id, "image_id": image_id, "bbox": [0, 0, width, height],
                                        "joint_valid": valid, "hand_type": hand_type, "hand_type_valid": 1})
        folder = root / "annotations" / split
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in (("data", {"images": images, "annotations": annotations}), ("camera", cameras),
                              ("joint_3d", joints), ("MANO_NeuralAnnot", mano)):
            (folder / f"InterHand2.6M_{split}_{name}.json").write_text(json.dumps(content))
    return root


def expected_frames(frames: int = 3) -> int:
    """Selected frames per split of the fixture: 2 captures x 2 cameras x frames, minus the
    single-hand one, the one with an invalid joint, and both cameras of the frame without a
    left fit."""
    return 2 * 2 * frames - 1 - 1 - 2
