"""The paper's ablation tables S1-S3, regenerated on the kit's benchmark from shipped (or given)
checkpoints, side by side with the paper's numbers.

S1: ground-truth keypoints; I's three image conditionings and I + R with each R part removed.
S2: the same with noisy keypoints (the DIGIT-calibrated noise model, one fixed draw per sample)
    refined by K first.
S3: R with 256 / 512 / 1,024 iso-surface points: training time per step and IoU.
S1 and S2 also get a baseline row that stands in for mesh-regression methods (IntagHand): the
kit's hand template posed to the input keypoints by inverse kinematics (baselines.py).
Checkpoints: the shipped fast ones, or per profile in runs/ (`CheckpointSource`; training the
missing ones is `apps.table_runs`, above both evaluation and training).
Each hand's mesh is aligned by its middle joint before IoU / Chamfer-L1 (the paper's protocol);
with K's keypoints the predicted middle joint is used (no ground truth at test time).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from ..checkpoints import SHIPPED, CheckpointError, atomic_write, load_checkpoint, sha256_of
from ..data.dataset import sample_to_item
from ..geometry.extraction import ReconstructionConfig
from ..models.registry import VARIANTS, load_model
from ..models.two_stage import InitialPlusTwoHandRefiner
from .baselines import TemplateIKBaseline
from .evaluate import OCCUPANCY_METRICS, noisy_keypoints_of, summarise_occupancy
from .metrics import two_hand_metrics
from .paired import paired_bootstrap
from .reconstruction import reconstruct_pair

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

# row -> (I variant, R variant or None); a variant's checkpoint is "<stem>_fast.pt" when shipped
_ROWS = {"I - ImageCond": ("i_none", None), "I - QueryImageAtt": ("i_pixel_aligned", None),
         "I": ("i_attention", None), "I + R - InitOccCond": ("i_attention", "r_no_init_occ_cond"),
         "I + R - FeatureCloud": ("i_attention", "r_no_feature_cloud"),
         "I + R - ContextLatent": ("i_attention", "r_no_context_latent"), "I + R": ("i_attention", "r")}
_S3 = {"R, 256 points": "r_256", "R, 512 points": "r", "R, 1024 points": "r_1024"}
BASELINE = "IK template (mesh-regression stand-in)"  # no paper number: the paper's tables have no such row
@dataclass
class CheckpointSource:
    """Where each variant's weights come from: for the fast profile the shipped checkpoint when
    there is one; otherwise `<runs>/<profile>/<stem>/final.pt`. A missing one is an error here;
    `apps.table_runs.TrainingCheckpointSource` trains it instead. A run whose recorded training
    settings differ from `expected_settings` is refused, so a table never mixes settings."""

    profile: str = "fast"
    shipped: Path = SHIPPED
    runs: Path = Path("runs/tables")
    overrides: tuple[str, ...] = ()  # training settings overrides of the runs ("steps=100")

    def __post_init__(self):
        self.shipped, self.runs = Path(self.shipped), Path(self.runs)

    def path(self, stem: str) -> Path:
        if stem not in VARIANTS:
            raise ValueError(f"unknown variant {stem!r}; choose one of {list(VARIANTS)}")
        shipped = self.shipped / f"{stem}_fast.pt"
        if self.profile == "fast" and not self.overrides and shipped.is_file():
            return shipped
        final = self.runs / self.profile / stem / "final.pt"
        if final.is_file():
            self.check_settings(stem, final)
            return final
        return self.missing(stem, final)

    def expected_settings(self, stem: str) -> dict | None:
        """The training settings (JSON form) a run of `stem` must have been trained with, leaving
        out those that do not change the weights; None: unknown here, nothing is checked (the
        evaluation layer knows no profiles' settings; `TrainingCheckpointSource` does)."""
        return None

    def check_settings(self, stem: str, final: Path) -> None:
        expected = self.expected_settings(stem)
        if expected is None:
            return
        recorded = load_checkpoint(final)["extra"].get("train_settings", {})
        differing = [f"{k} {recorded.get(k)!r} (asked {v!r})" for k, v in sorted(expected.items())
                     if recorded.get(k) != v]
        if differing:
            raise CheckpointError(
                f"{final} was trained with other settings than asked: {', '.join(differing)}; evaluate it with "
                f"the --set it was trained with, or give another --runs folder to train these settings there "
                f"(--train-missing) without replacing this run")

    def missing(self, stem: str, final: Path) -> Path:
        raise FileNotFoundError(
            f"no checkpoint for variant {stem!r} of the {self.profile} profile (looked for "
            f"{self.shipped / f'{stem}_fast.pt'} and {final}); train it with --train-missing or "
            f"`im2hands train --profile {self.profile} ...`")

    def label(self, path: Path) -> str:
        """How a table names a checkpoint: the file name when shipped, else the run path."""
        return path.name if path.parent == self.shipped else str(path)

    def available(self, stem: str) -> bool:
        try:
            return self.path(stem).is_file()
        except FileNotFoundError:
            return False


TABLES = tuple(PAPER)


def _fmt(value, scale: float = 1.0, digits: int = 2) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{scale * value:.{1 if scale == 100 else digits}f}"


def _count(value) -> str:
    return "-" if value is None else str(int(value))


FAILED_NOTE = ("Means over the samples where every metric is defined; `failed` samples (an empty predicted hand) "
               "are left out of them. The orderings below pair every sample: a failed one counts IoU 0 per empty "
               "hand, and is left out of the Chamfer interval only.")
VERDICTS = ("reproduced", "reversed", "inconclusive", "missing")


# (ablated or smaller variant, reference variant) pairs whose IoU ordering the paper reports
_COMPARISONS = {
    "S1": [("I - ImageCond", "I"), ("I - QueryImageAtt", "I"), ("I", "I + R"), ("I + R - InitOccCond", "I + R"),
           ("I + R - FeatureCloud", "I + R"), ("I + R - ContextLatent", "I + R")],
    "S3": [("R, 256 points", "R, 512 points"), ("R, 1024 points", "R, 512 points")],
}
_COMPARISONS["S2"] = [(f"K + {a}", f"K + {b}") for a, b in _COMPARISONS["S1"]]


def _paired(result: "TableResult", variant: str, reference: str, metric: str):
    """(reference's, variant's) per-sample `metric` over the samples both were scored on."""
    a = {r["index"]: r[metric] for r in result.per_sample.get(variant, [])}
    b = {r["index"]: r[metric] for r in result.per_sample.get(reference, [])}
    common = sorted(set(a) & set(b))
    return np.array([b[i] for i in common], dtype=float), np.array([a[i] for i in common], dtype=float)


def _paired_gain(result: "TableResult", variant: str, reference: str, metric: str, confidence: float):
    """Variant minus reference of a lower-is-better `metric`, paired; None with < 2 finite pairs."""
    reference_values, variant_values = _paired(result, variant, reference, metric)
    if (np.isfinite(reference_values) & np.isfinite(variant_values)).sum() < 2:
        return None
    return paired_bootstrap(variant_values, reference_values, confidence=confidence)


def orderings(result: "TableResult", confidence: float = 0.95) -> list[dict]:
    """Does the kit reproduce each of the paper's IoU orderings? One dict per (variant,
    reference) pair: the paper's IoU gain of the reference over the variant (points), the kit's
    (`kit_gain`: a `PairedDifference` in IoU points, paired over the same samples and Monte Carlo
    points, or None), the kit's Chamfer-L1 gain (variant - reference, mm: positive when the
    reference is closer), the kit's penetration gain (`kit_penetration_gain`, variant - reference,
    cm^3: positive when the reference puts the two hands into each other less) and the verdict (`../shared/DESIGN.md`, Conventions): "reproduced" when
    the `confidence` bootstrap interval of the IoU gain excludes zero in the paper's direction,
    "reversed" when it excludes zero the other way, else "inconclusive"; "missing" when a variant
    was not scored per sample (a table written before per-sample scores were kept)."""
    rows = {r["variant"]: r for r in result.rows}
    verdicts = []
    for variant, reference in _COMPARISONS[result.name]:
        paper = rows.get(reference, {}).get("paper_iou", np.nan) - rows.get(variant, {}).get("paper_iou", np.nan)
        reference_iou, variant_iou = _paired(result, variant, reference, "iou")
        iou_gain = chamfer_gain = penetration_gain = None
        verdict = "missing"
        if len(reference_iou) >= 2:
            iou_gain = paired_bootstrap(100 * reference_iou, 100 * variant_iou, confidence=confidence)
            verdict = iou_gain.verdict(expected=1 if paper >= 0 else -1)
            chamfer_gain = _paired_gain(result, variant, reference, "chamfer_mm", confidence)
            penetration_gain = _paired_gain(result, variant, reference, "penetration_cm3", confidence)
        verdicts.append({"variant": variant, "reference": reference, "paper_gain": float(paper),
                         "kit_gain": iou_gain, "kit_chamfer_gain": chamfer_gain,
                         "kit_penetration_gain": penetration_gain, "verdict": verdict})
    return verdicts


def orderings_markdown(result: "TableResult") -> str:
    lines = [f"| Table {result.name}: reference vs variant | paper IoU gain | kit IoU gain [95 % CI] | "
             "kit Chamfer gain mm [95 % CI] | kit penetration gain cm^3 [95 % CI] | verdict |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for v in orderings(result):
        iou = v["kit_gain"].format() if v["kit_gain"] else "-"
        chamfer = v["kit_chamfer_gain"].format(digits=2) if v["kit_chamfer_gain"] else "-"
        penetration = v["kit_penetration_gain"].format(digits=3) if v["kit_penetration_gain"] else "-"
        lines.append(f"| {v['reference']} vs {v['variant']} | {v['paper_gain']:+.1f} | {iou} | {chamfer} | "
                     f"{penetration} | {v['verdict']} |")
    return "\n".join(lines) + "\n"


VERDICT_COLOURS = {"reproduced": "tab:green", "reversed": "tab:red", "inconclusive": "tab:grey",
                   "missing": "white"}


def _verdict_counts(verdicts: list[dict]) -> dict[str, int]:
    counts = {k: sum(v["verdict"] == k for v in verdicts) for k in VERDICT_COLOURS}
    return {k: c for k, c in counts.items() if c}


def _interval_fields(prefix: str, gain) -> dict:
    if gain is None:
        return {prefix: None, f"{prefix}_low": None, f"{prefix}_high": None}
    return {prefix: gain.mean, f"{prefix}_low": gain.low, f"{prefix}_high": gain.high}


def orderings_csv_text(result: "TableResult") -> str:
    """`orderings(result)` as CSV: one row per (reference, variant) with each gain's mean and 95 %
    interval, the number of paired samples and the verdict."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[
        "reference", "variant", "paper_gain", "n", *_interval_fields("kit_gain", None),
        *_interval_fields("kit_chamfer_gain", None), *_interval_fields("kit_penetration_gain", None), "verdict"])
    writer.writeheader()
    for v in orderings(result):
        writer.writerow({"reference": v["reference"], "variant": v["variant"], "paper_gain": v["paper_gain"],
                         "n": v["kit_gain"].n if v["kit_gain"] else 0, **_interval_fields("kit_gain", v["kit_gain"]),
                         **_interval_fields("kit_chamfer_gain", v["kit_chamfer_gain"]),
                         **_interval_fields("kit_penetration_gain", v["kit_penetration_gain"]),
                         "verdict": v["verdict"]})
    return text.getvalue()


def _samples_path(table_csv: Path) -> Path:
    return table_csv.with_name(f"{table_csv.stem}_samples.csv")


@dataclass
class TableResult:
    name: str
    rows: list[dict]  # one per variant: kit metrics, paper values, checkpoints
    samples: int
    profile: str = "fast"
    # variant -> per-sample metrics (`sample_metrics`), what the orderings' intervals pair
    per_sample: dict[str, list[dict]] = field(default_factory=dict)
    resolution: int | None = None  # the final Marching Cubes grid (cells per axis), when known

    def markdown(self) -> str:
        if self.name == "S3":
            head = ("| variant | kit IoU (%) | failed | kit s / step (CPU) | paper IoU (%) | paper s / iter |\n"
                    "| --- | ---: | ---: | ---: | ---: | ---: |")
            body = [f"| {r['variant']} | {_fmt(r.get('iou'), 100)} | {_count(r.get('failed'))} | "
                    f"{_fmt(r.get('seconds_per_step'))} | {r['paper_iou']} | {r['paper_seconds']} |" for r in self.rows]
        else:
            head = ("| variant | kit IoU (%) | kit CD (mm) | kit penetration (cm^3) | failed | paper IoU (%) | "
                    "paper CD (mm) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            body = [f"| {r['variant']} | {_fmt(r.get('iou'), 100)} | {_fmt(r.get('chamfer_mm'))} | "
                    f"{_fmt(r.get('penetration_cm3'), digits=3)} | {_count(r.get('failed'))} | "
                    f"{_fmt(r['paper_iou'], digits=1)} | {_fmt(r['paper_chamfer_mm'])} |"
                    for r in self.rows]
        grid = f", {self.resolution}^3 Marching Cubes" if self.resolution else ""
        title = f"Table {self.name} on {self.samples} kit test samples ({self.profile} profile{grid})"
        return "\n".join([title, "", head, *body, "", FAILED_NOTE, "", orderings_markdown(self)])

    @classmethod
    def from_csv(cls, path: str | Path) -> "TableResult":
        """Read back a table written by `write` (numbers as floats, empty cells as None); the
        sample count and profile come from the Markdown file beside it when present."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"table file not found: {path}")
        name = path.stem.removeprefix("table_")
        if name not in PAPER:
            raise ValueError(f"{path.name} is not a table_<S1|S2|S3>.csv file")
        text_fields = ("variant", "checkpoint", "checkpoints")
        with open(path) as handle:
            rows = [{k: (v if k in text_fields else (float(v) if v not in ("", None) else None))
                     for k, v in row.items()} for row in csv.DictReader(handle)]
        samples, profile, resolution = 0, "fast", None
        markdown = path.with_suffix(".md")
        if markdown.is_file():
            found = re.search(r"on (\d+) kit test samples \((\w+) profile(?:, (\d+)\^3 Marching Cubes)?\)",
                              markdown.read_text())
            if found:
                samples, profile = int(found.group(1)), found.group(2)
                resolution = int(found.group(3)) if found.group(3) else None
        per_sample: dict[str, list[dict]] = {}
        scores = _samples_path(path)
        if scores.is_file():
            with open(scores) as handle:
                for row in csv.DictReader(handle):
                    per_sample.setdefault(row["variant"], []).append(
                        {"index": int(row["index"]), **{k: float(row[k]) for k in OCCUPANCY_METRICS}})
        return cls(name, rows, samples, profile, per_sample, resolution)

    def write(self, out: str | Path) -> list[Path]:
        """<out>/table_<name>.md, .csv, _samples.csv (per-sample scores) and .png (kit vs paper IoU)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        md = atomic_write(out / f"table_{self.name}.md", lambda h: h.write(self.markdown().encode()))
        fields = sorted({k for r in self.rows for k in r}, key=lambda k: (k != "variant", k))

        def write_csv(handle):
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)
            handle.write(text.getvalue().encode())
        table_csv = atomic_write(out / f"table_{self.name}.csv", write_csv)

        def write_samples(handle):
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=["variant", "index", *OCCUPANCY_METRICS])
            writer.writeheader()
            writer.writerows({"variant": variant, **r} for variant, scores in self.per_sample.items() for r in scores)
            handle.write(text.getvalue().encode())
        samples_csv = atomic_write(_samples_path(table_csv), write_samples)
        orderings_csv = atomic_write(out / f"table_{self.name}_orderings.csv",
                                     lambda handle: handle.write(orderings_csv_text(self).encode()))
        return [md, table_csv, samples_csv, orderings_csv, self.plot(out / f"table_{self.name}.png")]

    def plot(self, path: Path) -> Path:
        """Left: kit vs paper IoU per variant. Right: each ordering's kit IoU gain with its paired
        95 % interval (coloured by verdict) beside the paper's gain."""
        names = [r["variant"] for r in self.rows]
        kit = [100 * r["iou"] if r.get("iou") is not None else np.nan for r in self.rows]
        paper = [r["paper_iou"] if r["paper_iou"] is not None else np.nan for r in self.rows]
        x = np.arange(len(names))
        verdicts = orderings(self)
        fig, (ax, gains) = plt.subplots(1, 2, figsize=(1.3 * len(names) + 7, 3.8),
                                        gridspec_kw={"width_ratios": [len(names) + 2, 6]})
        ax.bar(x - 0.2, kit, 0.4, label=f"kit ({self.profile} profile)")
        ax.bar(x + 0.2, paper, 0.4, label="paper (InterHand2.6M)")
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("IoU (%)")
        ax.set_title(f"Table {self.name} ({self.samples} samples)")
        ax.set_ylim(0, 105)
        ax.legend(fontsize=8, loc="lower left")
        y = np.arange(len(verdicts))[::-1]
        for row, v in zip(y, verdicts):
            gain = v["kit_gain"]
            if gain is not None:
                gains.errorbar(gain.mean, row, xerr=[[gain.mean - gain.low], [gain.high - gain.mean]], fmt="o",
                               color=VERDICT_COLOURS[v["verdict"]], capsize=3)
            gains.plot(v["paper_gain"], row, "x", color="black")
        gains.axvline(0.0, color="grey", linewidth=0.8)
        gains.set_xscale("symlog", linthresh=1.0)  # linear within +-1 point, where most intervals lie
        gains.set_yticks(y, [f"{v['reference']} vs {v['variant']}" for v in verdicts], fontsize=7)
        gains.yaxis.tick_right()
        gains.set_xlabel("IoU gain, points, symlog (x: paper; o: kit, 95 % CI)", fontsize=8)
        gains.set_title("orderings: " + ", ".join(f"{c} {k}" for k, c in _verdict_counts(verdicts).items()),
                        fontsize=8)
        fig.tight_layout()
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=90))
        plt.close(fig)
        return path


