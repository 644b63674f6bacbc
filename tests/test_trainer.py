"""The resumable trainer: profiles, overrides, kill + resume, corrupt checkpoints, the CLI."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from im2hands_lite.checkpoints import CheckpointError, load_checkpoint
from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.models.registry import load_model
from im2hands_lite.training.runs import RunSpec, run_training
from im2hands_lite.training.settings import (
    PROFILES,
    TrainSettings,
    get_profile,
    parse_override,
    with_overrides,
)
from im2hands_lite.training.trainer import checkpoint_paths, load_latest_state, step_indices

KIT = str(kit_samples_dir())
SMALL = ("steps=24", "checkpoint_every=4", "batch_size=2", "train_samples=8")
# The CLI with one hook: at step 13 (its newest checkpoint is step 10, steps 11-12 are only in
# memory) it says so on stdout and waits, so the test kills it there and nowhere else.
PAUSE_AT_STEP_13 = """
import sys
from im2hands_lite.cli import main
from im2hands_lite.training import trainer

step_generator = trainer.step_generator

def pause_at_step_13(seed, step, rank=0):
    if step == 13:
        print("paused at step 13", flush=True)
        sys.stdin.readline()  # until the SIGKILL
    return step_generator(seed, step, rank)

trainer.step_generator = pause_at_step_13
sys.exit(main(sys.argv[1:]))
"""


def spec(out, **kw):
    # CPU on a GPU machine too: these runs are compared to 1e-6 and must record device "cpu"
    base = dict(model="k", out=str(out), data_dir=KIT, overrides=SMALL, progress=False, threads=1, device="cpu")
    return RunSpec(**(base | kw))


def test_profiles_hold_the_paper_hyperparameters():
    paper = get_profile("paper")
    for model in ("i", "r"):
        s = paper.settings(model)
        assert (s.lr, s.betas, s.eps, s.weight_decay, s.decay_every, s.decay_factor, s.batch_size) == \
               (1e-4, (0.9, 0.999), 1e-8, 1e-5, 5000, 0.2, 8)
        assert s.steps == 10 * s.train_samples // 8  # 10 epochs
    k = paper.settings("k")
    assert (k.lr, k.decay_factor, k.batch_size, k.steps) == (1e-4, 0.3, 32, 30 * k.train_samples // 32)
    assert set(PROFILES) == {"fast", "colab", "paper"}
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("huge")
    with pytest.raises(ValueError, match="unknown model"):
        paper.settings("z")


def test_overrides_are_typed_and_checked():
    assert parse_override("lr=3e-4") == ("lr", 3e-4)
    assert parse_override("steps=12") == ("steps", 12)
    assert parse_override("amp=false") == ("amp", False)
    assert parse_override("betas=0.8,0.9") == ("betas", (0.8, 0.9))
    assert with_overrides(TrainSettings(), ["steps=7"]).steps == 7
    for bad, message in (("lr", "field=value"), ("speed=3", "unknown training setting"), ("steps=many", "cannot read")):
        with pytest.raises(ValueError, match=message):
            parse_override(bad)
    with pytest.raises(ValueError, match="steps"):
        with_overrides(TrainSettings(), ["steps=0"])


def test_step_batches_depend_only_on_seed_and_step():
    assert step_indices(24, 4, 0, 5) == step_indices(24, 4, 0, 5)
    assert step_indices(24, 4, 0, 5) != step_indices(24, 4, 0, 6)
    assert all(0 <= i < 24 for i in step_indices(24, 64, 1, 3))


def test_resumed_run_equals_an_uninterrupted_run(tmp_path):
    full = run_training(spec(tmp_path / "full"))
    assert len(full.log) == 24 and [p.name for p in checkpoint_paths(tmp_path / "full")] == \
           ["step_0000024.pt", "step_0000020.pt"]  # keep_last = 2
    # stop after 12 steps (a run with steps=12 writes the same step-12 state), then resume to 24
    run_training(spec(tmp_path / "split", overrides=("steps=12",) + SMALL[1:]))
    resumed = run_training(spec(tmp_path / "split", resume=True))
    a, b = load_model(full.final), load_model(resumed.final)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.allclose(x, y, atol=1e-6), name
    assert [r["loss"] for r in resumed.log] == pytest.approx([r["loss"] for r in full.log], rel=1e-5)
    for name in ("log.csv", "log.json", "loss.png", "final.pt"):
        assert (tmp_path / "split" / name).is_file()
    # two DataLoader worker processes load the same batches: the same run
    workers = run_training(spec(tmp_path / "workers", overrides=SMALL + ("num_workers=2",)))
    assert [r["loss"] for r in workers.log] == pytest.approx([r["loss"] for r in full.log], rel=1e-5)
    # without --resume, an existing run is not overwritten
    with pytest.raises(CheckpointError, match="--resume"):
        run_training(spec(tmp_path / "split"))


def test_truncated_checkpoint_is_reported_and_the_previous_one_is_used(tmp_path, capsys):
    run_training(spec(tmp_path / "run", overrides=("steps=8",) + SMALL[1:]))
    newest, previous = checkpoint_paths(tmp_path / "run")
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 3])  # a torn file (e.g. a full disk)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(newest)
    state = load_latest_state(tmp_path / "run", "k", spec(tmp_path / "run").settings())
    assert state["step"] == 4 and previous.is_file()
    assert "skipping unreadable checkpoint" in capsys.readouterr().err
    resumed = run_training(spec(tmp_path / "run", resume=True))  # continues from step 4 to 24
    full = run_training(spec(tmp_path / "full"))
    for x, y in zip(load_model(resumed.final).state_dict().values(), load_model(full.final).state_dict().values()):
        assert torch.allclose(x, y, atol=1e-6)
    # a run with other settings refuses the folder instead of mixing two runs
    with pytest.raises(CheckpointError, match="another run"):
        run_training(spec(tmp_path / "run", resume=True, overrides=SMALL + ("lr=0.5",)))


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    """SIGKILL a CLI training at step 13, three steps after its checkpoint at step 10, resume
    it, and compare with an uninterrupted run: same weights. The kill point is fixed by the
    step, not by wall-clock timing."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = ["train", "--model", "k", "--data-dir", KIT, "--threads", "1", "--device", "cpu", "--quiet",
            "--set", "steps=20", "--set", "checkpoint_every=5", "--set", "batch_size=2", "--set", "train_samples=8"]
    command = [sys.executable, "-m", "im2hands_lite.cli", *args]
    killed = tmp_path / "killed"
    with open(tmp_path / "killed.err", "w") as err, subprocess.Popen(
            [sys.executable, "-c", PAUSE_AT_STEP_13, *args, "--out", str(killed)], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True) as process:
        paused = any(line.startswith("paused at step 13") for line in process.stdout)  # stops reading there
        process.send_signal(signal.SIGKILL)
    assert paused and process.returncode == -signal.SIGKILL, \
        f"not paused at step 13 (exit {process.returncode}): {(tmp_path / 'killed.err').read_text()[-3000:]}"
    assert not (killed / "final.pt").exists()
    assert [load_checkpoint(path)["step"] for path in checkpoint_paths(killed)] == [10, 5]
    resumed = subprocess.run(command + ["--out", str(killed), "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run(command + ["--out", str(tmp_path / "whole")], env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    a = load_checkpoint(killed / "final.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "whole" / "final.pt")["state_dict"]
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name


def test_cli_train_help_and_errors(tmp_path):
    from im2hands_lite.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert main(["train", "--model", "k", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert main(["train", "--model", "k", "--set", "speed=3", "--out", str(tmp_path / "y")]) == 2


def test_train_i_from_the_trainer_loads_like_a_shipped_checkpoint(tmp_path):
    result = run_training(spec(tmp_path / "i", model="i", variant="pixel_aligned",
                               overrides=("steps=2", "batch_size=1", "train_samples=2", "n_queries=64")))
    model = load_model(result.final)
    assert model.config.image_cond == "pixel_aligned"
    extra = load_checkpoint(result.final)["extra"]
    assert extra["profile"] == "fast" and extra["steps"] == 2 and extra["device"] == "cpu"
    assert Path(result.out, "loss.png").is_file()


def test_validation_loss_is_logged_stored_and_changes_no_weight(tmp_path):
    validated = run_training(spec(tmp_path / "val", overrides=SMALL + ("val_every=8", "val_samples=4")))
    plain = run_training(spec(tmp_path / "plain", overrides=SMALL + ("val_every=0",)))
    assert [r["step"] for r in validated.log if "val_loss" in r] == [8, 16, 24]
    assert not any("val_loss" in r for r in plain.log)
    # validation draws nothing from the training's randomness: the same weights, bit for bit
    a, b = load_model(validated.final).state_dict(), load_model(plain.final).state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert [r["loss"] for r in validated.log] == [r["loss"] for r in plain.log]
    # the curves travel in final.pt: every validation, and window means of the training loss
    extra = load_checkpoint(validated.final)["extra"]
    assert extra["curves"]["validation"] == [[r["step"], r["val_loss"]] for r in validated.log if "val_loss" in r]
    assert extra["validation_samples"] == 4 and load_checkpoint(plain.final)["extra"]["validation_samples"] == 0
    train_curve = extra["curves"]["train"]
    assert [step for step, _ in train_curve] == list(range(1, 25))  # 24 steps: one window each
    assert [loss for _, loss in train_curve] == pytest.approx([r["loss"] for r in validated.log])
    assert "val_loss" in (tmp_path / "val" / "log.csv").read_text().splitlines()[0]
    # a resumed run keeps validating where it stopped, with the same values
    run_training(spec(tmp_path / "split", overrides=("steps=12",) + SMALL[1:] + ("val_every=8", "val_samples=4")))
    resumed = run_training(spec(tmp_path / "split", resume=True, overrides=SMALL + ("val_every=8", "val_samples=4")))
    assert [r.get("val_loss") for r in resumed.log if r["step"] in (16, 24)] == \
           pytest.approx([r["val_loss"] for r in validated.log if r["step"] in (16, 24)], rel=1e-5)


def test_validation_loss_is_the_step_loss_on_fixed_batches():
    from im2hands_lite.models.registry import build_model
    from im2hands_lite.training.losses import step_loss_for
    from im2hands_lite.training.trainer import validation_batches, validation_loss

    torch.manual_seed(0)
    model = build_model("halo", "fast")
    data = torch.utils.data.Subset(TwoHandDataset(KIT, "val"), range(3))
    settings = get_profile("fast").settings("halo")
    batches = validation_batches(data, 2, torch.device("cpu"))
    assert [len(b["keypoints"]) for b in batches] == [2, 1]
    step_loss = step_loss_for("halo", settings)
    first = validation_loss(model, step_loss, batches, seed=0)
    assert validation_loss(model, step_loss, batches, seed=0) == first  # the same queries every time
    assert validation_loss(model, step_loss, batches, seed=1) != first  # ... chosen by the seed
    assert model.training  # left as it was found
    # by hand: each batch's step loss with its own generator, weighted by its size
    model.eval()
    with torch.no_grad():
        by_hand = [float(step_loss(model, dict(b), torch.Generator().manual_seed(999_983 + i))[0]) * len(b["keypoints"])
                   for i, b in enumerate(batches)]
    assert first == pytest.approx(sum(by_hand) / 3, rel=1e-6)


def test_a_data_folder_without_validation_split_trains_without_validation_and_says_so(tmp_path, capsys):
    folder, val_folder = tmp_path / "data", tmp_path / "val_data"
    folder.mkdir()
    val_folder.mkdir()
    (folder / "train").symlink_to(Path(KIT) / "train")
    (folder / "config.json").symlink_to(Path(KIT) / "config.json")
    (val_folder / "val").symlink_to(Path(KIT) / "val")  # e.g. InterHand's val split, prepared on its own
    (val_folder / "config.json").symlink_to(Path(KIT) / "config.json")
    short = ("steps=2",) + SMALL[1:]
    result = run_training(spec(tmp_path / "run", data_dir=str(folder), overrides=short))
    assert "has no val/ split: training without a validation loss" in capsys.readouterr().err
    assert not any("val_loss" in r for r in result.log)
    assert load_checkpoint(result.final)["extra"]["validation_samples"] == 0
    elsewhere = run_training(spec(tmp_path / "val", data_dir=str(folder), val_data_dir=str(val_folder),
                                  overrides=short + ("val_every=1",)))
    assert [r["step"] for r in elsewhere.log if "val_loss" in r] == [1, 2]
    assert load_checkpoint(elsewhere.final)["extra"]["validation_samples"] == 8  # all the folder's 8
    with pytest.raises(ValueError, match="--val-data-dir goes with --data-dir"):
        spec(tmp_path / "x", data_dir="", val_data_dir=str(val_folder))
    with pytest.raises(ValueError, match="val_every must be >= 0"):
        with_overrides(TrainSettings(), ["val_every=-1"])


def test_loss_curves_average_windows_and_keep_every_validation():
    from im2hands_lite.training.curves import draw_loss_curves, loss_curves

    log = [{"step": s, "loss": float(s)} | ({"val_loss": s / 10} if s % 5 == 0 else {}) for s in range(1, 11)]
    curves = loss_curves(log, points=3)  # windows of 4, 4, 2 steps
    assert curves["train"] == [[4, 2.5], [8, 6.5], [10, 9.5]]
    assert curves["validation"] == [[5, 0.5], [10, 1.0]]
    assert len(loss_curves(log * 30, points=200)["train"]) <= 200
    with pytest.raises(ValueError, match="no training loss"):
        draw_loss_curves(None, {"train": [], "validation": []})
