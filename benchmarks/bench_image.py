"""Training-step time of I (query-image attention): forward + backward, paper and fast configs.

    .venv/bin/python benchmarks/bench_image.py [--configs fast,paper] [--threads 1,2] [--repeats 3]
                                               [--paper-cpu-repeats 1] [--variant attention] [--no-gpu]

One step = `InitialOccupancyNet.predict` on a batch (both hands of every image) + MSE occupancy
loss + backward, in training mode (BatchNorm batch statistics, dropout on), gradients cleared
between steps; no optimiser step. Configs:

  paper: ResNet-50 + 4-layer deconv decoder + ViT (8x8 patches of 32 px, width 128, depth 4) from
         `paper_image_config()`; batch 8 images = 16 hands, 256x256 crops, 4096 queries per hand.
  fast:  the fast preset (`fast_image_config()`, the shipped checkpoints' networks); batch 4
         images = 8 hands, 128x128 crops, 1024 queries per hand.

Inputs are real: keypoints, cameras and queries of the committed train split (images upsampled
to 256x256 and cameras rescaled with `PinholeCamera.resized` for the paper config).

CPU: each thread count in --threads, best of --repeats steps after one warm-up step (the paper
config's step takes seconds on a CPU: --paper-cpu-repeats, default 1). GPU (if
`torch.cuda.is_available()` and not --no-gpu): the same steps timed with CUDA events after
synchronising, best of --repeats, with the card's name and peak memory.

Note: in the attention variant the ViT patchifies ImgEnc's decoder map, so ImgEnc (ResNet +
decoder) is part of every step, forward and backward. The table's "ImgEnc fwd" column is its
share of the forward time.
"""
from __future__ import annotations

import argparse
import os
import platform

import torch
from timing import best_time  # benchmarks/timing.py
from torch.nn import functional as F

from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.models.image import fast_image_config, paper_image_config, vit_on_feature_map
from im2hands_lite.models.initial import IMAGE_CONDITIONS, InitialConfig, InitialOccupancyNet

CONFIGS = {  # name -> (image preset, images per batch, crop side, queries per hand)
    "paper": (paper_image_config, 8, 256, 4096),
    "fast": (fast_image_config, 4, 128, 1024),
}


def make_batch(images: int, size: int, queries: int) -> dict[str, torch.Tensor]:
    """`images` items of the committed train split at `size` x `size`, `queries` per hand."""
    dataset = TwoHandDataset(kit_samples_dir(), "train", n_queries=queries, seed=0)
    if images > len(dataset):
        raise ValueError(f"the committed train split has only {len(dataset)} samples")
    items = []
    for i in range(images):
        item = dataset[i]
        camera = dataset.sample(i).camera
        if size != camera.width:
            item["image"] = F.interpolate(item["image"][None], size=(size, size), mode="bilinear",
                                          align_corners=False)[0].clamp(0, 1)
            item["K"] = torch.tensor(camera.resized(size, size).K, dtype=torch.float32)
        items.append({key: item[key] for key in ("image", "K", "R", "t", "keypoints", "queries",
                                                 "occupancy")})
    return torch.utils.data.default_collate(items)


def build_model(config_name: str, variant: str) -> InitialOccupancyNet:
    resnet, decoder, vit = CONFIGS[config_name][0]()
    vit = vit_on_feature_map(vit, decoder, vit.image_size)  # I's ViT reads ImgEnc's map
    torch.manual_seed(0)
    return InitialOccupancyNet(InitialConfig(image_cond=variant, resnet=resnet, decoder=decoder, vit=vit))


def one_step(model: InitialOccupancyNet, batch: dict[str, torch.Tensor]) -> None:
    model.zero_grad(set_to_none=True)
    pred = model.predict(batch).occupancy
    loss = F.mse_loss(pred, batch["occupancy"].flatten(0, 1))
    loss.backward()


