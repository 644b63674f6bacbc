"""Tables S1-S3 from the shipped checkpoints (a reduced run: one sample, a coarse grid)."""
import csv

import pytest

from im2hands_lite.cli import main
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.evaluate import ReconstructionConfig
from im2hands_lite.tables import PAPER, evaluate_table

pytestmark = pytest.mark.usefixtures("one_thread")
COARSE = ReconstructionConfig(resolution=16, coarse_resolution=8)


@pytest.mark.parametrize("name", ["S1", "S2"])
def test_tables_s1_s2_have_every_variant_beside_the_paper(name, tmp_path):
    data = TwoHandDataset(kit_samples_dir(), "test")
    result = evaluate_table(name, data, [0], COARSE, n_points=2000, progress=False)
    assert [r["variant"] for r in result.rows] == list(PAPER[name])
    for row in result.rows:
        assert 0.0 <= row["iou"] <= 1.0 and row["penetration_cm3"] >= 0.0, row
        assert (row["paper_iou"], row["paper_chamfer_mm"]) == PAPER[name][row["variant"]]
    without_initial = next(r for r in result.rows if r["variant"].endswith("InitOccCond"))
    full = result.rows[-1]
    assert without_initial["iou"] < full["iou"]  # the one ablation the fast profile reproduces clearly
    paths = result.write(tmp_path)
    assert [p.name for p in paths] == [f"table_{name}.md", f"table_{name}.csv", f"table_{name}.png"]
    with open(paths[1]) as handle:
        assert len(list(csv.DictReader(handle))) == 7
    assert "paper IoU" in paths[0].read_text()


def test_table_s3_and_the_cli(tmp_path, capsys):
    data = TwoHandDataset(kit_samples_dir(), "test")
    result = evaluate_table("S3", data, [0], COARSE, n_points=2000, progress=False)
    rows = {r["variant"]: r for r in result.rows}
    assert set(rows) == set(PAPER["S3"])
    assert 0.0 <= rows["R, 512 points"]["iou"] <= 1.0 and rows["R, 512 points"]["seconds_per_step"] > 0
    assert main(["evaluate", "--table", "S3", "--model", "i", "--quiet"]) == 2  # one or the other
    assert "either --model or --table" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown table"):
        evaluate_table("S9", data, [0])
