"""The data card's figure: v2 samples (several shapes and skin tones) and the shape space.

    .venv/bin/python scripts/data_figure.py [--out docs/figures/data_v2.png]

Top: the first test renders of the fast profile's generator (128 px), each titled with its
finger-diameter and palm-thickness coefficients. Bottom: one hand in one pose, the mean shape
beside each coefficient at the ends of the generator's range (SHAPE_RANGES), with the IoU
against the mean hand (same pose) in the title and the mean hand's outline drawn over it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from im2hands_lite.data.dataset import split_seed  # noqa: E402
from im2hands_lite.data.interactions import SHAPE_RANGES  # noqa: E402
from im2hands_lite.data.scene import generate_sample  # noqa: E402
from im2hands_lite.geometry.camera import PinholeCamera  # noqa: E402
from im2hands_lite.geometry.inside import winding_number  # noqa: E402
from im2hands_lite.geometry.render import render_meshes  # noqa: E402
from im2hands_lite.hand import HandModel  # noqa: E402
from im2hands_lite.training.settings import get_profile  # noqa: E402

N_SAMPLES = 6


def shape_renders(model: HandModel) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
    """(title, image) of the mean hand and of each coefficient at both ends of its range, and
    the mean hand's silhouette (drawn over every render as an outline)."""
    angles = torch.zeros(1, 15, 3)
    angles[0, 3:, 0] = 0.35  # fingers a little curled, so thickness shows in profile
    mean = model(angles)
    centre = mean.vertices[0].numpy().mean(axis=0)
    camera = PinholeCamera.looking_at(centre, 0.3, azimuth=35.0, elevation=20.0, fov_deg=30.0,
                                      width=160, height=160)
    faces = mean.faces.numpy()
    points = np.random.default_rng(0).uniform(centre - 0.12, centre + 0.12, (80_000, 3))
    inside_mean = winding_number(mean.vertices[0].double().numpy(), faces, points) > 0.5
    cases = [("mean hand", None)]
    for name, (low, high) in SHAPE_RANGES.items():
        for value in (low, high):
            betas = torch.zeros(1, model.n_betas)
            betas[0, model.shape_names.index(name)] = value
            cases.append((f"{name.replace('_', ' ')} {value:+.1f}", betas))
    renders = []
    for title, betas in cases:
        verts = model(angles, betas=betas).vertices[0].numpy()
        if betas is not None:
            inside = winding_number(verts.astype(np.float64), faces, points) > 0.5
            title += f"\nIoU {100 * (inside & inside_mean).sum() / (inside | inside_mean).sum():.0f} %"
        rendered = render_meshes([(verts, faces)], camera, colors=[(0.8, 0.62, 0.5)],
                                 background=np.ones((160, 160, 3)))
        renders.append((title, rendered.image))
        if betas is None:
            silhouette = rendered.mask_ids >= 0
    return renders, silhouette


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/data_v2.png"))
    args = parser.parse_args()
    config = get_profile("fast").generator_config()
    model = HandModel()
    samples = [generate_sample(split_seed("test", i), config) for i in range(N_SAMPLES)]
    shapes, silhouette = shape_renders(model)
    columns = max(N_SAMPLES, (len(shapes) + 1) // 2)
    fig, axes = plt.subplots(3, columns, figsize=(2.1 * columns, 7.4))
    for ax in axes.flat:
        ax.axis("off")
    names = model.shape_names
    for ax, sample in zip(axes[0], samples):
        ax.imshow(sample.image)
        betas = sample.betas[0]
        ax.set_title(f"{sample.interaction}\nfinger diam. {betas[names.index('finger_diameter')]:+.2f}, "
                     f"palm {betas[names.index('palm_thickness')]:+.2f}", fontsize=7)
    for ax, (title, image) in zip(list(axes[1]) + list(axes[2]), shapes):
        ax.imshow(image)
        ax.contour(silhouette, levels=[0.5], colors="crimson", linewidths=0.6)
        ax.set_title(title, fontsize=7)
    fig.suptitle("data v2: test renders (top); the shape space on one pose, the mean hand's outline in red",
                 fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
