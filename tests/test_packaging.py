"""Packaging checks: metadata, environment.yml, committed notebooks, the kernel."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
ENV_YML = REPO / "environment.yml"
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(
    p for p in NOTEBOOK_DIR.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
NB_IDS = [p.name for p in NOTEBOOKS]

# An import of torchvision, or an install of it from a notebook cell.
TORCHVISION_RE = re.compile(
    r"^\s*(?:import\s[^#\n]*\btorchvision\b|from\s+torchvision\b)"
    r"|\bpip\s+install\b[^#\n]*\btorchvision\b"
    r"|import_module\(\s*['\"]torchvision",
    re.MULTILINE,
)


def _pyproject() -> dict:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


def _declared_requirements() -> list[str]:
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return reqs


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def _req_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _parse_environment_yml(text: str) -> tuple[list[str], list[str]]:
    """Tiny parser for our environment.yml: (conda dependencies, pip dependencies).

    Handles the shape this repo uses: a top-level ``dependencies:`` list whose
    ``- pip:`` item holds a nested list. Comments and blank lines are ignored.
    """
    conda: list[str] = []
    pip: list[str] = []
    in_deps = False
    pip_indent: int | None = None
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_deps = line.startswith("dependencies:")
            pip_indent = None
            continue
        if not in_deps:
            continue
        item = line.strip()
        assert item.startswith("- "), f"unexpected line in dependencies: {raw!r}"
        value = item[2:].strip()
        if pip_indent is not None and indent > pip_indent:
            pip.append(value)
            continue
        pip_indent = None
        if value == "pip:":
            pip_indent = indent
        else:
            conda.append(value)
    return conda, pip


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


# --- pyproject / environment.yml ------------------------------------------------


def test_environment_yml_matches_pyproject():
    declared = _declared_requirements()
    conda, pip = _parse_environment_yml(ENV_YML.read_text(encoding="utf-8"))

    assert "python=3.11" in conda
    assert "pip" in conda
    assert len(pip) == len(set(map(_norm, pip))), f"duplicates in environment.yml: {pip}"
    assert len(declared) == len(set(map(_norm, declared))), f"duplicates in pyproject: {declared}"

    only_pyproject = sorted(set(map(_norm, declared)) - set(map(_norm, pip)))
    only_env = sorted(set(map(_norm, pip)) - set(map(_norm, declared)))
    assert not only_pyproject and not only_env, (
        f"pyproject.toml and environment.yml disagree: "
        f"only in pyproject: {only_pyproject}; only in environment.yml: {only_env}"
    )


def test_environment_yml_parser_reads_nested_pip_list():
    conda, pip = _parse_environment_yml(
        "name: x\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n"
        "  - pip\n  - pip:\n      - a>=1  # note\n      - b\n  - c\n"
    )
    assert conda == ["python=3.11", "pip", "c"]
    assert pip == ["a>=1", "b"]


def test_torch_is_lower_bound_only_and_no_torchvision():
    runtime = _pyproject()["project"]["dependencies"]
    torch_reqs = [r for r in runtime if _req_name(r) == "torch"]
    # 2.6: before it, a crafted file can run code through torch.load(weights_only=True) (CVE-2025-32434)
    assert [_norm(r) for r in torch_reqs] == ["torch>=2.6"], torch_reqs

    names = {_req_name(r) for r in _declared_requirements()}
    assert "torchvision" not in names


def test_dev_extra_and_console_script():
    project = _pyproject()["project"]
    dev = {_req_name(r) for r in project["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "papermill", "ipykernel"} <= dev
    assert project["scripts"]["im2hands"] == "im2hands_lite.cli:main"
    assert project["requires-python"] == ">=3.10"


def test_installed_package_is_this_checkout():
    """`make venv` installs the kit editable: tests must see this tree's code."""
    import im2hands_lite

    assert Path(im2hands_lite.__file__).resolve().parent == REPO / "im2hands_lite"


def test_python3_kernel_runs_this_interpreter():
    """papermill -k python3 and nbval must execute notebooks with the venv's python."""
    from jupyter_client.kernelspec import KernelSpecManager

    argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    # jupyter_client substitutes sys.executable for a bare "python"/"python3".
    if argv0 not in ("python", "python3"):
        assert os.path.abspath(argv0) == os.path.abspath(sys.executable), argv0


