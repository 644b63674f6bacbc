"""Tables S1-S3 from the shipped checkpoints (a reduced run: one sample, a coarse grid)."""
import csv

import pytest

from im2hands_lite.cli import main
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.evaluation.reconstruction import ReconstructionConfig
from im2hands_lite.evaluation.tables import BASELINE, PAPER, evaluate_table

pytestmark = pytest.mark.usefixtures("one_thread")
COARSE = ReconstructionConfig(resolution=16, coarse_resolution=8)
# typed from the supplementary (Tables S1-S3), not from tables.PAPER: the two must agree
S1 = {"I - ImageCond": (74.7, 2.62), "I - QueryImageAtt": (75.8, 2.51), "I": (77.2, 2.32),
      "I + R - InitOccCond": (67.0, 3.44), "I + R - FeatureCloud": (77.4, 2.32),
      "I + R - ContextLatent": (77.6, 2.31), "I + R": (77.8, 2.30)}  # IoU %, CD mm
S2 = {"K + I - ImageCond": (53.0, 5.63), "K + I - QueryImageAtt": (53.9, 5.47), "K + I": (55.4, 5.36),
      "K + I + R - InitOccCond": (55.1, 5.18), "K + I + R - FeatureCloud": (58.3, 4.78),
      "K + I + R - ContextLatent": (58.4, 4.79), "K + I + R": (59.4, 4.75)}
S3 = {"R, 256 points": (77.4, 1.04), "R, 512 points": (77.8, 1.74), "R, 1024 points": (77.6, 3.15)}  # IoU %, s/step
SUPPLEMENTARY = {"S1": S1, "S2": S2, "S3": S3}


@pytest.mark.parametrize("name", ["S1", "S2"])
def test_tables_s1_s2_have_every_variant_beside_the_paper(name, tmp_path):
    data = TwoHandDataset(kit_samples_dir(), "test")
    result = evaluate_table(name, data, [0], COARSE, n_points=2000, progress=False)
    *variants, baseline = result.rows
    assert [r["variant"] for r in variants] == list(SUPPLEMENTARY[name])
    assert baseline["variant"].endswith(BASELINE) and baseline["paper_iou"] is None
    for row in result.rows:
        assert 0.0 <= row["iou"] <= 1.0 and row["penetration_cm3"] >= 0.0, row
    for row in variants:
        assert (row["paper_iou"], row["paper_chamfer_mm"]) == SUPPLEMENTARY[name][row["variant"]], row["variant"]
    without_initial = next(r for r in result.rows if r["variant"].endswith("InitOccCond"))
    full = variants[-1]
    assert without_initial["iou"] < full["iou"]  # the one ablation the fast profile reproduces clearly
    paths = result.write(tmp_path)
    assert [p.name for p in paths] == [f"table_{name}.md", f"table_{name}.csv", f"table_{name}_samples.csv",
                                       f"table_{name}_orderings.csv", f"table_{name}.png"]
    assert {v for v in result.per_sample} == {r["variant"] for r in result.rows}
    assert all([s["index"] for s in scores] == [0] for scores in result.per_sample.values())
    with open(paths[1]) as handle:
        assert len(list(csv.DictReader(handle))) == 8
    assert "paper IoU" in paths[0].read_text()


def test_table_s3_and_the_cli(tmp_path, capsys):
    data = TwoHandDataset(kit_samples_dir(), "test")
    result = evaluate_table("S3", data, [0], COARSE, n_points=2000, progress=False)
    rows = {r["variant"]: r for r in result.rows}
    assert set(rows) == set(S3)
    assert {v: (r["paper_iou"], r["paper_seconds"]) for v, r in rows.items()} == S3
    assert 0.0 <= rows["R, 512 points"]["iou"] <= 1.0 and rows["R, 512 points"]["seconds_per_step"] > 0
    assert main(["evaluate", "--table", "S3", "--model", "i", "--quiet"]) == 2  # one or the other
    assert "either --model or --table" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown table"):
        evaluate_table("S9", data, [0])


