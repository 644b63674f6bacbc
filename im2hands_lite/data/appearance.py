"""How a synthetic sample looks (data v2): skin tone, lights, background clutter, camera artefacts.

Everything image-only lives in `render_sample_image`, which draws from its own random stream,
`np.random.default_rng([seed, 1])`: the geometry stream (`np.random.default_rng(seed)`, pose,
camera, query points) never sees these draws, so changing the look never changes a label.

The look is procedural only (nothing is downloaded); the ranges below are the defaults:

- Skin: a tone drawn uniformly along the 10 swatches of the Monk Skin Tone scale (MST-1 very
  light #f6ede4 to MST-10 very dark #292420; Ellis Monk's scale, published by Google), linearly
  interpolated between swatches, its hue turned 7-18 degrees towards red and its saturation
  raised to at least 0.25-0.4 (the swatches are pale and diffuse; lit skin on camera is
  ruddier), value x 0.9-1.05 within [0.18, 0.92]. Both hands of a sample share the tone, each
  with a +-4 % per-channel variation; the palm side (`palm_weights`, per vertex) is lighter and
  pinker, the more so the darker the skin (`palm_colour`); each forearm takes the colour of the
  back of its hand.
- Arms: a tapered tube of elliptical section from each wrist (`forearm_surface`: the hand's
  wrist section widening to about 8 x 6 cm, 30 cm long, bent at the wrist by up to 25 / 15
  degrees), in half the samples under a sleeve of one muted cloth colour starting 10-22 cm
  from the wrist (a bare forearm helps the detector find the hand; sleeves at 4-18 cm cost
  MediaPipe about 4 points of both-hands rate). Arms and sleeves are image only: the mask
  counts them as background.
- Light: ambient 0.2-0.35 plus two or three directional lights: a key light within 60 degrees
  of the camera's direction (so the hands are always lit; key + fill + ambient = 1), a fill
  from anywhere, in half the samples a rim light from behind; each slightly warm or cool
  (+-8 % red/blue), and a white Blinn-Phong highlight (strength 0.03-0.12, exponent 8-30).
  Auto exposure meters on the hands (gain 1-1.8 towards a mean luminance of 0.25-0.4).
- Background (`cluttered_background`): a base layer, a wall (a gradient with low-frequency
  colour noise and soft blobs, like `random_background`; 40 %), stripes, a checker or fine value
  noise (20 % each; at 15-60 % contrast), colours pulled towards grey by up to half, under 2-8
  filled shapes (rectangles, ellipses, polygons, thick lines), defocused in half the samples.
- Camera (`camera_artefacts`, GeneratorConfig.augment): exposure x 0.9-1.1, gamma 0.9-1.1,
  sensor noise (Gaussian sigma 0.003-0.015 plus up to 0.02 sqrt(I)), a Gaussian blur (sigma
  0.2-0.6 px at 128^2, half the samples) and JPEG at quality 40-95 (80 %), compressed at twice
  the size and resized back as a crop of a larger photo would be.

Fingernails are not modelled (they would need a per-vertex region on the hand asset).
"""

from __future__ import annotations

import colorsys
import io
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..geometry.camera import PinholeCamera
from ..geometry.render import random_background, render_meshes

if TYPE_CHECKING:  # pragma: no cover
    from .interactions import PosedPair
    from .scene import GeneratorConfig

__all__ = [
    "MONK_SKIN_TONES",
    "APPEARANCE_STREAM",
    "BACKGROUNDS",
    "LUMA",
    "skin_tone",
    "palm_weights",
    "palm_colour",
    "sample_lights",
    "cluttered_background",
    "auto_exposure",
    "camera_artefacts",
    "forearm_surface",
    "render_sample_image",
    "SampleImage",
    "face_parts",
]

LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601 luma weights
APPEARANCE_STREAM = 1  # render_sample_image draws from default_rng([seed, APPEARANCE_STREAM])
BACKGROUNDS = ("cluttered", "smooth")  # GeneratorConfig.background: v2 clutter, or v1's smooth look

# The Monk Skin Tone scale (Ellis Monk, 2019; MST-1 .. MST-10), sRGB hex swatches.
_MONK_HEX = (
    "f6ede4",
    "f3e7db",
    "f7ead0",
    "eadaba",
    "d7bd96",
    "a07e56",
    "825c43",
    "604134",
    "3a312a",
    "292420",
)
MONK_SKIN_TONES = np.array([[int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4)] for h in _MONK_HEX])


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """(3,) RGB skin albedo in [0, 1]: a point along the Monk scale (uniform over its 10 swatches,
    linearly interpolated) with its hue and value, the hue turned 7-18 degrees towards red
    and the saturation raised to at least U(0.25, 0.4) (the swatches are diffuse and pale; lit
    skin on camera is ruddier), value x U(0.9, 1.05), kept in [0.18, 0.92] so that no hand
    renders black or clips to white."""
    position = rng.uniform(0.0, len(MONK_SKIN_TONES) - 1)
    low = int(np.floor(position))
    high = min(low + 1, len(MONK_SKIN_TONES) - 1)
    tone = MONK_SKIN_TONES[low] + (position - low) * (MONK_SKIN_TONES[high] - MONK_SKIN_TONES[low])
    hue, saturation, value = colorsys.rgb_to_hsv(*tone)
    hue = (hue - rng.uniform(0.02, 0.05)) % 1.0
    saturation = max(saturation, rng.uniform(0.25, 0.4))
    value = float(np.clip(value * rng.uniform(0.9, 1.05), 0.18, 0.92))
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value))


def _light_colour(rng: np.random.Generator) -> np.ndarray:
    """A near-white light colour, a little warm or cool."""
    warmth = rng.uniform(-0.08, 0.08)
    return np.array([1.0 + warmth, 1.0, 1.0 - warmth]) / (1.0 + abs(warmth) / 3)


def _random_unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _towards(rng: np.random.Generator, axis: np.ndarray, max_angle_deg: float) -> np.ndarray:
    """A random unit vector within max_angle_deg of `axis` (uniform in angle, not in area)."""
    axis = axis / np.linalg.norm(axis)
    other = _random_unit(rng)
    other = other - (other @ axis) * axis
    other /= max(np.linalg.norm(other), 1e-12)
    angle = np.radians(rng.uniform(0.0, max_angle_deg))
    return np.cos(angle) * axis + np.sin(angle) * other


