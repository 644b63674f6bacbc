"""scripts/make_student_notebooks.py: the student versions of the solution notebooks.

The solution notebooks passing their own asserts is checked by nbval in `make test`; here the
generator runs into tmp_path and only the exercise cells' definitions are executed.
"""
from __future__ import annotations

import importlib.util
import inspect
import math
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted(REPO.glob("notebooks/[0-9]*.ipynb"))

MARKER = re.compile(r"^\s*#\s*EXERCISE\s+(START|END)\b")
STUB = re.compile(r'^\s*raise NotImplementedError\("exercise: (?P<name>[^"]+)"\)\s*$')
STUB_COMMENT = "# YOUR CODE HERE (see the markdown above and the hints)"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_student_notebooks",
                                                  REPO / "scripts" / "make_student_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _split(source: str) -> tuple[list[str], list[list[str]]]:
    """(the cell's lines outside the blocks, markers included; the lines inside each block)."""
    outside: list[str] = []
    blocks: list[list[str]] = []
    inside = False
    for line in source.split("\n"):
        match = MARKER.match(line)
        if match:
            inside = match.group(1) == "START"
            if inside:
                blocks.append([])
            outside.append(line)
        elif inside:
            blocks[-1].append(line)
        else:
            outside.append(line)
    return outside, blocks


