"""R's training inputs from a frozen I, computed once per sample and cached on disk.

For every sample: I's iso-surface points of each hand (`models.two_stage.iso_surface_points`)
and I's occupancy of each hand at all query points of both hands (its own queries: R's input;
the other hand's: the penetration term). I is frozen while R trains, so recomputing these
every step would only cost time.

The keypoints I reads are the sample's ground truth, or any others given (`input_keypoints`):
R trains on I's outputs from K-refined noise-model keypoints too, as the official code trains R
on whatever keypoints it is given, predicted ones included; those keypoints are cached with
the inputs and replace the item's keypoints as R's input as well (the labels stay the truth).

The cache lives in `<root>/<I checkpoint sha256[:12]>-<config key>-<data key>[-<keypoints key>]/<split>/<index>.npz`,
written atomically; `prepare_r_inputs` resumes where it stopped. The data key (`data_key`) names
the samples the inputs came from, so other data never finds them.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..checkpoints import atomic_write
from ..data.dataset import TwoHandDataset
from ..data.noise import KeypointNoiseConfig, noisy_keypoints_of
from ..models.two_stage import IsoSurfaceConfig, initial_occupancy_at, iso_surface_points


def compute_r_inputs(initial, item: dict, config: IsoSurfaceConfig = IsoSurfaceConfig(),
                          seed: int = 0) -> dict[str, np.ndarray]:
    """surface_points (2, max_points, 3); initial_own (2, Q) = I's occupancy of hand h at its
    own queries; initial_cross (2, Q) = at the other hand's queries; mesh_empty (2,);
    keypoints (42, 3): the item's keypoints, those I read."""
    initial.eval()
    points, empty, own, cross = [], [], [], []
    for hand in (0, 1):
        p, e = iso_surface_points(initial, item, hand, config, seed)
        points.append(p)
        empty.append(e)
        own.append(initial_occupancy_at(initial, item, hand, item["queries"][hand]))
        cross.append(initial_occupancy_at(initial, item, hand, item["queries"][1 - hand]))
    return {"surface_points": np.stack(points).astype(np.float32), "initial_own": np.stack(own).astype(np.float32),
            "initial_cross": np.stack(cross).astype(np.float32), "mesh_empty": np.array(empty),
            "keypoints": item["keypoints"].cpu().numpy().astype(np.float32)}


def data_key(dataset: TwoHandDataset) -> str:
    """12 hex digits naming a TwoHandDataset split: its folder's resolved path and the names and
    sizes of its shards. Cheap (no shard is read) and changes when the folder, the split or a
    shard does (shards are compressed, so other samples give other sizes)."""
    shards = [(path.name, path.stat().st_size) for path in dataset.shards]
    blob = json.dumps({"split": str((dataset.directory / dataset.split).resolve()), "shards": shards})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def file_key(path: str | Path) -> str:
    """12 hex digits of a file's sha256 (a checkpoint's name in cache folders)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def r_inputs_dir(root: str | Path, initial_checkpoint: str | Path, config: IsoSurfaceConfig,
                 dataset: TwoHandDataset, keypoints_key: str = "") -> Path:
    """Where R's inputs of `dataset` (the TwoHandDataset they are computed from) under this I live;
    `keypoints_key` names other input keypoints than the truth (e.g. `refined_keypoints_key`)."""
    return Path(root) / "-".join(filter(None, (file_key(initial_checkpoint), config.key(), data_key(dataset),
                                                keypoints_key)))


def refined_keypoints_key(keypoint_refiner_checkpoint: str | Path, noise: KeypointNoiseConfig, seed: int) -> str:
    """Names K-refined noise-model keypoints: K's checkpoint, the noise model and its seed."""
    blob = json.dumps({"k": file_key(keypoint_refiner_checkpoint), "noise": asdict(noise), "seed": seed},
                      sort_keys=True)
    return "k" + hashlib.sha256(blob.encode()).hexdigest()[:11]


