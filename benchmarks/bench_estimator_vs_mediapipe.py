#!/usr/bin/env python3
"""The kit's estimators against MediaPipe's lifted landmarks, hand by hand, on the same renders.

    python benchmarks/bench_estimator_vs_mediapipe.py --data-dir <cache>/<v2 key> --samples 64 \
        --estimator shipped=im2hands_lite/weights/estimator_fast.pt --estimator new=runs/.../final.pt

Needs the `[wild]` extra and `im2hands fetch-landmarker`. MediaPipe runs on each render upscaled
x2 (it finds more hands there); each detection is matched to the closer true hand and lifted
with the render's true intrinsics. For the hands it finds, the root-relative error (mm, wrist
at the origin) of its landmarks and of each estimator's keypoints for the same hand, paired
(bootstrap 95 % over hands); and each estimator's error over every hand of every render.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from im2hands_lite.apps.wild import HandLandmarker, lift_landmarks
from im2hands_lite.data import TwoHandDataset
from im2hands_lite.evaluation.paired import paired_bootstrap
from im2hands_lite.hand.joints import N_JOINTS, WRIST
from im2hands_lite.models.registry import load_model

SIDES = ("right", "left")


def root_relative_mm(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean joint error (mm) of one hand (21, 3) after moving both wrists to the origin."""
    return float(1000 * np.linalg.norm((pred - pred[WRIST]) - (truth - truth[WRIST]), axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--estimator", action="append", default=[], metavar="NAME=PATH")
    args = parser.parse_args()
    estimators = {}
    for text in args.estimator:
        name, _, path = text.partition("=")
        estimators[name] = load_model(path, "estimator")
    data = TwoHandDataset(args.data_dir, "test", n_queries=2)
    n = min(args.samples, len(data))
    per_hand = {name: [] for name in ("mediapipe", *estimators)}  # hands MediaPipe found
    every_hand = {name: [] for name in estimators}
    found = 0
    with HandLandmarker() as landmarker, torch.no_grad():
        for i in range(n):
            sample = data.sample(i)
            batch = torch.utils.data.default_collate([data[i]])
            truth_cam = sample.camera.world_to_camera(sample.keypoints).reshape(2, N_JOINTS, 3)
            predicted = {}
            for name, model in estimators.items():
                world = model.predict(batch)[0].numpy()
                predicted[name] = sample.camera.world_to_camera(world).reshape(2, N_JOINTS, 3)
                every_hand[name] += [root_relative_mm(predicted[name][h], truth_cam[h]) for h in (0, 1)]
            size = 2 * sample.image.shape[0]
            image = np.asarray(Image.fromarray(sample.image).resize((size, size), Image.BILINEAR))
            camera = sample.camera.resized(size, size)
            truth_px = sample.keypoints_2d().reshape(2, N_JOINTS, 2)
            for hand in landmarker.detect(image):
                pixels = (hand.pixels + 0.5) / 2 - 0.5
                h = int(np.argmin([np.linalg.norm(pixels - truth_px[k], axis=1).mean() for k in (0, 1)]))
                found += 1
                per_hand["mediapipe"].append(root_relative_mm(lift_landmarks(hand.pixels, hand.world, camera.K),
                                                              truth_cam[h]))
                for name in estimators:
                    per_hand[name].append(root_relative_mm(predicted[name][h], truth_cam[h]))
    print(f"{n} renders, {2 * n} hands; MediaPipe (x2 upscaled) found {found}")
    print("| on the hands MediaPipe found | root-relative mm | vs MediaPipe (paired, 95 % CI) |")
    print("|---|---:|---|")
    print(f"| MediaPipe, lifted | {np.mean(per_hand['mediapipe']):.1f} | |")
    for name in estimators:
        diff = paired_bootstrap(per_hand[name], per_hand["mediapipe"]).format()
        print(f"| {name} | {np.mean(per_hand[name]):.1f} | {diff} |")
    for name in estimators:
        print(f"{name}: every hand of the {n} renders, root-relative {np.mean(every_hand[name]):.1f} mm")


if __name__ == "__main__":
    main()