def _code_lines(notebook: nbformat.NotebookNode) -> set[str]:
    return {line.strip() for cell in notebook.cells if cell.cell_type == "code"
            for line in cell.source.split("\n")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    """{name: (solution, student, student_path)} for every solution notebook."""
    out = tmp_path_factory.mktemp("student")
    assert SOLUTIONS, "no notebooks/[0-9]*.ipynb"
    assert gen.main(["--out", str(out), *map(str, SOLUTIONS)]) == 0
    return {path.name: (nbformat.read(path, as_version=4),
                        nbformat.read(out / path.name, as_version=4), out / path.name)
            for path in SOLUTIONS}


def test_every_block_becomes_one_stub(generated):
    for name, (solution, student, _) in generated.items():
        blocks = sum(len(_split(c.source)[1]) for c in solution.cells if c.cell_type == "code")
        stubs = [STUB.match(line) for c in student.cells if c.cell_type == "code"
                 for line in c.source.split("\n")]
        stubs = [m for m in stubs if m]
        assert blocks >= 1, f"{name}: no '# EXERCISE START' / '# EXERCISE END' block"
        assert len(stubs) == blocks, f"{name}: {blocks} blocks but {len(stubs)} stubs"
        assert all(m.group("name").startswith(("my_", "My")) for m in stubs), [m.group(0) for m in stubs]
        text = "\n".join(c.source for c in student.cells)
        assert text.count(STUB_COMMENT) == blocks, name


def test_no_solution_line_survives(generated):
    # A solution line leaks if its stripped text appears in any student code cell. Not counted:
    # blank lines and `# HINT` lines (kept on purpose); lines under 12 characters (`return x`,
    # `)`, `else:`, `x0, y0 = 0`: too generic to give a solution away or to be attributed to
    # one); and lines that also occur in the solution notebook's code outside every block (e.g.
    # an expression the notebook itself uses elsewhere, so it is no leak).
    for name, (solution, student, _) in generated.items():
        outside = {line.strip() for c in solution.cells if c.cell_type == "code"
                   for line in _split(c.source)[0]}
        student_lines = _code_lines(student)
        checked = 0
        for cell in solution.cells:
            if cell.cell_type != "code":
                continue
            for block in _split(cell.source)[1]:
                for line in block:
                    text = line.strip()
                    if (not text or text.startswith("# HINT") or len(text) < 12
                            or text in outside):
                        continue
                    checked += 1
                    assert text not in student_lines, f"{name}: solution line survives: {text!r}"
        assert checked > 0, f"{name}: no solution line was checked"


def test_everything_else_is_unchanged(generated):
    dropped = set(gen.DROPPED_CELL_METADATA)
    for name, (solution, student, _) in generated.items():
        header, *cells = student.cells
        assert header.cell_type == "markdown" and "Student version" in header.source, name
        assert f"notebooks/{name}" in header.source, "the header names the solution notebook"
        assert len(cells) == len(solution.cells), name
        assert student.metadata == solution.metadata, name
        for index, (sol, stu) in enumerate(zip(solution.cells, cells)):
            where = f"{name} cell {index}"
            assert stu.cell_type == sol.cell_type, where
            assert stu.get("id") == sol.get("id"), where
            assert stu.metadata == {k: v for k, v in sol.metadata.items() if k not in dropped}, where
            if sol.cell_type != "code":
                assert stu.source == sol.source, where
                continue
            assert stu.outputs == [] and stu.execution_count is None, where
            sol_outside, sol_blocks = _split(sol.source)
            stu_outside, stu_blocks = _split(stu.source)
            if not sol_blocks:
                assert stu.source == sol.source, where  # parameters, checks, everything else
                continue
            assert stu_outside == sol_outside, f"{where}: a line outside the blocks changed"
            for sol_block, stu_block in zip(sol_blocks, stu_blocks, strict=True):
                hints = [line for line in sol_block if line.lstrip().startswith("# HINT")]
                assert stu_block[:len(hints)] == hints, where
                assert stu_block[len(hints)].strip() == STUB_COMMENT and STUB.match(stu_block[-1]), where
                assert len(stu_block) == len(hints) + 2, where
        parameters = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
        assert len(parameters) == 1, f"{name}: the papermill parameters cell keeps its tag"


def test_output_is_deterministic(generated, tmp_path):
    again = tmp_path / "again"
    assert gen.main(["--out", str(again), *map(str, SOLUTIONS)]) == 0
    assert gen.main(["--out", str(again), *map(str, SOLUTIONS)]) == 0  # overwriting, too
    for name, (_, _, first) in generated.items():
        assert (again / name).read_bytes() == first.read_bytes(), name
    assert sorted(p.name for p in again.iterdir()) == sorted(generated), "no temporary files left"


def _notebook(tmp_path: Path, name: str, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# EXERCISE START in markdown is only text")]
    notebook.cells += [nbformat.v4.new_code_cell(source, id=f"c{i}") for i, source in enumerate(sources)]
    path = tmp_path / name
    nbformat.write(notebook, path)
    return path


@pytest.mark.parametrize("source, message", [
    ("def f():\n    return 1\n    # EXERCISE END", r"EXERCISE END at line 3 without an EXERCISE START"),
    ("def f():\n    # EXERCISE START\n    x = 1\n    # EXERCISE START\n    return x\n    # EXERCISE END",
     r"nested EXERCISE START at line 4; the block opened at line 2"),
    ("def f():\n    # EXERCISE START\n    return 1", r"EXERCISE START at line 2 has no EXERCISE END"),
])
def test_unbalanced_markers_are_refused(tmp_path, capsys, source, message):
    good = _notebook(tmp_path, "00_good.ipynb", "def g():\n    # EXERCISE START\n    return 2\n    # EXERCISE END")
    bad = _notebook(tmp_path, "99_bad.ipynb", "import math", source)
    with pytest.raises(gen.ExerciseMarkerError,
                       match=r"99_bad\.ipynb: code cell 2 \(id c1\): " + message):
        gen.make_student(nbformat.read(bad, as_version=4), "99_bad.ipynb")
    out = tmp_path / "out"
    assert gen.main(["--out", str(out), str(good), str(bad)]) == 1
    assert "99_bad.ipynb: code cell 2 (id c1)" in capsys.readouterr().err
    assert not out.exists(), "nothing is written when one notebook is refused"


def test_hints_several_blocks_and_names(tmp_path):
    source = ("import math\n"
              "def f(x):\n"
              "    \"\"\"Docstring.\"\"\"\n"
              "    # EXERCISE START\n"
              "    # HINT: math.sqrt\n"
              "    # a solution comment\n"
              "    y = math.sqrt(x)\n"
              "    return y\n"
              "    # EXERCISE END\n"
              "\n"
              "# EXERCISE START\n"
              "def g():\n"
              "    return 3\n"
              "# EXERCISE END\n"
              "#EXERCISE START\n"
              "z = 1\n"
              "#  EXERCISE END\n")
    path = _notebook(tmp_path, "01_x.ipynb", source)
    student = gen.make_student(nbformat.read(path, as_version=4), "01_x.ipynb")
    assert student.exercises == 3
    assert student.notebook.cells[2].source == (
        "import math\n"
        "def f(x):\n"
        "    \"\"\"Docstring.\"\"\"\n"
        "    # EXERCISE START\n"
        "    # HINT: math.sqrt\n"
        f"    {STUB_COMMENT}\n"
        "    raise NotImplementedError(\"exercise: f\")\n"
        "    # EXERCISE END\n"
        "\n"
        "# EXERCISE START\n"
        f"{STUB_COMMENT}\n"
        "raise NotImplementedError(\"exercise: g\")\n"
        "# EXERCISE END\n"
        "#EXERCISE START\n"
        f"{STUB_COMMENT}\n"
        "raise NotImplementedError(\"exercise: cell c0\")\n"
        "#  EXERCISE END\n")
    assert student.notebook.cells[1].source.startswith("# EXERCISE START in markdown")


def test_stubs_raise_not_implemented(generated):
    # Execute each exercise cell's definitions (not the notebook) and call the stubbed function;
    # a block that wraps a whole `def` (notebook 01) raises when its cell runs.
    called = 0
    for name, (_, student, _) in generated.items():
        for cell in student.cells:
            stubs = [m.group("name") for m in map(STUB.match, cell.source.split("\n")) if m]
            if cell.cell_type != "code" or not stubs:
                continue
            namespace = {"torch": torch, "np": np, "math": math, "F": torch.nn.functional,
                         "__name__": "student"}
            try:
                exec(compile(cell.source, f"<{name} cell {cell.get('id')}>", "exec"), namespace)
            except NotImplementedError as error:
                assert str(error) == f"exercise: {stubs[0]}", (name, str(error))
                continue
            for function_name in stubs:
                owner, _, method = function_name.rpartition(".")
                if owner:  # a method: called on an instance whose __init__ has not run
                    cls = namespace[owner]
                    function = getattr(cls, method)
                    arguments = [cls.__new__(cls)] + [None] * (len(inspect.signature(function).parameters) - 1)
                else:
                    function = namespace[function_name]
                    arguments = [None] * len(inspect.signature(function).parameters)
                with pytest.raises(NotImplementedError, match=f"^exercise: {re.escape(function_name)}$"):
                    function(*arguments)
                called += 1
    assert called >= 1, "no stubbed function was called"
