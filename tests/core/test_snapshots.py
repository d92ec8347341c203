"""Timeline snapshots: a run keeps fp16 copies of its model along the way, bounded and spread out."""

from __future__ import annotations

import numpy as np
from safetensors import safe_open

from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import Trainer
from waifu_studio.core.training.snapshots import list_snapshots, thin_out

from .helpers import run_config


def test_a_run_keeps_fp16_snapshots_from_first_to_last_step(tmp_path, faces32):
    faces = faces32[:64]
    config = run_config("dcgan", max_steps=12, snapshot_fraction=0.25, snapshot_minutes=0, ema_decay=0.0,
                        epoch_checkpoint_minutes=60)  # no epoch-end checkpoints: only snapshots are timed here
    result = Trainer(config, faces, tmp_path / "run").run()
    snapshots = list_snapshots(tmp_path / "run")
    assert [s.step for s in snapshots] == [0, 3, 6, 9, 12]
    with safe_open(str(snapshots[1].path), "pt") as f:
        assert all(str(f.get_tensor(k).dtype) == "torch.float16" for k in f.keys() if "num_batches" not in k)
    first, last = load_checkpoint(snapshots[0].path), load_checkpoint(snapshots[-1].path)
    final = load_checkpoint(result.checkpoint)
    assert not np.array_equal(first.sample(4, 0), last.sample(4, 0))  # training changed the faces
    # The last snapshot is the final checkpoint in fp16: within fp16 rounding of its faces.
    assert np.abs(last.sample(4, 0).astype(int) - final.sample(4, 0).astype(int)).mean() < 2


def test_the_count_is_bounded_and_stays_spread_over_the_run(tmp_path, faces32):
    faces = faces32[:64]
    config = run_config("ae", max_steps=12, snapshot_fraction=0.05, snapshot_minutes=0, max_snapshots=5,
                        epoch_checkpoint_minutes=60)
    Trainer(config, faces, tmp_path / "run").run()
    steps = [s.step for s in list_snapshots(tmp_path / "run")]
    assert len(steps) == 5 and steps[0] == 0 and steps[-1] == 12
    assert max(np.diff(steps)) <= 2 * min(np.diff(steps)) + 1  # thinning keeps them nearly even


def test_thin_out_never_drops_the_first_or_the_newest():
    assert thin_out([0, 1, 2, 3, 10], 3) == [1, 2]
    assert thin_out([0, 5], 2) == []
