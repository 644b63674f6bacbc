"""`im2hands ship`: one command trains a variant through the trainer, evaluates it and ships it."""
from __future__ import annotations

import json
import shutil

from im2hands_lite.apps.ship import SHIP_ORDER, ship, write_manifest
from im2hands_lite.checkpoints import SHIPPED, load_checkpoint, sha256_of, trained_steps
from im2hands_lite.cli import main
from im2hands_lite.models.registry import VARIANTS, load_model

TINY = ("steps=3", "batch_size=2", "train_samples=4", "checkpoint_every=2")


def test_ship_trains_evaluates_and_writes_the_manifest(tmp_path):
    dest = tmp_path / "weights"
    dest.mkdir()
    shutil.copy(SHIPPED / "estimator_fast.pt", dest)  # K's metrics include the estimator's inputs
    result = ship("k", runs=tmp_path / "runs", shipped=dest, overrides=TINY, threads=1, progress=False,
                  cache_root=str(tmp_path / "cache"))
    path = dest / "k_fast.pt"
    assert result["checkpoint"] == str(path) and result["sha256"] == sha256_of(path)
    model = load_model(path, "k")
    extra = load_checkpoint(path)["extra"]
    assert load_checkpoint(path)["kind"] == "k" and trained_steps(extra) == 3
    assert set(extra["test_metrics"]) == {"noisy_rr", "noisy_abs", "noisy+K_rr", "noisy+K_abs",
                                          "estimator_rr", "estimator_abs", "estimator+K_rr", "estimator+K_abs"}
    assert extra["test_metrics"] == result["test"] and extra["test_samples"] == 32
    manifest = json.loads((dest / "MANIFEST.json").read_text())
    entry = manifest["checkpoints"]["k_fast.pt"]
    assert entry["sha256"] == result["sha256"] and entry["steps"] == 3 and entry["kind"] == "k"
    assert sorted(manifest["checkpoints"]) == ["estimator_fast.pt", "k_fast.pt"]
    assert not model.training
    # a second call resumes the finished run instead of training again, and ships the same weights
    again = ship("k", runs=tmp_path / "runs", shipped=dest, overrides=TINY, threads=1, progress=False,
                 cache_root=str(tmp_path / "cache"))
    assert again["test"] == result["test"]


def test_ship_order_covers_every_variant_with_i_before_r():
    assert sorted(SHIP_ORDER) == sorted(VARIANTS)
    assert SHIP_ORDER.index("i_attention") < min(SHIP_ORDER.index(s) for s in VARIANTS if VARIANTS[s][0] == "r")


def test_the_shipped_manifest_is_what_write_manifest_writes(tmp_path):
    dest = tmp_path / "weights"
    shutil.copytree(SHIPPED, dest)
    write_manifest(dest)
    assert json.loads((dest / "MANIFEST.json").read_text()) == json.loads((SHIPPED / "MANIFEST.json").read_text())


def test_cli_ship_refuses_an_unknown_variant(capsys):
    try:
        main(["ship", "r_4096"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid choice: 'r_4096'" in capsys.readouterr().err
