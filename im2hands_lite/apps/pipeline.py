"""Image-only reconstruction: image -> keypoint estimator -> K -> I (-> R) -> two meshes.

Used by `im2hands reconstruct` and notebook 04. Inputs are either a kit data sample (its camera
is known) or an image file: then the camera is a pinhole looking down its optical axis, the
image centre-cropped to a square and resized to the networks' size, and the focal length taken
from an assumed field of view (`fov_deg`; the kit's generator draws 25-40 degrees).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..checkpoints import atomic_write
from ..evaluation.reconstruction import ReconstructionConfig, reconstruct_pair
from ..geometry.camera import PinholeCamera, intrinsics_from_fov
from ..geometry.render import render_meshes
from ..hand.joints import check_two_hand_keypoints
from ..models.registry import load_model
from ..models.two_stage import InitialPlusTwoHandRefiner


class ImageError(ValueError):
    """The input file is missing, empty or not an image."""


def read_rgb(path: str | Path):
    """The whole file as a PIL RGB image. Clear errors for missing, empty and non-image files."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"image file is empty: {path}")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ImageError(f"{path} is not a readable image ({err})") from err


def load_image(path: str | Path, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the file's centre square, resized. Clear errors for bad files."""
    image = read_rgb(path)
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return np.asarray(square, dtype=np.uint8)


def default_camera(size: int, fov_deg: float) -> PinholeCamera:
    """Camera frame = world frame, principal point at the image centre, focal from the FOV."""
    if not 5.0 <= fov_deg <= 120.0:
        raise ValueError(f"fov_deg must be in [5, 120], got {fov_deg}")
    return PinholeCamera(K=intrinsics_from_fov(fov_deg, size, size), R=np.eye(3), t=np.zeros(3), width=size,
                         height=size)


@dataclass
class Reconstruction:
    meshes: list  # [right, left] trimesh meshes, world frame
    keypoints: dict[str, np.ndarray]  # "estimator", "refined" -> (42, 3)
    overlay: np.ndarray  # (H, W, 3) uint8: the meshes rendered over the input image


class ImagePipeline:
    """Shipped (or given) estimator, K, I and R, ready for `reconstruct`."""

    def __init__(self, estimator=None, keypoint_refiner=None, initial=None, two_hand_refiner=None,
                 use_two_hand_refiner: bool = True):
        self.estimator = estimator or load_model("estimator")
        self.keypoint_refiner = keypoint_refiner or load_model("k")
        self.initial = initial or load_model("i")
        self.initial_plus_r = None
        if use_two_hand_refiner:
            self.initial_plus_r = InitialPlusTwoHandRefiner(self.initial, two_hand_refiner or load_model("r"))

    @property
    def image_size(self) -> int:
        return self.initial.config.vit.image_size * self.initial.config.decoder.output_stride

    def reconstruct(self, image: np.ndarray, camera: PinholeCamera,
                    config: ReconstructionConfig = ReconstructionConfig(resolution=64, coarse_resolution=16),
                    seed: int = 0, keypoints: np.ndarray | None = None) -> Reconstruction:
        """Meshes of both hands in `image` (the model's square size) seen by `camera`. The
        keypoints come from the kit's estimator, or are given ((42, 3) world, e.g. from
        `wild.photo_keypoints`); either way K refines them before I and R."""
        if image.shape != (camera.height, camera.width, 3):
            raise ValueError(f"image must be (H, W, 3) = ({camera.height}, {camera.width}, 3), got {image.shape}")
        item = {"image": torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0,
                "K": torch.tensor(camera.K, dtype=torch.float32), "R": torch.tensor(camera.R, dtype=torch.float32),
                "t": torch.tensor(camera.t, dtype=torch.float32), "seed": torch.tensor(seed)}
        batch = {key: value[None] for key, value in item.items()}
        with torch.no_grad():
            if keypoints is None:
                estimated = self.estimator.predict(batch)
            else:
                estimated = torch.as_tensor(np.asarray(keypoints, dtype=np.float32))[None]
                check_two_hand_keypoints(estimated, "keypoints")
            refined = self.keypoint_refiner.predict(batch, keypoints=estimated).keypoints
        item["keypoints"] = refined[0]
        model = self.initial_plus_r if self.initial_plus_r is not None else self.initial
        meshes = [r.mesh for r in reconstruct_pair(model, item, config)]
        colours = [(0.85, 0.35, 0.3), (0.35, 0.5, 0.85)]
        shown = [m for m in meshes if len(m.faces)]
        overlay = image.copy()
        if shown:
            render = render_meshes(meshes if len(shown) == 2 else shown, camera, colors=colours,
                                   background=image.astype(np.float64) / 255.0)
            overlay = (np.clip(render.image, 0, 1) * 255).astype(np.uint8)
        return Reconstruction(meshes, {"estimator": estimated[0].numpy(), "refined": refined[0].numpy()}, overlay)


def save_reconstruction(result: Reconstruction, out: str | Path) -> list[Path]:
    """right.ply/.obj, left.ply/.obj, overlay.png and keypoints.json into `out` (each written atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for side, mesh in zip(("right", "left"), result.meshes):
        written.append(atomic_write(out / f"{side}.ply", lambda handle, m=mesh: handle.write(m.export(file_type="ply"))))
        written.append(atomic_write(out / f"{side}.obj",
                                    lambda handle, m=mesh: handle.write(m.export(file_type="obj").encode())))

    def write_png(handle):
        Image.fromarray(result.overlay).save(handle, format="PNG")
    written.append(atomic_write(out / "overlay.png", write_png))
    keypoints = {name: value.tolist() for name, value in result.keypoints.items()}
    written.append(atomic_write(out / "keypoints.json", lambda handle: handle.write(json.dumps(keypoints).encode())))
    return written
