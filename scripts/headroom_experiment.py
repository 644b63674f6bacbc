"""Headroom of data v2: how much of the surface do the keypoints leave unknown?

HALO trained on the kit's data from keypoints alone, against the same HALO given each hand's
true shape coefficients (`betas`) as an extra input: an oracle that knows what only the image
can tell. Both train through the kit's trainer with the fast profile's HALO settings (same
steps, seed, samples), then are evaluated on the same test samples: point IoU and MSE at every
labelled query, and with `--meshes` the paper's mesh IoU and Chamfer (64^3), each gap with its
paired bootstrap 95 % interval over samples. The gap is what an image model can win back.

    python scripts/headroom_experiment.py                 # data v2 (the default generator)
    python scripts/headroom_experiment.py --mean-hand     # control: the same poses, mean hand
    python scripts/headroom_experiment.py --report

Results go to `<out>/<data>_<model>.json`; finished runs are not rerun.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from im2hands_lite.data.dataset import (
    TwoHandDataset,
    config_dir,
    default_cache_root,
    generate_split,
)
from im2hands_lite.evaluation.evaluate import evaluate_occupancy, evaluate_queries
from im2hands_lite.evaluation.paired import paired_bootstrap
from im2hands_lite.hand import HandModel
from im2hands_lite.models.registry import build_model
from im2hands_lite.training.settings import get_profile
from im2hands_lite.training.trainer import train

MODELS = {"halo": {}, "shape_oracle": {"shape_dim": HandModel().n_betas}}
METRICS = [("point IoU %", "point_iou", 100, 1), ("point MSE x1e3", "mse", 1000, 2),
           ("mesh IoU %", "iou", 100, 1), ("Chamfer mm", "chamfer_mm", 1, 2)]


def data(mean_hand: bool, train_samples: int, test_samples: int, workers: int):
    config = dataclasses.replace(get_profile("fast").generator_config(), shape_space=not mean_hand)
    root = default_cache_root()
    generate_split(root, "train", train_samples, config, workers=workers, progress=False)
    generate_split(root, "test", test_samples, config, workers=workers, progress=False)
    directory = config_dir(root, config)
    return (torch.utils.data.Subset(TwoHandDataset(directory, "train"), range(train_samples)),
            TwoHandDataset(directory, "test"))


def run(model_name: str, mean_hand: bool, args) -> dict:
    path = args.out / f"{'mean_hand' if mean_hand else 'v2'}_{model_name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    torch.set_num_threads(args.threads)
    train_set, test_set = data(mean_hand, args.train_samples, args.test_samples, args.workers)
    settings = dataclasses.replace(get_profile("fast").models["halo"], train_samples=args.train_samples,
                                   **({"steps": args.steps} if args.steps else {}))
    torch.manual_seed(settings.seed)
    model = build_model("halo", **MODELS[model_name])
    started = time.perf_counter()
    result = train(model, train_set, settings, out=args.out / "runs" / path.stem, resume=True, progress=False)
    minutes = (time.perf_counter() - started) / 60
    torch.manual_seed(0)
    tests = range(args.test_samples)
    points = evaluate_queries(model, test_set, tests, progress=False)["rows"]
    record = {"model": model_name, "mean_hand": mean_hand, "steps": settings.steps,
              "train_samples": args.train_samples, "test_samples": args.test_samples, "minutes": minutes,
              "final_loss": sum(row["loss"] for row in result.log[-50:]) / len(result.log[-50:]),
              "point_iou": [r["point_iou"] for r in points], "mse": [r["mse"] for r in points]}
    if args.meshes:
        meshes = evaluate_occupancy(model, test_set, tests, progress=False)["rows"]
        record |= {"iou": [r["iou"] for r in meshes], "chamfer_mm": [r["chamfer_mm"] for r in meshes]}
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return record


def report(out: Path) -> str:
    lines = ["| data | model | train loss (last 50) | "
             + " | ".join(f"{name} | oracle - HALO [95 % CI]" for name, *_ in METRICS) + " |",
             "|---" * (3 + 2 * len(METRICS)) + "|"]
    for data_name in ("v2", "mean_hand"):
        records = {m: out / f"{data_name}_{m}.json" for m in MODELS}
        if not all(p.is_file() for p in records.values()):
            continue
        rows = {m: json.loads(p.read_text()) for m, p in records.items()}
        for m, r in rows.items():
            cells = [data_name, m, f"{r['final_loss']:.4f}"]
            for _, key, scale, digits in METRICS:
                if key not in r:
                    cells += ["-", "-"]
                    continue
                values = torch.tensor(r[key], dtype=torch.float64)
                cells.append(f"{scale * values.nanmean().item():.{digits}f}")
                cells.append("-" if m == "halo" else
                             paired_bootstrap(r[key], rows["halo"][key]).format(scale, digits))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mean-hand", action="store_true", help="control: the same poses with the mean hand")
    parser.add_argument("--train-samples", type=int, default=512)
    parser.add_argument("--test-samples", type=int, default=64)
    parser.add_argument("--steps", type=int, default=0, help="0: the fast profile's HALO steps")
    parser.add_argument("--meshes", action="store_true", help="also mesh IoU / Chamfer at 64^3 (slow)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="data generation processes")
    parser.add_argument("--out", type=Path, default=Path("runs/headroom"))
    parser.add_argument("--report", action="store_true", help="only print the table of finished runs")
    args = parser.parse_args(argv)
    if not args.report:
        for model_name in MODELS:
            r = run(model_name, args.mean_hand, args)
            print(f"{model_name}: {r['minutes']:.1f} min, point IoU "
                  f"{100 * sum(r['point_iou']) / len(r['point_iou']):.1f} %", flush=True)
    print(report(args.out))


if __name__ == "__main__":
    main()