def sample_lights(rng: np.random.Generator, to_camera: np.ndarray) -> tuple[list, float]:
    """([(direction towards the light, RGB intensity), ...], ambient): a key light on the camera's
    side, a fill, sometimes a rim light from behind. `to_camera`: from the hands to the camera."""
    to_camera = np.asarray(to_camera, dtype=np.float64)
    to_camera = to_camera / np.linalg.norm(to_camera)
    ambient = float(rng.uniform(0.2, 0.35))
    key = (1.0 - ambient) * rng.uniform(0.65, 0.85)  # key + fill + ambient = 1: no clipping head-on
    lights = [
        (_towards(rng, to_camera, 60.0), key * _light_colour(rng)),
        (_random_unit(rng), (1.0 - ambient - key) * _light_colour(rng)),
    ]
    if rng.random() < 0.5:  # rim light from behind the hands
        lights.append(
            (_towards(rng, -to_camera, 50.0), rng.uniform(0.15, 0.35) * _light_colour(rng))
        )
    return lights, ambient


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """(H, W) smooth noise in [0, 1]: a random grid resized bicubically (PIL, fast)."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    field = Image.fromarray(grid).resize((width, height), Image.BICUBIC)
    return np.asarray(field, dtype=np.float32) / 255.0


# base layers: wall (gradient + colour noise + blobs), stripes, checker, fine noise
_BASE_WEIGHTS = np.array([0.4, 0.2, 0.2, 0.2])
_MUTING = (0.5, 1.0)  # background colours keep this fraction of their distance from grey
_TEXTURE_CONTRAST = (0.15, 0.6)  # stripes, checkers and noise at this fraction of full contrast


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    """A random colour pulled towards its grey by a random amount (indoor scenes are not
    saturated primaries)."""
    colour = rng.random(3)
    grey = colour.mean()
    return (grey + rng.uniform(*_MUTING) * (colour - grey)).astype(np.float32)


def _base_layer(rng: np.random.Generator, height: int, width: int, kind: int) -> np.ndarray:
    a, b = _muted_colour(rng), _muted_colour(rng)
    rows = np.arange(height, dtype=np.float32)[:, None] / height
    columns = np.arange(width, dtype=np.float32)[None, :] / width
    if (
        kind == 0
    ):  # a wall: gradient + low-frequency colour noise + soft blobs (as random_background, faster)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.clip(0.5 + np.cos(angle) * (columns - 0.5) + np.sin(angle) * (rows - 0.5), 0, 1)
        image = a + ramp[..., None] * (b - a)
        cells = int(rng.integers(3, 7))
        grid = (rng.random((cells, cells, 3)) * 255).astype(np.uint8)
        noise = (
            np.asarray(Image.fromarray(grid).resize((width, height), Image.BICUBIC), np.float32)
            / 255
        )
        image = image + rng.uniform(0.15, 0.5) * (noise - image)
        for _ in range(int(rng.integers(1, 5))):
            centre = rng.uniform(0.0, 1.0, 2)
            radius = rng.uniform(0.05, 0.25)
            falloff = np.exp(
                -((rows - centre[0]) ** 2 + (columns - centre[1]) ** 2) / (2 * radius**2)
            )
            image = image + rng.uniform(0.3, 0.8) * falloff[..., None] * (
                _muted_colour(rng) - image
            )
        return image * rng.uniform(0.7, 1.1)
    if kind == 1:  # stripes at a random angle, sharp or soft
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.04, 0.3)
        phase = (np.cos(angle) * columns + np.sin(angle) * rows) / period
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
        weight = wave if rng.random() < 0.5 else (wave > 0.5).astype(np.float32)
    elif kind == 2:  # checker (tiles, a table cloth), possibly rotated
        angle = rng.uniform(0, np.pi / 2)
        period = rng.uniform(0.05, 0.25)
        x = (np.cos(angle) * columns + np.sin(angle) * rows) / period
        y = (-np.sin(angle) * columns + np.cos(angle) * rows) / period
        weight = ((np.floor(x) + np.floor(y)) % 2).astype(np.float32)
    else:  # fine value noise in two colours (fabric, wood, carpet)
        weight = 0.6 * _value_noise(rng, height, width, int(rng.integers(8, 32)))
        weight += 0.4 * _value_noise(rng, height, width, int(rng.integers(3, 8)))
    # textures in a photo are mostly of low contrast (and defocused): keep 15-60 % of it
    image = a + rng.uniform(*_TEXTURE_CONTRAST) * weight[..., None] * (b - a)
    # a broad illumination gradient over the whole scene
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * (columns - 0.5) + np.sin(angle) * (rows - 0.5)
    return image * (1.0 + rng.uniform(0.0, 0.6) * ramp)[..., None]


def cluttered_background(
    rng: np.random.Generator, height: int, width: int, clutter: tuple[int, int] = (2, 8)
) -> np.ndarray:
    """A textured, cluttered background (H, W, 3) float32 in [0, 1], procedural only: a base
    layer (gradient + colour noise, stripes, checker or fine noise) under a random number (in
    `clutter`, inclusive) of filled shapes (rectangles, ellipses, polygons, thick lines), then
    a slight defocus half of the time. Deterministic given `rng`; about 1 ms at 128^2."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    kind = int(rng.choice(len(_BASE_WEIGHTS), p=_BASE_WEIGHTS))
    base = np.clip(_base_layer(rng, height, width, kind), 0.0, 1.0)
    canvas = Image.fromarray((base * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    size = np.array([width, height], dtype=np.float64)
    for _ in range(int(rng.integers(clutter[0], clutter[1] + 1))):
        colour = tuple(int(c) for c in np.round(_muted_colour(rng) * 255))
        centre = rng.uniform(-0.1, 1.1, 2) * size
        extent = rng.uniform(0.05, 0.45, 2) * size
        kind = rng.integers(4)
        if kind == 0:
            draw.rectangle([*(centre - extent / 2), *(centre + extent / 2)], fill=colour)
        elif kind == 1:
            draw.ellipse([*(centre - extent / 2), *(centre + extent / 2)], fill=colour)
        elif kind == 2:
            corners = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
            radii = rng.uniform(0.3, 1.0, corners)[:, None] * extent / 2
            points = centre + radii * np.stack([np.cos(angles), np.sin(angles)], axis=1)
            draw.polygon([tuple(p) for p in points], fill=colour)
        else:
            end = centre + rng.uniform(-0.5, 0.5, 2) * size
            draw.line(
                [tuple(centre), tuple(end)],
                fill=colour,
                width=max(1, int(rng.uniform(0.01, 0.06) * width)),
            )
    if rng.random() < 0.5:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5) * width / 128))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def camera_artefacts(
    rng: np.random.Generator,
    image: np.ndarray,
    blur: tuple[float, float, float] = (0.5, 0.2, 0.6),
    jpeg: tuple[float, int, int] = (0.8, 40, 95),
) -> np.ndarray:
    """Float (H, W, 3) image in [0, 1] -> uint8, as a cheap camera would record it: exposure
    (x 0.9-1.1) and gamma (0.9-1.1) jitter, sensor noise (Gaussian, sigma 0.003-0.015, plus
    signal-dependent, up to 0.02 sqrt(I)), a slight Gaussian blur (`blur` = (probability,
    sigma range in pixels at 128^2, scaled with the width)) and JPEG compression (`jpeg` =
    (probability, quality range, inclusive)); PIL encodes and decodes in memory."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    exposure = rng.uniform(0.9, 1.1)
    gamma = rng.uniform(0.9, 1.1)
    image = np.clip(image * exposure, 0.0, 1.0) ** gamma
    read_sigma, shot_sigma = rng.uniform(0.003, 0.015), rng.uniform(0.0, 0.02)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    image = image + noise * (read_sigma + shot_sigma * np.sqrt(image))
    picture = Image.fromarray(np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8))
    if rng.random() < blur[0]:
        picture = picture.filter(
            ImageFilter.GaussianBlur(rng.uniform(blur[1], blur[2]) * width / 128)
        )
    if rng.random() < jpeg[0]:
        # compressed at twice the size, then resized back: a crop of a photo was compressed
        # as part of a larger image, so its 8 x 8 blocks are small at crop size
        large = picture.resize((2 * width, 2 * height), Image.BILINEAR)
        buffer = io.BytesIO()
        large.save(buffer, format="JPEG", quality=int(rng.integers(jpeg[1], jpeg[2] + 1)))
        buffer.seek(0)
        picture = Image.open(buffer).convert("RGB").resize((width, height), Image.BILINEAR)
    out = np.array(picture, dtype=np.uint8)  # a writable copy (asarray of a PIL image is read-only)
    if out.shape != (height, width, 3):  # pragma: no cover - PIL keeps the size
        raise RuntimeError(f"camera artefacts changed the image shape to {out.shape}")
    return out


def auto_exposure(
    rng: np.random.Generator,
    image: np.ndarray,
    subject: np.ndarray,
    target: tuple[float, float] = (0.25, 0.4),
    max_gain: float = 1.8,
) -> np.ndarray:
    """Meter on the hands, as a camera's auto exposure does: brighten the whole float image so
    that the hands' mean luminance reaches a target drawn from `target`, by a gain in
    [1, max_gain] (never darker; highlights clip). Without it, dark skin in dim light on a dark
    background renders nearly black. `subject`: (H, W) bool, the hand pixels."""
    image = np.asarray(image, dtype=np.float32)
    goal = rng.uniform(*target)
    if not subject.any():
        return image
    luminance = float((image[subject] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).mean())
    gain = float(np.clip(goal / max(luminance, 1e-3), 1.0, max_gain))
    return np.clip(image * gain, 0.0, 1.0) if gain > 1.0 else image


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: the rotation by `angle` radians about the unit `axis`."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * k @ k


# forearm half-widths (across the palm) and half-thicknesses (palm normal), metres at scale 1,
# at distances along the arm: the hand's own wrist section at 0, a real forearm beyond 5 cm
_ARM_STATIONS = np.array([-0.012, 0.0, 0.02, 0.04, 0.07, 0.12, 0.18, 0.24, 0.30])
_ARM_WIDTH = np.array([0.0, 0.0, 0.026, 0.029, 0.031, 0.033, 0.036, 0.038, 0.040])
_ARM_THICK = np.array([0.0, 0.0, 0.017, 0.021, 0.024, 0.026, 0.029, 0.030, 0.031])
# how far each station has gone from the hand's wrist section (x 0.85 inside the hand, where
# the section must stay hidden under the skin) to the forearm profile above
_ARM_BLEND = np.array([-0.15, 0.0, 0.3, 0.6, 0.85, 1.0, 1.0, 1.0, 1.0])


def forearm_surface(
    joints: np.ndarray,
    vertices: np.ndarray,
    scale: float,
    rng: np.random.Generator,
    sections: int = 20,
    sleeve: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A forearm for rendering (image only): (vertices, faces) of a closed tube of elliptical
    section, from 1.2 cm inside the wrist 30 cm away from the middle MCP, that starts as wide
    and thick as the hand's wrist section and widens to a forearm (about 8 x 6 cm), bent at
    the wrist by up to 25 degrees of flexion and 15 of deviation (drawn from `rng`).
    `joints`: (21, 3) and `vertices`: (V, 3) of one hand, metres. With `sleeve` (metres from
    the wrist, < 0.3): the sleeve over that forearm instead, from there on, 15 % + 3 mm wider;
    pass the same rng state (e.g. a copy) for the same bend."""
    joints = np.asarray(joints, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64)
    wrist = joints[20]
    along = wrist - joints[11]
    along /= np.linalg.norm(along)
    across = joints[7] - joints[19]  # index MCP - pinky MCP
    across = across - (across @ along) * along
    across /= np.linalg.norm(across)
    normal = np.cross(along, across)
    offsets = vertices - wrist
    depth = offsets @ along
    section = offsets[depth > depth.max() - 0.006]  # the hand's open wrist rim
    section = section - np.outer(section @ along, along)
    centre = wrist + section.mean(axis=0)
    half_width = max(float(np.abs((section - section.mean(0)) @ across).max()), 0.01 * scale)
    half_thick = max(float(np.abs((section - section.mean(0)) @ normal).max()), 0.006 * scale)
    bend = _rotation(across, np.radians(rng.uniform(-25.0, 25.0))) @ _rotation(
        normal, np.radians(rng.uniform(-15.0, 15.0))
    )
    blend = _ARM_BLEND
    stations = _ARM_STATIONS * scale
    widths = np.where(
        blend >= 0,
        half_width + blend * (_ARM_WIDTH * scale - half_width),
        (1.0 + blend) * half_width,
    )
    thicks = np.where(
        blend >= 0,
        half_thick + blend * (_ARM_THICK * scale - half_thick),
        (1.0 + blend) * half_thick,
    )
    if sleeve is not None:
        start = float(np.clip(sleeve * scale, 0.0, stations[-2]))
        keep = stations > start
        widths = np.concatenate([[np.interp(start, stations, widths)], widths[keep]]) * 1.15 + 0.003
        thicks = np.concatenate([[np.interp(start, stations, thicks)], thicks[keep]]) * 1.15 + 0.003
        stations = np.concatenate([[start], stations[keep]])
    theta = np.linspace(0.0, 2.0 * np.pi, sections, endpoint=False)
    rings = []
    for station, width, thick in zip(stations, widths, thicks):
        frame = np.eye(3) if station <= 0 else bend
        a, b, c = frame @ along, frame @ across, frame @ normal
        rings.append(
            centre
            + station * a
            + np.outer(np.cos(theta) * width, b)
            + np.outer(np.sin(theta) * thick, c)
        )
    first = centre + stations[0] * (along if stations[0] <= 0 else bend @ along)
    points = np.concatenate(rings + [[first], [centre + stations[-1] * (bend @ along)]])
    n = sections
    k = np.arange(n)
    faces = []
    for ring in range(len(stations) - 1):
        a, b = ring * n + k, ring * n + (k + 1) % n
        faces += [np.stack([a, b, b + n], 1), np.stack([a, b + n, a + n], 1)]
    start, end, last = len(points) - 2, len(points) - 1, (len(stations) - 1) * n
    faces += [
        np.stack([np.full(n, start), (k + 1) % n, k], 1),
        np.stack([np.full(n, end), last + k, last + (k + 1) % n], 1),
    ]
    return points, np.concatenate(faces).astype(np.int64)


