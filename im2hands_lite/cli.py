"""The `im2hands` command line: one small function per subcommand over the library."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from .apps.pipeline import (
    KIT_FOV_DEG,
    ImagePipeline,
    read_rgb,
    reconstruct_image,
    save_reconstruction,
)
from .apps.report import write_report
from .apps.ship import SHIP_ORDER, reevaluate, ship
from .apps.table_runs import TrainingCheckpointSource, profile_test_dir
from .apps.wild import (
    BUNDLE_WHEEL,
    INSTALL_HINT,
    PHOTO_FOV_DEG,
    build_bundle,
    mediapipe_available,
    reconstruct_photo,
)
from .checkpoints import SHIPPED, atomic_write
from .data import TwoHandDataset, kit_samples_dir
from .data.appearance import BACKGROUNDS
from .data.dataset import SPLIT_OFFSETS, default_cache_root, generate_split
from .data.interactions import INTERACTIONS
from .data.interhand import (
    InterHandConfig,
    configured_data_root,
    prepare_interhand,
    resolve_data_dir,
)
from .data.scene import GeneratorConfig
from .evaluation.evaluate import evaluate_keypoints, evaluate_occupancy
from .evaluation.reconstruction import ReconstructionConfig
from .evaluation.tables import evaluate_table
from .models.initial import IMAGE_CONDITIONS
from .models.registry import VARIANTS, load_model, shipped_path
from .models.two_hand_refiner import ABLATIONS
from .models.two_stage import InitialPlusTwoHandRefiner
from .training.runs import RunSpec, run_training
from .training.settings import (
    MODELS,
    PROFILES,
    SETTINGS_CLASSES,
    get_profile,
    settings_fields,
    with_overrides,
)

KIT_ON_PHOTOS = "the kit's own keypoint estimator is trained on synthetic renders only"


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1 (a count of samples)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _generate_data(args: argparse.Namespace) -> int:
    defaults = GeneratorConfig()
    interactions = tuple(args.interactions) if args.interactions else defaults.interactions
    weights = defaults.interaction_weights if interactions == defaults.interactions else (
        (1.0,) * len(interactions))
    config = GeneratorConfig(image_size=args.image_size, n_queries=args.queries,
                             interactions=interactions, interaction_weights=weights, forearms=args.forearms,
                             shape_space=not args.mean_hand, background=args.background, augment=args.augment)
    start = time.perf_counter()
    index, _, parts = args.shard.partition("/")
    if not (index.isdigit() and parts.isdigit()):
        raise ValueError(f"--shard must look like 0/4 (this part / number of parts), got {args.shard!r}")
    out = generate_split(args.out, args.split, args.n, config, shard_size=args.shard_size,
                         workers=args.workers, progress=not args.quiet, part=(int(index), int(parts)))
    seconds = time.perf_counter() - start
    print(f"{args.n} {args.split} samples in {out} ({seconds:.1f} s); config key {config.key()}")
    return 0


def _prepare_interhand(args: argparse.Namespace) -> int:
    root = configured_data_root(args.data_root)
    if not root:
        raise ValueError("give --data-root (the InterHand2.6M folder) or set IM2HANDS_DATA_ROOT")
    config = InterHandConfig(root=root, split=args.split, mano_dir=args.mano_dir or "", crop_scale=args.crop_scale,
                             every=args.every)
    generator = GeneratorConfig(image_size=args.image_size, n_queries=args.queries)
    start = time.perf_counter()
    out = prepare_interhand(config, args.out, args.n, generator, progress=not args.quiet)
    print(f"InterHand2.6M {args.split}: {out}/{args.split} ({time.perf_counter() - start:.1f} s); "
          f"use it with --data-dir {out}")
    return 0


def _real_data_dir(args, split: str, n_samples: int | None, profile: str = "fast"):
    """--data-root / $IM2HANDS_DATA_ROOT: the prepared InterHand2.6M folder, else None."""
    if not configured_data_root(getattr(args, "data_root", None)) or getattr(args, "data_dir", None):
        return None
    return resolve_data_dir(split, args.data_root, n_samples, get_profile(profile).generator_config(),
                            progress=not args.quiet)


def _train(args: argparse.Namespace) -> int:
    settings = with_overrides(get_profile(args.profile).settings(args.model), list(args.set))
    real = _real_data_dir(args, "train", settings.train_samples, args.profile)
    if real is not None and settings.val_every > 0:  # the validation loss reads InterHand's own val split
        args.val_data_dir = str(_real_data_dir(args, "val", settings.val_samples, args.profile))
    if real is not None:
        args.data_dir = str(real)
    spec = RunSpec(model=args.model, profile=args.profile, out=args.out or f"runs/{args.model}_{args.profile}",
                   variant=args.variant or "", ablate=tuple(args.ablate), n_points=args.points or 0,
                   initial_checkpoint=args.initial or "", overrides=tuple(args.set), device=args.device,
                   resume=args.resume, keep_last=args.keep_last, data_dir=args.data_dir or "",
                   val_data_dir=args.val_data_dir or "",
                   progress=not args.quiet, threads=args.threads)
    result = run_training(spec)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only the main process reports
        return 0
    log = result.log
    print(f"trained {args.model} ({args.profile}) for {result.steps} steps on {result.device}: final loss "
          f"{sum(r['loss'] for r in log[-50:]) / max(len(log[-50:]), 1):.4f}, "
          f"{log[-1]['seconds'] / len(log):.3f} s per step" if log else "nothing to do")
    print(f"weights: {result.final} (sha256 {result.sha256[:12]}); log: {result.out}/log.csv, loss.png; "
          f"resumable checkpoints: {result.out}/checkpoints/")
    return 0


def _data_dir(args) -> Path:
    directory = Path(args.data_dir) if args.data_dir else kit_samples_dir()
    if not (directory / "test").is_dir() and not (directory / "train").is_dir():
        raise FileNotFoundError(f"no generated data in {directory} (expected train/ or test/ inside)")
    return directory


def _evaluate(args: argparse.Namespace) -> int:
    if bool(args.model) == bool(args.table):
        raise ValueError("give either --model or --table")
    if args.threads:
        torch.set_num_threads(args.threads)
    return _evaluate_table(args) if args.table else _evaluate_model(args)


def _evaluate_table(args: argparse.Namespace) -> int:
    train_dir = ""
    if args.train_missing:  # with a data root, missing variants train on its frames too
        most = max(settings.train_samples for settings in get_profile(args.profile).models.values())
        train_dir = str(_real_data_dir(args, "train", most, args.profile) or "")
    if args.weights and not Path(args.weights).is_dir():
        raise FileNotFoundError(f"--weights: no folder {args.weights}")
    source = TrainingCheckpointSource(profile=args.profile, runs=Path(args.runs), train_missing=args.train_missing,
                                      shipped=Path(args.weights) if args.weights else SHIPPED,
                                      overrides=tuple(args.set), progress=not args.quiet, threads=args.threads,
                                      data_dir=train_dir)
    samples = args.samples if args.samples is not None else 16
    directory = _real_data_dir(args, args.split, samples, args.profile) or (
        _data_dir(args) if args.data_dir else profile_test_dir(args.profile, samples=samples))
    split = TwoHandDataset(directory, args.split)
    recon = ReconstructionConfig.at(args.resolution)
    result = evaluate_table(args.table, split, range(min(samples, len(split))), recon, source,
                            progress=not args.quiet, baseline=not args.no_baseline, row_cache=args.row_cache or None)
    print(result.markdown())
    for path in result.write(args.out or f"results/{args.table}_{args.profile}"):
        print(f"wrote {path}")
    return 0


def _evaluate_model(args: argparse.Namespace) -> int:
    samples = args.samples if args.samples is not None else 4
    directory = _real_data_dir(args, args.split, samples) or _data_dir(args)
    default = {"i": f"i_{args.variant}", "ir": "r", "k": "k", "estimator": "estimator"}[args.model]
    checkpoint = Path(args.checkpoint) if args.checkpoint else shipped_path(default)
    split = TwoHandDataset(directory, args.split)
    indices = range(min(samples, len(split)))
    recon = ReconstructionConfig.at(args.resolution)
    if args.model in ("i", "ir"):
        if args.model == "i":
            model = load_model(checkpoint, "i")
        else:
            initial = load_model(Path(args.initial) if args.initial else shipped_path("i"), "i")
            model = InitialPlusTwoHandRefiner(initial, load_model(checkpoint, "r"))
        result = evaluate_occupancy(model, split, indices, recon, progress=not args.quiet)
    else:
        keypoint_split = TwoHandDataset(directory, args.split, n_queries=2)
        keypoint_refiner = load_model(checkpoint, "k") if args.model == "k" else None
        estimator = load_model(checkpoint, "estimator") if args.model == "estimator" else (
            load_model("estimator") if shipped_path("estimator").is_file() else None)
        result = evaluate_keypoints(keypoint_split, indices, keypoint_refiner=keypoint_refiner, estimator=estimator,
                                    progress=not args.quiet)
    units = {"iou": "", "chamfer_mm": " mm", "penetration_cm3": " cm^3"}
    print(f"{args.model} from {checkpoint.name} on {len(indices)} {args.split} samples of {directory}:")
    for key, value in result["mean"].items():
        print(f"  {key:<16} {value:.4f}{units.get(key, ' mm')}")
    if "failed" in result:  # occupancy: the means above leave out samples with an empty mesh
        print(f"  {'failed':<16} {result['failed']} of {len(indices)} samples (an empty mesh; IoU over all "
              f"{result['iou_all']:.4f})")
    if args.out:
        payload = {"model": args.model, "checkpoint": str(checkpoint), "data": str(directory), "split": args.split,
                   "samples": len(indices), **result}
        atomic_write(Path(args.out), lambda handle: handle.write(json.dumps(payload, indent=1, default=str).encode()))
        print(f"wrote {args.out}")
    return 0


def _keypoint_front_end(args: argparse.Namespace) -> str:
    """The keypoint front end, "kit" or "mediapipe": by default the kit's estimator for a kit sample
    and MediaPipe for an image file, refused without the extra (the kit's estimator turns a photo
    into blobs)."""
    if args.sample:
        if args.estimator == "mediapipe":
            raise ValueError("--estimator mediapipe needs an IMAGE file (a photo), not --sample")
        return "kit"
    if args.estimator == "kit":
        print(f"im2hands: warning: {KIT_ON_PHOTOS}; its meshes of a real photo mean nothing", file=sys.stderr)
        return "kit"
    if args.estimator is None and not mediapipe_available():
        raise ValueError(f"{KIT_ON_PHOTOS}, so it cannot reconstruct a photo, and MediaPipe (for photos) is "
                         f"not installed: {INSTALL_HINT}. For an image rendered like the kit's, pass --estimator kit")
    return "mediapipe"


def _reconstruct(args: argparse.Namespace) -> int:
    if bool(args.image) == bool(args.sample):
        raise ValueError("give either an IMAGE file or --sample SPLIT:INDEX")
    if args.image:
        read_rgb(args.image)  # a bad file is named as such before the front end is chosen
    front_end = _keypoint_front_end(args)
    pipeline = ImagePipeline(use_two_hand_refiner=not args.no_refine)
    recon = ReconstructionConfig.at(args.resolution)
    if front_end == "mediapipe":
        fov = args.fov if args.fov is not None else PHOTO_FOV_DEG
        result = reconstruct_photo(args.image, pipeline, fov, recon, mirrored=args.mirrored)
    elif args.image:
        result = reconstruct_image(args.image, pipeline, args.fov if args.fov is not None else KIT_FOV_DEG, recon)
    else:
        sample = _kit_sample(args)
        result = pipeline.reconstruct(sample.image, sample.camera, recon, seed=int(sample.seed))
    return _write_reconstruction(result, args.out)


def _kit_sample(args: argparse.Namespace):
    """The --sample SPLIT:INDEX of the data folder."""
    split, _, index = args.sample.partition(":")
    if not index.isdigit():
        raise ValueError(f"--sample must look like test:3, got {args.sample!r}")
    directory = _data_dir(args)
    data = TwoHandDataset(directory, split)
    if int(index) >= len(data):
        raise ValueError(f"--sample {args.sample}: the {split!r} split of {directory} has {len(data)} samples "
                         f"(0-{len(data) - 1})")
    return data.sample(int(index))


def _write_reconstruction(result, out) -> int:
    empty = [side for side, mesh in zip(("right", "left"), result.meshes) if not len(mesh.faces)]
    for path in save_reconstruction(result, out):
        print(f"wrote {path}")
    if empty:
        print(f"im2hands: warning: no surface found for the {' and '.join(empty)} hand", file=sys.stderr)
    return 0


def _ship(args: argparse.Namespace) -> int:
    for stem in (SHIP_ORDER if args.variant == "all" else (args.variant,)):
        if args.reevaluate:
            result = reevaluate(stem, args.dest, not args.quiet, args.cache_root)
        else:
            result = ship(stem, args.runs, args.dest, tuple(args.set), args.threads, not args.quiet, args.cache_root)
        print(json.dumps(result, indent=1))
    return 0


def _fetch_landmarker(args: argparse.Namespace) -> int:
    path = build_bundle(args.out, args.wheel)
    print(f"hand-landmarker bundle from {BUNDLE_WHEEL}: {path} (provenance: {path.with_name('provenance.json')})")
    return 0


def _report(args: argparse.Namespace) -> int:
    index = write_report(args.outputs, args.source, progress=not args.quiet)
    print(f"results page: {index.resolve()} (open it in a browser; the notebooks' pages are in {index.parent / 'html'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="im2hands", description="im2hands-lite: a runnable reproduction kit of Im2Hands.")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser(
        "generate-data", help="render synthetic two-hand samples into a shard cache",
        description="Generate a split of the kit's synthetic two-hand data (deterministic: "
                    "sample i of a split is always the same). Existing shards are kept, so an "
                    "interrupted run resumes.")
    gen.add_argument("--split", choices=list(SPLIT_OFFSETS), default="train")
    gen.add_argument("--n", type=int, default=256, help="number of samples (default 256)")
    gen.add_argument("--out", default=str(default_cache_root()),
                     help="cache root (default $IM2HANDS_CACHE or ~/.cache/im2hands-lite)")
    gen.add_argument("--image-size", type=int, default=256, help="square image side in pixels")
    gen.add_argument("--queries", type=int, default=20_000, help="labelled query points per hand")
    gen.add_argument("--interactions", nargs="+", choices=INTERACTIONS,
                     help="restrict to these interaction types")
    gen.add_argument("--forearms", action=argparse.BooleanOptionalAction, default=True,
                     help="render a forearm at each wrist (image only, closer to photos; default on)")
    gen.add_argument("--mean-hand", action="store_true",
                     help="every hand the mean shape (betas 0, the same poses): the data before v2")
    gen.add_argument("--background", choices=BACKGROUNDS, default=GeneratorConfig.background,
                     help="cluttered (textures and shapes, default) or smooth (v1's gradients)")
    gen.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                     help="camera artefacts: exposure, sensor noise, blur, JPEG (default on)")
    gen.add_argument("--shard-size", type=int, default=32, help="samples per shard file")
    gen.add_argument("--workers", type=int, default=1, help="worker processes")
    gen.add_argument("--shard", default="0/1", metavar="I/N",
                     help="write only part I of N (shard files k with k %% N == I), e.g. one part per host; "
                          "the N parts together equal one run, byte for byte")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_generate_data)

    prep = sub.add_parser(
        "prepare-interhand", help="convert InterHand2.6M frames into the kit's sample shards",
        description="Read InterHand2.6M's annotation files (data, camera, joint_3d, MANO_NeuralAnnot) and MANO "
                    "pickles, keep interacting frames with all joints valid and both MANO fits, crop around both "
                    "hands and write the kit's shards (meshes, masks, occupancy labels). Resumable. The data is "
                    "licensed and never downloaded: see docs/REAL_DATA.md.")
    prep.add_argument("--data-root", help="InterHand2.6M root (default $IM2HANDS_DATA_ROOT)")
    prep.add_argument("--root", dest="data_root", help=argparse.SUPPRESS)  # the old name, kept for scripts
    prep.add_argument("--mano-dir", help="folder of MANO_RIGHT.pkl / MANO_LEFT.pkl (default <root>/mano)")
    prep.add_argument("--split", choices=["train", "val", "test"], default="test")
    prep.add_argument("--n", type=int, help="first N usable frames (default: all)")
    prep.add_argument("--every", type=int, default=1, help="keep every n-th usable frame (neighbours are alike)")
    prep.add_argument("--crop-scale", type=float, default=1.4, help="crop side / larger side of the keypoint box")
    prep.add_argument("--image-size", type=int, default=128, help="square crop size in pixels (fast profile: 128)")
    prep.add_argument("--queries", type=int, default=4096, help="labelled query points per hand")
    prep.add_argument("--out", default=str(default_cache_root()), help="cache root (default $IM2HANDS_CACHE)")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(func=_prepare_interhand)

    train = sub.add_parser(
        "train", help="train HALO, I, K, the keypoint estimator or R with a profile",
        description="Train one model of the pipeline. A profile (fast: CPU minutes; colab: one GPU, "
                    "about an hour; paper: the paper's hyperparameters) sets the data and the "
                    "optimiser; --set changes any training setting. Checkpoints are written "
                    "atomically every checkpoint_every steps; after a crash or a kill, the same "
                    "command with --resume continues exactly where the last checkpoint left off.",
        epilog="training settings for --set, per model: " + "; ".join(
            f"{name}: {', '.join(settings_fields(cls))}" for name, cls in SETTINGS_CLASSES.items())
               + ". Example: im2hands train --model i --variant pixel_aligned --set steps=300 --set lr=5e-4")
    train.add_argument("--model", choices=MODELS, required=True,
                       help="halo | i (initial occupancy) | k (keypoint refinement) | estimator | r (two-hand refinement)")
    train.add_argument("--profile", choices=sorted(PROFILES), default="fast")
    train.add_argument("--variant", choices=IMAGE_CONDITIONS, help="I: image conditioning (default attention)")
    train.add_argument("--ablate", choices=ABLATIONS, action="append",
                       default=[], help="R: switch a part off (repeatable)")
    train.add_argument("--points", type=int, help="R: iso-surface points per hand (256/512/1024; default 512)")
    train.add_argument("--initial", help="R: the I checkpoint it refines (default: the shipped attention I)")
    train.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a training setting")
    train.add_argument("--out", help="run folder (default runs/<model>_<profile>)")
    train.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out")
    train.add_argument("--keep-last", type=int, default=2, help="resumable checkpoints to keep")
    train.add_argument("--data-dir", help="train on this generated data folder instead of the profile's cache")
    train.add_argument("--val-data-dir", help="with --data-dir: the folder whose val/ split the validation loss "
                                              "reads (default: --data-dir's)")
    train.add_argument("--data-root", help="train on InterHand2.6M at this root (default $IM2HANDS_DATA_ROOT; "
                                           "converted once into the cache)")
    train.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU) or a torch device")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="metrics of a checkpoint on a data split",
                        description="Evaluate I, I + R (occupancy: IoU, Chamfer-L1 mm, penetration cm^3, each hand "
                                    "aligned by its middle joint) or K / the estimator (MPJPE mm) on a split of "
                                    "generated data (default: the kit's committed samples); or, with --table, a whole "
                                    "ablation table of the paper (S1, S2, S3) beside the paper's numbers, from the "
                                    "shipped checkpoints or trained per --profile (notebook 07).")
    ev.add_argument("--model", choices=["i", "ir", "k", "estimator"], help="one model's metrics")
    ev.add_argument("--table", choices=["S1", "S2", "S3"],
                    help="a paper ablation table from the shipped checkpoints, beside the paper's numbers "
                         "(writes table_<T>.md, .csv, _samples.csv and .png into --out, default results/<T>_<profile>)")
    ev.add_argument("--profile", choices=sorted(PROFILES), default="fast",
                    help="--table: whose checkpoints (fast: the shipped ones; others: <runs>/<profile>/<variant>/"
                         "final.pt) and which test split (fast: the committed kit samples)")
    ev.add_argument("--train-missing", action="store_true",
                    help="--table: train every variant that has no checkpoint yet (resumable; see im2hands train)")
    ev.add_argument("--runs", default="runs/tables", help="--table: folder of trained variants (default runs/tables)")
    ev.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="--table: the training settings of every trained variant (a run in --runs trained "
                         "with others is refused; with --train-missing, missing variants train with them)")
    ev.add_argument("--no-baseline", action="store_true", help="--table: leave out the IK-template baseline row")
    ev.add_argument("--weights", default="",
                    help="--table, fast profile: a folder of <variant>_fast.pt files to use instead of the package's "
                         "(e.g. an `im2hands ship --dest` folder)")
    ev.add_argument("--row-cache", default="",
                    help="--table: keep each scored row in this folder and reuse rows scored there with the same "
                         "checkpoints, data and settings (a stopped table run resumes; clear it after code changes)")
    ev.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ev.add_argument("--checkpoint", help="default: the shipped fast checkpoint of the model")
    ev.add_argument("--variant", choices=IMAGE_CONDITIONS, default="attention", help="I: which shipped variant")
    ev.add_argument("--initial", help="ir: the I checkpoint under R (default: the shipped attention I)")
    ev.add_argument("--data-dir", help="generated data folder (default: the committed kit samples)")
    ev.add_argument("--data-root", help="evaluate on InterHand2.6M at this root (default $IM2HANDS_DATA_ROOT)")
    ev.add_argument("--split", default="test", choices=list(SPLIT_OFFSETS))
    ev.add_argument("--samples", type=_positive_int, help="first N samples of the split (default: 16 for --table, "
                                                          "the whole committed kit test split; 4 for --model)")
    ev.add_argument("--resolution", type=int, default=64, help="Marching Cubes grid (default 64)")
    ev.add_argument("--out", help="--model: also write the metrics as JSON here; --table: the output folder")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_evaluate)

    rec = sub.add_parser("reconstruct", help="two hand meshes from one image (estimator -> K -> I -> R)",
                         description="Reconstruct both hands from an image with the shipped checkpoints: a "
                                     "keypoint front end (MediaPipe for a photo, the kit's estimator for a kit "
                                     "sample), K, I and R. Writes right/left .ply and .obj, overlay.png (the whole "
                                     "image, at most 1024 px on its long side) and keypoints.json into --out. For an "
                                     "image file the camera is assumed (a centred pinhole with --fov); a kit sample "
                                     "brings its own.")
    rec.add_argument("image", nargs="?", help="a PNG or JPEG image of two hands")
    rec.add_argument("--sample", help="instead of an image: a kit data sample, e.g. test:0")
    rec.add_argument("--data-dir", help="generated data folder for --sample (default: the committed kit samples)")
    rec.add_argument("--fov", type=float, help=f"assumed horizontal field of view in degrees (default {KIT_FOV_DEG} "
                                                f"for the kit's estimator, {PHOTO_FOV_DEG:g} for MediaPipe)")
    rec.add_argument("--estimator", choices=["kit", "mediapipe"],
                     help="keypoint front end: the kit's estimator (trained on synthetic renders only; the default "
                          "for --sample) or MediaPipe's pretrained hand landmarker (the default for an IMAGE; "
                          "optional extra: pip install -e '.[wild]'; without it an IMAGE needs --estimator kit)")
    rec.add_argument("--mirrored", action="store_true", help="mediapipe: the photo is mirrored (a selfie)")
    rec.add_argument("--no-refine", action="store_true", help="stop after I (no two-hand refinement R)")
    rec.add_argument("--resolution", type=int, default=64, help="Marching Cubes grid (default 64)")
    rec.add_argument("--out", required=True, help="output folder")
    rec.set_defaults(func=_reconstruct)

    ship_cmd = sub.add_parser(
        "ship", help="train, evaluate and write a shipped fast-profile checkpoint",
        description="Train a variant with the fast profile through the same trainer as `im2hands train` (resuming a "
                    "stopped run in --runs), evaluate it on the test split and write <dest>/<variant>_fast.pt with "
                    "its metrics and its MANIFEST.json entry. 'all' ships every variant, I before R.")
    ship_cmd.add_argument("variant", choices=[*VARIANTS, "all"], help="a registry variant, or all")
    ship_cmd.add_argument("--runs", default="runs/ship", help="run folders (default runs/ship/<variant>)")
    ship_cmd.add_argument("--dest", default=str(SHIPPED), help="where the shipped weights go (default: the package's)")
    ship_cmd.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a training setting")
    ship_cmd.add_argument("--cache-root", default="", help="generated-data cache root (default $IM2HANDS_CACHE)")
    ship_cmd.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ship_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    ship_cmd.add_argument("--reevaluate", action="store_true",
                          help="no training: recompute the shipped file's test metrics (e.g. K's after a new estimator)")
    ship_cmd.set_defaults(func=_ship)

    report = sub.add_parser("report", help="the executed notebooks as one results page (make run ends with it)",
                            description="Write every executed notebook in OUTPUTS (NN_*.ipynb) as HTML to OUTPUTS/html/ "
                                        "(figures inline, plotly figures interactive, offline) and OUTPUTS/index.html, "
                                        "which links them with the tables, figures and meshes the notebooks wrote.")
    report.add_argument("outputs", nargs="?", default="outputs", help="the folder of executed notebooks (default outputs)")
    report.add_argument("--source", default="notebooks",
                        help="where the notebooks ran, for the images their Markdown shows (default notebooks)")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.set_defaults(func=_report)

    fetch = sub.add_parser("fetch-landmarker", help="build MediaPipe's hand-landmarker bundle for photos (once)",
                           description="Download the mediapipe 0.10.21 wheel from the package index with pip "
                                       "(--no-deps, not installed), take its two hand models (Apache-2.0) and pack "
                                       "them into the .task bundle that --estimator mediapipe loads. Nothing else "
                                       "is downloaded; afterwards photos are processed offline.")
    fetch.add_argument("--out", help="bundle path (default <cache>/mediapipe/hand_landmarker.task)")
    fetch.add_argument("--wheel", help="use this already downloaded mediapipe-0.10.21 wheel instead of pip")
    fetch.set_defaults(func=_fetch_landmarker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # CheckpointError, WildError: RuntimeErrors
        print(f"im2hands: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
