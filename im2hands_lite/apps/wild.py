"""Photos from the wild: MediaPipe's hand landmarker as an offline keypoint front end for K -> I -> R.

The kit's own estimator is trained on synthetic renders only; for real photos this module uses
MediaPipe's pretrained hand landmarker (optional extra: `pip install -e ".[wild]"`, Apache-2.0).
Recent `mediapipe` wheels ship no model files, so `build_bundle` fetches the 0.10.21 wheel, which
still contains the two TFLite models, with `pip download --no-deps` (the package index is the only
thing contacted), and packs them into the `.task` bundle the Tasks API loads. After that,
everything runs offline.

MediaPipe gives per hand: 21 landmarks in normalised image coordinates, 21 "world" landmarks in
metres (camera-aligned axes, origin near the hand's centre, so no absolute depth) and a handedness
label. `lift_landmarks` recovers the missing translation in closed form from the intrinsics: the
hand's metric size fixes its depth. The 42 keypoints then go through K, I and R as usual.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..checkpoints import atomic_write
from ..data.dataset import default_cache_root
from ..evaluation.reconstruction import ReconstructionConfig
from ..geometry.camera import PinholeCamera, intrinsics_from_fov
from ..geometry.crop import crop_box, crop_image
from .pipeline import ImagePipeline, as_uint8_rgb, photo_overlay, read_rgb

# MediaPipe's order: 0 wrist; thumb CMC, MCP, IP, tip (1-4); index MCP, PIP, DIP, tip (5-8);
# middle (9-12); ring (13-16); pinky (17-20). The kit's (InterHand2.6M): per finger tip -> base, wrist last.
MEDIAPIPE_TO_INTERHAND = (4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17, 0)
BUNDLE_WHEEL = "mediapipe==0.10.21"  # the last wheel that ships the hand models (numpy < 2: downloaded, not installed)
BUNDLE_MEMBERS = {  # name inside the .task bundle -> path inside the 0.10.21 wheel
    "hand_landmarks_detector.tflite": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
    "hand_detector.tflite": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
}
INSTALL_HINT = ('install the optional extra with `pip install -e ".[wild]"` (MediaPipe, Apache-2.0), then build '
                "the model bundle once with `im2hands fetch-landmarker`")


class WildError(RuntimeError):
    """The photo front end cannot run (extra missing, no bundle) or found too few hands."""


def mediapipe_available() -> bool:
    """Whether the [wild] extra (MediaPipe) is installed; looked up, not imported (that takes seconds)."""
    return importlib.util.find_spec("mediapipe") is not None


def bundle_path(cache_root: str | Path | None = None) -> Path:
    """Where the hand-landmarker bundle lives: <cache>/mediapipe/hand_landmarker.task."""
    return Path(cache_root if cache_root is not None else default_cache_root()) / "mediapipe" / "hand_landmarker.task"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_bundle(out: str | Path | None = None, wheel: str | Path | None = None) -> Path:
    """Build the `.task` bundle from MediaPipe 0.10.21's wheel (downloaded with pip unless
    `wheel` is given) and write `provenance.json` beside it. Returns the bundle's path."""
    out = Path(out) if out is not None else bundle_path()
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", BUNDLE_WHEEL,
                       "-d", tmp, "-q"]
            done = subprocess.run(command, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
            if done.returncode != 0 or not wheels:
                raise WildError(f"could not download {BUNDLE_WHEEL} from the package index: "
                                f"{done.stderr.strip()[-500:] or 'no wheel for this platform'}")
            wheel = wheels[0]
        wheel = Path(wheel)
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = {name: archive.read(path) for name, path in BUNDLE_MEMBERS.items()}
        except (zipfile.BadZipFile, KeyError, OSError) as err:
            raise WildError(f"{wheel} is not a MediaPipe 0.10.21 wheel with the hand models ({err})") from err
        wheel_sha = _sha256(wheel.read_bytes())

    def write_bundle(handle):
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as bundle:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: same bytes every time
                bundle.writestr(info, members[name])
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, write_bundle)
    provenance = {
        "bundle": out.name, "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": f"{wheel.name} from the Python package index (pip download --no-deps)", "wheel_sha256": wheel_sha,
        "members": {name: {"from": BUNDLE_MEMBERS[name], "sha256": _sha256(data)} for name, data in members.items()},
        "licence": "Apache-2.0 (the mediapipe package and its models)",
    }
    atomic_write(out.with_name("provenance.json"), lambda h: h.write(json.dumps(provenance, indent=2).encode()))
    return out