def test_wheel_contains_package_assets_and_entry_point(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 64:
        pytest.skip(f"setuptools {setuptools.__version__} < 64 in this environment")

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "im2hands_lite",
        src / "im2hands_lite",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
         "--no-build-isolation", "-q", "-w", str(dist)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("im2hands_lite-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    assert "im2hands_lite/__init__.py" in names
    assert not any(n.startswith(("tests/", "notebooks/", "scripts/")) for n in names)

    assets = REPO / "im2hands_lite" / "hand" / "assets"
    shipped = [p for p in assets.glob("*") if p.suffix in {".npz", ".md", ".json"}] if assets.is_dir() else []
    for p in shipped:
        assert f"im2hands_lite/hand/assets/{p.name}" in names, f"{p.name} missing from wheel"
    weights = sorted(p.name for p in (REPO / "im2hands_lite" / "weights").glob("*.pt"))
    assert weights and all(f"im2hands_lite/weights/{name}" in names for name in weights), "weights missing from wheel"
    assert "im2hands_lite/weights/MANIFEST.json" in names

    (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    entry_points = zipfile.ZipFile(wheel).read(ep).decode()
    assert re.search(r"^im2hands\s*=\s*im2hands_lite\.cli:main$", entry_points, re.MULTILINE)


# --- source hygiene -------------------------------------------------------------


def test_torchvision_regex_catches_imports():
    for bad in ("import torchvision", "from torchvision import models",
                "import torch, torchvision", "!pip install torch torchvision"):
        assert TORCHVISION_RE.search(bad), bad
    for ok in ("import torch", "# torchvision is not used", "x = 'no torchvision here'"):
        assert not TORCHVISION_RE.search(ok), ok


def test_torchvision_not_imported():
    offenders = []
    for root in ("im2hands_lite", "scripts"):
        for path in (REPO / root).rglob("*.py"):
            if TORCHVISION_RE.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(REPO)))
    for nb in NOTEBOOKS:
        for i, cell in enumerate(_notebook(nb)["cells"]):
            if cell["cell_type"] == "code" and TORCHVISION_RE.search(_source(cell)):
                offenders.append(f"{nb.relative_to(REPO)} cell {i}")
    assert not offenders, f"torchvision is not a dependency, but is used in: {offenders}"


def _torch_loads(source: str) -> tuple[list[int], list[int]]:
    """(safe, unsafe) lines where `source` uses torch.load. Safe: a call with the literal
    `weights_only=True`. Unsafe: a call without it, with `weights_only=False` or a variable, or
    the bare function (`loader = torch.load`). Follows `import torch as t` and `from torch import load`."""
    tree = ast.parse(source)
    modules, functions = {"torch"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "torch"}
        elif isinstance(node, ast.ImportFrom) and node.module == "torch":
            functions |= {a.asname or a.name for a in node.names if a.name == "load"}

    def is_load(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "load" and isinstance(node.value, ast.Name)
                and node.value.id in modules) or (isinstance(node, ast.Name) and node.id in functions)

    safe = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call) and is_load(node.func)
            and any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords)}
    uses = [node for node in ast.walk(tree) if is_load(node)]
    return (sorted(n.lineno for n in uses if id(n) in safe), sorted(n.lineno for n in uses if id(n) not in safe))


def test_unsafe_torch_load_finder_catches_each_form():
    unsafe = ("torch.load(p)", "torch.load(p, weights_only=False)", "torch.load(p, weights_only=flag)",
              "torch.load(p, weights_only=1)", "torch.load(p, **options)", "loader = torch.load",
              "import torch as t\nt.load(p)", "from torch import load\nload(p)",
              "from torch import load as read\nread(p, map_location='cpu')")
    for source in unsafe:
        assert _torch_loads(source) == ([], [source.count("\n") + 1]), source
    safe = ("torch.load(p, weights_only=True)", "torch.load(p, map_location='cpu', weights_only=True)",
            "import torch as t\nt.load(p, weights_only=True)")
    for source in safe:
        assert _torch_loads(source) == ([source.count("\n") + 1], []), source
    for other in ("np.load(p)", "json.load(f)", "pickle.load(f)"):
        assert _torch_loads(other) == ([], []), other


def test_every_torch_load_is_weights_only():
    found, offenders = [], []
    for root in ("im2hands_lite", "scripts", "benchmarks"):
        for path in sorted((REPO / root).rglob("*.py")):
            safe, unsafe = _torch_loads(path.read_text(encoding="utf-8"))
            found += [path.relative_to(REPO).as_posix()] * len(safe)
            offenders += [f"{path.relative_to(REPO)}:{line}" for line in unsafe]
    assert not offenders, f"torch.load without weights_only=True (a crafted file could run code): {offenders}"
    assert "im2hands_lite/checkpoints.py" in found, "the kit's own checkpoint loader was not seen"


# --- notebooks ------------------------------------------------------------------


def test_notebooks_directory_exists():
    if not NOTEBOOK_DIR.exists():
        # git does not track an empty directory: a fresh clone has no notebooks/
        # until the first notebook is committed.
        pytest.skip("notebooks/ is not in this checkout yet (no notebook committed)")
    assert NOTEBOOK_DIR.is_dir()


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=NB_IDS)
def test_notebook_committed_without_outputs(nb_path):
    nb = _notebook(nb_path)
    assert nb.get("nbformat") == 4
    dirty = [
        i for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{nb_path.name}: clear outputs/execution counts of cells {dirty}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=NB_IDS)
def test_notebook_has_one_parameters_cell_with_fast_profile(nb_path):
    cells = [
        c for c in _notebook(nb_path)["cells"]
        if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(cells) == 1, f"{nb_path.name}: {len(cells)} cells tagged 'parameters', want 1"
    assert cells[0]["cell_type"] == "code"
    assert re.search(r"^PROFILE\s*=\s*[\"']fast[\"']", _source(cells[0]), re.MULTILINE), (
        f"{nb_path.name}: the parameters cell must set PROFILE = \"fast\""
    )


def test_shipped_checkpoints_match_their_manifest():
    import hashlib
    import json

    from im2hands_lite.checkpoints import SHIPPED

    manifest = json.loads((SHIPPED / "MANIFEST.json").read_text())
    files = sorted(p.name for p in SHIPPED.glob("*.pt"))
    assert sorted(manifest["checkpoints"]) == files, "run im2hands ship (it rewrites the manifest)"
    for name, entry in manifest["checkpoints"].items():
        data = (SHIPPED / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{name} changed: rerun the manifest script"
        assert entry["steps"] and entry["test_metrics"], name
    total = sum((SHIPPED / name).stat().st_size for name in files)
    assert total == manifest["total_bytes"] and total <= 40e6  # the budget: 40 MB in all
