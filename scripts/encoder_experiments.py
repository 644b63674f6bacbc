"""Which ImgEnc pretrains best on the kit's renders? Variants trained on the same data, steps
and seed, measured on the same test renders and paired against the first one named.

Each experiment trains `ImageEncoderPretrainer` (model kind "encoder") through the kit's trainer
on the first `--train-samples` of the fast profile's training split, then measures on the first
`--test-samples` of its test split: side IoU per class, part mIoU, heatmap error (px), the beta
head's R^2, and a linear probe from the global feature to beta (fit on 512 training samples).
Results go to `<out>/<name>.json`; finished experiments are not rerun.

    python scripts/encoder_experiments.py --run batch_norm group_norm --steps 600
    python scripts/encoder_experiments.py --report          # the markdown table
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from im2hands_lite.data.dataset import (
    TwoHandDataset,
    config_dir,
    default_cache_root,
    generate_split,
)
from im2hands_lite.evaluation.encoder import evaluate_image_encoder, fit_beta_probe
from im2hands_lite.evaluation.paired import paired_bootstrap
from im2hands_lite.hand.asset import load_hand_asset
from im2hands_lite.models.image import fast_decoder, fast_resnet
from im2hands_lite.models.image_encoder import ImageEncoderConfig, ImageEncoderPretrainer
from im2hands_lite.models.registry import load_model
from im2hands_lite.training.settings import get_profile, with_overrides
from im2hands_lite.training.trainer import train


def _config(norm: str, skips: bool, **options) -> ImageEncoderConfig:
    resnet = dataclasses.replace(fast_resnet(), norm=norm)
    decoder = dataclasses.replace(fast_decoder(), norm=norm, skips=skips)
    return ImageEncoderConfig.fast(resnet=resnet, decoder=decoder, **options)


# name -> (what it tests, config)
EXPERIMENTS: dict[str, tuple[str, ImageEncoderConfig]] = {
    "batch_norm": ("BatchNorm, decoder from C5 alone", _config("batch", False)),
    "group_norm": ("GroupNorm, decoder from C5 alone", _config("group", False)),
    "batch_norm_skips": ("BatchNorm, decoder with skips from C4, C3, C2", _config("batch", True)),
    "group_norm_skips": ("GroupNorm, decoder with skips from C4, C3, C2", _config("group", True)),
    "batch_norm_skips_softmax": ("+ heatmaps by spatial-softmax cross-entropy",
                                 _config("batch", True, heatmap_loss="softmax", heatmap_weight=0.5)),
}
# Can the network learn the shape at all? Only the beta loss, on many renders: from the shipped
# encoder (its features plus fine-tuning) and from scratch (run with --train-samples 16384)
BETAS_ONLY = dict(side_weight=0.0, part_weight=0.0, heatmap_weight=0.0, betas_weight=1.0)
EXPERIMENTS["betas_only_shipped"] = ("beta loss only, from the shipped encoder",
                                     _config("batch", True, heatmap_loss="softmax", **BETAS_ONLY))
EXPERIMENTS["betas_only_scratch"] = ("beta loss only, from scratch",
                                     _config("batch", True, heatmap_loss="softmax", **BETAS_ONLY))
SHAPE_NAMES = load_hand_asset().shape_names
PAIRED = ("side_iou_right", "side_iou_left", "part_miou", "heatmap_px")


def run(name: str, args) -> dict:
    path = Path(args.out) / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    doc, config = EXPERIMENTS[name]
    profile = get_profile("fast")
    settings = with_overrides(profile.settings("encoder"), [f"steps={args.steps}",
                                                              f"train_samples={args.train_samples}"])
    data_config = profile.generator_config()
    root = default_cache_root()
    generate_split(root, "train", max(args.train_samples, args.probe_samples), data_config, progress=False)
    generate_split(root, "test", args.test_samples, data_config, progress=False)
    directory = config_dir(root, data_config)
    train_set = TwoHandDataset(directory, "train", n_queries=2)
    test_set = TwoHandDataset(directory, "test", n_queries=2)
    torch.manual_seed(settings.seed)
    model = ImageEncoderPretrainer(config)
    if name.endswith("_shipped"):  # the shipped pretrained weights, heads included
        model.load_state_dict(load_model("encoder").state_dict())
    start = time.time()
    result = train(model, torch.utils.data.Subset(train_set, range(args.train_samples)), settings,
                   progress=False, device="cpu")
    minutes = (time.time() - start) / 60
    scores = evaluate_image_encoder(model, test_set, range(args.test_samples), shape_names=SHAPE_NAMES)
    probe = fit_beta_probe(model.image_encoder, train_set, range(args.probe_samples))
    probe_r2 = probe.r2(model.image_encoder, test_set, range(args.test_samples))
    record = {"name": name, "doc": doc, "steps": args.steps, "train_samples": args.train_samples,
              "test_samples": args.test_samples, "minutes": round(minutes, 1), "threads": torch.get_num_threads(),
              "final_loss": float(np.mean([row["loss"] for row in result.log[-50:]])),
              "mean": scores["mean"], "probe_r2": dict(zip(SHAPE_NAMES, map(float, probe_r2))),
              "per_sample": {k: v.tolist() for k, v in scores["per_sample"].items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def report(out: Path, base_name: str = "") -> str:
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    records = [r for name in EXPERIMENTS for r in records if r["name"] == name]
    if not records:
        return "no experiments yet"
    base = next((r for r in records if r["name"] == base_name), records[0])
    lines = [f"Paired against {base['name']} ({base['steps']} steps, {base['train_samples']} training samples, "
             f"{base['test_samples']} test renders, 95 % bootstrap CI over renders).", "",
             "| variant | loss | IoU bg / right / left | part mIoU | heatmap px | beta head R2 (fd) | "
             "probe R2 (fd) | " + " | ".join(f"{k} vs {base['name']}" for k in PAIRED) + " | min |",
             "|" + "---|" * (8 + len(PAIRED))]
    for r in records:
        m = r["mean"]
        cells = []
        for key in PAIRED:
            if r is base:
                cells.append("")
                continue
            d = paired_bootstrap(r["per_sample"][key], base["per_sample"][key])
            scale = 1.0 if key == "heatmap_px" else 100.0
            cells.append(f"{d.mean * scale:+.1f} [{d.low * scale:+.1f}, {d.high * scale:+.1f}]")
        lines.append(f"| {r['name']} | {r['final_loss']:.3f} | {100 * m['side_iou_background']:.1f} / "
                     f"{100 * m['side_iou_right']:.1f} / {100 * m['side_iou_left']:.1f} | {100 * m['part_miou']:.1f} | "
                     f"{m['heatmap_px']:.1f} | {m['betas_r2_finger_diameter']:.2f} | "
                     f"{r['probe_r2']['finger_diameter']:.2f} | " + " | ".join(cells) + f" | {r['minutes']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", nargs="*", default=[], choices=list(EXPERIMENTS))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--base", default="", help="the experiment the others are paired against (default: the first)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--train-samples", type=int, default=2048)
    parser.add_argument("--probe-samples", type=int, default=512)
    parser.add_argument("--test-samples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/encoder_experiments")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.run:
        record = run(name, args)
        print(name, record["minutes"], "min", {k: round(v, 3) for k, v in record["mean"].items()},
              record["probe_r2"], flush=True)
    if args.report or not args.run:
        print(report(Path(args.out), args.base))


if __name__ == "__main__":
    main()
