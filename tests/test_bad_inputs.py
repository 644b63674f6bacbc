"""One table of bad inputs over the kit's public entry points.

Every row feeds one bad input to one entry point and checks that it is refused with the
right exception type and a message naming the problem (for the CLI: exit code 2 and the
message on stderr), and that nothing was written: the test's folder (which holds every
input file and every output path of the row) is byte-for-byte and mtime-for-mtime the same
after the call as before it, so no partial output is left behind and no existing file is
overwritten.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import re
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from im2hands_lite.apps.pipeline import ImageError, ImagePipeline, load_image
from im2hands_lite.apps.table_runs import TrainingCheckpointSource
from im2hands_lite.apps.wild import detect_hands
from im2hands_lite.checkpoints import SHIPPED, CheckpointError, load_checkpoint
from im2hands_lite.cli import main
from im2hands_lite.data import (
    ShardError,
    TwoHandDataset,
    generate_split,
    kit_samples_dir,
    read_shard,
    write_shard,
)
from im2hands_lite.data.interhand import InterHandConfig, InterHandFormatError, prepare_interhand
from im2hands_lite.data.interhand_fixture import blob_mano_arrays, write_fixture_interhand
from im2hands_lite.evaluation.baselines import TemplateIKBaseline, TemplateIKConfig, fit_template
from im2hands_lite.evaluation.metrics import two_hand_metrics
from im2hands_lite.evaluation.reconstruction import reconstruct_pair
from im2hands_lite.evaluation.tables import CheckpointSource, evaluate_table
from im2hands_lite.hand.joints import check_hand_keypoints, check_two_hand_keypoints
from im2hands_lite.hand.mano import ManoFormatError, fixture_mano_arrays, load_mano_model
from im2hands_lite.hand.model import HandModel
from im2hands_lite.models.halo import HaloModel
from im2hands_lite.models.registry import load_model
from im2hands_lite.models.two_hand_refiner import TwoHandRefinerConfig
from im2hands_lite.training.runs import RunSpec, run_training
from im2hands_lite.training.settings import (
    TrainSettings,
    get_profile,
    parse_override,
    with_overrides,
)

pytestmark = pytest.mark.usefixtures("one_thread")

KIT = kit_samples_dir()
SMALL_RUN = ("steps=2", "checkpoint_every=1", "batch_size=2", "train_samples=4")
NAN, INF = float("nan"), float("inf")


class CLI(Exception):
    """Marks a row whose entry point is `im2hands_lite.cli.main`: expect exit code 2."""


@dataclass(frozen=True)
class Bad:
    run: Callable[[Path], object]  # feeds the bad input (gets the test's tmp folder)
    error: type[BaseException]  # or CLI
    match: str  # regex the message (CLI: stderr) must contain
    prepare: Callable[[Path], None] | None = None  # writes the row's input files first


# ----------------------------------------------------------------------------- shared inputs

@cache
def _batch() -> dict[str, torch.Tensor]:
    """Two kit test samples, 8 queries per hand: a small, valid batch to spoil one field of."""
    data = TwoHandDataset(KIT, "test")
    batch = torch.utils.data.default_collate([data[0], data[1]])
    batch["queries"] = batch["queries"][:, :, :8].contiguous()
    return batch


def _spoiled(name: str, index=(0, 3, 1), value: float = NAN) -> torch.Tensor:
    tensor = _batch()[name].clone()
    tensor[index] = value
    return tensor


def _with(**fields) -> dict[str, torch.Tensor]:
    return _batch() | fields


@cache
def _shipped(kind: str):
    loaders = {"i": lambda: load_model(SHIPPED / "i_attention_fast.pt"),
               "k": lambda: load_model(SHIPPED / "k_fast.pt"),
               "estimator": lambda: load_model(SHIPPED / "estimator_fast.pt")}
    return loaders[kind]()


@cache
def _halo() -> HaloModel:
    return HaloModel().eval()


@cache
def _hand_model() -> HandModel:
    return HandModel()


@cache
def _sample():
    return TwoHandDataset(KIT, "test").sample(0)


def _meshes():
    sample = _sample()
    return [sample.mesh(0), sample.mesh(1)]


def _nan_sample():
    keypoints = _sample().keypoints.copy()
    keypoints[5, 2] = np.nan
    return dataclasses.replace(_sample(), keypoints=keypoints)


def _image(channels: int = 3, height: int = 128, width: int = 128) -> torch.Tensor:
    return _batch()["image"][:, :channels, :height, :width].contiguous()


@cache
def _pipeline() -> ImagePipeline:
    return ImagePipeline(use_two_hand_refiner=False)


def _photo(dtype=np.float32, scale: float = 1.0, nan: bool = False) -> np.ndarray:
    """The kit test image 0 as another dtype, times `scale`, with one NaN if asked."""
    image = (_sample().image * scale).astype(dtype)
    if nan:
        image[5, 7, 1] = np.nan
    return image


def _without_mediapipe(run: Callable[[], object]) -> object:
    """`run()` as on a machine without the [wild] extra, whether or not MediaPipe is installed here."""
    with mock.patch.dict(sys.modules, {"mediapipe": None}):
        return run()


def _k(**fields):
    """K on the batch with some fields replaced (keypoints default: the ground truth)."""
    batch = _with(**fields)
    return _shipped("k").predict(batch, keypoints=batch["keypoints"])


# ----------------------------------------------------------------------------- files to spoil

def _write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return prepare


def _truncated(source: Path, name: str) -> Callable[[Path], None]:
    """A copy of `source` cut to half its length (a killed download or copy)."""
    return lambda tmp: _write(name, source.read_bytes()[:source.stat().st_size // 2])(tmp)


def _copy(source: Path, name: str) -> Callable[[Path], None]:
    return lambda tmp: _write(name, source.read_bytes())(tmp)


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height RGB pixels (header and a token IDAT only): a decompression bomb's
    first bytes, which is all PIL reads before it judges the size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _mano(name: str, edit: Callable[[dict], object]) -> Callable[[Path], None]:
    """Pickle `edit(fixture MANO arrays)` to tmp/name, as a hand-edited MANO_RIGHT.pkl would be."""
    return lambda tmp: _write(name, pickle.dumps(edit(fixture_mano_arrays()), protocol=2))(tmp)


def _interhand(spoil: Callable[[Path], None]) -> Callable[[Path], None]:
    """A miniature InterHand2.6M tree in tmp/ih (test split, one frame per capture), then spoiled."""
    def prepare(tmp: Path) -> None:
        spoil(write_fixture_interhand(tmp / "ih", splits=("test",), frames=1))
    return prepare


def _break_json(root: Path) -> None:
    path = root / "annotations" / "test" / "InterHand2.6M_test_joint_3d.json"
    path.write_text(path.read_text()[:50])


def _drop_mano(root: Path) -> None:
    for path in (root / "mano").glob("*.pkl"):
        path.unlink()


def _blob_mano(side: str, edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    """Rewrite the tree's MANO_<SIDE>.pkl with `edit(faces)` of its well-formed blob hand."""
    def spoil(root: Path) -> None:
        arrays = blob_mano_arrays(0, side)
        (root / "mano" / f"MANO_{side.upper()}.pkl").write_bytes(
            pickle.dumps(arrays | {"f": edit(arrays["f"].copy())}, protocol=2))
    return spoil


