"""Aligned text tables and CSV for the notebooks (apps/text_table.py)."""
import csv

import pytest

from im2hands_lite.apps.text_table import Column, format_table, write_csv

ROWS = [{"model": "HALO", "iou": 0.8656, "chamfer_mm": 1.3946, "steps": 2000},
        {"model": "I (query-image attention)", "iou": 0.853, "chamfer_mm": None, "steps": ""}]


def test_columns_are_aligned_formatted_and_missing_values_marked():
    text = format_table(ROWS, [Column("model"), Column("iou", "IoU", ".1%"), Column("chamfer_mm", "CD mm", ".2f"),
                               Column("steps", spec="d")])
    header, rule, first, second = text.split("\n")
    assert header.split() == ["model", "IoU", "CD", "mm", "steps"] and set(rule) == {"-"} and len(rule) == len(header)
    assert first.split() == ["HALO", "86.6%", "1.39", "2000"]
    assert second.split()[-3:] == ["85.3%", "-", "-"]  # None and "" print as '-'
    # text flush left, numbers flush right, under their headers
    assert first.startswith("HALO ") and second.startswith("I (query-image attention)")
    assert first.index("86.6%") + len("86.6%") == header.index("IoU") + len("IoU")
    with pytest.raises(ValueError, match="at least one column"):
        format_table(ROWS, [])


def test_csv_keeps_every_key_in_first_seen_order(tmp_path):
    rows = ROWS + [{"model": "paper", "iou": 0.772, "paper_only": 1}]
    path = write_csv(rows, tmp_path / "t.csv")
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == ["model", "iou", "chamfer_mm", "steps", "paper_only"]
    assert [r["model"] for r in read] == ["HALO", "I (query-image attention)", "paper"]
    assert read[0]["iou"] == "0.8656" and read[1]["chamfer_mm"] == "" and read[2]["paper_only"] == "1"
    with pytest.raises(ValueError, match="no rows"):
        write_csv([], tmp_path / "empty.csv")