def refined_noisy_keypoints(keypoint_refiner, noise: KeypointNoiseConfig = KeypointNoiseConfig(), seed: int = 1):
    """`input_keypoints` for `prepare_r_inputs`: K's refinement of one fixed noise-model draw per
    sample (seeded by [seed, index]; the tables draw test inputs with seed 0)."""
    def keypoints_of(index: int, item: dict) -> torch.Tensor:
        return keypoint_refiner.refine_item(item, noisy_keypoints_of(item, index, noise, seed))
    return keypoints_of


def prepare_r_inputs(initial, dataset, directory: str | Path, split: str, indices=None,
                          config: IsoSurfaceConfig = IsoSurfaceConfig(), progress: bool = True,
                          input_keypoints: Callable[[int, dict], torch.Tensor] | None = None) -> Path:
    """Write one npz per sample of `dataset` (a TwoHandDataset with all queries) into
    directory/split; samples already there are skipped (resumable). `input_keypoints(index,
    item) -> (42, 3)`: the keypoints I reads instead of the truth (e.g. `refined_noisy_keypoints`)."""
    out = Path(directory) / split
    out.mkdir(parents=True, exist_ok=True)
    (Path(directory) / "config.json").write_text(json.dumps(asdict(config), indent=1))
    indices = range(len(dataset)) if indices is None else indices
    for i in tqdm(list(indices), desc=f"R inputs ({split})", disable=not progress):
        path = out / f"{i:06d}.npz"
        if path.is_file():
            continue
        item = dataset[i]
        if input_keypoints is not None:
            item = dict(item, keypoints=input_keypoints(i, item).to(item["keypoints"].dtype))
        arrays = compute_r_inputs(initial, item, config, seed=int(item["seed"]))
        atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return out


class RInputsDataset(Dataset):
    """TwoHandDataset items + R's cached inputs, with `n_queries` queries per hand drawn
    (deterministically per index and epoch) together with their labels and I's occupancy.

    Extra item fields: surface_points (2, P, 3), initial_occupancy (2, n), and for the
    penetration term pen_queries (2n, 3) = both hands' queries, pen_initial (2, 2n) = I's
    occupancy of each hand there.
    """

    def __init__(self, base, directory: str | Path, split: str, n_queries: int | None = 1024, seed: int = 0,
                 indices=None):
        self.base, self.directory, self.n_queries, self.seed = base, Path(directory) / split, n_queries, seed
        self.indices = list(range(len(base)) if indices is None else indices)
        missing = [i for i in self.indices if not (self.directory / f"{i:06d}.npz").is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} samples lack R inputs in {self.directory} (first: {missing[0]}); "
                                    f"run prepare_r_inputs first")
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        index = self.indices[k]
        item = self.base[index]
        with np.load(self.directory / f"{index:06d}.npz") as cached:
            extra = {key: torch.from_numpy(cached[key]) for key in ("surface_points", "initial_own", "initial_cross")}
            if "keypoints" in cached:  # the keypoints I read (written before they were cached: the truth)
                item["keypoints"] = torch.from_numpy(cached["keypoints"])
        total = item["queries"].shape[1]
        if extra["initial_own"].shape[1] != total:
            raise ValueError(f"cached R inputs of sample {index} hold {extra['initial_own'].shape[1]} queries per hand, "
                             f"the data {total}: the cache belongs to other data")
        if self.n_queries is not None and self.n_queries < total:
            g = np.random.default_rng([self.seed, index, self.epoch])
            half = total // 2  # keep the uniform / near-surface balance of the labels
            take = torch.from_numpy(np.concatenate([g.choice(half, self.n_queries // 2, replace=False),
                                                    half + g.choice(total - half, self.n_queries - self.n_queries // 2,
                                                                    replace=False)]))
        else:
            take = torch.arange(total)
        item["queries"], item["occupancy"] = item["queries"][:, take], item["occupancy"][:, take]
        own, cross = extra["initial_own"][:, take], extra["initial_cross"][:, take]
        item["surface_points"] = extra["surface_points"]
        item["initial_occupancy"] = own
        item["pen_queries"] = item["queries"].reshape(-1, 3)  # right's queries, then left's
        item["pen_initial"] = torch.stack([torch.cat([own[0], cross[0]]), torch.cat([cross[1], own[1]])])
        return item