def _hole(faces: np.ndarray) -> np.ndarray:
    faces[100] = 0  # a tube face becomes padding: a second opening beside the wrist
    return faces


def _duplicate_face(faces: np.ndarray) -> np.ndarray:
    faces[-1] = faces[100]  # a padding face copies a tube face: three faces on its edges
    return faces


def _file_name(name: Callable[[Path, str], str]) -> Callable[[Path], None]:
    """Replace the first image's file_name in data.json with `name(root, file_name)`."""
    def spoil(root: Path) -> None:
        path = root / "annotations" / "test" / "InterHand2.6M_test_data.json"
        data = json.loads(path.read_text())
        data["images"][0]["file_name"] = name(root, data["images"][0]["file_name"])
        path.write_text(json.dumps(data))
    return spoil


def _stale_table_run(tmp: Path) -> None:
    """runs/colab/k/final.pt holding a run of other settings (the fast profile's K)."""
    _copy(SHIPPED / "k_fast.pt", "runs/colab/k/final.pt")(tmp)


def _run_done(tmp: Path) -> None:
    """A finished (2-step) K run in tmp/run: its checkpoints, final.pt and logs must survive."""
    run_training(RunSpec(model="k", out=str(tmp / "run"), data_dir=str(KIT), overrides=SMALL_RUN,
                         progress=False, threads=1))


def _existing_shard(tmp: Path) -> None:
    _write("cache/test/shard_00000.npz", b"an earlier shard")(tmp)


def _empty_split(tmp: Path) -> None:
    (tmp / "data" / "test").mkdir(parents=True)
    (tmp / "data" / "config.json").write_text((KIT / "config.json").read_text())


def _truncated_shard_in_split(tmp: Path) -> None:
    _empty_split(tmp)
    _truncated(KIT / "test" / "shard_00000.npz", "data/test/shard_00000.npz")(tmp)


# ----------------------------------------------------------------------------- the table

