"""Image-only reconstruction: image -> keypoint estimator -> K -> I (-> R) -> two meshes.

Used by `im2hands reconstruct` and notebook 04. Inputs are either a kit data sample (its camera
is known) or an image file: then the camera is a pinhole looking down its optical axis, the
image centre-cropped to a square and resized to the networks' size, and the focal length taken
from an assumed field of view (`fov_deg`; the kit's generator draws 25-40 degrees). The overlay
of an image file shows the whole file at its own size (at most `OVERLAY_MAX_SIDE` pixels).
"""
from __future__ import annotations

import json
import warnings
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
    """The input file is missing, empty, too large or not an image."""


def read_rgb(path: str | Path):
    """The whole file as a PIL RGB image. Clear errors for missing, empty and non-image files."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"image file is empty: {path}")
    try:
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that, then decodes it all
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{path} is too large to open safely ({err}); downscale it first") from err
    except (UnidentifiedImageError, OSError) as err:
        raise ImageError(f"{path} is not a readable image ({err})") from err


def as_uint8_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 RGB from uint8 (0-255) or float (0-1) RGB. Anything else is refused:
    a plain cast would pass 0-255 floats unnoticed and turn a [0, 1] float image black."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or not image.size:
        raise ValueError(f"{name} must be (H, W, 3) RGB, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 (0-255) or float (0-1), got {image.dtype}")
    if not np.isfinite(image).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:
        raise ValueError(f"float {name} must hold values in [0, 1], got [{low:.4g}, {high:.4g}]; "
                         "pass 0-255 values as uint8")
    return np.round(image * 255).astype(np.uint8)


def centre_square(image: Image.Image, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the image's centre square, resized."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return np.asarray(square, dtype=np.uint8)


def load_image(path: str | Path, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the file's centre square, resized. Clear errors for bad files."""
    return centre_square(read_rgb(path), size)


KIT_FOV_DEG = 32.5  # an image file's assumed field of view for the kit's estimator: its renders draw 25-40 degrees


def default_camera(size: int, fov_deg: float) -> PinholeCamera:
    """Camera frame = world frame, principal point at the image centre, focal from the FOV."""
    if not 5.0 <= fov_deg <= 120.0:
        raise ValueError(f"fov_deg must be in [5, 120], got {fov_deg}")
    return PinholeCamera(K=intrinsics_from_fov(fov_deg, size, size), R=np.eye(3), t=np.zeros(3), width=size,
                         height=size)


def image_camera(width: int, height: int, fov_deg: float) -> PinholeCamera:
    """The camera of a whole width x height image whose centre square (what `centre_square`
    keeps) `default_camera` sees: the square's camera with its principal point moved into the image."""
    side = min(width, height)
    square = default_camera(side, fov_deg)
    K = square.K.copy()
    K[0, 2] += (width - side) // 2
    K[1, 2] += (height - side) // 2
    return PinholeCamera(K=K, R=square.R, t=square.t, width=width, height=height)


OVERLAY_MAX_SIDE = 1024  # pixels on the long side of a photo's overlay: enough to look at, quick to ray-cast
HAND_COLOURS = ((0.85, 0.35, 0.3), (0.35, 0.5, 0.85))  # right, left


def draw_meshes(image: np.ndarray, meshes: list, camera: PinholeCamera) -> np.ndarray:
    """`image` ((H, W, 3) uint8, `camera`'s size) with the [right, left] meshes that have a
    surface rendered over it, each in its hand's colour."""
    shown = [(mesh, colour) for mesh, colour in zip(meshes, HAND_COLOURS) if len(mesh.faces)]
    if not shown:
        return image.copy()
    render = render_meshes([mesh for mesh, _ in shown], camera, colors=[colour for _, colour in shown],
                           background=image.astype(np.float64) / 255.0)
    return (np.clip(render.image, 0, 1) * 255).astype(np.uint8)


def overlay_size(width: int, height: int, max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    """(width, height) scaled down, keeping the aspect ratio, until the long side is at most `max_side`."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def photo_overlay(photo: np.ndarray, meshes: list, camera: PinholeCamera,
                  max_side: int = OVERLAY_MAX_SIDE) -> np.ndarray:
    """Both meshes drawn over the whole `photo` ((H, W, 3) uint8, seen by `camera`), at the
    photo's own size or, for a larger one, `max_side` pixels on its long side."""
    width, height = overlay_size(camera.width, camera.height, max_side)
    if (width, height) != (camera.width, camera.height):
        photo = np.asarray(Image.fromarray(photo).resize((width, height), Image.BILINEAR))
        camera = camera.resized(width, height)
    return draw_meshes(photo, meshes, camera)


@dataclass
class Reconstruction:
    meshes: list  # [right, left] trimesh meshes, world frame
    keypoints: dict[str, np.ndarray]  # "estimator", "refined" -> (42, 3)
    overlay: np.ndarray  # (H, W, 3) uint8: the meshes rendered over the input image (an image file: all of it)


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
        """Meshes of both hands in `image` (the model's square size; uint8 or float in [0, 1])
        seen by `camera`. The keypoints come from the kit's estimator, or are given ((42, 3)
        world, e.g. from `wild.photo_keypoints`); either way K refines them before I and R."""
        image = as_uint8_rgb(image)
        if image.shape != (camera.height, camera.width, 3):
            raise ValueError(f"image must be (H, W, 3) = ({camera.height}, {camera.width}, 3), got {image.shape}")
        item = {"image": torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255.0,
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
        keypoints = {"estimator": estimated[0].numpy(), "refined": refined[0].numpy()}
        return Reconstruction(meshes, keypoints, draw_meshes(image, meshes, camera))


def reconstruct_image(path: str | Path, pipeline: ImagePipeline, fov_deg: float = KIT_FOV_DEG,
                      config: ReconstructionConfig = ReconstructionConfig(resolution=64, coarse_resolution=16)
                      ) -> Reconstruction:
    """An image file through the kit's estimator (trained on synthetic renders only): its centre
    square, seen by `default_camera`; the overlay is the whole file (`photo_overlay`)."""
    photo = read_rgb(path)
    size = pipeline.image_size
    result = pipeline.reconstruct(centre_square(photo, size), default_camera(size, fov_deg), config)
    result.overlay = photo_overlay(np.asarray(photo), result.meshes, image_camera(*photo.size, fov_deg))
    return result


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
