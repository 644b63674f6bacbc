#!/usr/bin/env python3
"""Generate the student versions of the solution notebooks.

    python scripts/make_student_notebooks.py                      # notebooks/[0-9]*.ipynb -> build/student/
    python scripts/make_student_notebooks.py --out DIR nb.ipynb   # chosen notebooks, chosen folder
    make student                                                  # the same as the first line

Conventions in the solution notebooks (code cells only; markdown is never changed):

* A solution is the lines between a ``# EXERCISE START`` line and the next ``# EXERCISE END``
  line of the same code cell. The markers may be indented; a cell may hold several blocks.
  Everything outside the blocks (e.g. the function signature and docstring above START) is kept.
* In the student version each block's solution lines are replaced, at the indentation of its
  START line, by::

      # YOUR CODE HERE (see the markdown above and the hints)
      raise NotImplementedError("exercise: <name>")

  where <name> is the function enclosing the block (``Class.method`` for a method), else the
  first function or class the block defines, else ``cell <id>``. The two marker lines themselves are kept around the stub.
* Hints: a line inside a block whose first non-blank characters are ``# HINT`` (for example
  ``# HINT: use torch.cdist``) is kept, verbatim and in order, just above the stub. Every line of
  a multi-line hint must start with ``# HINT``; other comments in a block count as solution.
  (A hint written above the START line is simply kept, like every line outside a block.)
* An END without a START, a START inside an open block (nesting) or a START without an END is
  refused with an error naming the notebook and the cell.

All outputs and execution counts are cleared (and papermill's per-cell execution metadata
dropped); a first markdown cell says the notebook is a generated student version. The output
is deterministic (same bytes on every run) and every file is written atomically.

Student versions go to build/student/ by default: build/ is git-ignored and removed by
``make clean``, and ``make test`` only collects tests/ and notebooks/, so nbval never runs the
(deliberately failing) student notebooks.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "build" / "student"
DEFAULT_GLOB = "notebooks/[0-9]*.ipynb"

# Lenient on purpose ("#EXERCISE  START" is a marker too), so a mistyped marker is refused
# rather than silently left in the student version as solution code.
MARKER = re.compile(r"^(?P<indent>[ \t]*)#[ \t]*EXERCISE[ \t]+(?P<kind>START|END)\b")
DEF_OR_CLASS = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>\w+)")
HINT_PREFIX = "# HINT"
STUB_COMMENT = "# YOUR CODE HERE (see the markdown above and the hints)"
STUB_RAISE = 'raise NotImplementedError("exercise: {name}")'
HEADER_ID = "student-version"
DROPPED_CELL_METADATA = ("execution", "papermill")
FILE_MODE = 0o644


class ExerciseMarkerError(ValueError):
    """Unbalanced, nested or unterminated EXERCISE markers in a solution notebook."""


@dataclass(frozen=True)
class StudentNotebook:
    """The student version of one solution notebook, and how many exercises it stubs."""

    notebook: nbformat.NotebookNode
    exercises: int


def _cell_label(notebook_name: str, index: int, cell: nbformat.NotebookNode) -> str:
    cell_id = cell.get("id")
    return f"{notebook_name}: code cell {index}" + (f" (id {cell_id})" if cell_id else "")


def _exercise_name(before: list[str], body: list[str], indent: str, index: int,
                   cell: nbformat.NotebookNode) -> str:
    """The function enclosing the block (a method as Class.method), else the first def/class in
    it, else the cell."""
    names: list[str] = []
    depth = len(indent)
    for line in reversed(before):
        match = DEF_OR_CLASS.match(line)
        if match and len(match.group("indent")) < depth:
            names.insert(0, match.group("name"))
            depth = len(match.group("indent"))
            if depth == 0:
                break
    if names:
        return ".".join(names[-2:])
    for line in body:
        match = DEF_OR_CLASS.match(line)
        if match:
            return match.group("name")
    return f"cell {cell.get('id') or index}"


def stub_source(source: str, notebook_name: str, index: int,
                cell: nbformat.NotebookNode) -> tuple[str, int]:
    """Replace every marked block of one code cell's source; returns (new source, blocks)."""
    lines = source.split("\n")  # split/join on "\n" keeps every other byte as it was
    out: list[str] = []
    body: list[str] = []
    start: int | None = None
    indent = ""
    blocks = 0
    where = _cell_label(notebook_name, index, cell)
    for number, line in enumerate(lines, start=1):
        match = MARKER.match(line)
        if match and match.group("kind") == "START":
            if start is not None:
                raise ExerciseMarkerError(
                    f"{where}: nested EXERCISE START at line {number}; the block opened at "
                    f"line {start} has no EXERCISE END before it")
            start, indent, body = number, match.group("indent"), []
            out.append(line)
        elif match:  # END
            if start is None:
                raise ExerciseMarkerError(
                    f"{where}: EXERCISE END at line {number} without an EXERCISE START before it")
            name = _exercise_name(lines[:start - 1], body, indent, index, cell)
            out.extend(b for b in body if b.lstrip().startswith(HINT_PREFIX))
            out.append(indent + STUB_COMMENT)
            out.append(indent + STUB_RAISE.format(name=name))
            out.append(line)
            start, blocks = None, blocks + 1
        elif start is not None:
            body.append(line)
        else:
            out.append(line)
    if start is not None:
        raise ExerciseMarkerError(f"{where}: EXERCISE START at line {start} has no EXERCISE END")
    return "\n".join(out), blocks