ROWS = [
    # -- keypoints: NaN / inf from a failed detector, or one hand (21) where two (42) are expected
    pytest.param(Bad(lambda tmp: check_two_hand_keypoints(torch.full((1, 42, 3), NAN)), ValueError, "NaN or infinite"),
                 id="check_two_hand_keypoints-nan"),
    pytest.param(Bad(lambda tmp: check_two_hand_keypoints(torch.tensor([[[INF, 0, 0]] * 42])), ValueError, "NaN or infinite"),
                 id="check_two_hand_keypoints-inf"),
    pytest.param(Bad(lambda tmp: check_two_hand_keypoints(torch.zeros(1, 21, 3)), ValueError, r"\(B, 42, 3\).*\(1, 21, 3\)"),
                 id="check_two_hand_keypoints-one-hand"),
    pytest.param(Bad(lambda tmp: check_two_hand_keypoints(np.zeros((1, 42, 3))), ValueError, "tensor"),
                 id="check_two_hand_keypoints-numpy"),
    pytest.param(Bad(lambda tmp: check_hand_keypoints(torch.zeros(1, 42, 3)), ValueError, r"\(B, 21, 3\).*\(1, 42, 3\)"),
                 id="check_hand_keypoints-two-hands"),
    pytest.param(Bad(lambda tmp: check_hand_keypoints(torch.full((2, 21, 3), NAN)), ValueError, "NaN or infinite"),
                 id="check_hand_keypoints-nan"),
    pytest.param(Bad(lambda tmp: check_two_hand_keypoints(torch.zeros(1, 42, 3, dtype=torch.long)), ValueError, "float"),
                 id="check_two_hand_keypoints-int"),
    pytest.param(Bad(lambda tmp: _hand_model()(torch.full((1, 15, 3), NAN)), ValueError,
                     "finger_angles contains NaN"), id="HandModel-nan-angles"),
    pytest.param(Bad(lambda tmp: _hand_model()(torch.zeros(1, 15, 3), transl=torch.tensor([[INF, 0.0, 0.0]])),
                     ValueError, "transl contains NaN"), id="HandModel-inf-transl"),
    pytest.param(Bad(lambda tmp: _hand_model()(torch.zeros(1, 16, 3)), ValueError, r"finger_angles.*\(1, 15, 3\)"),
                 id="HandModel-wrong-shape"),
    pytest.param(Bad(lambda tmp: _hand_model()(torch.zeros(15, 3)), ValueError, r"\(B, 15, 3\)"),
                 id="HandModel-unbatched"),
    pytest.param(Bad(lambda tmp: _k(keypoints=_spoiled("keypoints")), ValueError, "NaN or infinite"), id="K-nan"),
    pytest.param(Bad(lambda tmp: _k(keypoints=_spoiled("keypoints", value=INF)), ValueError, "NaN or infinite"),
                 id="K-inf"),
    pytest.param(Bad(lambda tmp: _k(keypoints=_batch()["keypoints"][:, :21]), ValueError, r"\(B, 42, 3\)"),
                 id="K-one-hand"),
    pytest.param(Bad(lambda tmp: _k(R=_batch()["R"][:1]), ValueError, r"R must be \(2, 3, 3\)"), id="K-camera-batch"),
    pytest.param(Bad(lambda tmp: _halo().predict(_with(keypoints=_spoiled("keypoints"))), ValueError,
                     "keypoints contain NaN"), id="HALO-nan"),
    pytest.param(Bad(lambda tmp: _halo().predict(_with(keypoints=_batch()["keypoints"][:, :21])), ValueError,
                     r"two-hand keypoints must be \(B, 42, 3\)"), id="HALO-one-hand"),
    pytest.param(Bad(lambda tmp: _halo().occupancy_function({"keypoints": _spoiled("keypoints")[0]}, 0), ValueError,
                     "keypoints contain NaN"), id="HALO-occupancy_function-nan"),
    pytest.param(Bad(lambda tmp: _halo().predict(_with(queries=_spoiled("queries", (0, 1, 2, 0), INF))), ValueError,
                     "queries contain NaN"), id="HALO-inf-queries"),
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(keypoints=_spoiled("keypoints"))), ValueError,
                     "keypoints contain NaN"), id="I-nan"),
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(keypoints=_batch()["keypoints"][:, :21])), ValueError,
                     r"\(B, 42, 3\)"), id="I-one-hand"),
    pytest.param(Bad(lambda tmp: reconstruct_pair(_halo(), np.zeros((21, 3))), ValueError,
                     r"two-hand keypoints must be \(42, 3\), got \(21, 3\)"), id="reconstruct_pair-one-hand"),
    pytest.param(Bad(lambda tmp: reconstruct_pair(_halo(), np.zeros((2, 21, 3))), ValueError, r"\(42, 3\)"),
                 id="reconstruct_pair-per-hand-layout"),
    pytest.param(Bad(lambda tmp: reconstruct_pair(_halo(), _spoiled("keypoints")[0].numpy()), ValueError,
                     "NaN or infinite"), id="reconstruct_pair-nan"),
    pytest.param(Bad(lambda tmp: two_hand_metrics(_meshes(), _meshes(), np.zeros((21, 3)), _sample().keypoints,
                                                  n_points=64), ValueError, r"pred_joints must have shape \(42, 3\)"),
                 id="two_hand_metrics-one-hand"),
    pytest.param(Bad(lambda tmp: two_hand_metrics(_meshes(), _meshes(), _sample().keypoints, np.zeros((2, 20, 3)),
                                                  n_points=64), ValueError, r"gt_joints must have shape"),
                 id="two_hand_metrics-20-joints"),
    pytest.param(Bad(lambda tmp: two_hand_metrics(_meshes(), _meshes(), np.full((42, 3), NAN), _sample().keypoints,
                                                  n_points=64), ValueError, "pred_joints contains NaN"),
                 id="two_hand_metrics-nan"),
    pytest.param(Bad(lambda tmp: fit_template(torch.zeros(1, 42, 3), "right", TemplateIKConfig(steps=1)), ValueError,
                     r"\(B, 21, 3\).*\(1, 42, 3\)"), id="fit_template-two-hands"),
    pytest.param(Bad(lambda tmp: fit_template(torch.full((1, 21, 3), NAN), "left", TemplateIKConfig(steps=1)),
                     ValueError, "NaN or infinite"), id="fit_template-nan"),
    pytest.param(Bad(lambda tmp: fit_template(torch.zeros(1, 21, 3), "both"), ValueError, "'right' or 'left'"),
                 id="fit_template-side"),
    pytest.param(Bad(lambda tmp: TemplateIKBaseline(TemplateIKConfig(steps=1)).meshes({"keypoints": np.zeros((21, 3))}),
                     ValueError, r"\(42, 3\)"), id="TemplateIKBaseline-one-hand"),

    # -- images: grey-scale (1 channel), a size the networks cannot take, non-square, unbatched, uint8
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(image=_image(channels=1))), ValueError,
                     r"images must be \(S, 3, H, W\)"), id="I-grey-image"),
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(image=_image(height=100, width=100))), ValueError,
                     "multiples of 32, got H=100, W=100"), id="I-image-100px"),
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(image=_image(height=96))), ValueError,
                     "images must be square.*H=96, W=128"), id="I-image-non-square"),
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(image=_image()[0])), ValueError,
                     r"images must be \(S, 3, H, W\), got \(3, 128, 128\)"), id="I-image-unbatched"),
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(image=_image()[:1])), ValueError,
                     "1 images but 2 keypoint sets"), id="I-image-batch-mismatch"),
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(image=(_image() * 255).to(torch.uint8))), ValueError,
                     r"float tensor with values in \[0, 1\]"), id="I-image-uint8"),
    pytest.param(Bad(lambda tmp: _k(image=_image(channels=1)), ValueError, "3 channels"), id="K-grey-image"),
    pytest.param(Bad(lambda tmp: _k(image=_image(height=100, width=100)), ValueError, "multiples of 32"),
                 id="K-image-100px"),
    pytest.param(Bad(lambda tmp: _k(image=_image(height=96)), ValueError, "square.*H=96, W=128"),
                 id="K-image-non-square"),
    pytest.param(Bad(lambda tmp: _k(image=_image()[:1]), ValueError, "1 images for 2 keypoint sets"),
                 id="K-image-batch-mismatch"),
    pytest.param(Bad(lambda tmp: _shipped("estimator").predict(_with(image=_image(channels=1))), ValueError,
                     "3 channels"), id="estimator-grey-image"),
    pytest.param(Bad(lambda tmp: _shipped("estimator").predict(_with(image=_image(height=100, width=100))), ValueError,
                     "multiples of 32"), id="estimator-image-100px"),
    pytest.param(Bad(lambda tmp: load_image(tmp / "empty.png", 128), ImageError, "image file is empty",
                     _write("empty.png", b"")), id="load_image-empty"),
    pytest.param(Bad(lambda tmp: load_image(tmp / "notes.png", 128), ImageError, "notes.png is not a readable image",
                     _write("notes.png", "shopping list, not a picture")), id="load_image-not-an-image"),
    pytest.param(Bad(lambda tmp: load_image(tmp / "cut.png", 128), ImageError, "cut.png is not a readable image",
                     _write("cut.png", _png()[:60])), id="load_image-truncated-png"),
    pytest.param(Bad(lambda tmp: load_image(tmp / "missing.png", 128), ImageError, "image not found"),
                 id="load_image-missing"),
    # CLI reconstruct: no output folder appears, and an earlier result in --out stays as it was
    pytest.param(Bad(lambda tmp: main(["reconstruct", str(tmp / "empty.png"), "--out", str(tmp / "out")]), CLI,
                     "image file is empty", _write("empty.png", b"")), id="cli-reconstruct-empty-file"),
    pytest.param(Bad(lambda tmp: main(["reconstruct", str(tmp / "notes.png"), "--out", str(tmp / "out")]), CLI,
                     "not a readable image",
                     lambda tmp: (_write("notes.png", "not a picture")(tmp), _write("out/overlay.png", _png())(tmp))),
                 id="cli-reconstruct-not-an-image-keeps-old-output"),

    # -- data: a folder that was never generated, an interrupted copy, a sample with a NaN
    pytest.param(Bad(lambda tmp: TwoHandDataset(tmp / "nowhere", "test"), FileNotFoundError,
                     "no shards for split 'test'.*nowhere.*im2hands generate-data"),
                 id="TwoHandDataset-missing-folder"),
    pytest.param(Bad(lambda tmp: TwoHandDataset(tmp / "data", "test"), FileNotFoundError, "no shards for split 'test'",
                     _empty_split), id="TwoHandDataset-no-shards"),
    pytest.param(Bad(lambda tmp: TwoHandDataset(KIT, "training"), ValueError, "unknown split 'training'"),
                 id="TwoHandDataset-unknown-split"),
    pytest.param(Bad(lambda tmp: TwoHandDataset(tmp / "data", "test"), ShardError, "shard_00000.npz is corrupt",
                     _truncated_shard_in_split), id="TwoHandDataset-truncated-shard"),
    pytest.param(Bad(lambda tmp: read_shard(tmp / "shard_00000.npz"), ShardError,
                     "shard_00000.npz is corrupt.*regenerate",
                     _truncated(KIT / "test" / "shard_00000.npz", "shard_00000.npz")), id="read_shard-truncated"),
    pytest.param(Bad(lambda tmp: read_shard(tmp / "shard_00000.npz"), ShardError, "cache shard not found"),
                 id="read_shard-missing"),
    pytest.param(Bad(lambda tmp: _nan_sample().validate(), ValueError, "field 'keypoints' contains NaN"),
                 id="TwoHandSample-nan-keypoints"),
    pytest.param(Bad(lambda tmp: dataclasses.replace(_sample(), image=_sample().image[:, :, :1]).validate(), ValueError,
                     r"field 'image' must have shape \(128, 128, 3\)"), id="TwoHandSample-grey-image"),
    pytest.param(Bad(lambda tmp: write_shard(tmp / "cache" / "test" / "shard_00000.npz", [_sample(), _nan_sample()]),
                     ValueError, "field 'keypoints' contains NaN", _existing_shard),
                 id="write_shard-nan-keeps-old-shard"),
    pytest.param(Bad(lambda tmp: generate_split(tmp / "cache", "training", 1, progress=False), ValueError,
                     "unknown split 'training'"), id="generate_split-unknown-split"),
    pytest.param(Bad(lambda tmp: main(["generate-data", "--n", "0", "--out", str(tmp / "cache"), "--quiet"]), CLI,
                     "must be positive"), id="cli-generate-data-zero-samples"),

    # -- checkpoints: an interrupted download, a random file, the wrong model's weights, a typo
    pytest.param(Bad(lambda tmp: load_model(tmp / "k.pt"), CheckpointError, r"k\.pt is corrupt or not a kit",
                     _truncated(SHIPPED / "k_fast.pt", "k.pt")), id="checkpoint-truncated"),
    pytest.param(Bad(lambda tmp: load_model(tmp / "i.pt"), CheckpointError, r"i\.pt is corrupt or not a kit",
                     _write("i.pt", np.random.default_rng(0).bytes(4096))), id="checkpoint-random-bytes"),
    pytest.param(Bad(lambda tmp: load_model(tmp / "k.pt", "i"), CheckpointError,
                     "holds a 'k' model, expected 'i'", _copy(SHIPPED / "k_fast.pt", "k.pt")),
                 id="checkpoint-K-as-I"),
    pytest.param(Bad(lambda tmp: load_model(tmp / "i.pt", "r"), CheckpointError,
                     "holds a 'i' model, expected 'r'",
                     _copy(SHIPPED / "i_none_fast.pt", "i.pt")), id="checkpoint-I-as-R"),
    pytest.param(Bad(lambda tmp: load_model(tmp / "e.pt", "halo"), CheckpointError, "expected 'halo'",
                     _copy(SHIPPED / "estimator_fast.pt", "e.pt")), id="checkpoint-estimator-as-HALO"),
    pytest.param(Bad(lambda tmp: load_checkpoint(tmp / "plain.pt"), CheckpointError, "lacks kind/config/state_dict",
                     lambda tmp: torch.save({"weights": torch.zeros(2)}, tmp / "plain.pt")),
                 id="checkpoint-plain-torch-file"),
    pytest.param(Bad(lambda tmp: load_model(tmp / "estimator_fats.pt"), CheckpointError, "checkpoint not found"),
                 id="checkpoint-missing"),
    pytest.param(Bad(lambda tmp: main(["evaluate", "--model", "k", "--checkpoint", str(tmp / "k.pt"), "--samples", "1",
                                       "--out", str(tmp / "metrics.json"), "--quiet"]), CLI, "corrupt or not a kit",
                     _truncated(SHIPPED / "k_fast.pt", "k.pt")), id="cli-evaluate-truncated-checkpoint"),

    # -- MANO: an edited or foreign pickle where the official MANO_RIGHT.pkl should be
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "MANO_RIGHT.pkl"), ManoFormatError, "missing field 'weights'",
                     _mano("MANO_RIGHT.pkl", lambda arrays: {k: v for k, v in arrays.items() if k != "weights"})),
                 id="MANO-missing-field"),
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "MANO_RIGHT.pkl"), ManoFormatError,
                     r"field 'v_template' has shape \(100, 3\), expected \(778, 3\)",
                     _mano("MANO_RIGHT.pkl", lambda arrays: arrays | {"v_template": arrays["v_template"][:100]})),
                 id="MANO-wrong-shape"),
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "MANO_RIGHT.pkl"), ManoFormatError,
                     "field 'hands_mean' contains NaN",
                     _mano("MANO_RIGHT.pkl", lambda arrays: arrays | {"hands_mean": np.full(45, np.nan)})),
                 id="MANO-nan-field"),
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "MANO_RIGHT.pkl"), ManoFormatError, "expected a dict",
                     _mano("MANO_RIGHT.pkl", lambda arrays: list(arrays))), id="MANO-not-a-dict"),
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "MANO_RIGHT.pkl"), ManoFormatError,
                     "not a readable MANO pickle", _write("MANO_RIGHT.pkl", np.random.default_rng(1).bytes(2048))),
                 id="MANO-garbage"),
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "MANO_RIGHT.pkl"), ManoFormatError,
                     "not a readable MANO pickle", _write("MANO_RIGHT.pkl", b"")), id="MANO-empty"),
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "MANO_RIGHT.pkl"), FileNotFoundError,
                     "MANO model file not found.*licen"), id="MANO-missing-file"),
    pytest.param(Bad(lambda tmp: load_mano_model(tmp / "hand.pkl"), ValueError, "cannot tell the hand side",
                     _mano("hand.pkl", lambda arrays: arrays)), id="MANO-side-unknown"),

    # -- InterHand2.6M: a wrong --root, an annotation file cut short, MANO not installed
    pytest.param(Bad(lambda tmp: prepare_interhand(InterHandConfig(root=str(tmp / "ih")), tmp / "cache", 1,
                                                   progress=False), FileNotFoundError,
                     "InterHand2.6M files not found.*InterHand2.6M_test_data.json"), id="interhand-missing-root"),
    pytest.param(Bad(lambda tmp: prepare_interhand(InterHandConfig(root=str(tmp / "ih")), tmp / "cache", 1,
                                                   progress=False), InterHandFormatError,
                     "InterHand2.6M_test_joint_3d.json is not valid JSON", _interhand(_break_json)),
                 id="interhand-broken-json"),
    pytest.param(Bad(lambda tmp: prepare_interhand(InterHandConfig(root=str(tmp / "ih")), tmp / "cache", 1,
                                                   progress=False), FileNotFoundError,
                     "MANO model files not found.*MANO_RIGHT.pkl", _interhand(_drop_mano)),
                 id="interhand-without-mano"),
    pytest.param(Bad(lambda tmp: InterHandConfig(root=str(tmp), split="testing"), ValueError,
                     "unknown InterHand2.6M split 'testing'"), id="interhand-unknown-split"),
    pytest.param(Bad(lambda tmp: main(["prepare-interhand", "--data-root", str(tmp / "ih"), "--out", str(tmp / "cache"),
                                       "--quiet"]), CLI, "InterHand2.6M files not found"),
                 id="cli-prepare-interhand-missing-root"),

    # -- configuration: typos in profile, setting, ablation, table and variant names, impossible values
    pytest.param(Bad(lambda tmp: get_profile("turbo"), ValueError, r"unknown profile 'turbo'.*\['colab', 'fast'"),
                 id="get_profile-unknown"),
    pytest.param(Bad(lambda tmp: parse_override("speed=3"), ValueError, "unknown training setting 'speed'"),
                 id="parse_override-unknown-field"),
    pytest.param(Bad(lambda tmp: parse_override("steps=many"), ValueError, "cannot read 'many' as the int setting"),
                 id="parse_override-bad-int"),
    pytest.param(Bad(lambda tmp: parse_override("amp=maybe"), ValueError, "cannot read 'maybe' as the bool setting"),
                 id="parse_override-bad-bool"),
    pytest.param(Bad(lambda tmp: parse_override("steps"), ValueError, "must look like field=value"),
                 id="parse_override-no-equals"),
    pytest.param(Bad(lambda tmp: with_overrides(TrainSettings(), ["steps=0"]), ValueError, "steps .*must be >= 1"),
                 id="with_overrides-zero-steps"),
    pytest.param(Bad(lambda tmp: with_overrides(TrainSettings(), ["lr=-1"]), ValueError, "lr must be positive"),
                 id="with_overrides-negative-lr"),
    pytest.param(Bad(lambda tmp: with_overrides(TrainSettings(), {"speed": 3}), ValueError,
                     r"unknown training setting\(s\) \['speed'\]"), id="with_overrides-dict-unknown-field"),
    pytest.param(Bad(lambda tmp: TwoHandRefinerConfig(**{"bogus": False}), TypeError, "bogus"), id="TwoHandRefinerConfig-bogus"),
    pytest.param(Bad(lambda tmp: RunSpec(model="r", ablate=("bogus",)), ValueError,
                     r"unknown ablation\(s\) \['bogus'\].*init_occ_cond"), id="RunSpec-unknown-ablation"),
    pytest.param(Bad(lambda tmp: RunSpec(model="nope"), ValueError, "unknown model 'nope'"),
                 id="RunSpec-unknown-model"),
    pytest.param(Bad(lambda tmp: RunSpec(model="k", profile="turbo"), ValueError, "unknown profile 'turbo'"),
                 id="RunSpec-unknown-profile"),
    pytest.param(Bad(lambda tmp: RunSpec(model="k", overrides=("speed=3",)), ValueError,
                     "unknown training setting 'speed'"), id="RunSpec-unknown-override"),
    pytest.param(Bad(lambda tmp: evaluate_table("S9", None, []), ValueError, r"unknown table 'S9'.*'S1'"),
                 id="evaluate_table-unknown"),
    pytest.param(Bad(lambda tmp: CheckpointSource().path("x"), ValueError, "unknown variant 'x'.*i_attention"),
                 id="CheckpointSource-unknown-variant"),
    pytest.param(Bad(lambda tmp: TrainingCheckpointSource(profile="turbo"), ValueError, "unknown profile 'turbo'"),
                 id="CheckpointSource-unknown-profile"),
    pytest.param(Bad(lambda tmp: main(["train", "--model", "r", "--ablate", "bogus", "--out", str(tmp / "run")]), CLI,
                     "invalid choice: 'bogus'"), id="cli-train-unknown-ablation"),
    pytest.param(Bad(lambda tmp: main(["train", "--model", "k", "--set", "speed=3", "--out", str(tmp / "run")]), CLI,
                     "unknown training setting 'speed'"), id="cli-train-unknown-setting"),
    pytest.param(Bad(lambda tmp: main(["train", "--model", "k", "--set", "steps=many", "--out", str(tmp / "run")]), CLI,
                     "cannot read 'many'"), id="cli-train-bad-value"),
    pytest.param(Bad(lambda tmp: main(["train", "--model", "k", "--profile", "turbo", "--out", str(tmp / "run")]), CLI,
                     "invalid choice: 'turbo'"), id="cli-train-unknown-profile"),
    pytest.param(Bad(lambda tmp: main(["evaluate", "--table", "S9", "--out", str(tmp / "table")]), CLI,
                     "invalid choice: 'S9'"), id="cli-evaluate-unknown-table"),

    # -- trainer: a second run started in a folder that holds a run (without --resume), a bad data folder
    pytest.param(Bad(lambda tmp: run_training(RunSpec(model="halo", out=str(tmp / "run"), data_dir=str(KIT),
                                                      overrides=SMALL_RUN, progress=False, threads=1)),
                     CheckpointError, "already holds checkpoints of a run: pass --resume", _run_done),
                 id="run_training-into-another-run"),
    pytest.param(Bad(lambda tmp: main(["train", "--model", "k", "--out", str(tmp / "run"), "--data-dir", str(KIT),
                                       "--quiet", "--threads", "1", *[a for o in SMALL_RUN for a in ("--set", o)]]),
                     CLI, "already holds checkpoints", _run_done), id="cli-train-into-another-run"),
    pytest.param(Bad(lambda tmp: run_training(RunSpec(model="k", out=str(tmp / "run"), data_dir=str(tmp),
                                                      overrides=SMALL_RUN, progress=False, threads=1)),
                     FileNotFoundError, "has no train/ split"), id="run_training-data-dir-without-train"),
    pytest.param(Bad(lambda tmp: run_training(RunSpec(model="k", out=str(tmp / "run"), data_dir=str(KIT),
                                                      overrides=("train_samples=100000",), progress=False, threads=1)),
                     ValueError, "holds .* training samples, the run asks for 100000"),
                 id="run_training-too-few-samples"),

    # -- images (value range, size) and CLI arguments
    pytest.param(Bad(lambda tmp: _shipped("i").predict(_with(image=_image() * 255)), ValueError,
                     r"images must hold values in \[0, 1\].*got \[\d.*, 2\d\d"), id="I-image-0-255-floats"),
    pytest.param(Bad(lambda tmp: _k(image=_image() - 0.5), ValueError,
                     r"image must hold values in \[0, 1\], got \[-0\.\d+"),
                 id="K-image-negative"),
    pytest.param(Bad(lambda tmp: _shipped("estimator").predict(_with(image=_image() * 255)), ValueError,
                     r"values in \[0, 1\]"), id="estimator-image-0-255-floats"),
    pytest.param(Bad(lambda tmp: _pipeline().reconstruct(_photo(), _sample().camera), ValueError,
                     r"float image must hold values in \[0, 1\], got \[.*\].*uint8"), id="pipeline-image-0-255-floats"),
    pytest.param(Bad(lambda tmp: _pipeline().reconstruct(_photo(scale=1 / 255, nan=True), _sample().camera),
                     ValueError, "image contains NaN"), id="pipeline-image-nan"),
    pytest.param(Bad(lambda tmp: _pipeline().reconstruct(_photo(np.int64), _sample().camera), ValueError,
                     r"uint8 \(0-255\) or float \(0-1\), got int64"), id="pipeline-image-int64"),
    pytest.param(Bad(lambda tmp: detect_hands(_photo()), ValueError, r"values in \[0, 1\]"),
                 id="detect_hands-image-0-255-floats"),
    pytest.param(Bad(lambda tmp: detect_hands(_photo(bool)), ValueError, "got bool"), id="detect_hands-image-bool"),
    pytest.param(Bad(lambda tmp: load_image(tmp / "bomb.png", 128), ImageError, "too large to open safely",
                     _write("bomb.png", _png_header(20_000, 20_000))), id="load_image-decompression-bomb"),
    pytest.param(Bad(lambda tmp: load_image(tmp / "big.png", 128), ImageError, "too large to open safely",
                     _write("big.png", _png_header(10_000, 10_000))), id="load_image-decompression-bomb-warning"),
    pytest.param(Bad(lambda tmp: main(["reconstruct", str(tmp / "bomb.png"), "--estimator", "kit",
                                       "--out", str(tmp / "out")]), CLI, "bomb.png is too large to open safely",
                     _write("bomb.png", _png_header(20_000, 20_000))), id="cli-reconstruct-decompression-bomb"),
    pytest.param(Bad(lambda tmp: _without_mediapipe(lambda: main(["reconstruct", str(tmp / "photo.png"),
                                                                  "--out", str(tmp / "out")])), CLI,
                     r"trained on synthetic renders only.*pip install -e \"\.\[wild\]\".*--estimator kit",
                     _write("photo.png", _png())), id="cli-reconstruct-photo-without-wild-extra"),
    pytest.param(Bad(lambda tmp: main(["reconstruct", str(tmp / "photo.png"), "--estimator", "kit", "--fov", "0",
                                       "--out", str(tmp / "out")]), CLI, r"fov_deg must be in \[5, 120\], got 0",
                     _write("photo.png", _png())), id="cli-reconstruct-fov-zero"),
    pytest.param(Bad(lambda tmp: main(["reconstruct", "--sample", "test:999", "--out", str(tmp / "out")]), CLI,
                     r"--sample test:999: the 'test' split of .* has 16 samples \(0-15\)"),
                 id="cli-reconstruct-sample-out-of-range"),
    pytest.param(Bad(lambda tmp: main(["evaluate", "--model", "k", "--samples", "0", "--out", str(tmp / "m.json"),
                                       "--quiet"]), CLI, "--samples: must be a positive integer, got '0'"),
                 id="cli-evaluate-zero-samples"),
    pytest.param(Bad(lambda tmp: main(["evaluate", "--table", "S2", "--samples", "-1", "--out", str(tmp / "table"),
                                       "--quiet"]), CLI, "--samples: must be a positive integer, got '-1'"),
                 id="cli-evaluate-table-negative-samples"),
    pytest.param(Bad(lambda tmp: main(["prepare-interhand", "--data-root", str(tmp / "ih"), "--out",
                                       str(tmp / "cache"), "--quiet"]), CLI, "InterHand2.6M files not found"),
                 id="cli-prepare-interhand-data-root"),

    # -- InterHand / MANO files, R's input cache, table checkpoints
    pytest.param(Bad(lambda tmp: prepare_interhand(InterHandConfig(root=str(tmp / "ih")), tmp / "cache", 1,
                                                   progress=False), ManoFormatError,
                     r"MANO_RIGHT\.pkl: the hand with its wrist closed must be watertight",
                     _interhand(_mano("mano/MANO_RIGHT.pkl", lambda arrays: arrays))),
                 id="interhand-mano-random-faces"),
    pytest.param(Bad(lambda tmp: prepare_interhand(InterHandConfig(root=str(tmp / "ih")), tmp / "cache", 1,
                                                   progress=False), ManoFormatError,
                     r"MANO_RIGHT\.pkl: .*watertight.*2 openings", _interhand(_blob_mano("right", _hole))),
                 id="interhand-mano-second-opening"),
    pytest.param(Bad(lambda tmp: prepare_interhand(InterHandConfig(root=str(tmp / "ih")), tmp / "cache", 1,
                                                   progress=False), ManoFormatError,
                     r"MANO_LEFT\.pkl: .*watertight.*edges do not have exactly two faces",
                     _interhand(_blob_mano("left", _duplicate_face))), id="interhand-mano-non-manifold-edge"),
    pytest.param(Bad(lambda tmp: main(["prepare-interhand", "--data-root", str(tmp / "ih"), "--out", str(tmp / "cache"),
                                       "--quiet"]), CLI, r"MANO_RIGHT\.pkl: .*inside-out",
                     _interhand(_blob_mano("right", lambda faces: faces[:, ::-1]))),
                 id="cli-prepare-interhand-mano-inside-out"),
    pytest.param(Bad(lambda tmp: prepare_interhand(InterHandConfig(root=str(tmp / "ih")), tmp / "cache", 1,
                                                   progress=False), InterHandFormatError,
                     r"image 0: file_name '\.\./test/Capture0/.*' leaves images/test/",
                     _interhand(_file_name(lambda root, name: "../test/" + name))), id="interhand-file-name-dotdot"),
    pytest.param(Bad(lambda tmp: main(["prepare-interhand", "--data-root", str(tmp / "ih"), "--out", str(tmp / "cache"),
                                       "--quiet"]), CLI, r"image 0: file_name '/.*image100\.jpg' leaves images/test/",
                     _interhand(_file_name(lambda root, name: str(root / "images" / "test" / name)))),
                 id="cli-prepare-interhand-absolute-file-name"),
    pytest.param(Bad(lambda tmp: TrainingCheckpointSource(profile="colab", runs=tmp / "runs").path("k"),
                     CheckpointError, r"runs/colab/k/final\.pt was trained with other settings than asked: .*steps "
                     r"3000 \(asked 6000\)", _stale_table_run), id="CheckpointSource-run-of-other-settings"),
    pytest.param(Bad(lambda tmp: main(["evaluate", "--table", "S2", "--profile", "colab", "--runs", str(tmp / "runs"),
                                       "--data-dir", str(KIT), "--samples", "1", "--resolution", "16", "--quiet",
                                       "--out", str(tmp / "table")]), CLI, "trained with other settings",
                     _stale_table_run), id="cli-evaluate-table-run-of-other-settings"),
]


