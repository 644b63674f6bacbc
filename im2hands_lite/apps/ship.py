"""Ship a checkpoint: train a variant through the one trainer (fast profile), evaluate it on
the test split, and write it with its MANIFEST entry.

    im2hands ship k                    # -> im2hands_lite/weights/k_fast.pt + MANIFEST.json
    im2hands ship all                  # every variant, in dependency order (R needs I)
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch

from ..checkpoints import SHIPPED, atomic_write, load_checkpoint, save_checkpoint, sha256_of
from ..data import TwoHandDataset, default_cache_root, generate_split
from ..data.dataset import SPLIT_OFFSETS, config_dir
from ..evaluation.encoder import evaluate_image_encoder, fit_beta_probe
from ..evaluation.evaluate import evaluate_keypoints, evaluate_occupancy
from ..hand.asset import load_hand_asset
from ..models.registry import VARIANTS, load_model
from ..models.two_stage import InitialPlusTwoHandRefiner
from ..training.runs import RunSpec, run_training
from ..training.settings import get_profile

MANIFEST_NOTE = ("fast-profile weights trained by `im2hands ship` (the one trainer) on the kit's synthetic data "
                 "(CC0 hand); test metrics on the test split (seeds from 20,000,000), see docs/RESULTS.md")


def evaluate_variant(stem: str, model, test_dir: Path, test_samples: int, shipped: Path,
                     progress: bool = True) -> dict:
    """The metrics a shipped variant carries: occupancy (IoU, Chamfer, penetration) for HALO, I
    and I + R; MPJPE of the noise model / estimator inputs, and with K refined, for K; for the
    image encoder, segmentation IoU, heatmap error and beta R^2 (its head, a linear probe)."""
    kind = VARIANTS[stem][0]
    indices = range(test_samples)
    if kind in ("halo", "i"):
        return evaluate_occupancy(model, TwoHandDataset(test_dir, "test"), indices, progress=progress)["mean"]
    if kind == "r":
        initial = load_model(shipped / "i_attention_fast.pt", "i")
        return evaluate_occupancy(InitialPlusTwoHandRefiner(initial, model), TwoHandDataset(test_dir, "test"),
                                  indices, progress=progress)["mean"]
    test_set = TwoHandDataset(test_dir, "test", n_queries=2)
    if kind == "encoder":  # what it sees: segmentation, heatmaps, betas (head and a linear probe)
        names = load_hand_asset().shape_names
        scores = evaluate_image_encoder(model, test_set, indices, shape_names=names)["mean"]
        train_set = TwoHandDataset(test_dir, "train", n_queries=2)
        probe = fit_beta_probe(model.image_encoder, train_set, range(min(512, len(train_set))))
        r2 = probe.r2(model.image_encoder, test_set, indices)
        return scores | {f"probe_r2_{name}": float(v) for name, v in zip(names, r2)}
    if kind == "estimator":
        return evaluate_keypoints(test_set, indices, estimator=model, progress=progress)["mean"]
    estimator_path = shipped / "estimator_fast.pt"
    estimator = load_model(estimator_path, "estimator") if estimator_path.is_file() else None
    return evaluate_keypoints(test_set, indices, keypoint_refiner=model, estimator=estimator, progress=progress)["mean"]


def write_manifest(shipped: Path = SHIPPED) -> Path:
    """<shipped>/MANIFEST.json: what each checkpoint is, how it was trained, its test metrics and sha256."""
    entries = {}
    for path in sorted(shipped.glob("*.pt")):
        payload = load_checkpoint(path)
        extra = payload["extra"]
        train = extra.get("train_settings") or extra.get("train_config", {})
        n_train = extra.get("train_samples") or train.get("train_samples")
        entries[path.name] = {
            "kind": payload["kind"],
            "variant": path.stem.removesuffix("_fast"),
            "profile": extra.get("profile", "fast"),
            "data_config": extra.get("data_config"),
            "train_seeds": [SPLIT_OFFSETS["train"], SPLIT_OFFSETS["train"] + n_train - 1] if n_train else None,
            "steps": train.get("steps"),
            "batch_size": train.get("batch_size"),
            "lr": train.get("lr"),
            "train_minutes": round(extra["train_minutes"], 1) if "train_minutes" in extra else None,
            "test_samples": extra.get("test_samples"),
            "test_metrics": extra.get("test_metrics"),
            "bytes": path.stat().st_size,
            "sha256": sha256_of(path),
        }
    manifest = {"note": MANIFEST_NOTE, "total_bytes": sum(e["bytes"] for e in entries.values()),
                "checkpoints": entries}
    return atomic_write(shipped / "MANIFEST.json",
                        lambda handle: handle.write((json.dumps(manifest, indent=1) + "\n").encode()))


def ship(stem: str, runs: str | Path = "runs/ship", shipped: str | Path = SHIPPED, overrides: tuple[str, ...] = (),
         threads: int = 0, progress: bool = True, cache_root: str = "") -> dict:
    """Train `stem` (a registry variant) with the fast profile into <runs>/<stem> (resuming a
    stopped run), evaluate it on the profile's test split and write <shipped>/<stem>_fast.pt
    with its metrics, then the MANIFEST. Returns {"checkpoint", "sha256", "minutes", "test"}."""
    if stem not in VARIANTS:
        raise ValueError(f"unknown variant {stem!r}; choose one of {list(VARIANTS)}")
    shipped, out = Path(shipped), Path(runs) / stem
    profile = get_profile("fast")
    fields = {"initial_checkpoint": str(shipped / "i_attention_fast.pt")} if VARIANTS[stem][0] == "r" else {}
    spec = RunSpec.from_variant(stem, profile="fast", out=str(out), resume=True, overrides=tuple(overrides),
                                threads=threads, progress=progress, cache_root=cache_root, **fields)
    if spec.has_image_path and shipped.resolve() != SHIPPED.resolve():
        # image models start from the encoder shipped beside them (the default is the package's),
        # and R's K-refined inputs come from the K shipped beside it
        beside = [f"encoder_checkpoint={shipped / 'image_encoder_fast.pt'}"]
        if spec.model == "r":
            beside.append(f"keypoint_refiner_checkpoint={shipped / 'k_fast.pt'}")
        spec = dataclasses.replace(spec, overrides=(*beside, *spec.overrides))
    result = run_training(spec)
    minutes = result.log[-1]["seconds"] / 60 if result.log else 0.0  # training time over all resumes
    settings = spec.settings()
    data_config = profile.generator_config()
    test_dir = config_dir(Path(cache_root) if cache_root else default_cache_root(), data_config)
    model = load_model(result.final)
    torch.manual_seed(0)
    metrics = evaluate_variant(stem, model, test_dir, profile.test_samples, shipped, progress)
    payload = load_checkpoint(result.final)
    target = shipped / f"{stem}_fast.pt"
    tmp = out / "shipped.pt"
    sha = save_checkpoint(tmp, model, payload["kind"], model.config, **payload["extra"], data_config=data_config.key(),
                          train_samples=settings.train_samples, train_minutes=minutes,
                          test_metrics=metrics, test_samples=profile.test_samples)
    shipped.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tmp), str(target))  # same sha: the bytes are moved, not rewritten
    write_manifest(shipped)
    return {"checkpoint": str(target), "sha256": sha, "minutes": round(minutes, 1), "test": metrics}


def reevaluate(stem: str, shipped: str | Path = SHIPPED, progress: bool = True, cache_root: str = "") -> dict:
    """Recompute a shipped checkpoint's test metrics without training (its weights unchanged), e.g.
    K's after a new estimator ships (K's metrics include the estimator's inputs). Rewrites the file's
    metrics and the MANIFEST; returns {"checkpoint", "sha256", "test"}."""
    if stem not in VARIANTS:
        raise ValueError(f"unknown variant {stem!r}; choose one of {list(VARIANTS)}")
    shipped = Path(shipped)
    target = shipped / f"{stem}_fast.pt"
    payload = load_checkpoint(target)
    profile = get_profile("fast")
    root = Path(cache_root) if cache_root else default_cache_root()
    generate_split(root, "test", profile.test_samples, profile.generator_config(), progress=progress)  # as ship does
    test_dir = config_dir(root, profile.generator_config())
    model = load_model(target)
    torch.manual_seed(0)
    metrics = evaluate_variant(stem, model, test_dir, profile.test_samples, shipped, progress)
    tmp = target.with_suffix(".reevaluated.tmp")
    sha = save_checkpoint(tmp, model, payload["kind"], model.config, **(payload["extra"] | {"test_metrics": metrics}))
    shutil.move(str(tmp), str(target))
    write_manifest(shipped)
    return {"checkpoint": str(target), "sha256": sha, "test": metrics}


# the image encoder first (every image model starts from it); I before R (R refines the shipped
# attention I); the estimator before K (K's metrics use it)
SHIP_ORDER = ("image_encoder", "halo", "i_attention", "i_pixel_aligned", "i_none", "estimator", "k", "r", "r_no_init_occ_cond",
              "r_no_feature_cloud", "r_no_context_latent", "r_256", "r_1024")
