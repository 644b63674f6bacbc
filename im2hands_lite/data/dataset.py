"""Generate splits into a shard cache, and read them back as a torch Dataset.

Splits are disjoint seed ranges, so sample i of a split is the same everywhere:
train = seeds 0.., val = 10_000_000.., test = 20_000_000...
Layout: <root>/<config key>/config.json and <root>/<config key>/<split>/shard_00000.npz, ...
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .interactions import SAMPLE_LABELS
from .scene import GeneratorConfig, TwoHandSample, generate_sample
from .shards import count_samples, read_shard, sample_from_shard, samples_in_shard, write_shard

SPLIT_OFFSETS = {"train": 0, "val": 10_000_000, "test": 20_000_000}
REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_SAMPLES = REPO_ROOT / "data_samples"


def default_cache_root() -> Path:
    """$IM2HANDS_CACHE, else ~/.cache/im2hands-lite (git-ignored, outside the repo)."""
    return Path(os.environ.get("IM2HANDS_CACHE", Path.home() / ".cache" / "im2hands-lite"))


def check_split(split: str) -> str:
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"unknown split {split!r}; choose one of {list(SPLIT_OFFSETS)}")
    return split


def split_seed(split: str, index: int) -> int:
    return SPLIT_OFFSETS[check_split(split)] + index


def config_dir(root: str | Path, config: GeneratorConfig) -> Path:
    return Path(root) / config.key()


def _generate_shard(args) -> str:
    path, split, start, stop, config = args
    torch.set_num_threads(1)  # one core per worker process
    samples = [generate_sample(split_seed(split, i), config) for i in range(start, stop)]
    write_shard(path, samples)
    return str(path)


def generate_split(root: str | Path, split: str, n_samples: int,
                   config: GeneratorConfig = GeneratorConfig(), shard_size: int = 32,
                   workers: int = 1, progress: bool = True, part: tuple[int, int] = (0, 1)) -> Path:
    """Write the first `n_samples` of a split as shards; existing readable shards are kept.

    `part` = (i, n): write only shards k with k % n == i, so n hosts (or jobs) can share a
    split; together they write exactly the files one run writes, byte for byte."""
    check_split(split)
    if n_samples < 1 or shard_size < 1 or workers < 1:
        raise ValueError("n_samples, shard_size and workers must be positive")
    index, parts = part
    if parts < 1 or not 0 <= index < parts:
        raise ValueError(f"part must be (i, n) with 0 <= i < n, got {part}")
    base = config_dir(root, config)
    (base / split).mkdir(parents=True, exist_ok=True)
    (base / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    jobs = []
    for k, start in enumerate(range(0, n_samples, shard_size)):
        if k % parts != index:
            continue  # another part's shard
        stop = min(start + shard_size, n_samples)
        path = base / split / f"shard_{k:05d}.npz"
        # a shard holding at least the samples asked is kept: asking for fewer samples than a
        # cache holds must never rewrite (shrink) it under a reader; a short last shard grows
        if samples_in_shard(path) >= stop - start:
            continue
        jobs.append((path, split, start, stop, config))
    bar = tqdm(total=len(jobs), desc=f"generate {split}", unit="shard", disable=not progress)
    if workers == 1:
        for job in jobs:
            _generate_shard(job)
            bar.update()
    else:
        # forkserver, not fork: a forked worker can deadlock in embree's scene build on a lock
        # inherited from a parent that has already rendered (measured in benchmarks/bench_data.py)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            for _ in pool.map(_generate_shard, jobs):
                bar.update()
    bar.close()
    return base / split


# What the generator did before a field existed: a config.json written then lacks the field, and
# reading it with today's default would describe another data set (v1 had the mean hand only, a
# smooth background, no camera artefacts and no forearms unless asked)
FIELDS_BEFORE_V2 = {"shape_space": False, "forearms": False, "background": "smooth", "augment": False}


def load_config(directory: str | Path) -> GeneratorConfig:
    """The GeneratorConfig a cache folder was written with (its config.json)."""
    raw = json.loads((Path(directory) / "config.json").read_text())
    raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    unknown = set(raw) - {f.name for f in dataclasses.fields(GeneratorConfig)}
    if unknown:
        raise ValueError(f"{Path(directory) / 'config.json'} has fields this kit does not know: {sorted(unknown)}")
    return GeneratorConfig(**{**FIELDS_BEFORE_V2, **raw})


class TwoHandDataset(Dataset):
    """Samples of one split from a shard cache folder (<root>/<config key>).

    Items are dicts of tensors: image (3, H, W) float in [0, 1], mask (H, W) long
    (-1 background, 0 right, 1 left), K/R/t camera, keypoints (42, 3), vertices (2, V, 3),
    queries (2, N, 3), occupancy (2, N) float, interaction (index into SAMPLE_LABELS), seed.
    With `n_queries`, each item draws that many queries per hand, deterministically from
    (seed, index, epoch); call `set_epoch` to draw new ones.
    """

    def __init__(self, directory: str | Path, split: str, n_queries: int | None = None,
                 seed: int = 0):
        self.directory = Path(directory)
        self.split = check_split(split)
        self.shards = sorted((self.directory / split).glob("shard_*.npz"))
        if not self.shards:
            raise FileNotFoundError(
                f"no shards for split {split!r} in {self.directory}; generate them with "
                f"`im2hands generate-data --split {split} --out {self.directory.parent}`")
        self.config = load_config(self.directory)
        self.n_queries = n_queries
        self.seed = seed
        self.epoch = 0
        # lengths from each shard's seed array only: the shards themselves load on first use
        self._lengths = [count_samples(path) for path in self.shards]
        self._starts = np.cumsum([0] + self._lengths)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self, k: int) -> dict:
        return _cached_shard(str(self.shards[k]))

    def _locate(self, index: int) -> tuple[dict, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index %= len(self)
        k = int(np.searchsorted(self._starts, index, side="right") - 1)
        return self._shard(k), index - int(self._starts[k])

    def sample(self, index: int) -> TwoHandSample:
        """The full TwoHandSample (numpy, with camera object) for plotting and metrics."""
        shard, i = self._locate(index)
        return sample_from_shard(shard, i)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.sample(index)
        if self.n_queries is not None:
            g = np.random.default_rng([self.seed, index, self.epoch])
            # keep the HALO balance: draw from the uniform and the surface halves alike
            n_total = sample.queries.shape[1]
            half = n_total // 2
            take = np.concatenate([g.choice(half, self.n_queries // 2, replace=False),
                                   half + g.choice(n_total - half, self.n_queries - self.n_queries // 2,
                                                   replace=False)])
            sample.queries, sample.occupancy = sample.queries[:, take], sample.occupancy[:, take]
        return sample_to_item(sample)


def sample_to_item(sample: TwoHandSample) -> dict[str, torch.Tensor]:
    """A TwoHandSample as the dict of tensors that models and DataLoaders use (`betas` (2, K)
    and `parts` (H, W) only where the sample knows them: the kit's own data)."""
    item = {
        "image": torch.from_numpy(np.ascontiguousarray(sample.image)).permute(2, 0, 1).float() / 255.0,
        "mask": torch.from_numpy(sample.mask.astype(np.int64)),
        "K": torch.from_numpy(sample.camera.K).float(),
        "R": torch.from_numpy(sample.camera.R).float(),
        "t": torch.from_numpy(sample.camera.t).float(),
        "keypoints": torch.from_numpy(np.asarray(sample.keypoints, dtype=np.float32)),
        "vertices": torch.from_numpy(np.asarray(sample.vertices, dtype=np.float32)),
        "queries": torch.from_numpy(np.ascontiguousarray(sample.queries, dtype=np.float32)),
        "occupancy": torch.from_numpy(np.ascontiguousarray(sample.occupancy)).float(),
        "interaction": torch.tensor(SAMPLE_LABELS.index(sample.interaction)),
        "seed": torch.tensor(int(sample.seed)),
    }
    if sample.betas is not None:
        item["betas"] = torch.from_numpy(np.asarray(sample.betas, dtype=np.float32))
    if sample.parts is not None:
        item["parts"] = torch.from_numpy(sample.parts.astype(np.int64))
    return item


@lru_cache(maxsize=4)
def _cached_shard(path: str) -> dict:
    return read_shard(path)


def kit_samples_dir() -> Path:
    """The small committed data set in data_samples/ (one config folder)."""
    candidates = sorted(p for p in DATA_SAMPLES.glob("*") if (p / "config.json").is_file())
    if not candidates:
        raise FileNotFoundError(f"no committed sample set found under {DATA_SAMPLES}")
    return candidates[0]
