"""The synthetic two-hand generator, its labels, shards and Dataset."""
import dataclasses
import hashlib
import json

import igl
import numpy as np
import pytest
import torch

from im2hands_lite.cli import main as cli_main
from im2hands_lite.data import (
    INTERACTIONS,
    GeneratorConfig,
    ShardError,
    TwoHandDataset,
    generate_sample,
    generate_split,
    kit_samples_dir,
    read_shard,
    write_shard,
)
from im2hands_lite.data.dataset import config_dir
from im2hands_lite.data.interactions import penetration_depth
from im2hands_lite.geometry.inside import contains
from im2hands_lite.training.settings import get_profile

SMALL = GeneratorConfig(image_size=64, n_queries=2000)


@pytest.fixture(scope="module")
def samples():
    return [generate_sample(100 + i, SMALL, interaction=name) for i, name in enumerate(INTERACTIONS)]


def exact_penetration(sample) -> float:
    """Independent check: exact (not fast) winding numbers of each hand's vertices in the other."""
    depth = 0.0
    for a, b in ((0, 1), (1, 0)):
        va, vb = sample.vertices[a].astype(np.float64), sample.vertices[b].astype(np.float64)
        fb = sample.faces[b]
        inside = igl.winding_number(vb, fb, va) > 0.5
        if inside.any():
            sq, _, _ = igl.point_mesh_squared_distance(va[inside], vb, fb)
            depth = max(depth, float(np.sqrt(sq).max()))
    return depth


def test_every_interaction_is_in_contact_and_penetrates_less_than_2mm(samples):
    for sample in samples:
        depth = exact_penetration(sample)
        assert depth < 0.002, (sample.interaction, depth)
        assert sample.penetration == pytest.approx(depth, abs=2e-4)
        # near contact: the hands are within 3.5 cm of each other even for spaced "random" pairs
        _, clearance = penetration_depth(sample.vertices[0].astype(float), sample.faces[0],
                                         sample.vertices[1].astype(float), sample.faces[1])
        assert clearance < 0.035


def test_more_seeds_stay_below_2mm():
    for seed in range(20):
        assert exact_penetration(generate_sample(seed, SMALL)) < 0.002


def test_labels_agree_with_independent_inside_tests(samples):
    for sample in samples:
        for h in range(2):
            mesh = sample.mesh(h)
            assert mesh.is_watertight and mesh.volume > 0
            q = sample.queries[h].astype(np.float64)
            exact = igl.winding_number(mesh.vertices, mesh.faces, q) > 0.5
            assert (exact == sample.occupancy[h]).mean() > 0.999
            ray = contains(mesh.vertices, mesh.faces, q, method="ray")
            assert (ray == sample.occupancy[h]).mean() > 0.97
            assert 0.1 < sample.occupancy[h].mean() < 0.45  # half the queries hug the surface


