"""Why does I fit worse than HALO? HALO and I variants trained on the same data, steps and seeds.

Each experiment trains one model through the kit's trainer on the first `--train-samples` of
the fast profile's training split, then measures, at every labelled query of each item (the
same points for every model): the training loss (occupancy MSE on the first 64 training
samples), the test loss and the test point IoU (the profile's test split), each paired against
HALO with a bootstrap interval over samples. Results go to `<out>/<name>.json`; finished
experiments are not rerun.

    python scripts/image_path_experiments.py --run halo attention_zero_feature
    python scripts/image_path_experiments.py --report          # the markdown table

The experiment table in docs/RESULTS.md ("I: the image path's optimisation defect") came from
this script; its "today" rows were run from the commit before the fix with `--label`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from im2hands_lite.checkpoints import sha256_of
from im2hands_lite.data.dataset import (
    TwoHandDataset,
    config_dir,
    default_cache_root,
    generate_split,
)
from im2hands_lite.evaluation.evaluate import evaluate_occupancy, evaluate_queries
from im2hands_lite.evaluation.paired import paired_bootstrap
from im2hands_lite.models.halo import HaloConfig, stack_hands
from im2hands_lite.models.image import fast_decoder, fast_resnet
from im2hands_lite.models.registry import build_model, load_model, shipped_path
from im2hands_lite.training.settings import OccupancyTrainSettings, get_profile
from im2hands_lite.training.trainer import train

# name -> (what it tests, config options, settings overrides, zero the image feature)
EXPERIMENTS: dict[str, tuple[str, dict, dict, bool]] = {
    "halo": ("HALO, the baseline", {}, {}, False),
}


def _add(name: str, doc: str, image_cond: str, options: dict, overrides: dict | None = None,
         zero_feature: bool = False) -> None:
    EXPERIMENTS[name] = (doc, {"image_cond": image_cond, **options}, overrides or {}, zero_feature)


for cond in ("attention", "pixel_aligned"):
    _add(f"{cond}_zero_feature", "image feature zeroed: must reproduce HALO exactly", cond,
         {"zero_init_image": False}, zero_feature=True)
    _add(f"{cond}_random_init", "image weights random (the concatenation's init)", cond, {"zero_init_image": False})
    _add(f"{cond}_zero_init", "image weights start at zero", cond, {"zero_init_image": True})
    _add(f"{cond}_zero_init_layer_norm", "+ LayerNorm on the image feature", cond,
         {"zero_init_image": True, "feature_norm": "layer"})
    _add(f"{cond}_zero_init_encoder_lr", "+ encoder lr x 0.1", cond, {"zero_init_image": True},
         {"encoder_lr_scale": 0.1})
    _add(f"{cond}_zero_init_group_norm", "+ GroupNorm in the encoder-decoder", cond,
         {"zero_init_image": True, "norm": "group"})
    _add(f"{cond}_random_init_group_norm", "random image weights + GroupNorm", cond,
         {"zero_init_image": False, "norm": "group"})
    _add(f"{cond}_zero_init_image_lr", "+ lr x 0.1 for the whole image path", cond, {"zero_init_image": True},
         {"image_lr_scale": 0.1})
    _add(f"{cond}_zero_init_layer_norm_image_lr", "zero init + LayerNorm + image path lr x 0.1", cond,
         {"zero_init_image": True, "feature_norm": "layer"}, {"image_lr_scale": 0.1})
    _add(f"{cond}_zero_init_layer_norm_image_lr_001", "zero init + LayerNorm + image path lr x 0.01", cond,
         {"zero_init_image": True, "feature_norm": "layer"}, {"image_lr_scale": 0.01})
    _add(f"{cond}_zero_init_layer_norm_image_lr_003", "zero init + LayerNorm + image path lr x 0.03", cond,
         {"zero_init_image": True, "feature_norm": "layer"}, {"image_lr_scale": 0.03})
    _add(f"{cond}_zero_init_layer_norm_group_norm_image_lr", "zero init + LayerNorm + GroupNorm + image lr x 0.1",
         cond, {"zero_init_image": True, "feature_norm": "layer", "norm": "group"}, {"image_lr_scale": 0.1})
    _add(f"{cond}_all", "zero init + LayerNorm + GroupNorm + encoder lr x 0.1", cond,
         {"zero_init_image": True, "feature_norm": "layer", "norm": "group"}, {"encoder_lr_scale": 0.1})


def build(options: dict) -> torch.nn.Module:
    """A fresh model from an experiment's options (halo/zero_init_image/norm/feature_norm)."""
    if "image_cond" not in options:
        return build_model("halo")
    options = {"feature_norm": "none", **options}  # experiments start from the image path before the fix
    config = {"image_cond": options.pop("image_cond"),
              "halo": HaloConfig(zero_init_image=options.pop("zero_init_image"))}
    norm = options.pop("norm", None)
    if norm is not None:
        config["resnet"] = dataclasses.replace(fast_resnet(), norm=norm)
        config["decoder"] = dataclasses.replace(fast_decoder(), norm=norm)
    return build_model("i", **config, **options)


