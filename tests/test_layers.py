"""The package's shape: layers import one way, one registry, one trainer, a public surface."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import im2hands_lite as ih
from im2hands_lite.checkpoints import SHIPPED, CheckpointError, load_checkpoint
from im2hands_lite.models.registry import (
    MODEL_KINDS,
    VARIANTS,
    build_model,
    kind_of,
    load_model,
    model_kind,
)
from im2hands_lite.training.losses import STEP_LOSSES
from im2hands_lite.training.runs import RunSpec
from im2hands_lite.training.settings import PROFILES, SETTINGS_CLASSES, get_profile, with_overrides

PACKAGE = Path(ih.__file__).parent
# bottom to top; a module may import its own layer and those listed before it
# (siblings in one set never import each other: models never see data, evaluation never training)
LAYERS = [{"checkpoints"}, {"geometry"}, {"hand"}, {"data", "models"}, {"training", "evaluation"}, {"apps"}, {"teaching"},
          {"cli"}]
TOP_LEVEL_MODULES = {"__init__", "__main__", "checkpoints", "cli"}


def _layer(part: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if part in names)


def _imported_parts(path: Path) -> set[str]:
    """First-level package parts a module imports (relative or absolute)."""
    depth = len(path.relative_to(PACKAGE).parts) - 1
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                above = depth - (node.level - 1)
                if above > 0:  # inside the same subpackage
                    continue
                target = (node.module or "").split(".")[0]
                parts.update([target] if target else [a.name for a in node.names])
            elif node.module and node.module.startswith("im2hands_lite."):
                parts.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            parts.update(a.name.split(".")[1] for a in node.names if a.name.startswith("im2hands_lite."))
    return parts


def test_no_top_level_module_outside_the_layers():
    loose = {p.stem for p in PACKAGE.glob("*.py")} - TOP_LEVEL_MODULES
    assert not loose, f"top-level modules outside the layers: {sorted(loose)}"


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
                                        or p.parent != PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own == "__main__":
        return
    for part in _imported_parts(path):
        if part == own:
            continue
        assert _layer(part) < _layer(own), f"{own} imports {part}, a layer at or above it"


def test_the_layer_check_sees_relative_and_absolute_imports(tmp_path, monkeypatch):
    probe = tmp_path / "im2hands_lite" / "models" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..training.trainer import train\nfrom .halo import HaloModel\n"
                     "import im2hands_lite.data.noise\nfrom im2hands_lite.apps import wild\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "im2hands_lite")
    assert _imported_parts(probe) == {"training", "data", "apps"}
    with pytest.raises(AssertionError, match="models imports"):
        test_imports_flow_one_way(probe)


def test_evaluation_never_imports_training():
    for path in (PACKAGE / "evaluation").rglob("*.py"):
        assert "training" not in _imported_parts(path), path.name


def test_every_kind_has_a_config_constructors_settings_and_a_step_loss():
    assert set(MODEL_KINDS) == set(SETTINGS_CLASSES) == set(STEP_LOSSES) == {"halo", "i", "k", "estimator", "r", "encoder"}
    for name, kind in MODEL_KINDS.items():
        for backbone in ("fast", "paper"):
            assert isinstance(kind.config(backbone), kind.config_class)
        model = build_model(name)
        assert kind_of(model) is kind and isinstance(model, kind.model_class)
        for profile in PROFILES.values():
            assert isinstance(profile.settings(name), SETTINGS_CLASSES[name])
    with pytest.raises(ValueError, match="unknown model kind 'q'"):
        model_kind("q")
    with pytest.raises(ValueError, match="unknown backbone"):
        MODEL_KINDS["i"].config("huge")


def test_paper_constructors_build_the_paper_networks():
    assert MODEL_KINDS["i"].config("paper").resnet.depth == 50
    assert MODEL_KINDS["k"].config("paper").resnet.depth == 50
    assert MODEL_KINDS["r"].config("paper").width == 256
    assert MODEL_KINDS["estimator"].config("paper").resnet.depth == 50
    assert build_model("r", n_points=256, feature_cloud=False).config.n_points == 256


@pytest.mark.parametrize("stem", list(VARIANTS))
def test_every_shipped_variant_loads_through_the_registry(stem):
    path = SHIPPED / f"{stem}_fast.pt"
    model = load_model(stem)
    kind, options = VARIANTS[stem]
    assert kind_of(model).name == kind and not model.training
    for field, value in options.items():
        assert getattr(model.config, field) == value
    assert model_kind(load_checkpoint(path)["kind"]).name == kind  # older kind strings map to today's


def test_load_model_checks_the_kind_and_names_what_it_found(tmp_path):
    with pytest.raises(CheckpointError, match="holds a 'estimator' model, expected 'r'"):
        load_model(SHIPPED / "estimator_fast.pt", "r")
    with pytest.raises(CheckpointError, match="holds a 'i' model, expected 'k'"):
        load_model(SHIPPED / "i_none_fast.pt", "k")
    # a file with an older kind name ("initial") is checked, and loads, as its kind
    older = torch.load(SHIPPED / "i_none_fast.pt", map_location="cpu", weights_only=True)
    older["kind"] = "initial"
    torch.save(older, tmp_path / "older.pt")
    with pytest.raises(CheckpointError, match="holds a 'initial' model, expected 'k'"):
        load_model(tmp_path / "older.pt", "k")
    assert kind_of(load_model(tmp_path / "older.pt", "i")).name == "i"
    with pytest.raises(ValueError, match="no shipped variant 'i_huge'"):
        load_model("i_huge")


def test_settings_a_kind_does_not_use_are_refused():
    with pytest.raises(ValueError, match="unknown training setting 'n_queries' for KeypointRefinerTrainSettings"):
        with_overrides(get_profile("fast").settings("k"), ["n_queries=64"])
    with pytest.raises(ValueError, match="unknown training setting 'root_weight' for EstimatorTrainSettings"):
        with_overrides(get_profile("fast").settings("estimator"), ["root_weight=2"])
    with pytest.raises(ValueError, match="unknown training setting 'loss' for TwoHandRefinerTrainSettings"):
        with_overrides(get_profile("fast").settings("r"), ["loss=bce"])
    assert with_overrides(get_profile("fast").settings("halo"), ["loss=bce"]).loss == "bce"
    with pytest.raises(ValueError, match="variant .* is I's option"):
        RunSpec(model="k", variant="none")
    with pytest.raises(ValueError, match="R's options"):
        RunSpec(model="i", n_points=256)
    for model, variant, override in (("halo", None, "image_lr_scale=1"), ("i", "none", "encoder_lr_scale=0.1")):
        with pytest.raises(ValueError, match="has no image path"):
            RunSpec(model=model, variant=variant, overrides=(override,)).settings()
    assert RunSpec(model="i", variant="pixel_aligned", overrides=("image_lr_scale=1",)).settings().image_lr_scale == 1
    with pytest.raises(TypeError, match="'k' trains with KeypointRefinerTrainSettings"):
        ih.train(build_model("k"), [], get_profile("fast").settings("i"))


def test_run_spec_from_variant_rebuilds_the_variant_config():
    for stem, (kind, options) in VARIANTS.items():
        spec = RunSpec.from_variant(stem)
        config = build_model(kind, **spec.model_options()).config
        assert spec.model == kind and all(getattr(config, k) == v for k, v in options.items()), stem


def test_public_names_and_python_dash_m():
    for name in ("load_model", "build_model", "HandModel", "reconstruct", "train", "TwoHandDataset", "RunSpec"):
        assert hasattr(ih, name), name
    with torch.no_grad():
        assert ih.load_model("i").config.image_cond == "attention"
    done = subprocess.run([sys.executable, "-m", "im2hands_lite", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "ship" in done.stdout and "train" in done.stdout


@pytest.mark.parametrize("path", sorted((PACKAGE / "models").glob("*.py")), ids=lambda p: p.name)
def test_model_files_read_top_to_bottom(path):
    """`forward` right after `__init__` in every module class (nanoGPT's order)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names = [n.name for n in node.body if isinstance(n, ast.FunctionDef)]
            if "__init__" in names and "forward" in names:
                assert names.index("forward") == names.index("__init__") + 1, f"{node.name}: {names}"


def _names_used(node: ast.AST) -> set[str]:
    """Names a definition reads when it runs (annotations are not evaluated: postponed)."""
    skip = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skip.update(id(a.annotation) for a in sub.args.args + sub.args.kwonlyargs if a.annotation)
            if sub.returns is not None:
                skip.add(id(sub.returns))
        elif isinstance(sub, ast.AnnAssign):
            skip.add(id(sub.annotation))
    used, stack = set(), [node]
    while stack:
        current = stack.pop()
        if id(current) in skip:
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Load):
            used.add(current.id)
        stack.extend(ast.iter_child_nodes(current))
    return used


@pytest.mark.parametrize("path", sorted([*(PACKAGE / "models").glob("*.py"), *(PACKAGE / "training").glob("*.py"),
                                         *(PACKAGE / "evaluation").glob("*.py")]),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_helpers_stand_above_their_users(path):
    body = ast.parse(path.read_text()).body
    position = {}
    for i, node in enumerate(body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            position[node.name] = i
    for i, node in enumerate(body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            later = sorted(n for n in _names_used(node) if position.get(n, -1) > i)
            assert not later, f"{node.name} uses {later}, defined below it"


def test_the_order_check_fails_on_a_helper_below_its_user(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("class Model:\n    def forward(self, x: 'Later') -> 'Later':\n        return helper(x)\n\n\n"
                     "def helper(x):\n    return x\n\n\nclass Later:\n    pass\n")
    with pytest.raises(AssertionError, match=r"Model uses \['helper'\]"):
        test_helpers_stand_above_their_users(probe)