_PALM_WEIGHTS: np.ndarray | None = None


def palm_weights() -> np.ndarray:
    """(V,) in [0, 1]: how much each vertex of the kit hand lies on the palm side (palm and the
    flexor side of the fingers), from the rest pose's vertex normals against the palm normal;
    the same for both sides (the left hand mirrors the right, vertex for vertex). Cached."""
    global _PALM_WEIGHTS
    if _PALM_WEIGHTS is None:
        import trimesh

        from .scene import default_model  # scene imports this module

        model = default_model()
        rest = model.rest_vertices.detach().cpu().numpy().astype(np.float64)
        joints = model.rest_joints.detach().cpu().numpy().astype(np.float64)
        normals = trimesh.Trimesh(
            rest, model.faces("right").cpu().numpy(), process=False
        ).vertex_normals
        wrist = joints[20]
        palm = np.cross(joints[7] - wrist, joints[19] - wrist)  # index MCP, pinky MCP
        palm /= np.linalg.norm(palm)
        tips = joints[[0, 4, 8, 12, 16]].mean(axis=0) - joints[[7, 11, 15, 19]].mean(axis=0)
        if tips @ palm < 0:  # the rest pose is slightly curled: fingertips lean to the palm
            palm = -palm
        _PALM_WEIGHTS = np.clip((normals @ palm + 0.1) / 0.6, 0.0, 1.0)
    return _PALM_WEIGHTS


