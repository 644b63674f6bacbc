#!/usr/bin/env python3
"""Domain gap: does MediaPipe's hand landmarker (trained on real photos) find the kit's synthetic hands?

    python benchmarks/bench_domain_gap.py [--data-dir DIR] [--samples N] [--figure docs/figures/domain_gap.png]

Needs the optional extra (`pip install -e ".[wild]"`) and the bundle (`im2hands fetch-landmarker`).
For each test render (native size, 128^2 in the fast profile, and upsampled x2): detection rate of
both / at least one hand, mean 2D error of the detected hands against the true keypoints (each
detection matched to the closer true hand, in pixels of the native render), handedness accuracy,
and, with the true camera, the lifted 3D keypoints' root-relative and absolute errors (mm).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from im2hands_lite.apps.wild import HandLandmarker, lift_landmarks
from im2hands_lite.data import TwoHandDataset, kit_samples_dir

SIDES = ("right", "left")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(kit_samples_dir()))
    parser.add_argument("--split", default="test")
    parser.add_argument("--samples", type=int, default=0, help="first N samples (0: all)")
    parser.add_argument("--figure", help="write an example figure here")
    args = parser.parse_args()
    data = TwoHandDataset(args.data_dir, args.split)
    n = len(data) if not args.samples else min(args.samples, len(data))
    examples = []
    with HandLandmarker() as landmarker:
        for scale in (1, 2):
            both = one = correct_side = matched = 0
            errors_px, rr_mm, abs_mm, seconds = [], [], [], []
            for i in range(n):
                sample = data.sample(i)
                size = sample.image.shape[0] * scale
                image = sample.image if scale == 1 else np.asarray(
                    Image.fromarray(sample.image).resize((size, size), Image.BILINEAR))
                start = time.perf_counter()
                hands = landmarker.detect(image)
                seconds.append(time.perf_counter() - start)
                truth_px = sample.keypoints_2d().reshape(2, 21, 2)
                camera = sample.camera.resized(size, size)
                truth_cam = sample.camera.world_to_camera(sample.keypoints).reshape(2, 21, 3)
                both += len(hands) >= 2
                one += len(hands) >= 1
                for hand in hands:
                    pixels = (hand.pixels + 0.5) / scale - 0.5  # back to the render's own pixels
                    error = [np.linalg.norm(pixels - truth_px[h], axis=1).mean() for h in (0, 1)]
                    h = int(np.argmin(error))
                    matched += 1
                    errors_px.append(error[h])
                    correct_side += hand.side == SIDES[h]
                    lifted = lift_landmarks(hand.pixels, hand.world, camera.K)
                    abs_mm.append(1000 * np.linalg.norm(lifted - truth_cam[h], axis=1).mean())
                    rr_mm.append(1000 * np.linalg.norm((lifted - lifted[20]) - (truth_cam[h] - truth_cam[h, 20]),
                                                       axis=1).mean())
                if scale == 2 and len(examples) < 6:
                    examples.append((image, hands, truth_px * scale + 0.5 * (scale - 1)))
            native = data.sample(0).image.shape[0]
            kind = "native" if scale == 1 else f"upscaled x{scale}"
            print(f"{native * scale}^2 renders ({kind}, {n} samples): both hands found {both / n:.0%}, at least one "
                  f"{one / n:.0%}; {matched} detections: 2D error {np.mean(errors_px) if errors_px else np.nan:.1f} px "
                  f"(median {np.median(errors_px) if errors_px else np.nan:.1f}) at the native {native}^2, handedness right "
                  f"{correct_side / max(matched, 1):.0%}, lifted 3D error root-relative "
                  f"{np.mean(rr_mm) if rr_mm else np.nan:.0f} mm, absolute {np.mean(abs_mm) if abs_mm else np.nan:.0f} mm; "
                  f"{1000 * np.mean(seconds):.0f} ms per image")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(examples), figsize=(2.2 * len(examples), 2.4))
        for ax, (image, hands, truth) in zip(np.atleast_1d(axes), examples):
            ax.imshow(image)
            for h, colour in enumerate(("tab:red", "tab:blue")):
                ax.scatter(truth[h, :, 0], truth[h, :, 1], s=4, c=colour, marker="o")
            for hand in hands:
                ax.scatter(hand.pixels[:, 0], hand.pixels[:, 1], s=10, c="yellow", marker="x", linewidths=0.8)
            ax.set_title(f"{len(hands)} found", fontsize=8)
            ax.axis("off")
        fig.suptitle("MediaPipe (yellow x) on kit renders; truth: right red, left blue", fontsize=8)
        fig.tight_layout()
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=100)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
