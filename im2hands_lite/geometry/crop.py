"""Square crops around points of interest (both hands), for images and their cameras alike
(`PinholeCamera.cropped` moves the intrinsics with the same window)."""
from __future__ import annotations

import numpy as np
from PIL import Image


def crop_box(pixels: np.ndarray, scale: float) -> tuple[int, int, int]:
    """(x0, y0, side): a square around (N, 2) pixels, `scale` x their larger extent, centred on
    their box (it may reach outside the image; the crop pads with black)."""
    low, high = pixels.min(axis=0), pixels.max(axis=0)
    side = max(int(np.ceil(scale * float((high - low).max()))), 8)
    centre = 0.5 * (low + high)
    return int(np.floor(centre[0] - side / 2 + 0.5)), int(np.floor(centre[1] - side / 2 + 0.5)), side


def crop_image(image: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """The (side x side) window at (x0, y0), padded with black outside the image, resized to size."""
    window = Image.fromarray(image).crop((x0, y0, x0 + side, y0 + side))
    return np.asarray(window.resize((size, size), Image.BILINEAR), dtype=np.uint8)