def _header(solution_name: str, exercises: int) -> str:
    intro = (
        f"**Student version** of `{solution_name}`, generated from the solution notebook by\n"
        "`scripts/make_student_notebooks.py` (`make student`); do not edit it by hand, regenerate it.\n"
    )
    if exercises == 0:
        return intro + "\nThis notebook has no exercises: it is the solution notebook without its outputs."
    return intro + (
        "\n"
        "Each exercise's solution has been replaced by `raise NotImplementedError(\"exercise: ...\")`\n"
        "between `# EXERCISE START` and `# EXERCISE END`: write your code there, guided by the\n"
        "markdown above it and any `# HINT` lines. The check cells below each exercise (the\n"
        "`assert`s) will fail until that exercise is solved, and so may later cells that use it."
    )


def make_student(solution: nbformat.NotebookNode, solution_name: str) -> StudentNotebook:
    """The student version of an (in-memory) solution notebook; `solution` is not modified."""
    notebook = nbformat.from_dict(solution)  # deep copy
    notebook.metadata.pop("papermill", None)
    exercises = 0
    ids: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        if "id" in cell:
            ids.add(cell.id)
        for key in DROPPED_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        cell.source, blocks = stub_source(cell.source, solution_name, index, cell)
        exercises += blocks
    header = nbformat.v4.new_markdown_cell(_header(solution_name, exercises))
    if notebook.nbformat_minor >= 5:
        header_id, suffix = HEADER_ID, 0
        while header_id in ids:  # deterministic, never a clash with an existing id
            suffix += 1
            header_id = f"{HEADER_ID}-{suffix}"
        header["id"] = header_id
    else:
        header.pop("id", None)
    notebook.cells.insert(0, header)
    nbformat.validate(notebook)
    return StudentNotebook(notebook, exercises)


def _display_name(path: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(REPO).as_posix()
    except ValueError:
        return path.name


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_student(solution_path: Path) -> tuple[str, int]:
    """The student version of one notebook file as text, and its number of exercises."""
    solution = nbformat.read(solution_path, as_version=4)
    student = make_student(solution, _display_name(solution_path))
    text = nbformat.writes(student.notebook)
    return (text if text.endswith("\n") else text + "\n"), student.exercises


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help=f"solution notebooks (default: {DEFAULT_GLOB})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: build/student/)")
    args = parser.parse_args(argv)
    notebooks: list[Path] = args.notebooks or sorted(REPO.glob(DEFAULT_GLOB))
    if not notebooks:
        print(f"make_student_notebooks: no notebooks match {DEFAULT_GLOB}", file=sys.stderr)
        return 1
    try:  # render every notebook before writing any, so a marker error writes nothing
        rendered = [(path, *render_student(path)) for path in notebooks]
    except ExerciseMarkerError as error:
        print(f"make_student_notebooks: {error}", file=sys.stderr)
        return 1
    results: list[tuple[Path, Path, int]] = []
    for path, text, exercises in rendered:
        target = args.out / path.name
        atomic_write_text(target, text)
        results.append((path, target, exercises))
    width = max(len(path.name) for path, _, _ in results)
    for path, target, exercises in results:
        note = "  (no EXERCISE blocks)" if exercises == 0 else ""
        print(f"{path.name:<{width}}  {exercises} exercise{'s' if exercises != 1 else ' '}"
              f"  -> {_display_name(target)}{note}")
    print(f"{sum(e for _, _, e in results)} exercises in {len(results)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