def test_a_stopped_table_resumes_from_its_row_cache(tmp_path, monkeypatch):
    from im2hands_lite.evaluation import tables

    data = TwoHandDataset(kit_samples_dir(), "test")
    first = evaluate_table("S3", data, [0], COARSE, n_points=2000, progress=False, row_cache=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 3  # one file per scored row

    def never(*args, **kwargs):
        raise AssertionError("a cached row was scored again")
    monkeypatch.setattr(tables, "sample_metrics", never)
    again = evaluate_table("S3", data, [0], COARSE, n_points=2000, progress=False, row_cache=tmp_path)
    assert again.per_sample == first.per_sample and again.markdown() == first.markdown()
    with pytest.raises(AssertionError, match="scored again"):  # other Monte Carlo points: another key
        evaluate_table("S3", data, [0], COARSE, n_points=1000, progress=False, row_cache=tmp_path)


def test_missing_variants_are_named_or_trained(tmp_path):
    import torch

    from im2hands_lite.apps.table_runs import TrainingCheckpointSource
    from im2hands_lite.checkpoints import load_checkpoint
    from im2hands_lite.evaluation.tables import CheckpointSource
    from im2hands_lite.models.registry import load_model

    source = CheckpointSource(profile="colab", runs=tmp_path)
    assert not source.available("k")
    with pytest.raises(FileNotFoundError, match="variant 'k' of the colab profile"):
        source.path("k")
    with pytest.raises(ValueError, match="unknown variant"):
        source.path("r_2048")
    # the fast profile uses the shipped file unless settings are overridden
    assert CheckpointSource().path("k").name == "k_fast.pt"
    trained = TrainingCheckpointSource(profile="fast", runs=tmp_path, train_missing=True, progress=False, threads=1,
                               overrides=("steps=3", "batch_size=2", "train_samples=4", "checkpoint_every=2"),
                               data_dir=str(kit_samples_dir()))
    path = trained.path("k")
    assert path == tmp_path / "fast" / "k" / "final.pt"
    stored = load_checkpoint(path, kind="k")
    assert stored["extra"]["steps"] == 3 and stored["extra"]["profile"] == "fast"
    loaded = load_model(path).state_dict()
    assert loaded.keys() == stored["state_dict"].keys()
    assert all(torch.equal(loaded[name], stored["state_dict"][name]) for name in loaded)  # the file's weights
    shipped = load_model("k").state_dict()
    assert not all(torch.equal(loaded[name], shipped[name]) for name in loaded)  # trained here, not shipped
    assert trained.path("k") == path  # found, not retrained
    assert path.stat().st_mtime_ns == trained.path("k").stat().st_mtime_ns


def test_cli_table_with_profile_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "S3"
    assert main(["evaluate", "--table", "S3", "--samples", "1", "--resolution", "16", "--quiet",
                 "--threads", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Table S3 on 1 kit test samples (fast profile, 16^3 Marching Cubes)" in text and "R, 512 points" in text
    assert sorted(p.name for p in out.iterdir()) == ["table_S3.csv", "table_S3.md", "table_S3.png",
                                                     "table_S3_orderings.csv", "table_S3_samples.csv"]
    assert main(["evaluate", "--table", "S1", "--profile", "colab", "--runs", str(tmp_path / "none"),
                 "--data-dir", str(kit_samples_dir()), "--quiet"]) == 2
    assert "train it with --train-missing" in capsys.readouterr().err
    empty = tmp_path / "weights"
    empty.mkdir()  # --weights replaces the package's folder: nothing there, nothing found
    assert main(["evaluate", "--table", "S1", "--samples", "1", "--resolution", "16", "--quiet",
                 "--weights", str(empty)]) == 2
    assert f"looked for {empty / 'i_none_fast.pt'}" in capsys.readouterr().err
    assert main(["evaluate", "--table", "S3", "--quiet", "--weights", str(tmp_path / "nowhere")]) == 2
    assert "--weights: no folder" in capsys.readouterr().err


def _s1_with_samples(per_sample_iou: dict[str, list[float]]):
    from im2hands_lite.evaluation.tables import TableResult

    rows = [{"variant": v, "paper_iou": p, "paper_chamfer_mm": c} for v, (p, c) in PAPER["S1"].items()]
    per_sample = {}
    for row in rows:
        scores = per_sample_iou.get(row["variant"])
        if scores is not None:
            per_sample[row["variant"]] = [{"index": i, "iou": x, "chamfer_mm": 2.0 - x,
                                           "penetration_cm3": 1.0 - x}
                                          for i, x in enumerate(scores)]
            row["iou"] = sum(scores) / len(scores)
    return TableResult("S1", rows, 16, "fast", per_sample)


def test_orderings_are_verdicts_of_paired_intervals():
    import numpy as np

    from im2hands_lite.evaluation.tables import orderings, orderings_markdown

    rng = np.random.default_rng(0)
    base = 0.8 + 0.1 * rng.random(16)  # per-sample IoU of I + R; sample-to-sample spread >> the gaps below
    noise = 0.002 * rng.standard_normal(16)
    spread = 0.02 * rng.standard_normal(16)
    spread -= spread.mean()  # zero mean: only its width matters
    kit = {"I + R": base, "I": base - 0.0025 + spread,  # I vs I + R: -0.25 points, inside its interval
           "I - ImageCond": base + 0.05 + noise,  # above I: the paper's ordering reversed
           "I - QueryImageAtt": base - 0.03 + noise,  # ~0.5 points below I: consistent, so resolved
           "I + R - InitOccCond": base - 0.2 + noise, "I + R - FeatureCloud": base + spread}
    verdicts = {v["variant"]: v for v in orderings(_s1_with_samples({k: list(v) for k, v in kit.items()}))}
    assert verdicts["I - ImageCond"]["verdict"] == "reversed"
    assert verdicts["I - ImageCond"]["paper_gain"] == pytest.approx(2.5)
    gain = verdicts["I - ImageCond"]["kit_gain"]  # I minus I - ImageCond, IoU points
    assert gain.mean == pytest.approx(100 * np.mean(kit["I"] - kit["I - ImageCond"])) and gain.n == 16
    assert gain.high < 0
    assert verdicts["I - QueryImageAtt"]["verdict"] == "reproduced"  # small but consistent over samples
    assert verdicts["I"]["verdict"] == "inconclusive" and verdicts["I"]["kit_gain"].low < 0 < verdicts["I"][
        "kit_gain"].high
    assert verdicts["I + R - InitOccCond"]["verdict"] == "reproduced"
    # Chamfer (here 2 - IoU): the variant's minus the reference's, so positive when the reference is closer
    assert verdicts["I + R - InitOccCond"]["kit_chamfer_gain"].mean == pytest.approx(0.2 - np.mean(noise))
    # penetration (here 1 - IoU): likewise variant minus reference, positive when the reference has less
    penetration = verdicts["I + R - InitOccCond"]["kit_penetration_gain"]
    assert penetration.mean == pytest.approx(0.2 - np.mean(noise)) and penetration.low > 0
    assert verdicts["I + R - FeatureCloud"]["verdict"] == "inconclusive"
    assert verdicts["I + R - ContextLatent"]["verdict"] == "missing"  # no per-sample scores
    assert verdicts["I + R - ContextLatent"]["kit_gain"] is None
    text = orderings_markdown(_s1_with_samples({k: list(v) for k, v in kit.items()}))
    assert "| I + R vs I + R - InitOccCond | +10.8 | +20.0 [" in text and "| missing |" in text


def test_written_tables_read_back(tmp_path):
    from im2hands_lite.evaluation.tables import TableResult

    rows = [{"variant": v, "iou": 0.5 + 0.01 * k, "chamfer_mm": 2.0, "penetration_cm3": 0.1, "paper_iou": p,
             "paper_chamfer_mm": c, "checkpoints": "x.pt"} for k, (v, (p, c)) in enumerate(PAPER["S1"].items())]
    rows.append({"variant": BASELINE, "iou": 0.9, "chamfer_mm": 1.0, "penetration_cm3": 0.0, "paper_iou": None,
                 "paper_chamfer_mm": None, "checkpoints": ""})
    per_sample = {v: [{"index": i, "iou": 0.5 + 0.01 * k + 0.001 * i, "chamfer_mm": 2.0 + 0.1 * i,
                       "penetration_cm3": float("nan") if i == 2 else 0.1} for i in range(3)]
                  for k, v in enumerate(PAPER["S1"])}
    original = TableResult("S1", rows, 16, "colab", per_sample, resolution=128)
    written = original.write(tmp_path)
    assert [p.name for p in written] == ["table_S1.md", "table_S1.csv", "table_S1_samples.csv",
                                         "table_S1_orderings.csv", "table_S1.png"]
    again = TableResult.from_csv(tmp_path / "table_S1.csv")
    assert (again.name, again.samples, again.profile, again.resolution) == ("S1", 16, "colab", 128)
    assert again.markdown() == original.markdown() and again.rows[-1]["paper_iou"] is None
    assert again.per_sample.keys() == per_sample.keys()
    assert again.per_sample["I"][1] == per_sample["I"][1] and str(again.per_sample["I"][2]["penetration_cm3"]) == "nan"
    assert "| I + R vs I + R - InitOccCond | +10.8 | +3.0 [+3.0, +3.0] |" in again.markdown()  # from the samples
    with pytest.raises(FileNotFoundError):
        TableResult.from_csv(tmp_path / "table_S2.csv")
    # every ordering with its interval and verdict, as CSV
    with open(tmp_path / "table_S1_orderings.csv") as handle:
        ordering_rows = {(r["reference"], r["variant"]): r for r in csv.DictReader(handle)}
    row = ordering_rows["I + R", "I + R - InitOccCond"]
    assert float(row["kit_gain"]) == pytest.approx(3.0) and float(row["kit_gain_low"]) <= 3.0 <= float(
        row["kit_gain_high"]) + 1e-9
    assert row["verdict"] == "reproduced" and row["n"] == "3" and float(row["paper_gain"]) == pytest.approx(10.8)


def test_reproduction_status_lists_the_asked_orderings_with_their_intervals():
    import numpy as np

    from im2hands_lite.evaluation.tables import reproduction_status

    rng = np.random.default_rng(1)
    base = 0.8 + 0.1 * rng.random(16)
    result = _s1_with_samples({"I + R": list(base), "I": list(base - 0.01 + 0.001 * rng.standard_normal(16)),
                               "I - ImageCond": list(base + 0.02 + 0.001 * rng.standard_normal(16))})
    result.resolution = 128
    box = reproduction_status({"S1": result}, [("S1", "I", "I - ImageCond"), ("S1", "I + R", "I")])
    lines = box.splitlines()
    assert lines[2].startswith("| S1 | I vs I - ImageCond | +2.5 | -3.0 [") and "| **reversed** | -0.030 [" in lines[2]
    assert lines[3].startswith("| S1 | I + R vs I | +0.6 | +1.0 [") and "| **reproduced** | +0.010 [" in lines[3]
    assert "S1: 16 samples at 128^3" in box
    with pytest.raises(KeyError, match="no ordering 'I' vs 'I - Nothing' in table 'S1'"):
        reproduction_status({"S1": result}, [("S1", "I", "I - Nothing")])


def test_a_table_refuses_a_run_trained_with_other_settings(tmp_path):
    from im2hands_lite.apps.table_runs import TrainingCheckpointSource
    from im2hands_lite.checkpoints import CheckpointError

    small = ("steps=3", "batch_size=2", "train_samples=4", "checkpoint_every=2")
    trained = TrainingCheckpointSource(profile="fast", runs=tmp_path, train_missing=True, progress=False, threads=1,
                                       overrides=small, data_dir=str(kit_samples_dir()))
    path = trained.path("k")
    before = path.stat().st_mtime_ns
    # checkpoint_every does not change the weights; steps does
    assert TrainingCheckpointSource(runs=tmp_path, overrides=small[:3]).path("k") == path
    for train_missing in (False, True):
        other = TrainingCheckpointSource(profile="fast", runs=tmp_path, train_missing=train_missing, progress=False,
                                         threads=1, overrides=("steps=2",) + small[1:])
        with pytest.raises(CheckpointError, match=r"k/final\.pt was trained with other settings than asked: steps 3 "
                                                  r"\(asked 2\)"):
            other.path("k")
    assert path.stat().st_mtime_ns == before  # never retrained over


def test_tables_count_failed_samples_and_average_over_the_same_samples():
    import numpy as np
    import trimesh

    from im2hands_lite.evaluation.tables import TableResult, mean_metrics

    data = TwoHandDataset(kit_samples_dir(), "test")
    failing_seed = int(data.sample(1).seed)

    def meshes_of(item):  # the true meshes, but no right hand for sample 1
        sample = next(data.sample(i) for i in (0, 1) if int(data.sample(i).seed) == int(item["seed"]))
        right = trimesh.Trimesh() if int(item["seed"]) == failing_seed else sample.mesh(0)
        return [right, sample.mesh(1)]

    both = mean_metrics(meshes_of, data, [0, 1], n_points=2000)
    first = mean_metrics(meshes_of, data, [0], n_points=2000)
    assert both["failed"] == 1 and first["failed"] == 0
    for key in ("iou", "chamfer_mm", "penetration_cm3"):  # every mean over the same (defined) samples
        assert both[key] == pytest.approx(first[key]) and np.isfinite(both[key])
    assert both["iou_all"] == pytest.approx((1.0 + 0.5) / 2)  # all samples: the empty hand counts IoU 0
    row = {"variant": "I", **both, "paper_iou": 77.2, "paper_chamfer_mm": 2.32, "checkpoints": ""}
    text = TableResult("S1", [row], 2).markdown()
    assert "| failed |" in text and "| 1 |" in text


def test_more_test_samples_than_committed_are_generated_into_the_cache(tmp_path):
    import numpy as np

    from im2hands_lite.apps.table_runs import profile_test_dir

    assert profile_test_dir("fast", root=tmp_path, samples=16) == kit_samples_dir()  # the committed 16
    directory = profile_test_dir("fast", root=tmp_path, samples=17)
    assert directory.parent == tmp_path and directory.name == kit_samples_dir().name
    generated, committed = TwoHandDataset(directory, "test"), TwoHandDataset(kit_samples_dir(), "test")
    assert len(generated) >= 17
    first, again = committed.sample(0), generated.sample(0)  # the same seed: the same sample
    assert int(first.seed) == int(again.seed) and np.allclose(first.keypoints, again.keypoints, atol=1e-6)