def ordering_verdicts(results: dict[str, "TableResult"]) -> dict[tuple[str, str, str], dict]:
    """Every ordering of the given tables (`orderings`), keyed by (table, reference, variant)."""
    return {(name, v["reference"], v["variant"]): v for name, r in results.items() for v in orderings(r)}


def committed_tables(directory: str | Path, names=TABLES) -> dict[str, "TableResult"]:
    """The committed table runs in `directory` (docs/results) that have per-sample scores."""
    found = {}
    for name in names:
        path = Path(directory) / f"table_{name}.csv"
        if path.is_file():
            result = TableResult.from_csv(path)
            if result.per_sample:
                found[name] = result
    return found


def reproduction_status(results: dict[str, "TableResult"], claims: list[tuple[str, str, str]] | None = None) -> str:
    """A short Markdown box: what reproduces, with the intervals. `claims`: (table, reference,
    variant) orderings to list (default: every ordering of every table given)."""
    lines = ["| table | ordering (paper: reference above variant) | paper IoU gain | kit IoU gain [95 % CI] | "
             "verdict | kit penetration cm^3, variant - reference [95 % CI] |", "| --- | --- | ---: | ---: | --- | ---: |"]
    by_key = ordering_verdicts(results)
    for key in claims if claims is not None else list(by_key):
        if key not in by_key:
            raise KeyError(f"no ordering {key[1]!r} vs {key[2]!r} in table {key[0]!r}: "
                           f"have {sorted(k for k in by_key if k[0] == key[0])}")
        v = by_key[key]
        gain = v["kit_gain"].format() if v["kit_gain"] else "-"
        penetration = v["kit_penetration_gain"].format(digits=3) if v["kit_penetration_gain"] else "-"
        lines.append(f"| {key[0]} | {key[1]} vs {key[2]} | {v['paper_gain']:+.1f} | {gain} | **{v['verdict']}** | "
                     f"{penetration} |")
    shown = sorted({name for name, _, _ in (claims or by_key)})
    notes = ", ".join(f"{name}: {results[name].samples} samples"
                      + (f" at {results[name].resolution}^3" if results[name].resolution else "") for name in shown)
    return "\n".join(lines) + f"\n\n({notes}; paired bootstrap over samples, the same Monte Carlo points.)\n"


