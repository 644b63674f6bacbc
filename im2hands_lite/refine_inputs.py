"""What R needs from a trained I, computed once per sample and cached on disk.

For every sample: I's iso-surface points of each hand (a mesh by coarse-to-fine Marching Cubes,
area-weighted surface samples, then farthest point sampling to `max_points`, stored in FPS
order so that any n_points <= max_points is a prefix), and I's occupancy of each hand at all
query points of both hands (its own queries: R's input; the other hand's: the penetration
term). I is frozen while R trains, so recomputing these every step would only cost time.

The cache lives in `<root>/<I checkpoint sha256[:12]>-<config key>/<split>/<index>.npz`,
written atomically; `prepare_refine_inputs` resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .atomic import atomic_write
from .evaluate import ReconstructionConfig, reconstruct_hand
from .geometry.sampling import farthest_point_sampling
from .hand.joints import SKELETON_EDGES
from .metrics import sample_surface


@dataclass(frozen=True)
class RefineInputConfig:
    max_points: int = 1024  # FPS-ordered; Table S3 uses 256 / 512 / 1024
    resolution: int = 48  # Marching Cubes grid of I's mesh (coarse-to-fine from resolution / 4)
    surface_samples: int = 8192  # area-weighted samples on the mesh before FPS
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]


def skeleton_points(keypoints: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) points spread along a hand's 20 bones: the stand-in when I's mesh is empty."""
    t = (np.arange(n) + 0.5) / n * len(SKELETON_EDGES)
    bone = np.minimum(t.astype(int), len(SKELETON_EDGES) - 1)
    frac = (t - bone)[:, None]
    heads = keypoints[[a for a, _ in SKELETON_EDGES]][bone]
    tails = keypoints[[b for _, b in SKELETON_EDGES]][bone]
    return heads + frac * (tails - heads)


def iso_surface_points(initial, item: dict, hand: int, config: RefineInputConfig = RefineInputConfig(),
                       seed: int = 0) -> tuple[np.ndarray, bool]:
    """(max_points, 3) FPS-ordered world points on I's 0.5 level set of one hand, and whether
    the mesh was empty (then the points lie on the skeleton instead)."""
    recon = ReconstructionConfig(resolution=config.resolution, coarse_resolution=max(config.resolution // 4, 4))
    mesh = reconstruct_hand(initial, item, hand, recon).mesh
    rng = np.random.default_rng([config.seed, seed, hand])
    if len(mesh.faces) == 0:
        keypoints = item["keypoints"][21 * hand:21 * hand + 21].cpu().numpy()
        return skeleton_points(keypoints, config.max_points).astype(np.float32), True
    samples = torch.from_numpy(sample_surface(mesh, config.surface_samples, rng)).float()
    generator = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
    order = farthest_point_sampling(samples[None], config.max_points, generator)[0]
    return samples[order].numpy(), False


def initial_occupancy_at(initial, item: dict, hand: int, points: torch.Tensor, chunk: int = 4096) -> np.ndarray:
    """I's occupancy (N,) of one hand at world points (N, 3)."""
    with torch.no_grad():
        fn = initial.occupancy_function(item, hand)
        return torch.cat([fn(points[i:i + chunk]) for i in range(0, len(points), chunk)]).cpu().numpy()


def compute_refine_inputs(initial, item: dict, config: RefineInputConfig = RefineInputConfig(),
                          seed: int = 0) -> dict[str, np.ndarray]:
    """surface_points (2, max_points, 3); initial_own (2, Q) = I's occupancy of hand h at its
    own queries; initial_cross (2, Q) = at the other hand's queries; mesh_empty (2,)."""
    initial.eval()
    points, empty, own, cross = [], [], [], []
    for hand in (0, 1):
        p, e = iso_surface_points(initial, item, hand, config, seed)
        points.append(p)
        empty.append(e)
        own.append(initial_occupancy_at(initial, item, hand, item["queries"][hand]))
        cross.append(initial_occupancy_at(initial, item, hand, item["queries"][1 - hand]))
    return {"surface_points": np.stack(points).astype(np.float32), "initial_own": np.stack(own).astype(np.float32),
            "initial_cross": np.stack(cross).astype(np.float32), "mesh_empty": np.array(empty)}


def cache_dir(root: str | Path, initial_checkpoint: str | Path, config: RefineInputConfig) -> Path:
    sha = hashlib.sha256(Path(initial_checkpoint).read_bytes()).hexdigest()[:12]
    return Path(root) / f"{sha}-{config.key()}"


def prepare_refine_inputs(initial, dataset, directory: str | Path, split: str, indices=None,
                          config: RefineInputConfig = RefineInputConfig(), progress: bool = True) -> Path:
    """Write one npz per sample of `dataset` (a TwoHandDataset with all queries) into
    directory/split; samples already there are skipped (resumable)."""
    out = Path(directory) / split
    out.mkdir(parents=True, exist_ok=True)
    (Path(directory) / "config.json").write_text(json.dumps(asdict(config), indent=1))
    indices = range(len(dataset)) if indices is None else indices
    for i in tqdm(list(indices), desc=f"R inputs ({split})", disable=not progress):
        path = out / f"{i:06d}.npz"
        if path.is_file():
            continue
        item = dataset[i]
        arrays = compute_refine_inputs(initial, item, config, seed=int(item["seed"]))
        atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return out


class RefineDataset(Dataset):
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
                                    f"run prepare_refine_inputs first")
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


class InitialPlusRefinement(nn.Module):
    """I followed by R, with `occupancy_function(item, hand)` like I's, so that
    `reconstruct_pair` and `evaluate_occupancy` work on the two stages unchanged. I's surface
    points are computed per item (as for R's training inputs); both hands are encoded once."""

    def __init__(self, initial, refiner, config: RefineInputConfig = RefineInputConfig()):
        super().__init__()
        self.initial, self.refiner, self.input_config = initial, refiner, config
        self._last_surface: tuple[bytes, torch.Tensor] | None = None  # both hands' points, reused by hand 1

    def surface_points(self, item: dict) -> torch.Tensor:
        """(2, max_points, 3) I's iso-surface points of both hands (the last item's are reused)."""
        seed = int(item["seed"]) if "seed" in item else 0
        digest = hashlib.sha1(str(seed).encode())
        for name in ("keypoints", "image", "K", "R", "t"):
            digest.update(item[name].cpu().numpy().tobytes())
        key = digest.digest()
        if self._last_surface is None or self._last_surface[0] != key:
            points = [iso_surface_points(self.initial, item, h, self.input_config, seed)[0] for h in (0, 1)]
            self._last_surface = (key, torch.from_numpy(np.stack(points)))
        return self._last_surface[1]

    def occupancy_function(self, item: dict, hand: int):
        device = next(self.refiner.parameters()).device
        surface = self.surface_points(item)[None].to(device)
        batch = {key: item[key][None].to(device) for key in ("image", "K", "R", "t", "keypoints")}
        batch["surface_points"] = surface
        refiner = self.refiner
        with torch.no_grad():
            x = refiner.prepare(batch)
            encoded = refiner.encode_hands(x["points"], x["point_features"])
            context = refiner.context_latent(encoded, x["global_image"])
        initial_fn = self.initial.occupancy_function(item, hand)

        def occupancy(points: torch.Tensor) -> torch.Tensor:
            points = points.to(device)
            q = refiner.to_network(points[None], batch["R"], batch["t"], x["centre_cam"])
            occ_i = initial_fn(points)[None] if refiner.config.init_occ_cond else None
            return refiner.occupancy_of(hand, encoded, context, q, occ_i)[0]
        return occupancy
