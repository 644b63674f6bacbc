"""Forward+backward time on CPU of the image networks (ImageEncoderDecoder, PatchViT).

    .venv/bin/python benchmarks/bench_image_encoders.py [--threads N] [--repeats R] [--extra]

On a machine shared with another torch job, --threads 1 is often much faster and steadier than
two threads fighting for two cores.

Profiles: fast (batch 8, 128x128) and paper (batch 2, 256x256), in training mode (BatchNorm
batch statistics), one backward of a scalar loss per step. --extra also times the other
ResNet depths of the fast profile's width, to help size the fast profile, and the paper
encoder with the official code's 3-layer (1/4 resolution) decoder.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from im2hands_lite.models.image import (
    DeconvDecoderConfig,
    ImageEncoderDecoder,
    PatchViT,
    ResNetConfig,
    fast_image_config,
    paper_image_config,
)


def step_seconds(model: torch.nn.Module, image: torch.Tensor,
                 repeats: int) -> tuple[float, float, float]:
    """Seconds of (best forward, best forward+backward, median forward+backward) over
    `repeats` steps after one warm-up step. On a shared machine the median shows the spread."""

    def loss() -> torch.Tensor:
        out = model(image)
        if isinstance(out, torch.Tensor):
            return out.square().mean()
        return out.feature_map.square().mean() + out.global_feature.square().mean()

    model.train()
    loss().backward()  # warm-up
    fwd, both = [], []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        value = loss()
        middle = time.perf_counter()
        value.backward()
        end = time.perf_counter()
        fwd.append(middle - start)
        both.append(end - start)
    return min(fwd), min(both), statistics.median(both)


def n_params(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--extra", action="store_true",
                        help="also time ResNet-10/18/34 fast variants")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load:.1f}; "
          f"{args.repeats} steps after a warm-up")

    rows = []
    for profile, configs, batch, size in [("fast", fast_image_config(), 8, 128),
                                          ("paper", paper_image_config(), 2, 256)]:
        resnet, decoder, vit = configs
        image = torch.rand(batch, 3, size, size)
        variants = [resnet]
        if args.extra and profile == "fast":
            variants += [ResNetConfig(depth=d, width=resnet.width) for d in (10, 18, 34)
                         if d != resnet.depth]
        for r in variants:
            model = ImageEncoderDecoder(r, decoder)
            name = f"EncDec ResNet-{r.depth} w{r.width} + deconv {decoder.hidden}"
            rows.append((profile, name, batch, size, n_params(model),
                         *step_seconds(model, image, args.repeats)))
        model = PatchViT(vit)
        name = f"PatchViT grid {vit.grid} dim {vit.dim} depth {vit.depth}"
        rows.append((profile, name, batch, size, n_params(model),
                     *step_seconds(model, image, args.repeats)))
        if args.extra and profile == "paper":
            # the official code's layout: the decoder stops at 1/4 (3 layers)
            d3 = DeconvDecoderConfig(decoder.out_channels, decoder.hidden, n_layers=3)
            model = ImageEncoderDecoder(resnet, d3)
            name = f"EncDec ResNet-{resnet.depth} + 3 deconv (1/4)"
            rows.append((profile, name, batch, size, n_params(model),
                         *step_seconds(model, image, args.repeats)))

    print(f"\n{'profile':7s} {'model':40s} {'batch':>5s} {'size':>5s} {'params M':>9s} "
          f"{'fwd s':>7s} {'fwd+bwd s':>9s} {'median':>7s} {'img/s':>7s}")
    for profile, name, batch, size, params, fwd, both, median in rows:
        print(f"{profile:7s} {name:40s} {batch:5d} {size:5d} {params:9.2f} "
              f"{fwd:7.3f} {both:9.3f} {median:7.3f} {batch / both:7.1f}")
    print("\nfwd, fwd+bwd: best step; median: median fwd+bwd step; img/s from the best step.")


if __name__ == "__main__":
    main()