def _pipeline(initial_path: Path, refine_path: Path | None):
    initial = load_model(initial_path, "i")
    if refine_path is None:
        return initial
    return InitialPlusTwoHandRefiner(initial, load_model(refine_path, "r"))


def _occupancy_meshes(model, config: ReconstructionConfig):
    return lambda item: [r.mesh for r in reconstruct_pair(model, item, config)]


def _source(checkpoints) -> CheckpointSource:
    return checkpoints if isinstance(checkpoints, CheckpointSource) else CheckpointSource(shipped=Path(checkpoints))


def sample_metrics(meshes_of, dataset, indices, n_points: int = 20_000, seed: int = 0, keypoints=None,
                   progress: bool = False, label: str = "") -> list[dict]:
    """Per-sample {"index", "iou", "chamfer_mm", "penetration_cm3"} of `meshes_of(item) -> [right,
    left]` (an empty hand: IoU 0, Chamfer NaN); with `keypoints` ({index: (42, 3)}) those replace
    the ground truth as the model's input and as the alignment joints. Sample i's Monte Carlo
    points come from (seed, i), so every variant of a sample is scored on the same points."""
    results = []
    for i in tqdm(indices, desc=label, disable=not progress, leave=False):
        sample = dataset.sample(i)
        item = sample_to_item(sample)  # the metrics need the sample's meshes too: read it once
        if keypoints is not None:
            item = dict(item, keypoints=keypoints[i])
        predicted_joints = item["keypoints"].cpu().numpy()
        metrics = two_hand_metrics(meshes_of(item), [sample.mesh(0), sample.mesh(1)], predicted_joints,
                                   sample.keypoints, n_points=n_points, rng=np.random.default_rng([seed, i]))
        results.append({"index": int(i), **{k: float(metrics[k]) for k in OCCUPANCY_METRICS}})
    return results