def forward_only(model: InitialOccupancyNet, batch: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        model.predict(batch)


def imgenc_only(model: InitialOccupancyNet, batch: dict[str, torch.Tensor]) -> None:
    if model.image_encoder is not None:
        with torch.no_grad():
            model.image_encoder(batch["image"])


def time_gpu(fn, repeats: int) -> float:
    fn()  # warm-up (cuDNN algorithm choice, allocator)
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000.0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="fast,paper", help="comma-separated: fast, paper")
    parser.add_argument("--threads", default="1,2", help="comma-separated CPU thread counts")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps (best is reported)")
    parser.add_argument("--paper-cpu-repeats", type=int, default=1,
                        help="timed steps of the paper config on CPU (each takes seconds)")
    parser.add_argument("--variant", choices=IMAGE_CONDITIONS, default="attention")
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU even if there is one")
    args = parser.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown config(s) {sorted(unknown)}; choose from {sorted(CONFIGS)}")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    use_gpu = torch.cuda.is_available() and not args.no_gpu

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"load average {load:.1f}; I variant {args.variant!r}; "
          f"GPU: {torch.cuda.get_device_name() if use_gpu else 'none'}")

    rows = []
    for name in configs:
        _, images, size, queries = CONFIGS[name]
        model = build_model(name, args.variant).train()
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        cpu_batch = make_batch(images, size, queries)
        shape = (name, images, 2 * images, size, queries, n_params)
        repeats = args.paper_cpu_repeats if name == "paper" else args.repeats
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            both = best_time(lambda: one_step(model, cpu_batch), repeats, warmup=True)
            fwd = best_time(lambda: forward_only(model, cpu_batch), repeats, warmup=True)
            enc = best_time(lambda: imgenc_only(model, cpu_batch), repeats, warmup=True)
            rows.append((*shape, f"CPU x{n_threads}", repeats, fwd, both, enc, None))
            print(f"  {name} CPU {n_threads} thread(s): fwd+bwd {both:.3f} s", flush=True)
        if use_gpu:
            device = torch.device("cuda")
            model.to(device)
            gpu_batch = {key: value.to(device) for key, value in cpu_batch.items()}
            torch.cuda.reset_peak_memory_stats()
            both = time_gpu(lambda: one_step(model, gpu_batch), args.repeats)
            peak = torch.cuda.max_memory_allocated() / 2 ** 30
            fwd = time_gpu(lambda: forward_only(model, gpu_batch), args.repeats)
            enc = time_gpu(lambda: imgenc_only(model, gpu_batch), args.repeats)
            rows.append((*shape, "GPU", args.repeats, fwd, both, enc, peak))
            print(f"  {name} GPU: fwd+bwd {both:.4f} s", flush=True)
            model.to("cpu")
            del gpu_batch
            torch.cuda.empty_cache()

    header = (f"{'config':<7}{'images':>7}{'hands':>6}{'size':>6}{'q/hand':>7}{'params M':>9}  "
              f"{'device':<9}{'best of':>8}{'fwd s':>9}{'fwd+bwd s':>10}{'ImgEnc fwd':>11}"
              f"{'hands/s':>9}{'k q/s':>8}{'peak GiB':>9}")
    print("\n" + header)
    print("-" * len(header))
    for name, images, hands, size, queries, params, device, repeats, fwd, both, enc, peak in rows:
        print(f"{name:<7}{images:>7}{hands:>6}{size:>6}{queries:>7}{params:>9.2f}  {device:<9}{repeats:>8}"
              f"{fwd:>9.3f}{both:>10.3f}{enc:>11.3f}{hands / both:>9.1f}{hands * queries / both / 1e3:>8.1f}"
              f"{'' if peak is None else f'{peak:.2f}':>9}")
    print("\nfwd: predict under no_grad; fwd+bwd: predict + MSE + backward (training mode); ImgEnc fwd: "
          "the ResNet + decoder forward alone, no_grad (in the attention variant it feeds nothing of I); "
          "k q/s: thousands of training queries per second (fwd+bwd).")
    if use_gpu:
        print(f"GPU: {torch.cuda.get_device_name()}, CUDA-event timing after synchronize; "
              "peak GiB: torch.cuda.max_memory_allocated over the fwd+bwd steps.")


if __name__ == "__main__":
    main()
