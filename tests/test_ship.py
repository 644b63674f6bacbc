"""`im2hands ship`: one command trains a variant through the trainer, evaluates it and ships it."""
from __future__ import annotations

import json
import shutil

import torch

from im2hands_lite.apps.ship import SHIP_ORDER, ship, write_manifest
from im2hands_lite.checkpoints import SHIPPED, load_checkpoint, sha256_of, trained_steps
from im2hands_lite.cli import main
from im2hands_lite.models.registry import VARIANTS, load_model

TINY = ("steps=3", "batch_size=2", "train_samples=4", "checkpoint_every=2")


def test_ship_trains_evaluates_and_writes_the_manifest(tmp_path):
    dest = tmp_path / "weights"
    dest.mkdir()
    shutil.copy(SHIPPED / "estimator_fast.pt", dest)  # K's metrics include the estimator's inputs
    shutil.copy(SHIPPED / "image_encoder_fast.pt", dest)  # K starts from it
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
    assert sorted(manifest["checkpoints"]) == ["estimator_fast.pt", "image_encoder_fast.pt", "k_fast.pt"]
    assert not model.training
    # a second call resumes the finished run instead of training again, and ships the same weights
    again = ship("k", runs=tmp_path / "runs", shipped=dest, overrides=TINY, threads=1, progress=False,
                 cache_root=str(tmp_path / "cache"))
    assert again["test"] == result["test"]


def test_ship_the_image_encoder_then_k_starts_from_it(tmp_path):
    dest = tmp_path / "weights"
    dest.mkdir()
    shutil.copy(SHIPPED / "estimator_fast.pt", dest)
    result = ship("image_encoder", runs=tmp_path / "runs", shipped=dest, overrides=TINY, threads=1, progress=False,
                  cache_root=str(tmp_path / "cache"))
    metrics = load_checkpoint(dest / "image_encoder_fast.pt")["extra"]["test_metrics"]
    assert metrics == result["test"]
    assert {"side_iou_right", "side_iou_left", "part_miou", "heatmap_px", "betas_r2_finger_diameter",
            "probe_r2_finger_diameter"} <= set(metrics)
    ship("k", runs=tmp_path / "runs", shipped=dest, overrides=TINY, threads=1, progress=False,
         cache_root=str(tmp_path / "cache"))
    start = load_checkpoint(dest / "k_fast.pt")["extra"]["encoder_start"]
    assert start["sha256"] == sha256_of(dest / "image_encoder_fast.pt")  # the one shipped beside it


def test_reevaluate_refreshes_metrics_and_keeps_the_weights(tmp_path):
    dest = tmp_path / "weights"
    dest.mkdir()
    shutil.copy(SHIPPED / "estimator_fast.pt", dest)
    path = dest / "estimator_fast.pt"
    before = load_checkpoint(path)
    tampered = dict(before["extra"], test_metrics={"estimator_rr": -1.0})
    torch.save(dict(before, extra=tampered), path)
    cache = tmp_path / "cache"  # the test split is generated as ship generates it
    assert main(["ship", "estimator", "--reevaluate", "--dest", str(dest), "--cache-root", str(cache), "--quiet"]) == 0
    after = load_checkpoint(path)
    assert after["extra"]["test_metrics"]["estimator_rr"] > 0  # recomputed, not the tampered value
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    assert json.loads((dest / "MANIFEST.json").read_text())["checkpoints"]["estimator_fast.pt"]["sha256"] == sha256_of(path)


def test_only_models_that_read_the_image_take_the_encoder_settings():
    from im2hands_lite.training.runs import RunSpec
    reads = {stem: RunSpec.from_variant(stem).has_image_path for stem in VARIANTS}
    assert not reads["halo"] and not reads["i_none"] and not reads["image_encoder"]  # ship adds no encoder_checkpoint
    assert all(reads[s] for s in ("i_attention", "i_pixel_aligned", "k", "estimator", "r", "r_256"))


def test_ship_order_covers_every_variant_with_i_before_r():
    assert sorted(SHIP_ORDER) == sorted(VARIANTS)
    assert SHIP_ORDER[0] == "image_encoder"  # every image model starts from it
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
