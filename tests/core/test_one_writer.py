"""A run folder has one writer: a second ``train`` or ``--resume`` is refused while the first runs,
and nothing is left stale when the first is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from waifu_studio.core.errors import TrainingError
from waifu_studio.core.io.checkpoint import read_info
from waifu_studio.core.training.run_lock import LOCK_NAME, RunFolderBusyError, RunFolderLock

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--data", "builtin", "--resolution", "32", "--width", "4", "--latent-dim", "4", "--builtin-count", "64",
        "--batch-size", "8", "--precision", "fp32", "--device", "cpu", "--log-every", "1"]
WAIT = 300  # seconds for the first run to take the lock and checkpoint: a hang detector, not a speed test


def _waifu(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "waifu_studio", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=WAIT, **kwargs)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_second_writer_is_refused_and_a_killed_writer_leaves_nothing_stale(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-m", "waifu_studio", "train", "--model", "dcgan", "--out", str(run),
                              "--epochs", "100000", *TINY], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT
        while not ((run / "train_state.pt").exists() and (run / LOCK_NAME).exists()
                   and (run / LOCK_NAME).read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never checkpointed"
            time.sleep(0.2)
        config = (run / "config.json").read_bytes()

        # Another model into the same folder, and a resume of it, while the first writes.
        for args in (["train", "--model", "ae", "--out", str(run), *TINY], ["train", "--resume", str(run)]):
            assert _one_error_line(_waifu(*args)) == (
                f"waifu-studio train: error: run folder {run} is in use by process {first.pid}")
        assert (run / "config.json").read_bytes() == config
        assert first.poll() is None  # the first run is undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    # The kernel dropped the lock with the process: a resume continues the dcgan run at once.
    # Only the dcgan's rows, in step order: no second run interleaved its own.
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.endswith("}")]
    steps_logged = [r["step"] for r in rows]
    assert rows and all("recon" not in r for r in rows) and steps_logged == sorted(set(steps_logged))
    steps = read_info(run / "checkpoint.safetensors").training["steps"]
    resumed = _waifu("train", "--resume", str(run), "--max-steps", str(steps + 1))
    assert resumed.returncode == 0, resumed.stderr
    assert read_info(run / "checkpoint.safetensors").family == "dcgan"


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    with RunFolderLock(tmp_path / "run").acquire(create=True):
        with pytest.raises(RunFolderBusyError, match=f"in use by process {os.getpid()}"):
            RunFolderLock(tmp_path / "run").acquire()
    with RunFolderLock(tmp_path / "run") as again:  # released: free again
        assert again.held


def test_a_resume_of_a_folder_that_is_not_a_run_takes_no_lock_and_says_why(tmp_path):
    with pytest.raises(TrainingError, match="cannot lock run folder"):
        RunFolderLock(tmp_path / "missing").acquire()
    assert not (tmp_path / "missing").exists()
