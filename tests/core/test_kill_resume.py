"""Crash safety: a training run killed with SIGKILL at random moments always resumes cleanly.

One run folder goes through six kill/resume cycles. Some kills land at a random moment
while it trains, some right after the model checkpoint was replaced (before the resume state
followed it), some while a temp file of an atomic write is open. After every kill the last
checkpoint loads, metrics.jsonl reads, its steps run 1, 2, 3... with no gap and no duplicate
(the resume dropped the rows past its checkpoint), and at most the steps since the last
checkpoint were lost.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import CHECKPOINT_NAME, STATE_NAME, read_metrics

CHECKPOINT_EVERY = 2
# --ema 0: an EMA generator is recalibrated at every checkpoint (seconds on 2 CPU cores); the
# crash-safety of the writes is the same without it and the cycles stay quick.
TRAIN = ["--model", "dcgan", "--data", "builtin", "--builtin-count", "64", "--resolution", "32", "--latent-dim", "16",
         "--width", "8", "--batch-size", "16", "--checkpoint-every", str(CHECKPOINT_EVERY), "--log-every", "1",
         "--sample-every", "1000", "--precision", "fp32", "--ema", "0", "--device", "cpu",
         # Far more steps than a trial lasts, so no run can finish before its kill, however fast the machine.
         "--epochs", "100000", "--max-steps", "1000000"]
# Kill moments, in a fixed shuffled order: random while training, right after the checkpoint file
# changed (the state file is written next), and while an atomic write's temp file exists.
MODES = ["random"] * 2 + ["after_checkpoint"] + ["temp_file"] * 3

pytestmark = pytest.mark.slow  # seven training processes, each importing torch


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "waifu_studio", "train", *args]


def _wait(condition, timeout: float, poll: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(poll)
    return False


def _temp_files(run: Path) -> list[str]:
    return [name for name in os.listdir(run) if name.endswith(".tmp")]


def _last_step(run: Path) -> int:
    rows = read_metrics(run)
    return int(rows[-1]["step"]) if rows else 0


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _kill_during(proc: subprocess.Popen, run: Path, log: Path, mode: str, resumed_at: int,
                 rng: random.Random) -> None:
    """Wait until this process trains past ``resumed_at`` with a checkpoint on disk, then SIGKILL it (``mode``)."""
    state = run / STATE_NAME

    def training() -> bool:  # the "training ..." line comes after a resume dropped the rows it will redo
        return "training dcgan" in log.read_text() and state.exists() and _last_step(run) > resumed_at

    ok = _wait(lambda: proc.poll() is not None or training(), 120)
    assert ok and proc.poll() is None, "the run neither trained nor stayed alive"
    if mode == "random":
        time.sleep(rng.uniform(0.0, 0.8))
    elif mode == "after_checkpoint":
        before = _mtime(run / CHECKPOINT_NAME)
        _wait(lambda: _mtime(run / CHECKPOINT_NAME) != before, 60, poll=0.0005)
    else:  # temp_file: poll hard, the write window is short
        _wait(lambda: bool(_temp_files(run)), 60, poll=0.0)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"


def _check_run(run: Path, previous_step: int) -> int:
    """Everything a user relies on after a crash; returns the step a resume will continue from."""
    model = load_checkpoint(run / CHECKPOINT_NAME)  # never half-written
    assert model.family == "dcgan"
    state = torch.load(run / STATE_NAME, map_location="cpu", weights_only=True)
    resume_step = int(state["step"])
    assert resume_step >= previous_step, "a checkpoint went back in time"
    # The model checkpoint is written first, the resume state second: the model is never older.
    checkpoint_step = int(model.checkpoint_info.training["steps"])
    assert resume_step <= checkpoint_step <= resume_step + CHECKPOINT_EVERY
    steps = [int(r["step"]) for r in read_metrics(run)]  # a torn last line is tolerated
    assert steps == list(range(1, len(steps) + 1)), f"metrics steps have gaps or duplicates: {steps}"
    lost = steps[-1] - resume_step if steps else 0
    assert 0 <= lost <= CHECKPOINT_EVERY, f"lost {lost} steps, more than since the last checkpoint"
    return resume_step


def test_sigkill_at_random_moments_never_loses_more_than_the_last_checkpoint_interval(tmp_path):
    rng = random.Random(20240611)
    modes = MODES.copy()
    rng.shuffle(modes)
    run = tmp_path / "RUN"
    resume_step = 0
    orphaned_temp_files = 0
    for trial, mode in enumerate(modes):
        log = tmp_path / f"trial{trial}.log"
        argv = _cli(*TRAIN, "--out", str(run)) if trial == 0 else _cli("--resume", str(run))
        with open(log, "w") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
            try:
                _kill_during(proc, run, log, mode, resume_step, rng)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if trial > 0:
            assert f"at step {resume_step}" in log.read_text(), log.read_text()
        orphaned_temp_files += bool(_temp_files(run))
        resume_step = _check_run(run, resume_step)

    # The kills reached into atomic writes at least once, and the resumes cleaned up after them.
    assert orphaned_temp_files >= 1, "no kill landed inside an atomic write"
    # A last resume runs to its planned end: the run folder is fully usable.
    target = resume_step + 4
    done = subprocess.run(_cli("--resume", str(run), "--max-steps", str(target)), capture_output=True, text=True,
                          timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"finished at step {target}" in done.stdout
    assert not _temp_files(run), "stale temp files of killed writes were left in the run folder"
    assert [int(r["step"]) for r in read_metrics(run)] == list(range(1, target + 1))
    assert load_checkpoint(run / CHECKPOINT_NAME).checkpoint_info.training["steps"] == target