def test_query_sampling_is_halo_style(samples):
    sample = samples[0]
    n = SMALL.n_queries
    for h in range(2):
        mesh = sample.mesh(h)
        surface_half = sample.queries[h, n // 2:].astype(np.float64)
        dist = np.sqrt(igl.point_mesh_squared_distance(surface_half, mesh.vertices, mesh.faces)[0])
        # the distance to the surface is ~ the normal component: E|N(0, s)| = 0.80 s
        assert 0.6 * SMALL.surface_sigma < dist.mean() < 1.0 * SMALL.surface_sigma
        lo, hi = mesh.bounds - np.array([[SMALL.box_padding], [-SMALL.box_padding]])
        uniform = sample.queries[h, :n // 2]
        assert np.all(uniform >= lo - 1e-6) and np.all(uniform <= hi + 1e-6)


def test_image_mask_and_keypoints_are_consistent(samples):
    for sample in samples:
        assert sample.image.shape == (64, 64, 3) and sample.image.dtype == np.uint8
        assert set(np.unique(sample.mask)) <= {-1, 0, 1}
        assert (sample.mask >= 0).mean() > 0.05  # the hands fill part of the crop
        uv = sample.keypoints_2d()
        inside = (uv > -0.5) & (uv < 63.5)
        assert inside.all(axis=1).mean() > 0.9  # keypoints project into the image
        assert sample.keypoints.shape == (42, 3)
        assert np.allclose(sample.keypoints[20], sample.transl[0], atol=1e-5)  # right wrist


def test_generation_is_deterministic():
    a, b = generate_sample(7, SMALL), generate_sample(7, SMALL)
    for name in ("image", "keypoints", "vertices", "queries", "occupancy"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.keypoints, generate_sample(8, SMALL).keypoints)


def test_unknown_interaction_is_named():
    with pytest.raises(ValueError, match="unknown interaction type 'hug'"):
        generate_sample(0, SMALL, interaction="hug")
    with pytest.raises(ValueError, match="unknown interaction type"):
        GeneratorConfig(interactions=("palms_facing", "wave"), interaction_weights=(1, 1))


def test_shard_round_trip_and_bad_shards(tmp_path, samples):
    path = tmp_path / "shard.npz"
    write_shard(path, samples[:2])
    shard = read_shard(path)
    assert shard["interactions"] == [samples[0].interaction, samples[1].interaction]
    assert np.array_equal(shard["queries"][1], samples[1].queries)
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    with pytest.raises(ShardError, match="not found"):
        read_shard(tmp_path / "missing.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ShardError, match="corrupt"):
        read_shard(truncated)


def test_invalid_sample_is_refused(tmp_path, samples):
    bad = generate_sample(3, SMALL)
    bad.keypoints = bad.keypoints.copy()
    bad.keypoints[5, 1] = np.nan
    with pytest.raises(ValueError, match="'keypoints' contains NaN"):
        write_shard(tmp_path / "x.npz", [bad])
    bad.keypoints = np.zeros((21, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="'keypoints' must have shape"):
        write_shard(tmp_path / "x.npz", [bad])


def test_generate_split_resumes_and_repairs(tmp_path):
    config = GeneratorConfig(image_size=32, n_queries=200)
    split_dir = generate_split(tmp_path, "val", 5, config, shard_size=2, progress=False)
    shards = sorted(split_dir.glob("shard_*.npz"))
    assert len(shards) == 3
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    before = [digest(p) for p in shards]
    shards[1].write_bytes(b"broken")
    generate_split(tmp_path, "val", 5, config, shard_size=2, progress=False)
    assert [digest(p) for p in shards] == before  # good shards kept, the broken one rebuilt
    ds = TwoHandDataset(config_dir(tmp_path, config), "val", n_queries=64, seed=1)
    assert len(ds) == 5 and ds.config == config
    item = ds[4]
    assert item["image"].shape == (3, 32, 32) and item["queries"].shape == (2, 64, 3)
    assert item["seed"].item() == 10_000_004  # val seeds start at 10M
    assert torch.equal(ds[4]["queries"], item["queries"])  # deterministic draw
    ds.set_epoch(1)
    assert not torch.equal(ds[4]["queries"], item["queries"])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["occupancy"].shape == (2, 2, 64)


def test_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="generate-data"):
        TwoHandDataset(tmp_path, "train")
    with pytest.raises(ValueError, match="unknown split"):
        TwoHandDataset(tmp_path, "holdout")


def test_committed_samples_are_small_and_readable():
    directory = kit_samples_dir()
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    assert total <= 10 * 1024 * 1024
    sizes = {split: len(TwoHandDataset(directory, split)) for split in ("train", "val", "test")}
    assert min(sizes.values()) >= 8
    dataset = TwoHandDataset(directory, "test")
    sample = dataset.sample(0)
    assert sample.penetration < 0.002 and sample.mesh(1).is_watertight
    # the committed set is exactly what the generator makes from those seeds
    fresh = generate_sample(sample.seed, dataset.config)
    assert np.allclose(fresh.keypoints, sample.keypoints, atol=1e-5)
    assert np.array_equal(fresh.occupancy, sample.occupancy)


def test_cli_generate_data(tmp_path, capsys):
    rc = cli_main(["generate-data", "--split", "test", "--n", "2", "--out", str(tmp_path),
                   "--image-size", "32", "--queries", "100", "--quiet"])
    assert rc == 0
    assert "2 test samples" in capsys.readouterr().out
    assert len(list(tmp_path.glob("*/test/shard_*.npz"))) == 1
    with pytest.raises(SystemExit):
        cli_main(["generate-data", "--split", "holdout"])


def test_dataset_names_a_broken_shard(tmp_path):
    config = GeneratorConfig(image_size=32, n_queries=50)
    split_dir = generate_split(tmp_path, "test", 2, config, shard_size=1, progress=False)
    (split_dir / "shard_00001.npz").write_bytes(b"broken")
    with pytest.raises(ShardError, match="shard_00001.npz is corrupt"):
        TwoHandDataset(config_dir(tmp_path, config), "test")


def test_appearance_switches_change_the_image_only_and_the_cache_key():
    from im2hands_lite.data import GeneratorConfig, generate_sample, kit_samples_dir

    v2 = GeneratorConfig(image_size=64, n_queries=256)
    assert get_profile("fast").generator_config().key() == kit_samples_dir().name  # the committed set is v2's
    for switch in ({"forearms": False}, {"background": "smooth"}, {"augment": False}):
        other = dataclasses.replace(v2, **switch)
        assert other.key() != v2.key(), switch
        a, b = generate_sample(20_000_001, v2), generate_sample(20_000_001, other)
        assert np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.occupancy, b.occupancy), switch
        assert (a.image != b.image).any() and set(np.unique(b.mask)) <= {-1, 0, 1}, switch
    no_arms = generate_sample(20_000_001, dataclasses.replace(v2, forearms=False))
    arms = generate_sample(20_000_001, v2)
    assert (arms.mask >= 0).sum() <= (no_arms.mask >= 0).sum()  # a forearm may hide a hand, never add one


def test_a_cache_written_before_v2_reads_as_what_it_holds(tmp_path):
    """A config.json without the v2 fields was written by the v1 generator: the mean hand, a smooth
    background, no artefacts, no forearms (unless it says so), not today's defaults."""
    from im2hands_lite.data.dataset import load_config

    v1 = {"image_size": 128, "n_queries": 4096, "uniform_fraction": 0.5, "surface_sigma": 0.004,
          "box_padding": 0.02, "max_penetration": 0.002, "fov_deg": [25.0, 40.0]}
    (tmp_path / "config.json").write_text(json.dumps(v1))
    config = load_config(tmp_path)
    assert (config.shape_space, config.forearms, config.background, config.augment) == (False, False, "smooth", False)
    (tmp_path / "config.json").write_text(json.dumps(v1 | {"forearms": True}))
    assert load_config(tmp_path).forearms is True
    v2 = dataclasses.asdict(GeneratorConfig(image_size=64))
    (tmp_path / "config.json").write_text(json.dumps(v2))
    assert load_config(tmp_path) == GeneratorConfig(image_size=64)
    (tmp_path / "config.json").write_text(json.dumps(v2 | {"sky_colour": "blue"}))
    with pytest.raises(ValueError, match="does not know: \\['sky_colour'\\]"):
        load_config(tmp_path)


def test_asking_for_fewer_samples_never_shrinks_a_cached_shard(tmp_path):
    """A run on the first 2 samples of a split cached with 6 keeps every shard as it is (a smaller
    request once rewrote shard 0 with 2 samples under a run reading it); a short last shard grows."""
    from im2hands_lite.data import generate_split
    from im2hands_lite.data.scene import GeneratorConfig
    from im2hands_lite.data.shards import samples_in_shard
    config = GeneratorConfig(image_size=32, n_queries=16)
    folder = generate_split(tmp_path, "train", 6, config, shard_size=4, progress=False)
    shards = sorted(folder.glob("shard_*.npz"))
    before = [(p.read_bytes(), samples_in_shard(p)) for p in shards]
    assert [n for _, n in before] == [4, 2]
    generate_split(tmp_path, "train", 2, config, shard_size=4, progress=False)
    assert [(p.read_bytes(), samples_in_shard(p)) for p in shards] == before
    generate_split(tmp_path, "train", 8, config, shard_size=4, progress=False)
    assert samples_in_shard(shards[0]) == 4 and shards[0].read_bytes() == before[0][0]
    assert samples_in_shard(shards[1]) == 4