@dataclass
class HandDetection:
    """One hand found in a photo, in the kit's joint order."""

    side: str  # "right" or "left"
    score: float  # handedness confidence
    pixels: np.ndarray  # (21, 2) image pixels (u, v)
    world: np.ndarray  # (21, 3) metres, camera-aligned axes, origin near the hand's centre


class HandLandmarker:
    """MediaPipe's hand landmarker, loaded once from the bundle (`with HandLandmarker() as lm:`
    `lm.detect(image)`). The Tasks API labels handedness for un-mirrored photos; pass
    `mirrored=True` for selfie-style (mirrored) images."""

    def __init__(self, bundle: str | Path | None = None, min_confidence: float = 0.3):
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: warnings and up
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as err:
            raise WildError(f"MediaPipe is not installed ({err}); {INSTALL_HINT}") from err
        bundle = Path(bundle) if bundle is not None else bundle_path()
        if not bundle.is_file():
            raise WildError(f"hand-landmarker bundle not found at {bundle}; build it with `im2hands fetch-landmarker`")
        options = vision.HandLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(bundle)), num_hands=2,
                                               min_hand_detection_confidence=min_confidence,
                                               min_hand_presence_confidence=min_confidence)
        self._landmarker = vision.HandLandmarker.create_from_options(options)

    def __enter__(self) -> "HandLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._landmarker.close()

    def detect(self, image: np.ndarray, mirrored: bool = False) -> list[HandDetection]:
        """Hands in an (H, W, 3) RGB image (uint8, or float in [0, 1]), in the kit's joint order."""
        import mediapipe as mp

        image = np.ascontiguousarray(as_uint8_rgb(image))
        height, width = image.shape[:2]
        result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
        hands = []
        for landmarks, world, handedness in zip(result.hand_landmarks, result.hand_world_landmarks,
                                                result.handedness):
            label = handedness[0].category_name.lower()
            if mirrored:
                label = "left" if label == "right" else "right"
            # normalised (x, y) -> pixel centres (u, v): x = 0 and x = 1 are the image edges
            pixels = np.array([[p.x * width - 0.5, p.y * height - 0.5] for p in landmarks])
            metric = np.array([[p.x, p.y, p.z] for p in world])
            order = list(MEDIAPIPE_TO_INTERHAND)
            hands.append(HandDetection(label, float(handedness[0].score), pixels[order], metric[order]))
        return hands


def detect_hands(image: np.ndarray, bundle: str | Path | None = None, mirrored: bool = False,
                 min_confidence: float = 0.3) -> list[HandDetection]:
    """One-off `HandLandmarker(bundle).detect(image)`."""
    image = as_uint8_rgb(image)  # a bad image is refused before the landmarker loads
    with HandLandmarker(bundle, min_confidence) as landmarker:
        return landmarker.detect(image, mirrored)


