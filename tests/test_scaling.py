"""Scale-out on CPU: the trainer under torchrun (2 processes, gloo) and sharded data generation.
The runs say --device cpu: on a machine with one GPU, "auto" would put both processes on NCCL and
ask for a second GPU."""
import os
import subprocess
import sys

import pytest

from im2hands_lite.checkpoints import load_checkpoint
from im2hands_lite.cli import main
from im2hands_lite.data import GeneratorConfig, TwoHandDataset, generate_split, kit_samples_dir

# HALO with every stored query per step: no step randomness, so 1 and 2 processes see the same batch
RUN = ["train", "--model", "halo", "--data-dir", str(kit_samples_dir()), "--set", "batch_size=4",
       "--set", "train_samples=8", "--set", "checkpoint_every=2", "--set", "n_queries=4096", "--threads", "1",
       "--device", "cpu", "--quiet"]


def _run(args, processes=1):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] \
        if processes > 1 else [sys.executable]
    done = subprocess.run(launcher + ["-m", "im2hands_lite.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _weights(path):
    return load_checkpoint(path)["state_dict"]


def _largest_difference(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("scaling")
    _run(RUN + ["--set", "steps=4", "--out", str(base / "one")])
    printed = _run(RUN + ["--set", "steps=4", "--out", str(base / "two")], processes=2)
    _run(RUN + ["--set", "steps=2", "--out", str(base / "resumed")], processes=2)
    _run(RUN + ["--set", "steps=4", "--resume", "--out", str(base / "resumed")], processes=2)
    return base, printed


def test_two_processes_match_one_with_the_same_global_batch(runs):
    base, printed = runs
    assert printed.count("trained halo") == 1  # only the main process reports
    one, two = _weights(base / "one" / "final.pt"), _weights(base / "two" / "final.pt")
    difference = _largest_difference(one, two)
    assert difference < 1e-5, difference  # measured 3e-8: float summation order only
    assert load_checkpoint(base / "two" / "final.pt")["extra"]["processes"] == 2
    logs = [load_checkpoint(base / run / "final.pt")["extra"]["final_loss"] for run in ("one", "two")]
    assert logs[0] == pytest.approx(logs[1], rel=1e-5)


def test_resume_under_two_processes_is_exact(runs):
    base, _ = runs
    straight, resumed = _weights(base / "two" / "final.pt"), _weights(base / "resumed" / "final.pt")
    assert _largest_difference(straight, resumed) == 0.0
    assert sorted(p.name for p in (base / "resumed" / "checkpoints").iterdir()) == ["step_0000002.pt",
                                                                                  "step_0000004.pt"]


def test_global_batch_must_split_evenly(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "im2hands_lite.cli", *RUN, "--set", "batch_size=3", "--set", "steps=1",
                           "--out", str(tmp_path / "odd")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "must be divisible by the 2 processes" in done.stderr
    assert not (tmp_path / "odd").exists()


def test_sharded_generation_equals_one_run(tmp_path):
    config = GeneratorConfig(image_size=32, n_queries=64)
    for part in ((1, 3), (0, 3), (2, 3)):  # any order, any host
        generate_split(tmp_path / "parts", "val", 5, config, shard_size=2, progress=False, part=part)
    generate_split(tmp_path / "whole", "val", 5, config, shard_size=2, progress=False)
    parts, whole = (sorted((tmp_path / name / config.key() / "val").iterdir()) for name in ("parts", "whole"))
    assert [p.name for p in parts] == [p.name for p in whole] == ["shard_00000.npz", "shard_00001.npz",
                                                                   "shard_00002.npz"]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(parts, whole))
    first = whole[0].read_bytes()
    whole[0].unlink()
    generate_split(tmp_path / "whole", "val", 5, config, shard_size=2, progress=False)
    assert whole[0].read_bytes() == first  # regenerating a shard gives identical bytes
    data = TwoHandDataset(tmp_path / "parts" / config.key(), "val")
    assert len(data) == 5 and [int(data.sample(i).seed) for i in range(5)] == [10_000_000 + i for i in range(5)]
    assert main(["generate-data", "--split", "val", "--n", "2", "--shard", "3/2", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 2
    assert main(["generate-data", "--split", "val", "--n", "2", "--shard", "half", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 2