def zero_image_feature(model) -> None:
    """Replace I's per-query image feature by zeros of the same shape (the image path is skipped)."""
    width = model.config.feature_dim

    def image_features(queries, *args, **kwargs):
        return queries.new_zeros(*queries.shape[:2], width), None
    model.image_features = image_features


def feature_spread(model, dataset, n: int = 8) -> dict:
    """Mean and standard deviation of I's per-query image feature on n items (eval mode)."""
    if not hasattr(model, "image_features") or model.config.feature_dim == 0:
        return {}
    batch = torch.utils.data.default_collate([dataset[i] for i in range(n)])
    keypoints, queries, is_left = stack_hands(batch["keypoints"], batch["queries"])
    with torch.no_grad():
        context = model.encode_image(batch["image"])
        index = torch.arange(n).repeat_interleave(2)
        features, _ = model.image_features(queries, context, index, batch["K"], batch["R"], batch["t"],
                                           batch["keypoints"].mean(1)[index])
    # across queries and samples, per channel: how much the feature varies, and its typical size
    return {"feature_std": float(features.flatten(0, 1).std(0).mean()),
            "feature_rms": float(features.pow(2).mean().sqrt())}


def run(name: str, out: Path, train_samples: int, steps: int, threads: int, label: str) -> dict:
    doc, options, overrides, zero_feature = EXPERIMENTS[name]
    torch.set_num_threads(threads)
    profile = get_profile("fast")
    data_config = profile.generator_config()
    root = default_cache_root()
    generate_split(root, "train", train_samples, data_config, progress=False)
    generate_split(root, "test", profile.test_samples, data_config, progress=False)
    directory = config_dir(root, data_config)
    train_set = torch.utils.data.Subset(TwoHandDataset(directory, "train"), range(train_samples))
    test_set = TwoHandDataset(directory, "test")
    before_fix = {"image_lr_scale": 1.0} if "image_lr_scale" in OccupancyTrainSettings.__dataclass_fields__ else {}
    settings = OccupancyTrainSettings(steps=steps, train_samples=train_samples, **(before_fix | overrides))
    torch.manual_seed(settings.seed)
    model = build(options)
    if zero_feature:
        zero_image_feature(model)
    spread_before = feature_spread(model, test_set)
    started = time.perf_counter()
    result = train(model, train_set, settings, progress=False)
    minutes = (time.perf_counter() - started) / 60
    fit = evaluate_queries(model, train_set, range(min(64, train_samples)), progress=False)
    test = evaluate_queries(model, test_set, progress=False)
    record = {"name": name + label, "doc": doc, "options": options, "overrides": overrides,
              "zero_feature": zero_feature, "steps": steps, "train_samples": train_samples, "minutes": minutes,
              "loss_curve": [row["loss"] for row in result.log],
              "train_mse": [r["mse"] for r in fit["rows"]], "test_mse": [r["mse"] for r in test["rows"]],
              "test_iou": [r["point_iou"] for r in test["rows"]],
              "spread_before": spread_before, "spread_after": feature_spread(model, test_set)}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}{label}.json").write_text(json.dumps(record))
    return record


