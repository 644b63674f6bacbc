"""Rows of metrics as an aligned text table and as CSV: what the notebooks print and save.

    print(format_table(rows, [Column("model"), Column("iou", "IoU", ".1%"), Column("chamfer_mm", "CD mm", ".2f")]))
    write_csv(rows, OUT / "02_halo_metrics.csv")
"""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..checkpoints import atomic_write

MISSING = "-"


@dataclass(frozen=True)
class Column:
    """One column: the rows' key, its header (default the key) and the value's format spec
    (".1%": a fraction as a percentage, ".2f", "d"; "" for str())."""

    key: str
    header: str = ""
    spec: str = ""

    def cell(self, row: Mapping) -> str:
        value = row.get(self.key)
        if value is None or value == "":
            return MISSING
        return format(value, self.spec) if self.spec else str(value)


def format_table(rows: Sequence[Mapping], columns: Sequence[Column]) -> str:
    """Header, a rule and one line per row; text columns flush left, the others right; a missing
    or empty value prints as '-'."""
    if not columns:
        raise ValueError("a table needs at least one column")
    headers = [c.header or c.key for c in columns]
    cells = [[c.cell(row) for c in columns] for row in rows]
    widths = [max([len(h)] + [len(line[i]) for line in cells]) for i, h in enumerate(headers)]
    text = [not c.spec for c in columns]

    def line(values):
        return "  ".join(v.ljust(w) if left else v.rjust(w) for v, w, left in zip(values, widths, text)).rstrip()

    header = line(headers)
    return "\n".join([header, "-" * len(header)] + [line(values) for values in cells])


def write_csv(rows: Sequence[Mapping], path: str | Path) -> Path:
    """The rows as CSV (columns: every key, in first-seen order), written atomically."""
    if not rows:
        raise ValueError(f"no rows to write to {path}")
    fields = list(dict.fromkeys(key for row in rows for key in row))

    def write(handle):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        handle.write(buffer.getvalue().encode())
    return atomic_write(path, write)
