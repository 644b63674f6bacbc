"""Render the README figure: one generated two-hand sample per interaction type.

A 2 x 3 grid of 256 x 256 samples with both skeletons drawn over the image (red = right hand,
blue = left hand), written to docs/figures/sample.png. Deterministic (fixed seeds).

    python scripts/make_readme_figure.py [--out docs/figures/sample.png] [--seed 0] [--dpi 64]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from im2hands_lite.data import INTERACTIONS, GeneratorConfig, generate_sample  # noqa: E402
from im2hands_lite.hand import SKELETON_EDGES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COLOURS = ("tab:red", "tab:blue")  # right, left (InterHand2.6M stacks the right hand first)


def draw_skeletons(ax, kp2d) -> None:
    for hand, colour in enumerate(COLOURS):
        k = kp2d[21 * hand:21 * (hand + 1)]
        for a, b in SKELETON_EDGES:
            ax.plot(k[[a, b], 0], k[[a, b], 1], color=colour, lw=1.3)
        ax.scatter(k[:, 0], k[:, 1], s=5, color=colour, zorder=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "sample.png")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first panel (+1 per panel)")
    parser.add_argument("--dpi", type=int, default=64)
    args = parser.parse_args()

    config = GeneratorConfig(image_size=256, n_queries=256)  # queries are not drawn: keep them few
    fig, axes = plt.subplots(2, 3, figsize=(9, 6.3))
    for k, (ax, name) in enumerate(zip(axes.flat, INTERACTIONS)):
        sample = generate_sample(args.seed + k, config, interaction=name)
        ax.imshow(sample.image)  # pixel centres at integer coordinates, as in the camera
        draw_skeletons(ax, sample.keypoints_2d())
        ax.set_xlim(-0.5, sample.camera.width - 0.5)
        ax.set_ylim(sample.camera.height - 0.5, -0.5)
        ax.set_title(f"{name.replace('_', ' ')} · {sample.penetration * 1000:.1f} mm", fontsize=11)
        ax.axis("off")
    fig.suptitle("im2hands-lite synthetic samples: interaction · measured penetration "
                 "(red: right hand, blue: left hand)", fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