def lift_landmarks(pixels: np.ndarray, world: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame joints (21, 3) = world + T, with the translation T that best reprojects the
    metric, camera-aligned `world` landmarks onto `pixels` (linear least squares, closed form):
    (u - cx)(Z + Tz) = fx (X + Tx) and (v - cy)(Z + Tz) = fy (Y + Ty) for every joint."""
    pixels, world, K = (np.asarray(a, dtype=np.float64) for a in (pixels, world, K))
    if pixels.shape != (21, 2) or world.shape != (21, 3) or K.shape != (3, 3):
        raise ValueError(f"expected pixels (21, 2), world (21, 3), K (3, 3); got {pixels.shape}, {world.shape}, "
                         f"{K.shape}")
    if not (np.isfinite(pixels).all() and np.isfinite(world).all()):
        raise ValueError("pixels and world landmarks must be finite")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    du, dv = pixels[:, 0] - cx, pixels[:, 1] - cy
    zeros, ones = np.zeros(21), np.ones(21)
    A = np.concatenate([np.stack([fx * ones, zeros, -du], 1), np.stack([zeros, fy * ones, -dv], 1)])
    b = np.concatenate([du * world[:, 2] - fx * world[:, 0], dv * world[:, 2] - fy * world[:, 1]])
    translation = np.linalg.lstsq(A, b, rcond=None)[0]
    if translation[2] + world[:, 2].min() <= 0:
        raise WildError("the lifted hand lies behind the camera: the landmarks and intrinsics disagree")
    return world + translation


def assign_sides(detections: list[HandDetection]) -> list[HandDetection]:
    """[right, left] from two detections; when both carry the same label, the more confident one
    keeps it and the other takes the opposite side."""
    if len(detections) < 2:
        raise WildError(f"found {len(detections)} hand(s) in the photo; Im2Hands needs both hands visible")
    first, second = sorted(detections, key=lambda d: -d.score)[:2]
    if first.side == second.side:
        second = HandDetection("left" if first.side == "right" else "right", second.score, second.pixels, second.world)
    return [first, second] if first.side == "right" else [second, first]


def photo_camera(width: int, height: int, fov_deg: float) -> PinholeCamera:
    """The assumed camera of a photo without intrinsics: centred principal point, square pixels,
    focal length from the horizontal field of view (camera frame = world frame)."""
    if not 5.0 <= fov_deg <= 150.0:
        raise ValueError(f"fov_deg must be in [5, 150], got {fov_deg}")
    return PinholeCamera(K=intrinsics_from_fov(fov_deg, width, height), R=np.eye(3), t=np.zeros(3), width=width,
                         height=height)


def photo_keypoints(image: np.ndarray, camera: PinholeCamera, bundle: str | Path | None = None,
                    mirrored: bool = False) -> tuple[np.ndarray, list[HandDetection]]:
    """(42, 3) keypoints (right, left; camera frame = world frame) of a photo, and the detections."""
    hands = assign_sides(detect_hands(image, bundle, mirrored))
    keypoints = np.concatenate([lift_landmarks(h.pixels, h.world, camera.K) for h in hands])
    return keypoints.astype(np.float32), hands


PHOTO_FOV_DEG = 65.0  # a phone's main camera (about 26 mm equivalent), when the photo's intrinsics are unknown


def reconstruct_photo(path: str | Path, pipeline=None, fov_deg: float = PHOTO_FOV_DEG, config=None,
                      bundle: str | Path | None = None, mirrored: bool = False, crop_scale: float = 1.4):
    """Photo -> MediaPipe keypoints (lifted with the assumed camera) -> a square crop around both
    hands -> K -> I -> R. Returns the pipeline's `Reconstruction` (meshes in the camera frame; the
    overlay is the whole photo, `photo_overlay`)."""
    photo = np.asarray(read_rgb(path), dtype=np.uint8)
    pipeline = pipeline if pipeline is not None else ImagePipeline()
    camera = photo_camera(photo.shape[1], photo.shape[0], fov_deg)
    keypoints, hands = photo_keypoints(photo, camera, bundle, mirrored)
    x0, y0, side = crop_box(np.concatenate([h.pixels for h in hands]), crop_scale)
    size = pipeline.image_size
    crop, crop_camera = crop_image(photo, x0, y0, side, size), camera.cropped(x0, y0, side, size)
    config = config if config is not None else ReconstructionConfig(resolution=64, coarse_resolution=16)
    result = pipeline.reconstruct(crop, crop_camera, config, keypoints=keypoints)
    result.overlay = photo_overlay(photo, result.meshes, camera)
    return result