def _snapshot(root: Path) -> dict[str, object]:
    """Every folder and file under root, with each file's mtime and content hash."""
    return {str(path.relative_to(root)): "folder" if path.is_dir() else
            (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
            for path in sorted(root.rglob("*"))}


SHIPPED_BEFORE = _snapshot(SHIPPED) | _snapshot(KIT)


@pytest.mark.parametrize("bad", ROWS)
def test_bad_input_is_refused_cleanly(bad: Bad, tmp_path: Path, capsys):
    if bad.prepare is not None:
        bad.prepare(tmp_path)
    capsys.readouterr()
    before = _snapshot(tmp_path)
    if bad.error is CLI:
        try:
            code = bad.run(tmp_path)
        except SystemExit as exit:  # argparse's usage errors exit rather than return
            code = exit.code
        assert code == 2
        assert re.search(bad.match, capsys.readouterr().err), "stderr does not name the problem"
    else:
        with pytest.raises(bad.error, match=bad.match):
            bad.run(tmp_path)
    after = _snapshot(tmp_path)
    assert sorted(set(after) - set(before)) == [], "partial output left behind"
    assert sorted(k for k in before if after.get(k) != before[k]) == [], "existing files changed or removed"


def test_the_shipped_inputs_are_untouched():
    """The rows only read the shipped checkpoints and kit shards; they spoil copies (runs last)."""
    assert _snapshot(SHIPPED) | _snapshot(KIT) == SHIPPED_BEFORE