def mean_metrics(meshes_of, dataset, indices, n_points: int = 20_000, seed: int = 0, keypoints=None,
                 progress: bool = False, label: str = "") -> dict:
    """Mean IoU / Chamfer-L1 / penetration (`sample_metrics`) over the samples where all are
    defined, the number of `failed` samples and `iou_all` (`summarise_occupancy`)."""
    return summarise_occupancy(sample_metrics(meshes_of, dataset, indices, n_points, seed, keypoints, progress,
                                              label))


class RowCache:
    """Per-sample scores of table rows already computed, one JSON file per row under `directory`,
    keyed by everything that decides them: the row, its checkpoints' sha256, the test data and
    samples, the grid, the Monte Carlo points and the keypoint input. A stopped table run then
    resumes at the first row not yet scored. The key holds no code version: clear the folder
    after changing the evaluation code."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def key(self, label: str, checkpoints: list[Path], **settings) -> str:
        payload = {"label": label, "checkpoints": [sha256_of(p) for p in checkpoints], **settings}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def get(self, key: str) -> list[dict] | None:
        path = self.directory / f"{key}.json"
        if not path.is_file():
            return None
        return [{k: (float("nan") if v is None else v) for k, v in row.items()}
                for row in json.loads(path.read_text())["per_sample"]]

    def put(self, key: str, label: str, per_sample: list[dict]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                for r in per_sample]
        atomic_write(self.directory / f"{key}.json",
                     lambda handle: handle.write(json.dumps({"label": label, "per_sample": rows}).encode()))


def evaluate_table(name: str, dataset, indices, config: ReconstructionConfig = ReconstructionConfig(
        resolution=64, coarse_resolution=16), checkpoints: CheckpointSource | str | Path = SHIPPED,
        n_points: int = 20_000, seed: int = 0, progress: bool = True, baseline: bool = True,
        row_cache: RowCache | str | Path | None = None) -> TableResult:
    """Evaluate every variant of table `name` ("S1", "S2", "S3") on `dataset[indices]`.

    `checkpoints`: a folder of shipped-style `<stem>_fast.pt` files, or a `CheckpointSource`
    (profile, trained runs, train missing variants). `baseline`: add the IK-template row
    (S1, S2). `row_cache`: a folder (`RowCache`) that keeps each scored row, so that a stopped
    run resumes."""
    if name not in PAPER:
        raise ValueError(f"unknown table {name!r}; choose one of {list(PAPER)}")
    source, indices = _source(checkpoints), list(indices)
    rows, per_sample = [], {}
    cache = RowCache(row_cache) if isinstance(row_cache, (str, Path)) else row_cache
    settings = {"data": str(getattr(dataset, "directory", "")), "split": getattr(dataset, "split", ""),
                "indices": indices, "resolution": config.resolution, "coarse_resolution": config.coarse_resolution,
                "n_points": n_points, "seed": seed}

    def scored(label, meshes_of, keypoints, used: list[Path]):
        key = cache.key(label, used, **settings) if cache else ""
        found = cache.get(key) if cache else None
        if found is None:
            found = sample_metrics(meshes_of, dataset, indices, n_points, seed, keypoints, progress, label)
            if cache:
                cache.put(key, label, found)
        per_sample[label] = found
        return summarise_occupancy(found)
    if name == "S3":
        for variant, stem in _S3.items():
            row = {"variant": variant, "paper_iou": PAPER["S3"][variant][0], "paper_seconds": PAPER["S3"][variant][1]}
            if source.available(stem):
                path = source.path(stem)
                row["checkpoints"] = source.label(path)
                row["seconds_per_step"] = load_checkpoint(path)["extra"].get("seconds_per_step")
                initial_path = source.path("i_attention")
                model = _pipeline(initial_path, path)
                row.update(scored(variant, _occupancy_meshes(model, config), None, [initial_path, path]))
            rows.append(row)
        return TableResult(name, rows, len(indices), source.profile, per_sample, config.resolution)
    keypoints, keypoint_paths = None, []
    if name == "S2":  # K's checkpoint decides every S2 row's input
        keypoint_paths = [source.path("k")]
        keypoint_refiner = load_model(keypoint_paths[0], "k")
        keypoints = {i: keypoint_refiner.refine_item(item, noisy_keypoints_of(item, i, seed=seed))
                     for i, item in ((i, dataset[i]) for i in indices)}
    prefix = "" if name == "S1" else "K + "
    for variant, (initial_stem, refine_stem) in _ROWS.items():
        label = prefix + variant
        paper_iou, paper_cd = PAPER[name][label]
        initial_path, refine_path = source.path(initial_stem), source.path(refine_stem) if refine_stem else None
        model = _pipeline(initial_path, refine_path)
        used = [p for p in (initial_path, refine_path) if p]
        metrics = scored(label, _occupancy_meshes(model, config), keypoints, used + keypoint_paths)
        rows.append({"variant": label, **metrics, "paper_iou": paper_iou, "paper_chamfer_mm": paper_cd,
                     "checkpoints": " + ".join(source.label(p) for p in used)})
    if baseline:
        label = prefix + BASELINE
        metrics = scored(label, TemplateIKBaseline().meshes, keypoints, keypoint_paths)
        rows.append({"variant": label, **metrics, "paper_iou": None, "paper_chamfer_mm": None, "checkpoints": ""})
    return TableResult(name, rows, len(indices), source.profile, per_sample, config.resolution)


