"""Does starting from the pretrained ImgEnc help? The estimator and I trained twice, from the
shipped `image_encoder_fast.pt` and from scratch, with the same data, steps and seed.

From scratch is the kit's path before pretraining (random ImgEnc at the model's full rate:
`encoder_init=scratch encoder_lr_scale=1`). Estimator: the fast profile's settings; root-relative and absolute MPJPE on the first
`--test-samples` test renders, paired pretrained vs scratch, beside a constant mean pose (the
training split's mean (u, v), relative depth and log(z / f), lifted with each render's camera).
I (attention, pixel-aligned): `--i-steps` steps on `--i-train-samples`; point IoU at every
labelled query (the same points for both), paired; the image check: point IoU with each
sample's own crop minus with another sample's crop (same keypoints and queries); and the
attention's entropy over the 16 image tokens relative to uniform (1.0 = uniform). `_image_lr`:
pretrained, with the new image layers at the full lr and ImgEnc at x 0.1 (the official rates)
instead of I's image path at x 0.03. `estimator_pretrained_16k`: the pretrained start on 16,384
training renders instead of 2,048 (the same steps). `--out` keeps each encoder's runs apart (the
scratch runs do not depend on it: copy their JSON files across).

    python scripts/pretrained_start_experiments.py --run estimator_pretrained estimator_scratch
    python scripts/pretrained_start_experiments.py --report
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from im2hands_lite.data.dataset import TwoHandDataset, config_dir, default_cache_root
from im2hands_lite.data.noise import mpjpe_mm, root_relative_mpjpe_mm
from im2hands_lite.evaluation.evaluate import (
    constant_pose_keypoints,
    evaluate_keypoints,
    evaluate_queries,
)
from im2hands_lite.evaluation.paired import paired_bootstrap
from im2hands_lite.models.registry import load_model
from im2hands_lite.training.runs import RunSpec, run_training
from im2hands_lite.training.settings import get_profile

# name -> (model, encoder init, further settings)
EXPERIMENTS = {f"{model}_{init}": (model, init, ()) for model in ("estimator", "i_attention", "i_pixel_aligned")
               for init in ("pretrained", "scratch")}
# more renders: the pretrained start on 16,384 training renders instead of the profile's 2,048
EXPERIMENTS["estimator_pretrained_16k"] = ("estimator", "pretrained", ("train_samples=16384",))
for _variant in ("i_attention", "i_pixel_aligned"):  # the official rates: new image layers at lr, ImgEnc at lr x 0.1
    EXPERIMENTS[f"{_variant}_pretrained_image_lr"] = (_variant, "pretrained", ("image_lr_scale=1.0",
                                                                                 "encoder_lr_scale=0.1"))


class ForeignCrops(torch.utils.data.Dataset):
    """Each item with the image (and camera intrinsics) of the next sample: keypoints, queries
    and labels stay the sample's own."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        item = dict(self.dataset[i])
        other = self.indices[(self.indices.index(i) + 1) % len(self.indices)]
        item["image"] = self.dataset[other]["image"]
        return item


def attention_entropy(model, dataset, indices) -> float:
    """Mean entropy of the query-image attention over the image tokens / log(tokens)."""
    values = []
    with torch.no_grad():
        for i in indices:
            batch = torch.utils.data.default_collate([dataset[i]])
            weights = model.predict(batch, return_attention=True).attention  # (2, heads, N, T)
            entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)
            values.append(float(entropy.mean() / math.log(weights.shape[-1])))
    return float(np.mean(values))


def constant_pose_errors(train_set, test_set, test_indices) -> dict[str, list[float]]:
    train = torch.utils.data.default_collate([train_set[i] for i in range(len(train_set))])
    test = torch.utils.data.default_collate([test_set[i] for i in test_indices])
    world = constant_pose_keypoints(train, test)
    return {"rr": root_relative_mpjpe_mm(world, test["keypoints"]).tolist(),
            "abs": mpjpe_mm(world, test["keypoints"]).tolist()}