def palm_colour(rng: np.random.Generator, tone: np.ndarray) -> np.ndarray:
    """The palm's colour for a skin `tone`: lighter and pinker, the more so the darker the skin
    (palms and soles carry little melanin)."""
    darkness = float(np.clip(1.0 - (tone @ LUMA) / 0.85, 0.0, 1.0))
    target = np.array([0.92, 0.70, 0.62])
    return np.clip(tone + rng.uniform(0.1, 0.2) * (1 + 2 * darkness) * (target - tone), 0.0, 1.0)


_SLEEVE_PROBABILITY = 0.5  # of a sample's arms being in sleeves (both or neither: one shirt)


class SampleImage(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) int8: -1 background (forearms too), 0 right hand, 1 left hand
    parts: np.ndarray | None  # (H, W) int8: the hand part (bone 0-15) seen, -1 off the hands


def face_parts(faces: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(F,) the bone each triangle belongs to: the largest skinning weight summed over its corners."""
    return weights[faces].sum(axis=1).argmax(axis=1).astype(np.int8)


def render_sample_image(
    seed: int, pair: "PosedPair", camera: PinholeCamera, config: "GeneratorConfig",
    part_weights: np.ndarray | None = None,
) -> SampleImage:
    """The image, hand mask and part map of a posed pair seen by `camera` (`SampleImage`).
    `part_weights`: (V, 16) skinning weights of the pair's meshes (the kit hand's), for the
    part map; None gives none.

    Draws only from `np.random.default_rng([seed, 1])`. `config` fields used: forearms,
    background ("cluttered" or "smooth"), augment (camera artefacts on or off)."""
    rng = np.random.default_rng([int(seed), APPEARANCE_STREAM])
    height, width = camera.height, camera.width
    tone = skin_tone(rng)
    colors = [np.clip(tone * rng.uniform(0.96, 1.04, 3), 0.0, 1.0) for _ in range(2)]
    palm = palm_colour(rng, tone)  # per vertex: the palm side lighter (needs the kit's topology)
    weights = palm_weights()[:, None] if len(palm_weights()) == pair.vertices.shape[1] else 0.0
    hand_colors = [c + weights * (palm * c / np.maximum(tone, 1e-3) - c) for c in colors]
    centre = pair.vertices.reshape(-1, 3).mean(axis=0)
    lights, ambient = sample_lights(rng, camera.camera_center() - centre)
    specular = float(rng.uniform(0.03, 0.12))
    shininess = float(rng.uniform(8.0, 30.0))
    meshes = [(pair.vertices[h], pair.faces[h]) for h in range(2)]
    arm_colors, colors = colors, [np.clip(c, 0.0, 1.0) for c in hand_colors]
    if config.forearms:  # after the hands in the list: mask ids 2 and 3
        scale = float(pair.params.scale)
        bends = [np.random.default_rng(rng.integers(2**63)) for _ in range(2)]
        meshes += [
            forearm_surface(pair.joints[h], pair.vertices[h], scale, bends[h]) for h in range(2)
        ]
        colors = colors + arm_colors  # the colour of the back of the hand: no seam at the wrist
        if rng.random() < _SLEEVE_PROBABILITY:  # ids 4 and 5: a shirt's sleeves over both arms
            cloth = np.clip(_muted_colour(rng).astype(np.float64) * rng.uniform(0.5, 1.0), 0.0, 1.0)
            start = rng.uniform(0.10, 0.22)
            meshes += [
                forearm_surface(
                    pair.joints[h],
                    pair.vertices[h],
                    scale,
                    np.random.default_rng(bends[h].bit_generator.seed_seq),
                    sleeve=start,
                )
                for h in range(2)
            ]
            colors = colors + [cloth, cloth]
    if config.background == "smooth":
        background = random_background(rng, height, width)
    else:
        background = cluttered_background(rng, height, width)
    rendered = render_meshes(
        meshes,
        camera,
        colors=colors,
        lights=lights,
        ambient=ambient,
        specular=specular,
        shininess=shininess,
        background=background,
    )
    mask = rendered.mask_ids.astype(np.int8)
    mask[mask > 1] = -1  # forearms are not hands
    parts = None
    if part_weights is not None:
        parts = np.full(mask.shape, -1, dtype=np.int8)
        for hand in range(2):
            seen = mask == hand
            parts[seen] = face_parts(pair.faces[hand], part_weights)[rendered.face_ids[seen]]
    image = auto_exposure(rng, rendered.image, mask >= 0)
    if config.augment:
        image = camera_artefacts(rng, image)
    else:
        image = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    return SampleImage(image, mask, parts)
