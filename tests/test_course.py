"""What notebooks 03a and 03b load the same way (teaching/course.py)."""
import torch

from im2hands_lite.data import TwoHandDataset, kit_samples_dir
from im2hands_lite.teaching.course import initial_variant


def test_initial_variant_is_the_shipped_one_or_a_run_saved_for_the_next_notebook(tmp_path):
    train_set = torch.utils.data.Subset(TwoHandDataset(kit_samples_dir(), "train", n_queries=64), range(2))
    shipped, meta, source = initial_variant("pixel_aligned", train_set=train_set, out=tmp_path)
    assert source == "shipped" and "test_metrics" in meta and not shipped.training
    trained, meta, source = initial_variant("pixel_aligned", train_set=train_set, out=tmp_path, retrain=True, steps=2)
    assert source == "trained here (2 steps)" and meta["steps"] == 2 and not trained.training
    saved = tmp_path / "03_i_pixel_aligned_trained_here.pt"
    assert saved.is_file()
    # the next notebook finds that run instead of training again ...
    written = saved.stat().st_mtime_ns
    again, _, source = initial_variant("pixel_aligned", train_set=train_set, out=tmp_path, retrain=True, steps=2)
    assert source == "trained here (2 steps)" and saved.stat().st_mtime_ns == written
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), again.state_dict().values()))
    # ... but not a run of another length
    before = saved.read_bytes()
    initial_variant("pixel_aligned", train_set=train_set, out=tmp_path, retrain=True, steps=3)
    assert saved.read_bytes() != before