def run(name: str, args) -> dict:
    path = Path(args.out) / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    model_name, init, extra = EXPERIMENTS[name]
    overrides = [f"encoder_init={init}", "checkpoint_every=200", *extra]
    if init == "scratch":  # the path before pretraining: a random encoder learns at the full rate
        overrides.append("encoder_lr_scale=1.0")
    fields = {}
    if model_name.startswith("i_"):
        overrides += [f"steps={args.i_steps}", f"train_samples={args.i_train_samples}"]
        fields["variant"] = model_name.removeprefix("i_")
    spec = RunSpec(model="estimator" if model_name == "estimator" else "i", profile="fast",
                   out=str(Path(args.out) / name), overrides=tuple(overrides), resume=True, progress=False,
                   threads=args.threads, **fields)
    result = run_training(spec)
    model = load_model(result.final)
    directory = config_dir(default_cache_root(), get_profile("fast").generator_config())
    indices = range(args.test_samples)
    record = {"name": name, "settings": list(overrides), "minutes": round(result.log[-1]["seconds"] / 60, 1),
              "final_loss": float(np.mean([row["loss"] for row in result.log[-50:]]))}
    torch.manual_seed(0)
    if model_name == "estimator":
        test_set = TwoHandDataset(directory, "test", n_queries=2)
        rows = evaluate_keypoints(test_set, indices, estimator=model, progress=False)["rows"]
        record["rr"] = [r["estimator_rr"] for r in rows]
        record["abs"] = [r["estimator_abs"] for r in rows]
        record["constant"] = constant_pose_errors(
            torch.utils.data.Subset(TwoHandDataset(directory, "train", n_queries=2), range(2048)), test_set, indices)
    else:
        test_set = TwoHandDataset(directory, "test")
        own = evaluate_queries(model, test_set, indices, progress=False)["rows"]
        foreign = evaluate_queries(model, ForeignCrops(test_set, indices), indices, progress=False)["rows"]
        record["point_iou"] = [r["point_iou"] for r in own]
        record["foreign_point_iou"] = [r["point_iou"] for r in foreign]
        if model_name == "i_attention":
            record["attention_entropy"] = attention_entropy(model, test_set, list(indices)[:8])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def report(out: Path) -> str:
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    lines = []
    pre, scratch = records.get("estimator_pretrained"), records.get("estimator_scratch")
    if pre and scratch:
        lines += ["| estimator | rr MPJPE mm | abs MPJPE mm | rr vs scratch | rr vs constant pose | min |",
                  "|---|---|---|---|---|---|"]
        constant = pre["constant"]
        for r in (pre, records.get("estimator_pretrained_16k"), scratch):
            if r is None:
                continue
            vs_scratch = "" if r is scratch else paired_bootstrap(r["rr"], scratch["rr"]).format()
            lines.append(f"| {r['name']} | {np.mean(r['rr']):.1f} | {np.mean(r['abs']):.1f} | {vs_scratch} | "
                         f"{paired_bootstrap(r['rr'], constant['rr']).format()} | {r['minutes']} |")
        lines.append(f"| constant mean pose | {np.mean(constant['rr']):.1f} | {np.mean(constant['abs']):.1f} | | | |")
        lines.append("")
    for variant in ("i_attention", "i_pixel_aligned"):
        pre, scratch = records.get(f"{variant}_pretrained"), records.get(f"{variant}_scratch")
        if not (pre and scratch):
            continue
        lines += [f"| {variant} | point IoU % | vs scratch | own - foreign crop | attention entropy / uniform | min |",
                  "|---|---|---|---|---|---|"]
        for r in (pre, records.get(f"{variant}_pretrained_image_lr"), scratch):
            if r is None:
                continue
            vs = "" if r is scratch else paired_bootstrap(r["point_iou"], scratch["point_iou"]).format(100)
            own_foreign = paired_bootstrap(r["point_iou"], r["foreign_point_iou"]).format(100, 2)
            entropy = f"{r['attention_entropy']:.3f}" if "attention_entropy" in r else ""
            lines.append(f"| {r['name']} | {100 * np.mean(r['point_iou']):.1f} | {vs} | {own_foreign} | {entropy} | "
                         f"{r['minutes']} |")
        lines.append("")
    return "\n".join(lines) or "no experiments yet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", nargs="*", default=[], choices=list(EXPERIMENTS))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--i-steps", type=int, default=400)
    parser.add_argument("--i-train-samples", type=int, default=256)
    parser.add_argument("--test-samples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/pretrained_start")
    args = parser.parse_args()
    for name in args.run:
        run(name, args)
        print(name, "done", flush=True)
    if args.report or not args.run:
        print(report(Path(args.out)))


if __name__ == "__main__":
    main()
