"""The paper's ablation tables S1-S3, regenerated on the kit's benchmark from shipped (or given)
checkpoints, side by side with the paper's numbers.

S1: ground-truth keypoints; I's three image conditionings and I + R with each R part removed.
S2: the same with noisy keypoints (the DIGIT-calibrated noise model, one fixed draw per sample)
    refined by K first.
S3: R with 256 / 512 / 1,024 iso-surface points: training time per step and IoU.
Each hand's mesh is aligned by its middle joint before IoU / Chamfer-L1 (the paper's protocol);
with K's keypoints the predicted middle joint is used (no ground truth at test time).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .atomic import atomic_write
from .checkpoints import SHIPPED, load_checkpoint, load_initial, load_refiner, load_two_hand_refiner
from .evaluate import ReconstructionConfig, noisy_keypoints_of, reconstruct_pair
from .metrics import two_hand_metrics

# supplementary Tables S1-S3 (InterHand2.6M): IoU %, Chamfer-L1 mm; S3: seconds per iteration
PAPER = {
    "S1": {"I - ImageCond": (74.7, 2.62), "I - QueryImageAtt": (75.8, 2.51), "I": (77.2, 2.32),
           "I + R - InitOccCond": (67.0, 3.44), "I + R - FeatureCloud": (77.4, 2.32),
           "I + R - ContextLatent": (77.6, 2.31), "I + R": (77.8, 2.30)},
    "S2": {"K + I - ImageCond": (53.0, 5.63), "K + I - QueryImageAtt": (53.9, 5.47), "K + I": (55.4, 5.36),
           "K + I + R - InitOccCond": (55.1, 5.18), "K + I + R - FeatureCloud": (58.3, 4.78),
           "K + I + R - ContextLatent": (58.4, 4.79), "K + I + R": (59.4, 4.75)},
    "S3": {"R, 256 points": (77.4, 1.04), "R, 512 points": (77.8, 1.74), "R, 1024 points": (77.6, 3.15)},
}

# row -> (I checkpoint, R checkpoint or None), shipped names
_ROWS = {"I - ImageCond": ("i_none_fast.pt", None), "I - QueryImageAtt": ("i_pixel_aligned_fast.pt", None),
         "I": ("i_attention_fast.pt", None), "I + R - InitOccCond": ("i_attention_fast.pt", "r_no_init_occ_cond_fast.pt"),
         "I + R - FeatureCloud": ("i_attention_fast.pt", "r_no_feature_cloud_fast.pt"),
         "I + R - ContextLatent": ("i_attention_fast.pt", "r_no_context_latent_fast.pt"),
         "I + R": ("i_attention_fast.pt", "r_fast.pt")}
_S3 = {"R, 256 points": "r_256_fast.pt", "R, 512 points": "r_fast.pt", "R, 1024 points": "r_1024_fast.pt"}
TABLES = tuple(PAPER)


@dataclass
class TableResult:
    name: str
    rows: list[dict]  # one per variant: kit metrics, paper values, checkpoints
    samples: int

    def markdown(self) -> str:
        if self.name == "S3":
            head = "| variant | kit IoU (%) | kit s / step (CPU) | paper IoU (%) | paper s / iter |\n| --- | ---: | ---: | ---: | ---: |"
            body = [f"| {r['variant']} | {_fmt(r.get('iou'), 100)} | {_fmt(r.get('seconds_per_step'))} | "
                    f"{r['paper_iou']} | {r['paper_seconds']} |" for r in self.rows]
        else:
            head = ("| variant | kit IoU (%) | kit CD (mm) | kit penetration (cm^3) | paper IoU (%) | paper CD (mm) |\n"
                    "| --- | ---: | ---: | ---: | ---: | ---: |")
            body = [f"| {r['variant']} | {_fmt(r.get('iou'), 100)} | {_fmt(r.get('chamfer_mm'))} | "
                    f"{_fmt(r.get('penetration_cm3'), digits=3)} | {r['paper_iou']:.1f} | {r['paper_chamfer_mm']:.2f} |"
                    for r in self.rows]
        return "\n".join([f"Table {self.name} on {self.samples} kit test samples", "", head, *body]) + "\n"

    def write(self, out: str | Path) -> list[Path]:
        """<out>/table_<name>.md, .csv and .png (kit vs paper IoU)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        md = atomic_write(out / f"table_{self.name}.md", lambda h: h.write(self.markdown().encode()))
        fields = sorted({k for r in self.rows for k in r}, key=lambda k: (k != "variant", k))

        def write_csv(handle):
            import io

            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)
            handle.write(text.getvalue().encode())
        table_csv = atomic_write(out / f"table_{self.name}.csv", write_csv)
        return [md, table_csv, self.plot(out / f"table_{self.name}.png")]

    def plot(self, path: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        names = [r["variant"] for r in self.rows]
        kit = [100 * r["iou"] if r.get("iou") is not None else np.nan for r in self.rows]
        paper = [r["paper_iou"] for r in self.rows]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.6))
        ax.bar(x - 0.2, kit, 0.4, label="kit (fast profile)")
        ax.bar(x + 0.2, paper, 0.4, label="paper (InterHand2.6M)")
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("IoU (%)")
        ax.set_title(f"Table {self.name}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=90))
        plt.close(fig)
        return path


def _fmt(value, scale: float = 1.0, digits: int = 2) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{scale * value:.{1 if scale == 100 else digits}f}"


def _pipeline(initial_name: str, refine_name: str | None, checkpoints: Path):
    initial = load_initial(checkpoints / initial_name)
    if refine_name is None:
        return initial
    from .refine_inputs import InitialPlusRefinement

    return InitialPlusRefinement(initial, load_two_hand_refiner(checkpoints / refine_name))


def evaluate_table(name: str, dataset, indices, config: ReconstructionConfig = ReconstructionConfig(
        resolution=64, coarse_resolution=16), checkpoints: str | Path = SHIPPED, n_points: int = 20_000,
        seed: int = 0, progress: bool = True) -> TableResult:
    """Evaluate every variant of table `name` ("S1", "S2", "S3") on `dataset[indices]`."""
    if name not in PAPER:
        raise ValueError(f"unknown table {name!r}; choose one of {list(PAPER)}")
    checkpoints, indices = Path(checkpoints), list(indices)
    rows = []
    if name == "S3":
        for variant, file in _S3.items():
            row = {"variant": variant, "checkpoint": file, "paper_iou": PAPER["S3"][variant][0],
                   "paper_seconds": PAPER["S3"][variant][1]}
            if (checkpoints / file).is_file():
                extra = load_checkpoint(checkpoints / file)["extra"]
                row["seconds_per_step"] = extra.get("seconds_per_step")
                row["iou"] = _mean_metrics(_pipeline("i_attention_fast.pt", file, checkpoints), dataset, indices,
                                           config, n_points, seed, None, progress, variant)["iou"]
            rows.append(row)
        return TableResult(name, rows, len(indices))
    keypoints = None
    if name == "S2":
        refiner = load_refiner(checkpoints / "k_fast.pt")
        keypoints = {}
        with torch.no_grad():
            for i in indices:
                item = dataset[i]
                noisy = noisy_keypoints_of(item, i, seed=seed)
                batch = {k: item[k][None] for k in ("image", "K", "R", "t")}
                keypoints[i] = refiner.predict(batch, keypoints=noisy[None]).keypoints[0]
    for variant, (initial_name, refine_name) in _ROWS.items():
        label = variant if name == "S1" else f"K + {variant}"
        paper_iou, paper_cd = PAPER[name][label]
        metrics = _mean_metrics(_pipeline(initial_name, refine_name, checkpoints), dataset, indices, config,
                                n_points, seed, keypoints, progress, label)
        rows.append({"variant": label, **metrics, "paper_iou": paper_iou, "paper_chamfer_mm": paper_cd,
                     "checkpoints": " + ".join(f for f in (initial_name, refine_name) if f)})
    return TableResult(name, rows, len(indices))


def _mean_metrics(model, dataset, indices, config, n_points, seed, keypoints, progress, label) -> dict:
    results = []
    for i in tqdm(indices, desc=label, disable=not progress, leave=False):
        sample, item = dataset.sample(i), dataset[i]
        if keypoints is not None:
            item = dict(item, keypoints=keypoints[i])
        meshes = [r.mesh for r in reconstruct_pair(model, item, config)]
        predicted_joints = item["keypoints"].cpu().numpy()
        results.append(two_hand_metrics(meshes, [sample.mesh(0), sample.mesh(1)], predicted_joints, sample.keypoints,
                                        n_points=n_points, rng=np.random.default_rng([seed, i])))
    return {key: float(np.nanmean([r[key] for r in results])) for key in ("iou", "chamfer_mm", "penetration_cm3")}
