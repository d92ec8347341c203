"""``torchrun --nproc_per_node=2 -m waifu_studio train`` on the CPU (gloo): ranks stay in lockstep.

Both ranks must end with bit-identical parameters (gradients are averaged before every optimizer
step), rank 0 alone writes one metrics row per step, the checkpoint is the one the app opens,
and a distributed run resumes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch.distributed as dist

from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import CHECKPOINT_NAME, read_metrics
from waifu_studio.core.training.distributed import DEBUG_ENV

pytestmark = [pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo"),
              pytest.mark.slow]  # four torchrun jobs of three processes each

TRAIN = ["--model", "dcgan", "--data", "builtin", "--builtin-count", "64", "--resolution", "32", "--latent-dim", "16",
         "--width", "8", "--batch-size", "16", "--log-every", "1", "--sample-every", "1000", "--precision", "fp32",
         "--ema", "0", "--device", "cpu"]


def _torchrun(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, DEBUG_ENV: "1", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "waifu_studio", "train", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env, cwd=cwd)


def _digests(run):
    return [(run / f"ddp_rank{r}.sha256").read_text().strip() for r in (0, 1)]


def test_two_cpu_ranks_train_in_lockstep_and_resume(tmp_path):
    run = tmp_path / "RUN"
    first = _torchrun(*TRAIN, "--out", str(run), "--max-steps", "4", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("finished at step 4") == 1  # rank 0 reports, rank 1 is quiet
    digest0, digest1 = _digests(run)
    assert digest0 == digest1, "the ranks' parameters diverged"
    model = load_checkpoint(run / CHECKPOINT_NAME)
    training = model.checkpoint_info.training
    assert model.family == "dcgan" and training["steps"] == 4 and training["world_size"] == 2
    assert training["images_seen"] == 4 * 2 * 16  # each step: a 16-face slice on each rank
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3, 4]

    (run / "ddp_rank1.sha256").unlink()
    again = _torchrun("--resume", str(run), "--max-steps", "6", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed" in again.stderr and "at step 4" in again.stderr
    digest0_after, digest1_after = _digests(run)
    assert digest0_after == digest1_after and digest0_after != digest0
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(run / CHECKPOINT_NAME).checkpoint_info.training["steps"] == 6


OOM_ON_RANK1 = '''
import os, sys, torch
from waifu_studio.core.models import dcgan
real_step = dcgan.DCGANObjective.train_step
def step(self, real, step, autocast):
    if os.environ.get("RANK") == "1" and step == 6:
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
    return real_step(self, real, step, autocast)
dcgan.DCGANObjective.train_step = step
from waifu_studio.cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_one_rank_running_out_of_memory_ends_the_job_and_keeps_the_checkpoint(tmp_path):
    """No rank waits forever on a dead peer: torchrun ends the job, the last checkpoint resumes."""
    script = tmp_path / "oom_on_rank1.py"
    script.write_text(OOM_ON_RANK1)
    run = tmp_path / "RUN"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # 64 faces / (16 per rank x 2 ranks) = 2 steps per epoch: checkpoints at steps 2 and 4, OOM at 6.
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
            "train", *TRAIN, "--out", str(run), "--max-steps", "50"]
    failed = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert failed.returncode != 0
    assert "ran out of memory at batch size 16; try a smaller batch size" in failed.stderr
    assert load_checkpoint(run / CHECKPOINT_NAME).checkpoint_info.training["steps"] in (4, 6)
    again = _torchrun("--resume", str(run), "--max-steps", "8", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert load_checkpoint(run / CHECKPOINT_NAME).checkpoint_info.training["steps"] == 8