def report(out: Path) -> str:
    """The markdown table of every finished experiment, each paired against HALO."""
    records = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))
               if not p.stem.startswith("shipped_")}
    if "halo" not in records:
        raise SystemExit(f"no HALO run in {out}: run --run halo first")
    base = records["halo"]
    lines = ["| experiment | final train loss (last 50 steps) | train MSE | test MSE | test point IoU % "
             "| test IoU vs HALO, points [95 % CI] | train MSE vs HALO x1e3 [95 % CI] | feature rms start / end |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in records.items():
        tail = r["loss_curve"][-50:]
        iou = 100 * sum(r["test_iou"]) / len(r["test_iou"])
        vs_iou = paired_bootstrap(r["test_iou"], base["test_iou"]).format(100) if name != "halo" else "-"
        vs_fit = paired_bootstrap(r["train_mse"], base["train_mse"]).format(1000, 2) if name != "halo" else "-"
        spread = (f"{r['spread_before'].get('feature_rms', 0):.2f} / {r['spread_after'].get('feature_rms', 0):.2f}"
                  if r["spread_after"] else "-")
        exact = ""
        if r["zero_feature"]:
            same = r["loss_curve"] == base["loss_curve"][:len(r["loss_curve"])]
            exact = " (curve = HALO's: yes)" if same else " (curve = HALO's: NO)"
        lines.append(f"| {name}{exact} | {sum(tail) / len(tail):.4f} | {sum(r['train_mse']) / len(r['train_mse']):.4f} "
                     f"| {sum(r['test_mse']) / len(r['test_mse']):.4f} | {iou:.1f} | {vs_iou} | {vs_fit} | {spread} |")
    return "\n".join(lines)


def compare_shipped(stems: list[str], baseline: str, out: Path, meshes: bool = False, progress: bool = True) -> str:
    """Shipped checkpoints on the fast profile's test split, each paired against `baseline`:
    point IoU / MSE at every labelled query, and with `meshes` the paper's mesh IoU / Chamfer
    (64^3; about 10 s per sample on one CPU core)."""
    profile = get_profile("fast")
    root = default_cache_root()
    generate_split(root, "test", profile.test_samples, profile.generator_config(), progress=False)
    test_set = TwoHandDataset(config_dir(root, profile.generator_config()), "test")
    rows = {}
    for stem in [baseline, *stems]:
        # per-sample rows cached by the checkpoint's checksum: a rerun evaluates only what changed
        cache = out / f"shipped_{stem}_{sha256_of(shipped_path(stem))[:12]}{'_meshes' if meshes else ''}.json"
        if cache.is_file():
            rows[stem] = json.loads(cache.read_text())
            continue
        torch.manual_seed(0)
        model = load_model(stem)
        points = evaluate_queries(model, test_set, progress=progress)["rows"]
        rows[stem] = {"point_iou": [r["point_iou"] for r in points], "mse": [r["mse"] for r in points]}
        if meshes:
            mesh_rows = evaluate_occupancy(model, test_set, progress=progress)["rows"]
            rows[stem] |= {"iou": [r["iou"] for r in mesh_rows], "chamfer_mm": [r["chamfer_mm"] for r in mesh_rows]}
        out.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(rows[stem]))
    metrics = [("point IoU %", "point_iou", 100, 1), ("point MSE x1e3", "mse", 1000, 2)]
    if meshes:
        metrics += [("mesh IoU %", "iou", 100, 1), ("Chamfer mm", "chamfer_mm", 1, 2)]
    lines = ["| checkpoint | " + " | ".join(f"{name} | vs {baseline} [95 % CI]" for name, *_ in metrics) + " |",
             "|---" * (1 + 2 * len(metrics)) + "|"]
    for stem, r in rows.items():
        cells = [stem]
        for _, key, scale, digits in metrics:
            values = torch.tensor(r[key], dtype=torch.float64)
            cells.append(f"{scale * values.nanmean().item():.{digits}f}")
            cells.append("-" if stem == baseline else
                         paired_bootstrap(r[key], rows[baseline][key]).format(scale, digits))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", nargs="*", default=[], choices=sorted(EXPERIMENTS), metavar="NAME")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/image_path_experiments"))
    parser.add_argument("--train-samples", type=int, default=256)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--label", default="", help="suffix of the result's name (e.g. _today)")
    parser.add_argument("--shipped", nargs="*", metavar="STEM",
                        help="compare these shipped checkpoints with --baseline on the test split")
    parser.add_argument("--baseline", default="i_none")
    parser.add_argument("--meshes", action="store_true", help="with --shipped: also mesh IoU / Chamfer (slow)")
    args = parser.parse_args(argv)
    if args.list:
        for name, (doc, *_rest) in EXPERIMENTS.items():
            print(f"{name:40s} {doc}")
    for name in args.run:
        if (args.out / f"{name}{args.label}.json").exists():
            print(f"{name}{args.label}: done already")
            continue
        r = run(name, args.out, args.train_samples, args.steps, args.threads, args.label)
        print(f"{r['name']}: {r['minutes']:.1f} min, test IoU {100 * sum(r['test_iou']) / len(r['test_iou']):.1f} %",
              flush=True)
    if args.report:
        print(report(args.out))
    if args.shipped:
        print(compare_shipped(args.shipped, args.baseline, args.out, args.meshes))


if __name__ == "__main__":
    main()
