"""Timeline snapshots: compact copies of a run's model taken along the way, beside its checkpoint.

``run_dir/snapshots/step_XXXXXXXX.safetensors`` are ordinary checkpoints with fp16 weights (half
the bytes; the AE prior stays fp32), so anything that opens a checkpoint opens a snapshot. A run
takes one at its first step, every ``snapshot_fraction`` of the planned steps, at least every
``snapshot_minutes``, and at its end. Beyond ``max_snapshots`` the snapshot whose removal leaves
the smallest gap is deleted (never the first or the newest), so the kept ones stay spread over
the whole run however long it gets.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import TrainConfig
from ..errors import CheckpointError
from ..io.checkpoint import save_checkpoint
from ..models import FaceModel

SNAPSHOTS_DIR = "snapshots"
_NAME = re.compile(r"^step_(\d{8,})\.safetensors$")


@dataclass(frozen=True)
class Snapshot:
    step: int
    path: Path


def snapshot_path(run_dir: str | os.PathLike, step: int) -> Path:
    return Path(run_dir) / SNAPSHOTS_DIR / f"step_{step:08d}.safetensors"


def list_snapshots(run_dir: str | os.PathLike) -> list[Snapshot]:
    """A run's snapshots by step ([] when it has none). Temp files of unfinished writes are skipped."""
    folder = Path(run_dir) / SNAPSHOTS_DIR
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [Snapshot(int(m.group(1)), folder / name) for name in names if (m := _NAME.match(name))]
    return sorted(found, key=lambda s: s.step)


def thin_out(steps: list[int], keep: int) -> list[int]:
    """Steps to delete so that ``keep`` remain: repeatedly the one whose neighbours are closest."""
    steps, removed = sorted(steps), []
    while len(steps) > keep:
        gaps = [steps[i + 1] - steps[i - 1] for i in range(1, len(steps) - 1)]
        index = 1 + gaps.index(min(gaps))
        removed.append(steps.pop(index))
    return removed


class SnapshotKeeper:
    """Decides when a run takes a snapshot and writes it (rank 0's business under torchrun)."""

    def __init__(self, run_dir: str | os.PathLike, config: TrainConfig, total_steps: int) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.every = max(1, round(total_steps * config.snapshot_fraction)) if config.snapshot_fraction else 0
        self.enabled = bool(config.snapshot_fraction or config.snapshot_minutes)
        self._last_time = time.perf_counter()
        existing = list_snapshots(self.run_dir)
        self.last_step = existing[-1].step if existing else -1

    def due(self, step: int) -> bool:
        """True when ``step`` should be kept: the first, each planned share, or too long since the last."""
        if not self.enabled or step == self.last_step:
            return False
        if self.last_step < 0 or (self.every and step % self.every == 0):
            return True
        minutes = self.config.snapshot_minutes
        return bool(minutes) and time.perf_counter() - self._last_time >= minutes * 60

    def mark(self, step: int) -> None:
        """Count ``step`` as taken (on every rank under torchrun, so that all ranks agree on ``due``)."""
        self.last_step, self._last_time = step, time.perf_counter()

    def save(self, model: FaceModel, step: int, training: dict) -> Path:
        """Write the snapshot of ``step`` (fp16 weights) and thin the folder out to ``max_snapshots``."""
        path = snapshot_path(self.run_dir, step)
        try:
            path.parent.mkdir(exist_ok=True)
        except OSError as err:
            raise CheckpointError(f"cannot create {path.parent}: {err.strerror or err}") from None
        save_checkpoint(model, path, dtype=torch.float16, training={**training, "snapshot_step": step})
        snapshots = list_snapshots(self.run_dir)
        for gone in thin_out([s.step for s in snapshots], self.config.max_snapshots):
            with contextlib.suppress(OSError):
                snapshot_path(self.run_dir, gone).unlink()
        return path
