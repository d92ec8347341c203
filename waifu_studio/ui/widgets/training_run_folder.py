"""A run folder seen from the GUI: what it holds, what changed since the last look, and a watcher.

The readers are Qt-free and read only what changed since the last poll, so watching a long
CLI (or torchrun) run stays cheap. :class:`RunFolderWatcher` runs them off the GUI thread on a
timer and hands each update to the panel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ...core.config import RunConfig
from ...core.errors import WaifuError
from ...core.io.checkpoint import read_info
from ...core.io.export import save_gif
from ...core.io.files import read_new_jsonl_rows
from ...core.training import CHECKPOINT_NAME, METRICS_NAME, SAMPLES_DIR, read_run_config
from ..workers import Task, start_task


@dataclass
class RunFolderState:
    """What a watcher already has of a run folder, so each poll reads only what is new."""

    metrics_offset: int = 0
    sample_name: str = ""
    checkpoint_mtime_ns: int = 0


@dataclass
class RunFolderUpdate:
    run_dir: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    sample: np.ndarray | None = None  # the newest sample grid, if it changed
    sample_step: int = -1
    checkpoint: Path | None = None  # set when the checkpoint file changed
    state: RunFolderState = field(default_factory=RunFolderState)
    restarted: bool = False  # metrics.jsonl shrank (the run was resumed): rows are a full re-read


def poll_run_folder(run_dir: str | os.PathLike, state: RunFolderState) -> RunFolderUpdate:
    """New metric rows, the newest sample grid and a changed checkpoint of ``run_dir`` (no Qt)."""
    from PIL import Image

    root = Path(run_dir)
    new = RunFolderState(state.metrics_offset, state.sample_name, state.checkpoint_mtime_ns)
    update = RunFolderUpdate(root, state=new)
    update.rows, new.metrics_offset, update.restarted = read_new_jsonl_rows(root / METRICS_NAME, state.metrics_offset)
    try:
        names = sorted(e.name for e in os.scandir(root / SAMPLES_DIR) if e.name.startswith("step_")
                       and e.name.endswith(".png"))
    except FileNotFoundError:
        names = []
    if names and names[-1] != state.sample_name:
        try:
            with Image.open(root / SAMPLES_DIR / names[-1]) as im:
                update.sample = np.asarray(im.convert("RGB"))
            update.sample_step = int(names[-1][5:-4])
            new.sample_name = names[-1]
        except (OSError, ValueError):
            pass  # half-written: the next poll gets it
    try:
        mtime = (root / CHECKPOINT_NAME).stat().st_mtime_ns
    except FileNotFoundError:
        mtime = 0
    if mtime and mtime != state.checkpoint_mtime_ns:
        update.checkpoint = root / CHECKPOINT_NAME
        new.checkpoint_mtime_ns = mtime
    return update


@dataclass(frozen=True)
class ResumeInfo:
    """What the form shows about a run before it is resumed."""

    run_dir: Path
    config: RunConfig
    steps: int | None  # steps in the last checkpoint (None: no readable checkpoint)
    epochs_done: float | None


def read_resume_info(run_dir: str | os.PathLike) -> ResumeInfo:
    """A run folder's stored settings and how far its last checkpoint got (cheap: no weights read)."""
    root = Path(run_dir)
    config = read_run_config(root)
    try:
        training = read_info(root / CHECKPOINT_NAME).training
        steps, epochs = int(training["steps"]), float(training["epochs"])
    except (WaifuError, KeyError, TypeError, ValueError):
        steps = epochs = None  # resuming reports what is missing
    return ResumeInfo(root, config, steps, epochs)


def load_sample_grids(run_dir: str | os.PathLike, max_frames: int = 200) -> np.ndarray:
    """The run's sample grids in step order, (K, H, W, 3), evenly thinned to ``max_frames`` (last kept)."""
    from PIL import Image

    paths = sorted((Path(run_dir) / SAMPLES_DIR).glob("step_*.png"))
    if not paths:
        raise WaifuError(f"no sample grids in {Path(run_dir) / SAMPLES_DIR} yet")
    if len(paths) > max_frames:
        keep = np.unique(np.linspace(0, len(paths) - 1, max_frames).round().astype(int))
        paths = [paths[i] for i in keep]
    frames = []
    for path in paths:
        with Image.open(path) as im:
            frames.append(np.asarray(im.convert("RGB")))
    shape = frames[-1].shape
    return np.stack([f for f in frames if f.shape == shape])  # a resized run would break the stack


def write_timelapse(run_dir: Path, path: Path) -> Path:
    """All sample grids of a run as an animated GIF."""
    return save_gif(load_sample_grids(run_dir), path, duration_ms=150, pingpong=False)


class RunFolderWatcher(QObject):
    """Polls one run folder every ``interval_ms`` in a worker; emits :attr:`updated` for what changed."""

    updated = Signal(object)  # RunFolderUpdate of the folder being watched

    def __init__(self, parent: QObject | None = None, interval_ms: int = 2000) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self._state = RunFolderState()
        self._task: Task | None = None
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.poll)

    def start(self, run_dir: str | os.PathLike) -> None:
        """Watch ``run_dir`` from its beginning (the first update carries every row so far)."""
        self.run_dir, self._state = Path(run_dir), RunFolderState()
        self._timer.start()
        self.poll()

    def stop(self) -> bool:
        """Stop watching; results still on their way are dropped. True if it was watching."""
        watching = self._timer.isActive()
        self._timer.stop()
        self.run_dir = None
        return watching

    def running_task(self) -> Task | None:
        return self._task if self._task is not None and self._task.is_running() else None

    def poll(self) -> None:
        if self.run_dir is None or self.running_task() is not None:
            return  # a slow disk: skip this tick rather than queue reads
        self._task = start_task(poll_run_folder, self.run_dir, self._state, on_result=self._on_polled)

    def _on_polled(self, update: RunFolderUpdate) -> None:
        if update.run_dir != self.run_dir:
            return  # stopped, or watching another folder, meanwhile
        self._state = update.state
        self.updated.emit(update)
